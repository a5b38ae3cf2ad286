"""Rehearse every notebook on a CUDA GPU with CogVideoX-5b's full-size architecture, under hardware profiles.

Builds CogVideoX-5b and CogVideoX-5b-I2V with RANDOM weights in the hub layout once per machine
(values change neither time nor memory), then executes each notebook with them under a profile
(``COGVIDEOX_EMULATE``: ``t4``, ``24gb``, or ``real`` for the GPU as it is) in one mode:

- ``workshop``: ``COGVIDEOX_WORKSHOP=1`` (5b: 17 frames x 25 steps);
- ``fewsteps``: the notebooks' own full-size requests (49x480x720) with ``COGVIDEOX_STEPS`` steps:
  peak memory depends on frames and size, not on steps, so this shows full mode's memory in a
  fraction of its time;
- ``full``: the notebooks as they are (49x480x720, 50 steps), to confirm ``fewsteps``' peaks.

Each notebook runs alone, as Colab opens it: fresh outputs and cache folders (kit, compile), removed after. One row per
notebook x profile x mode goes into the results file (kept and updated: run a profile at a time):
status and first error, skipped sections with their reasons, seconds, peak VRAM (PyTorch's peak
reserved memory in the kernel, over every reset the notebook makes: what a profile's cap limits)
and peak host RAM (the kernel's resident memory, sampled), the recipe and dtype chosen, the GPU and library versions. The executed notebooks' text outputs
(no images or videos) go beside it.

    python scripts/gpu_rehearsal.py --profile real --mode fewsteps
    python scripts/gpu_rehearsal.py 02 05 --profile t4 --mode workshop
    python scripts/gpu_rehearsal.py --profile 24gb t4 --mode workshop fewsteps --gpus 0,1 --resume --deadline 540
    python scripts/gpu_rehearsal.py --table   # the README table from media/gpu_rehearsal.json

Each notebook x profile x mode runs in its own process. Runs under a capped profile (``t4``,
``24gb``) share a GPU while their VRAM caps fit on the card and their host RAM limits in the
machine's memory (each row's memory is still its own; its seconds are then longer than alone, and
the row says ``shared_gpu``); a ``real`` run has its GPU alone. ``--gpus 0,1`` spreads the runs over
several GPUs; ``--resume`` skips what already has an ``ok`` row for the notebook's current code (a changed text alone keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "media" / "gpu_rehearsal.json"
PROFILES = ("real", "24gb", "t4")
MODES = ("workshop", "fewsteps", "full")
#: Capped runs one GPU holds at once: more only queue for its compute and the machine's CPU cores.
MAX_SHARED = 4
GIB = 1024**3

#: Run in the notebook's kernel before its first cell: PyTorch's peak reserved GPU memory, kept over
#: every ``reset_peak_memory_stats`` the notebook makes, written to a file every half second (so
#: that a kernel ended by the host-RAM watchdog still leaves it).
PRELUDE = """
import os as _os, threading as _threading, torch as _torch
_rehearsal_peak = [0]
def _rehearsal_reset(device=None, _reset=_torch.cuda.reset_peak_memory_stats):
    _rehearsal_peak[0] = max(_rehearsal_peak[0], _torch.cuda.max_memory_reserved())
    return _reset(device)
_torch.cuda.reset_peak_memory_stats = _torch.cuda.memory.reset_peak_memory_stats = _rehearsal_reset
def _rehearsal_write(path=_os.environ.get("REHEARSAL_VRAM_FILE")):
    while path:
        if _torch.cuda.is_initialized():
            with open(path + ".tmp", "w") as f:
                f.write(str(max(_rehearsal_peak[0], _torch.cuda.max_memory_reserved())))
            _os.replace(path + ".tmp", path)
        _threading.Event().wait(0.5)
_threading.Thread(target=_rehearsal_write, daemon=True).start()
"""

#: Run in the notebook's kernel after its last cell (or its failure): what the notebook chose.
PROBE = """
import json as _json, sys as _sys
_pipe = next((globals()[n] for n in ("pipe", "image_pipe", "video_pipe") if hasattr(globals().get(n), "transformer")), None)
_rec = globals().get("recipe") if isinstance(globals().get("recipe"), str) else None
_dtype = getattr(_pipe, "dtype", None)
if _pipe is not None and getattr(_pipe.transformer, "device", None) is not None and _pipe.transformer.device.type == "meta":
    from helpers.loading import default_dtype as _default  # low_ram_staged: weights load when generating
    _dtype = _default()
print("REHEARSAL-PROBE " + _json.dumps({"recipe": _rec, "dtype": str(_dtype) if _dtype is not None else None}))
"""


def build_models(folder: Path, tasks: tuple[str, ...] = ("text", "image")) -> dict[str, Path]:
    """The random full-size 5b and 5b-I2V in the hub layout, built once in ``folder`` (in a child
    process, so that this one never holds GPU memory while it samples the notebooks'); only the
    ``tasks`` asked for are built."""
    import subprocess

    models = {"text": folder / "CogVideoX-5b-random", "image": folder / "CogVideoX-5b-I2V-random"}
    for task, path in models.items():
        if task in tasks and not (path / "model_index.json").exists():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import sys; from helpers.architecture import save_random_5b; "
                            "save_random_5b(sys.argv[1], task=sys.argv[2])", str(path), task], check=True, cwd=ROOT)
            print(f"built {path} in {time.perf_counter() - start:.0f} s", flush=True)
    return models


def gpu_index() -> int:
    """The NVML index of the GPU this process's CUDA sees first (``CUDA_VISIBLE_DEVICES``, which the
    scheduler sets with ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so that both count alike); 0 by default."""
    first = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
    return int(first) if first.isdigit() else 0


class Sampler:
    """Peak memory of this process's children (the notebook's kernel and what it starts), sampled.

    Each process counts its proportional set size (PSS): pages shared between processes count once
    in all. A child that the kernel forks or vforks (ffmpeg writing a video, a compile worker)
    shares the kernel's pages until it execs; summing resident sizes counted them twice (06 under
    24gb read 51.9 GiB on 2026-12-03 where the kernel held about 27). RSS where PSS is unreadable."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self._me, self._interval = psutil.Process(), interval
        self.rss = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            rss = 0
            for child in self._me.children(recursive=True):
                try:
                    info = child.memory_full_info()
                    rss += info.pss or info.rss  # pss 0: a /proc/PID/smaps without Pss lines
                except Exception:  # gone, or no /proc/PID/smaps here: its resident size, if it is still there
                    try:
                        rss += child.memory_info().rss
                    except Exception:
                        pass
            self.rss = max(self.rss, rss)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return round(self.rss / GIB, 2)


def gpu_name() -> str:
    """The GPU's name, read with NVML (no CUDA context in this process)."""
    import pynvml

    pynvml.nvmlInit()
    name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(gpu_index()))
    return name.decode() if isinstance(name, bytes) else name


def outputs_text(nb) -> str:
    """The executed notebook's text: each code cell's source head and its text outputs."""
    parts = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        parts.append(f"--- cell {index}: {cell.source.splitlines()[0] if cell.source else ''}")
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text.rstrip())
            elif out.output_type in ("execute_result", "display_data") and "text/plain" in out.get("data", {}):
                parts.append(out.data["text/plain"].rstrip()[:2000])
            elif out.output_type == "error":
                parts.append(f"{out.ename}: {out.evalue}")
    return "\n".join(parts) + "\n"


def skipped_sections(text: str) -> list[str]:
    """The lines where a notebook said it skips something, and why."""
    return [line.strip() for line in text.splitlines() if re.match(r"\s*(skipped|skipping)\b", line, re.I)]


def run_notebook(path: Path, env: dict[str, str], timeout: int, time_left: float | None = None) -> dict:
    """Execute one notebook in a fresh kernel with ``env``; return its row (without the run's settings).

    After ``time_left`` seconds the kernel is interrupted (and killed a minute later if it does not
    stop): the row says "timed out" and where, and the text so far is kept.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    vram_file = Path(tempfile.mkdtemp(prefix="rehearsal-vram-")) / "peak"
    os.environ.update(env, REHEARSAL_VRAM_FILE=str(vram_file))
    client = NotebookClient(nb, timeout=timeout, resources={"metadata": {"path": str(path.parent)}})
    sampler, start, status, error, probe = Sampler(), time.perf_counter(), "ok", None, {}
    stopped = threading.Event()
    index = 0

    def stop() -> None:  # the run's time is up: interrupt the kernel (a child of this process), then kill it
        import signal

        import psutil

        stopped.set()
        for sig in (signal.SIGINT, signal.SIGKILL):
            for child in psutil.Process().children():
                child.send_signal(sig)
            if done.wait(60):
                return

    done = threading.Event()
    timer = None
    try:
        with client.setup_kernel():
            if time_left is not None:
                timer = threading.Timer(max(time_left, 1), stop)
                timer.daemon = True  # a finished notebook's process must not wait for it
                timer.start()
            nb.cells.insert(0, nbformat.v4.new_code_cell(PRELUDE))
            client.execute_cell(nb.cells[0], 0)
            nb.cells.pop(0)
            for index, cell in enumerate(nb.cells):
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as e:
                    status = "timed out" if stopped.is_set() else "failed"
                    error = (f"stopped in cell {index} when the run's time ran out" if stopped.is_set()
                             else f"cell {index}: {e.ename}: {str(e.evalue)[:400]}")
                    break
                if stopped.is_set():
                    status, error = "timed out", f"stopped after cell {index} when the run's time ran out"
                    break
            if status == "ok" or error:
                nb.cells.append(nbformat.v4.new_code_cell(PROBE))
                try:
                    client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
                    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
                    probe = json.loads(text.split("REHEARSAL-PROBE ", 1)[1]) if "REHEARSAL-PROBE " in text else {}
                except Exception as e:
                    print(f"  (probe failed: {e})")
                nb.cells.pop()
    except DeadKernelError as e:
        status, error = ("timed out", f"killed in cell {index} when the run's time ran out") if stopped.is_set() \
            else ("kernel died", str(e)[:400])
    except Exception as e:  # a cell timeout or a broken kernel: recorded, the next notebook still runs
        status, error = "failed", f"cell {index}: {type(e).__name__}: {str(e)[:400]}"
    finally:
        done.set()
        if timer is not None:
            timer.cancel()
        os.environ.clear()
        os.environ.update(saved)
    seconds = round(time.perf_counter() - start, 1)
    rss = sampler.stop()
    vram = round(int(vram_file.read_text()) / GIB, 2) if vram_file.exists() else None
    shutil.rmtree(vram_file.parent, ignore_errors=True)
    text = outputs_text(nb)
    if status == "kernel died":
        killed = [line for line in text.splitlines() if "host RAM" in line and "dies here" in line]
        error = killed[0] if killed else error
    return dict(status=status, error=error, skipped=skipped_sections(text), seconds=seconds,
                peak_vram_gib=vram, peak_host_rss_gib=rss, recipe=probe.get("recipe"), dtype=probe.get("dtype"),
                text=text)


def notebook_version(path: Path) -> str:
    """The notebook file's git blob id (``git hash-object``): which version of it a row ran."""
    import hashlib

    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def runs_the_same_code(version: str, path: Path) -> bool:
    """Whether the notebook version a row ran (its git blob id) has the code cells ``path`` has now.

    A change to a notebook's text (its measured cost line, a sentence) changes its blob but not what
    runs, so the row still holds. The old version is read from git; one that git lacks counts as
    different.

    Example:
        >>> from pathlib import Path
        >>> path = Path("notebooks/00_setup.ipynb")
        >>> runs_the_same_code(notebook_version(path), path)
        True
    """
    import subprocess

    import nbformat

    if version == notebook_version(path):
        return True
    try:
        old = subprocess.run(["git", "cat-file", "blob", version], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    def code(text: str) -> list:
        return [without_comments(c.source) for c in nbformat.reads(text, as_version=4).cells if c.cell_type == "code"]

    return code(old.decode()) == code(path.read_text())


def without_comments(source: str) -> list | str:
    """A code cell's tokens without its comments and blank lines: a comment changes nothing that runs. The source
    itself where Python's tokenizer cannot read it.

    Example:
        >>> without_comments("x = 1  # one") == without_comments("# the answer\\nx = 1")
        True
        >>> without_comments("x = 1") == without_comments("x = 2")
        False
    """
    import io
    import tokenize

    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return source
    return [(t.type, t.string) for t in tokens if t.type not in (tokenize.COMMENT, tokenize.NL)]


def load_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {
        "note": ("Every notebook executed on a CUDA GPU by scripts/gpu_rehearsal.py with CogVideoX-5b's and 5b-I2V's "
                 "full-size architectures and RANDOM weights (values change neither time nor memory), each notebook "
                 "alone in a fresh kernel, under a hardware profile (COGVIDEOX_EMULATE: the allocator capped to the "
                 "profile's VRAM, its compute capability and attention kernels, host RAM watched and the kernel "
                 "ended past the profile's limit, as Colab does; the speed is the real GPU's) and a mode "
                 "(workshop: COGVIDEOX_WORKSHOP=1; fewsteps: the notebooks' full-size requests with COGVIDEOX_STEPS "
                 "steps). peak_vram_gib: PyTorch's peak reserved GPU memory in the kernel, over every reset (the card "
                 "adds the CUDA context, about 0.5 GiB); peak_host_rss_gib: the kernel and the processes it starts, each "
                 "counted by its proportional set size (pages they share count once). "
                 "shared_gpu: the run shared its GPU with other capped runs (its seconds are longer than alone)."),
        "rows": [],
    }


def save_results(path: Path, record: dict) -> None:
    record["rows"].sort(key=lambda r: (r["notebook"], PROFILES.index(r["profile"]), MODES.index(r["mode"])))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)


def table(record: dict) -> str:
    """The README table: for each notebook, where it ran and what it cost there."""
    rows = record["rows"]
    notebooks = sorted({r["notebook"] for r in rows})
    columns = [(p, m) for p in PROFILES for m in MODES if m != "full" and any(r["profile"] == p and r["mode"] == m
                                                                               for r in rows)]
    gpus = Counter(r["gpu"] for r in rows if r.get("gpu"))
    gpu = gpus.most_common(1)[0][0] if gpus else "?"  # most rows ran here; a cell that ran elsewhere says where

    def cell(r: dict | None) -> str:
        if r is None:
            return "not run"
        current = ROOT / "notebooks" / r["notebook"]
        if current.exists() and r.get("notebook_version") and not runs_the_same_code(r["notebook_version"], current):
            older = " (older code of the notebook)"
        else:
            older = f" (to run again: {r['rerun']})" if r.get("rerun") else ""
        if r["status"] != "ok":
            return f"**{r['status']}**{older}"
        skipped = f", {len(r['skipped'])} skipped" if r["skipped"] else ""
        vram = "-" if r.get("peak_vram_gib") is None else f"{r['peak_vram_gib']:.1f}"
        shared = "†" if r.get("shared_gpu") else ""
        short = "‡" if r.get("vram_short_gib") else ""
        where = f", on {r['gpu'].removeprefix('NVIDIA ')}" if r.get("gpu") and r["gpu"] != gpu else ""
        return f"ok{skipped}: {r['seconds']:.0f} s{shared}, {vram}{short} / {r['peak_host_rss_gib']:.1f} GiB{where}{older}"

    head = "| notebook | " + " | ".join(f"{p} · {m}" for p, m in columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 1)]
    for name in notebooks:
        found = {(r["profile"], r["mode"]): r for r in rows if r["notebook"] == name}
        lines.append(f"| `{name.removesuffix('.ipynb')}` | " + " | ".join(cell(found.get(c)) for c in columns) + " |")
    few = {(r["notebook"], r["profile"]): r for r in rows if r["mode"] == "fewsteps"}
    lines += ["", *(f"Full mode, to check fewsteps' peaks: `{r['notebook'].removesuffix('.ipynb')}` under {r['profile']}: "
                    f"{cell(r)} (fewsteps: {cell(few.get((r['notebook'], r['profile'])))})."
                    for r in rows if r["mode"] == "full")]  # a few runs that check fewsteps' peaks, not a column
    return (f"On {gpu} (a cell that names another GPU ran on it), with random full-size weights; each cell: status, "
            "seconds, peak VRAM (PyTorch's reserved memory; the card adds the CUDA context, about 0.5 GiB) / peak "
            "host RAM (kernel); † the run shared the GPU with other capped runs, so its seconds are longer than alone; ‡ the run had less VRAM than its profile "
            "(by the row's `vram_short_gib` in media/gpu_rehearsal.json: its CUDA context was measured while another "
            "process held GPU memory), so it fits the profile too. real: the GPU as it is; 24gb: 24 GiB VRAM, 32 GiB RAM, cc 8.9; t4: 15 GiB VRAM, "
            "12.7 GiB RAM, cc 7.5 (T4 attention kernels). workshop: 17 frames x 25 steps; fewsteps: the full request "
            "(49x480x720) with few steps; full: the full request with its own steps (50).\n\n" + "\n".join(lines))


def pending(record: dict, paths: list[Path], profiles: list[str], modes: list[str], resume: bool) -> list[tuple]:
    """The (profile, mode, notebook, seconds of its last ok run or None) runs to make, longest first
    (unknown ones first of all); with ``resume``, those with an ``ok`` row for the notebook's
    current code are left out (:func:`runs_the_same_code`), unless the row says why it must run again
    (``rerun``: helpers changed what the notebook does under its profile)."""
    rows = {(r["notebook"], r["profile"], r["mode"]): r for r in record["rows"]}
    jobs = []
    for profile in profiles:
        for mode in modes:
            for path in paths:
                row = rows.get((path.name, profile, mode))
                if (resume and row and row["status"] == "ok" and not row.get("rerun")
                        and runs_the_same_code(row.get("notebook_version", ""), path)):
                    continue
                known = row and row["status"] == "ok"  # a failed run's seconds say nothing of a whole one
                jobs.append((profile, mode, path, row["seconds"] if known else None))
    jobs.sort(key=lambda job: -(job[3] if job[3] is not None else float("inf")))
    return jobs


def merge(record: dict, rows: list[dict]) -> None:
    """Put ``rows`` into ``record``, replacing the rows of the same notebook, profile and mode."""
    keys = {(r["notebook"], r["profile"], r["mode"]) for r in rows}
    record["rows"] = [r for r in record["rows"] if (r["notebook"], r["profile"], r["mode"]) not in keys] + rows


def needs(profile: str) -> tuple[float, float] | None:
    """The most VRAM and host RAM (GiB) a run under ``profile`` can hold (its caps), or ``None`` for
    ``real``, which needs its GPU alone."""
    if str(ROOT) not in sys.path:  # called every second by the scheduler: add the checkout once
        sys.path.insert(0, str(ROOT))
    from helpers.environment import PROFILES as CAPS

    return None if profile == "real" else (CAPS[profile].vram_gib, CAPS[profile].host_ram_gib)


def place(profile: str, running: dict[str, list[str]], card_gib: float, ram_gib: float) -> str | None:
    """The GPU on which a run under ``profile`` can start now, given the profiles ``running`` on each
    GPU, or ``None``. A ``real`` run needs an idle GPU; up to ``MAX_SHARED`` capped runs share one
    while their VRAM caps fit in ``card_gib`` and every run's host RAM limit in ``ram_gib``.

    Example:
        >>> place("t4", {"0": ["24gb"], "1": ["real"]}, card_gib=130, ram_gib=100)
        '0'
        >>> place("real", {"0": ["24gb"]}, card_gib=130, ram_gib=100) is None
        True
    """
    need = needs(profile)
    held_ram = sum((needs(p) or (0, 0))[1] for on in running.values() for p in on)
    for gpu, on in running.items():
        if need is None:
            if not on:
                return gpu
            continue
        if "real" in on or len(on) >= MAX_SHARED or held_ram + need[1] > ram_gib:
            continue
        if sum(needs(p)[0] for p in on) + need[0] <= card_gib:
            return gpu
    return None


def cuda_context_gib(gpu: str) -> float:
    """The CUDA context's share of GPU ``gpu`` (an NVML index; outside PyTorch's allocator): what the card's
    used memory grows by when a child process creates one. A capped run sharing the card cannot tell it
    from the others' use, and another process's memory on the card (a probe) must not count as context.

    Example:
        >>> 0.2 < cuda_context_gib("0") < 2  # doctest: +SKIP
        True
    """
    import subprocess

    code = (f"import pynvml; pynvml.nvmlInit(); card = pynvml.nvmlDeviceGetHandleByIndex({int(gpu)}); "
            "used = lambda: pynvml.nvmlDeviceGetMemoryInfo(card).used; before = used(); "
            "import torch; torch.zeros(1, device='cuda'); print((used() - before - torch.cuda.memory_reserved()) / 2**30)")
    env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpu, CUDA_DEVICE_ORDER="PCI_BUS_ID")
    return float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)


def schedule(jobs: list[tuple], gpus: list[str], args: argparse.Namespace, record: dict) -> int:
    """Run each job in its own process (this script, one notebook) where :func:`place` puts it; merge its row.
    Jobs start in order; a capped job that does not fit yet lets the next ones that fit start (a t4 run
    beside three 24gb ones), and none overtakes a ``real`` run that waits for an idle GPU."""
    import subprocess

    import psutil
    import pynvml

    pynvml.nvmlInit()
    card_gib = min(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(int(g))).total for g in gpus) / GIB
    card_gib -= 6  # the capped runs' CUDA contexts and compile workers
    ram_gib = psutil.virtual_memory().total / GIB - 8  # this script and the notebook runners (the page cache yields)
    threads = max(1, (os.cpu_count() or 1) // (MAX_SHARED * len(gpus)))  # each run's share of the CPU cores
    context = f"{cuda_context_gib(gpus[0]):.3f}"
    began, failed = time.perf_counter(), 0
    running: dict[str, list] = {gpu: [] for gpu in gpus}  # [process, part file, profile, shared flag]
    queue = list(jobs)
    parts = Path(tempfile.mkdtemp(prefix="rehearsal-parts-"))
    while queue or any(running.values()):
        left = None if args.deadline is None else args.deadline - (time.perf_counter() - began)
        if queue and left is not None and left < 30:
            for profile, mode, path, _ in queue:
                print(f"{path.name} [{profile} / {mode}]: not started, the run's --deadline is reached", flush=True)
            queue = []
        for job in [j for j in queue if left is not None and j[3] is not None and j[3] * 1.1 > left]:
            print(f"{job[2].name} [{job[0]} / {job[1]}]: left for the next run (it took {job[3]:.0f} s, "
                  f"{left:.0f} s are left)", flush=True)  # the next run starts it
            queue.remove(job)
        for job in list(queue):
            profile, mode, path, _ = job
            gpu = place(profile, {g: [r[2] for r in on] for g, on in running.items()}, card_gib, ram_gib)
            if gpu is None:
                if profile == "real":
                    break  # nothing overtakes a real run that waits for an idle GPU
                continue  # a smaller capped run may still fit beside the others
            queue.remove(job)
            part = parts / f"{profile}-{mode}-{path.stem}.json"
            command = [sys.executable, __file__, path.stem, "--profile", profile, "--mode", mode, "--steps", str(args.steps),
                       "--models", str(args.models), "--results", str(part), "--texts", str(args.texts),
                       "--timeout", str(args.timeout)] + (["--deadline", f"{left:.0f}"] if left is not None else [])
            env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpu, CUDA_DEVICE_ORDER="PCI_BUS_ID", COGVIDEOX_CUDA_CONTEXT_GIB=context,
                       OMP_NUM_THREADS=str(threads))  # the nano's CPU work: PyTorch's default, a thread per core in
            # every run, oversubscribed the cores (a shared 10_lora took many times as long as alone)
            shared = bool(running[gpu])
            for other in running[gpu]:
                other[3] = True
            running[gpu].append([subprocess.Popen(command, env=env), part, profile, shared])
        time.sleep(1)
        for gpu, on in running.items():
            for run in [r for r in on if r[0].poll() is not None]:
                on.remove(run)
                rows = [dict(row, shared_gpu=run[3]) for row in load_results(run[1])["rows"]]
                failed += run[0].returncode != 0 or not rows
                merge(record, rows)
                save_results(args.results, record)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="numbers or names (default: all); name them before --profile")
    parser.add_argument("--profile", nargs="+", choices=PROFILES, default=["real"])
    parser.add_argument("--mode", nargs="+", choices=MODES, default=["fewsteps"])
    parser.add_argument("--steps", type=int, default=2, help="steps in fewsteps mode")
    parser.add_argument("--gpus", help="comma-separated GPU indices to share the runs between, e.g. 0,1")
    parser.add_argument("--resume", action="store_true", help="skip runs with an ok row for the notebook's current code and no rerun reason")
    parser.add_argument("--models", type=Path, default=Path(tempfile.gettempdir()) / "cogvideox-rehearsal-models")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--texts", type=Path, help="where the text outputs go (default: beside the results)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds one cell may take")
    parser.add_argument("--deadline", type=float, help="seconds for the whole run: the notebooks still running "
                        "then are stopped and recorded as timed out, and no new one starts")
    parser.add_argument("--table", action="store_true", help="print the README table and stop")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    record = load_results(args.results)
    if args.table:
        print(table(record))
        return 0
    import torch

    if not torch.cuda.is_available():
        print("gpu_rehearsal needs a CUDA GPU (it executes the notebooks on CogVideoX-5b's full-size architecture).")
        return 2
    sys.path.insert(0, str(ROOT))
    from helpers.environment import library_versions

    everything = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    chosen = [p for p in everything if not args.notebooks or any(p.name.startswith(n) or p.stem == n for n in args.notebooks)]
    args.models = args.models.resolve()
    models = build_models(args.models, ("text", "image") if any(p.name.startswith("08") for p in chosen) else ("text",))
    args.texts = (args.texts or args.results.parent / "gpu_rehearsal").resolve()
    jobs = pending(record, chosen, args.profile, args.mode, args.resume)
    if args.gpus or len(args.profile) * len(args.mode) > 1:
        return schedule(jobs, (args.gpus or os.environ.get("CUDA_VISIBLE_DEVICES", "0")).split(","), args, record)
    gpu = gpu_name()
    failed, began = 0, time.perf_counter()
    for profile, mode, path, _ in jobs:
        left = None if args.deadline is None else args.deadline - (time.perf_counter() - began)
        if left is not None and left < 30:
            print(f"{path.name}: not started, the run's --deadline is reached", flush=True)
            continue
        (args.texts / f"{profile}-{mode}").mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"rehearsal-{path.stem[:2]}-"))
        env = {"COGVIDEOX_MODEL": str(models["text"]), "COGVIDEOX_IMAGE_MODEL": str(models["image"]),
               "COGVIDEOX_OUTPUTS": str(scratch / "outputs"), "COGVIDEOX_KIT_CACHE": str(scratch / "kit-cache"),
               "COGVIDEOX_EMULATE": "" if profile == "real" else profile,
               "COGVIDEOX_WORKSHOP": "1" if mode == "workshop" else "",
               "COGVIDEOX_STEPS": str(args.steps) if mode == "fewsteps" else "",
               "TORCHINDUCTOR_CACHE_DIR": str(scratch / "inductor"), "TRITON_CACHE_DIR": str(scratch / "triton"),
               "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        print(f"{path.name} [{profile} / {mode}] ...", flush=True)
        row = run_notebook(path, env, args.timeout, left)
        shutil.rmtree(scratch, ignore_errors=True)  # its videos and saved quantized models: the disk is for the next ones
        (args.texts / f"{profile}-{mode}" / f"{path.stem}.txt").write_text(row.pop("text"))
        row = dict(notebook=path.name, notebook_version=notebook_version(path), profile=profile, mode=mode,
                   **row, gpu=gpu, steps=args.steps if mode == "fewsteps" else None, date=date.today().isoformat(),
                   versions=library_versions())
        merge(record, [row])
        save_results(args.results, record)
        failed += row["status"] != "ok"
        print(f"  {path.name} [{profile} / {mode}]: {row['status']} in {row['seconds']:.0f} s, VRAM "
              f"{row['peak_vram_gib']} GiB, RAM {row['peak_host_rss_gib']} GiB, recipe {row['recipe']}, dtype {row['dtype']}"
              + (f"\n  error: {row['error']}" if row["error"] else "")
              + "".join(f"\n  {s}" for s in row["skipped"]), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
