"""scripts/gpu_rehearsal.py on a CPU: rows from tiny notebooks (status, first error, skips, time limit), and the README table."""

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_rehearsal", ROOT / "scripts" / "gpu_rehearsal.py")
rehearsal = importlib.util.module_from_spec(spec)
sys.modules["gpu_rehearsal"] = rehearsal
spec.loader.exec_module(rehearsal)


def notebook(tmp_path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_notebook_that_runs_gives_an_ok_row_with_its_skips_and_choices(tmp_path):
    path = notebook(tmp_path, "import os; print(os.environ['COGVIDEOX_STEPS'])",
                    "print('skipped all_on_gpu: needs 34.4 GiB VRAM, this GPU has 24.0')", "recipe = 'model_cpu_offload'")
    row = rehearsal.run_notebook(path, {"COGVIDEOX_STEPS": "2"}, timeout=60)
    assert row["status"] == "ok" and row["error"] is None
    assert row["skipped"] == ["skipped all_on_gpu: needs 34.4 GiB VRAM, this GPU has 24.0"]
    assert row["recipe"] == "model_cpu_offload" and row["peak_host_rss_gib"] > 0
    assert "--- cell 0" in row["text"] and "\n2\n" in row["text"]


def test_a_failing_notebook_names_the_cell_and_the_error(tmp_path):
    row = rehearsal.run_notebook(notebook(tmp_path, "x = 1", "raise MemoryError('CUDA out of memory')", "print('never')"),
                                 {}, timeout=60)
    assert row["status"] == "failed" and row["error"].startswith("cell 1: MemoryError: CUDA out of memory")
    assert "\nnever" not in row["text"]


def test_the_runs_time_limit_stops_a_notebook_and_keeps_what_it_printed(tmp_path):
    path = notebook(tmp_path, "print('first cell done')", "import time; time.sleep(60)")
    row = rehearsal.run_notebook(path, {}, timeout=120, time_left=3)
    assert row["status"] == "timed out" and "cell 1" in row["error"] and row["seconds"] < 30
    assert "first cell done" in row["text"]


def test_the_readme_table_has_a_column_per_profile_and_mode_run():
    row = dict(notebook="01_basic_inference.ipynb", profile="t4", mode="workshop", status="ok", skipped=["skipped x: y"],
               seconds=40.2, peak_vram_gib=14.1, peak_host_rss_gib=9.0, gpu="NVIDIA H200")
    failed = dict(row, notebook="02_memory_optimizations.ipynb", status="kernel died", skipped=[])
    text = rehearsal.table({"rows": [row, failed]})
    assert "| notebook | t4 · workshop |" in text
    assert "| `01_basic_inference` | ok, 1 skipped: 40 s, 14.1 / 9.0 GiB |" in text
    assert "| `02_memory_optimizations` | **kernel died** |" in text
    shared = dict(row, shared_gpu=True, peak_vram_gib=None, skipped=[])
    assert "| `01_basic_inference` | ok: 40 s†, - / 9.0 GiB |" in rehearsal.table({"rows": [shared]})
    elsewhere = dict(row, notebook="00_setup.ipynb", gpu="NVIDIA H100 80GB HBM3", skipped=[])
    unknown = dict(row, notebook="03_quantization_torchao.ipynb", gpu=None, skipped=[])
    text = rehearsal.table({"rows": [row, failed, elsewhere, unknown]})  # most rows ran on the H200: the header names it
    assert text.startswith("On NVIDIA H200 (a cell that names another GPU ran on it), with random full-size weights")
    assert "| `00_setup` | ok: 40 s, 14.1 / 9.0 GiB, on H100 80GB HBM3 |" in text
    assert "| `03_quantization_torchao` | ok: 40 s, 14.1 / 9.0 GiB |" in text
    assert "| `01_basic_inference` | ok, 1 skipped: 40 s, 14.1 / 9.0 GiB |" in text


def test_capped_runs_share_a_gpu_while_their_caps_fit_and_a_real_run_has_its_gpu_alone():
    place = rehearsal.place
    assert place("t4", {"0": ["24gb", "24gb", "t4"]}, card_gib=133, ram_gib=108) == "0"  # 63 + 15 GiB VRAM
    assert place("24gb", {"0": ["24gb"] * 3, "1": []}, card_gib=133, ram_gib=200) == "0"
    assert place("24gb", {"0": ["24gb"] * 3, "1": []}, card_gib=133, ram_gib=108) is None  # 4 x 32 GiB host RAM
    assert place("t4", {"0": ["24gb"] * 2 + ["t4"] * 2}, card_gib=133, ram_gib=500) is None  # four at most
    assert place("24gb", {"0": ["24gb"] * 3}, card_gib=90, ram_gib=500) is None  # 72 + 24 GiB > 90
    assert place("t4", {"0": ["real"], "1": ["t4"]}, card_gib=133, ram_gib=108) == "1"
    assert place("real", {"0": ["t4"], "1": []}, card_gib=133, ram_gib=108) == "1"
    assert place("real", {"0": ["t4"]}, card_gib=133, ram_gib=108) is None


def test_the_committed_results_are_the_scripts_rows():
    record = json.loads((ROOT / "media" / "gpu_rehearsal.json").read_text())
    assert "RANDOM weights" in record["note"]
    for row in record["rows"]:
        assert row["profile"] in rehearsal.PROFILES and row["mode"] in rehearsal.MODES
        assert (ROOT / "notebooks" / row["notebook"]).exists()
        assert (ROOT / "media" / "gpu_rehearsal" / f"{row['profile']}-{row['mode']}" / row["notebook"].replace(".ipynb", ".txt")).exists()


def test_without_a_gpu_the_script_says_what_it_needs(capsys):
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert rehearsal.main(["--profile", "t4"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().out


def test_a_row_from_an_older_version_of_the_notebook_says_so():
    row = dict(notebook="00_setup.ipynb", profile="real", mode="fewsteps", status="ok", skipped=[], seconds=15,
               peak_vram_gib=1.1, peak_host_rss_gib=1.0, gpu="NVIDIA H200")
    current = rehearsal.notebook_version(ROOT / "notebooks" / "00_setup.ipynb")
    assert "older version" not in rehearsal.table({"rows": [dict(row, notebook_version=current)]})
    assert "(older code of the notebook)" in rehearsal.table({"rows": [dict(row, notebook_version="0" * 40)]})
    # a row whose notebook helpers now run differently under its profile says so, and resume runs it again
    again = dict(row, notebook_version=current, rerun="the planner changed")
    assert "(to run again: the planner changed)" in rehearsal.table({"rows": [again]})
    path = ROOT / "notebooks" / "00_setup.ipynb"
    assert rehearsal.pending({"rows": [again]}, [path], ["real"], ["fewsteps"], resume=True)
    assert not rehearsal.pending({"rows": [dict(row, notebook_version=current)]}, [path], ["real"], ["fewsteps"], resume=True)


def test_the_t4_attention_benchmark_says_it_needs_a_gpu():
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has a GPU")
    import subprocess

    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_t4_attention.py"), "--out", "/dev/null"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "needs a CUDA GPU" in run.stdout


def test_resume_leaves_out_ok_rows_of_the_current_version_and_runs_unknown_then_the_longest_first():
    paths = [ROOT / "notebooks" / n for n in ("00_setup.ipynb", "01_basic_inference.ipynb", "02_memory_optimizations.ipynb")]
    current = {p.name: rehearsal.notebook_version(p) for p in paths}
    rows = [dict(notebook="00_setup.ipynb", profile="t4", mode="workshop", status="ok", seconds=15,
                 notebook_version=current["00_setup.ipynb"]),
            dict(notebook="01_basic_inference.ipynb", profile="t4", mode="workshop", status="failed", seconds=40,
                 notebook_version=current["01_basic_inference.ipynb"]),
            dict(notebook="02_memory_optimizations.ipynb", profile="t4", mode="workshop", status="ok", seconds=200,
                 notebook_version="0" * 40)]
    jobs = rehearsal.pending({"rows": rows}, paths, ["t4"], ["workshop", "fewsteps"], resume=True)
    names = [(profile, mode, path.name[:2]) for profile, mode, path, _ in jobs]
    assert ("t4", "workshop", "00") not in names  # ok on the current version: done
    assert ("t4", "workshop", "01") in names and ("t4", "workshop", "02") in names  # failed; an older version
    # unknown first (never run, or failed: a failed run's seconds say nothing of a whole one), then the longest
    assert names == [("t4", "workshop", "01"), ("t4", "fewsteps", "00"), ("t4", "fewsteps", "01"),
                     ("t4", "fewsteps", "02"), ("t4", "workshop", "02")]
    assert [seconds for *_, seconds in jobs] == [None, None, None, None, 200]
    assert len(rehearsal.pending({"rows": rows}, paths, ["t4"], ["workshop"], resume=False)) == 3


def test_merged_rows_replace_their_own_notebook_profile_and_mode_only():
    record = {"rows": [dict(notebook="a", profile="t4", mode="workshop", status="failed"),
                       dict(notebook="a", profile="real", mode="workshop", status="ok")]}
    rehearsal.merge(record, [dict(notebook="a", profile="t4", mode="workshop", status="ok")])
    assert sorted((r["profile"], r["status"]) for r in record["rows"]) == [("real", "ok"), ("t4", "ok")]


def test_the_sampler_reads_the_gpu_that_cuda_visible_devices_names(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert rehearsal.gpu_index() == 1
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f2c")
    assert rehearsal.gpu_index() == 0
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert rehearsal.gpu_index() == 0


def test_a_finished_notebook_leaves_no_timer_that_keeps_its_process_alive(tmp_path):
    import threading

    path = notebook(tmp_path, "print('done')")
    rehearsal.run_notebook(path, {}, timeout=60, time_left=500)
    assert not [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive() and not t.daemon]
    child = __import__("subprocess").run(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]); import gpu_rehearsal as g; "
         "start = time.time(); g.run_notebook(g.Path(sys.argv[2]), {}, 60, time_left=300); print('took', time.time() - start)",
         str(ROOT / "scripts"), str(path)], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0 and "took" in child.stdout, child.stderr[-2000:]


def test_the_t4_attention_chart_is_drawn_from_the_results_on_any_machine(tmp_path):
    import shutil
    import subprocess

    results = tmp_path / "t4_attention.json"
    shutil.copy(ROOT / "media" / "benchmarks" / "t4_attention.json", results)
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_t4_attention.py"), "--chart", "--out", str(results)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "t4_attention.png").stat().st_size > 10_000


def test_the_scheduler_runs_capped_jobs_side_by_side_and_marks_their_rows_shared(tmp_path, monkeypatch):
    import argparse
    import subprocess
    import types

    card = types.SimpleNamespace(total=140 * 1024**3)
    monkeypatch.setitem(sys.modules, "pynvml", types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlDeviceGetHandleByIndex=lambda i: i, nvmlDeviceGetMemoryInfo=lambda h: card))
    monkeypatch.setattr(rehearsal, "cuda_context_gib", lambda gpu: 0.5)
    monkeypatch.setattr(__import__("psutil"), "virtual_memory", lambda: types.SimpleNamespace(total=128 * 1024**3))
    started = []

    class Run:  # a child that writes its row and ends after a moment
        def __init__(self, command, env):
            at = command.index
            self.part, self.profile, self.mode = (Path(command[at("--results") + 1]), command[at("--profile") + 1],
                                                  command[at("--mode") + 1])
            started.append((self.profile, env["COGVIDEOX_CUDA_CONTEXT_GIB"], [p for p, _ in running()]))
            self.returncode, self.polls = 0, 0

        def poll(self):
            self.polls += 1
            if self.polls < 2:
                return None
            self.part.write_text(json.dumps({"rows": [dict(notebook=f"{self.profile}.ipynb", profile=self.profile,
                                                           mode=self.mode, status="ok", seconds=1)]}))
            return 0

    live = []
    running = lambda: [(r.profile, r) for r in live if r.polls < 2]
    monkeypatch.setattr(subprocess, "Popen", lambda command, env: live.append(Run(command, env)) or live[-1])
    nb = ROOT / "notebooks" / "00_setup.ipynb"
    jobs = [("real", "fewsteps", nb, None), ("t4", "fewsteps", nb, None), ("24gb", "fewsteps", nb, None),
            ("real", "workshop", nb, None), ("24gb", "workshop", nb, None), ("24gb", "full", nb, None),
            ("24gb", "fewsteps", nb, None), ("24gb", "workshop", nb, None), ("t4", "workshop", nb, None)]
    args = argparse.Namespace(deadline=None, steps=2, models=tmp_path, texts=tmp_path, timeout=60,
                              results=tmp_path / "results.json")
    record = {"rows": []}
    assert rehearsal.schedule(jobs, ["0"], args, record) == 0
    assert started[0] == ("real", "0.500", [])  # alone
    assert started[1][0] == "t4" and started[1][2] == [] and started[2] == ("24gb", "0.500", ["t4"])  # side by side
    assert started[3] == ("real", "0.500", [])  # waited for the card to be idle
    assert [s[0] for s in started[4:7]] == ["24gb"] * 3 and started[6][2] == ["24gb"] * 2
    # three 24gb runs hold 96 of the 120 GiB of host RAM: the fourth waits, the t4 behind it starts beside them
    assert started[7] == ("t4", "0.500", ["24gb"] * 3) and started[8][0] == "24gb"
    shared = {(r["profile"], r["mode"]): r["shared_gpu"] for r in json.loads(args.results.read_text())["rows"]}
    assert shared[("real", "fewsteps")] is False and shared[("t4", "fewsteps")] and shared[("t4", "workshop")]


def test_host_ram_counts_pages_a_forked_child_shares_once():
    """A kernel that forks (ffmpeg, compile workers) shares its pages with the child until it execs: the
    peak must count them once, not twice (06 under 24gb read 51.9 GiB for a 27 GiB kernel). The sampler
    runs in a fresh process, whose only children are the one holding 400 MiB and its fork."""
    import subprocess

    holder = ("import os, time; block = bytearray(400 * 2**20); block[::4096] = b'x' * len(block[::4096]); "
              "os.fork() and print('ready', flush=True); time.sleep(3)")  # the parent says ready
    sampler = f"""
import subprocess, sys, time
sys.path.insert(0, {str(ROOT / "scripts")!r})
from gpu_rehearsal import Sampler
held = subprocess.Popen([sys.executable, "-c", {holder!r}], stdout=subprocess.PIPE, text=True)
assert held.stdout.readline().strip() == "ready"
sampler = Sampler()
time.sleep(1.0)
print(sampler.stop())
held.wait(timeout=10)
"""
    done = subprocess.run([sys.executable, "-c", sampler], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    peak = float(done.stdout.split()[-1])
    assert 0.35 < peak < 0.6, peak  # 400 MiB held once (twice would read about 0.8 GiB)


def test_a_row_holds_while_the_notebooks_code_is_unchanged(tmp_path):
    """A notebook's measured cost line or a sentence may change after its row ran: what runs is the same,
    so the row holds (resume skips it, the table shows it as current). A changed code cell makes it old."""
    import subprocess

    name = "00_setup.ipynb"
    committed = subprocess.run(["git", "rev-parse", f"HEAD:notebooks/{name}"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    markdown = next(c for c in nb.cells if c.cell_type == "markdown")
    markdown.source += "\n\nA new sentence."
    edited = tmp_path / name
    nbformat.write(nb, edited)
    assert rehearsal.notebook_version(edited) != committed and rehearsal.runs_the_same_code(committed, edited)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.source = "# a comment reworded\n" + code.source.replace("\n", "  # and one more\n", 1)
    nbformat.write(nb, edited)
    assert rehearsal.runs_the_same_code(committed, edited)  # comments change nothing that runs
    code.source += "\nprint('new')"
    nbformat.write(nb, edited)
    assert not rehearsal.runs_the_same_code(committed, edited)
    assert not rehearsal.runs_the_same_code("0" * 40, edited)  # a version git does not have


def test_the_gpu_sessions_family_step_refuses_an_unknown_part_before_it_starts_anything(tmp_path):
    import subprocess

    run = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_session.sh"), "family", "t5"], capture_output=True,
                         text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 2 and "'family t4' for the T4's" in run.stdout
