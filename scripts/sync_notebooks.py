"""Keep the notebooks and the README in step with their single sources.

- The repository URL lives only in ``pyproject.toml`` ([project.urls] Repository). This script
  writes it into every notebook's first code cell (the Colab bootstrap) and its Colab badge.
- Each notebook's title cell is made from its ``metadata.kit`` (title, what you learn) and the
  measured times in ``media/notebook_times.json``.
- The README's table of notebooks is written between its ``notebooks:start/end`` markers, and
  CogVideoX-nano's measured accuracy (``media/nano_eval.json``) between ``nano:start/end``.
- Outputs are stripped, except cells marked ``# NBVAL_CHECK_OUTPUT`` (nbval compares those);
  ``--refresh-checked`` re-executes the notebooks on CogVideoX-nano to refresh them.

Usage:
    python scripts/sync_notebooks.py                  # rewrite notebooks and README
    python scripts/sync_notebooks.py --check          # exit 1 if anything is out of step
    python scripts/sync_notebooks.py --times outputs/notebook_times.json   # adopt measured times
    python scripts/sync_notebooks.py --refresh-checked
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
TIMES = ROOT / "media" / "notebook_times.json"
WORKSHOP_TIMES = ROOT / "media" / "notebook_times_workshop.json"
CHECK = "# NBVAL_CHECK_OUTPUT"
START, END = "<!-- notebooks:start -->", "<!-- notebooks:end -->"
NANO_EVAL = ROOT / "media" / "nano_eval.json"
NANO_I2V_EVAL = ROOT / "media" / "nano_i2v_eval.json"
IMAGE_VIDEO = ROOT / "media" / "benchmarks" / "image_video.json"
NANO_LORA = ROOT / "media" / "nano_lora_eval.json"
LORA = ROOT / "media" / "benchmarks" / "lora.json"
PROMPTS = ROOT / "media" / "nano_prompt_eval.json"
MEMORY = ROOT / "media" / "benchmarks" / "memory.json"
OFFLOAD_RAM = ROOT / "media" / "benchmarks" / "offload_ram.json"
FAMILY = ROOT / "media" / "benchmarks" / "family.json"
T4_FIT = ("<!-- t4-fit:start -->", "<!-- t4-fit:end -->")
QUANTIZATION = ROOT / "media" / "benchmarks" / "quantization.json"
Q_START, Q_END = "<!-- quantization:start -->", "<!-- quantization:end -->"
SPEED = ROOT / "media" / "benchmarks" / "speed.json"
REHEARSAL = ROOT / "media" / "gpu_rehearsal.json"
S_START, S_END = "<!-- speed:start -->", "<!-- speed:end -->"
FIGURE = re.compile(r"<!-- fig (\S+) -->(?:(?!<!--).)*?<!-- /fig -->")

BOOTSTRAP = '''\
# Set-up. In Colab: install the kit, which brings what Colab lacks (diffusers, torchao,
# optimum-quanto, imageio-ffmpeg) and keeps Colab's own torch. Elsewhere: installs nothing.
import sys

if "google.colab" in sys.modules:
    import importlib.util, os
    if importlib.util.find_spec("helpers") is None:
        import torch
        KIT = os.environ.get("COGVIDEOX_KIT_SOURCE", "git+{repository}")
        %pip install -q {{KIT}} "torch=={{torch.__version__}}"
        importlib.invalidate_caches()
import helpers

report = helpers.show_environment(notebook="{notebook}")'''


def repository_url() -> str:
    """The repository URL, from pyproject.toml (its one definition)."""
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    if not match:
        sys.exit("pyproject.toml has no [project.urls] Repository")
    return match.group(1).rstrip("/")


def colab_badge(repository: str, name: str) -> str:
    path = repository.split("github.com/", 1)[-1]
    return (
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{path}/blob/main/notebooks/{name})"
    )


def rehearsal_cost(name: str) -> str:
    """Where a notebook has no benchmark of its own: what its GPU rehearsal run cost on the real GPU, or say there
    is none.

    Example:
        >>> rehearsal_cost("05_troubleshooting.ipynb")[:60]
        'CogVideoX-5b on a GPU: no benchmark of its own; the GPU rehe'
    """
    rows = {r["mode"]: r for r in json.loads(REHEARSAL.read_text())["rows"]
            if r["notebook"] == name and r["profile"] == "real" and r["status"] == "ok"}
    run = rows.get("workshop") or rows.get("fewsteps")
    if run is None:
        return "CogVideoX-5b on a GPU: not measured yet (no T4 here either)."
    mode = ("in workshop mode (`COGVIDEOX_WORKSHOP=1`)" if run["mode"] == "workshop"
            else f"with the full-size request at {run['steps']} steps")
    if run["peak_vram_gib"] < 0.5:  # it put no 5b on the GPU (00 generates nothing; 09 needs two GPUs for the 5b)
        return (f"On a GPU machine: the GPU rehearsal ran the whole notebook {mode} on an "
                f"{run['gpu'].replace('NVIDIA ', '')} in {run['seconds']:.0f} s without putting CogVideoX-5b on the GPU "
                "(`media/gpu_rehearsal.json`). A real T4 is not measured (none here).")
    return (f"CogVideoX-5b on a GPU: no benchmark of its own; the GPU rehearsal ran the whole notebook {mode} on an "
            f"{run['gpu'].replace('NVIDIA ', '')} in {run['seconds']:.0f} s, {run['peak_vram_gib']:.1f} GiB peak VRAM, "
            "with the 5b's full-size architecture and **random weights** (`media/gpu_rehearsal.json`; the README's "
            "rehearsal table has the 24 GB and T4 emulations). A real T4 is not measured (none here).")


def gpu_cost(bench: str | None, name: str = "") -> str:
    """The GPU figures a notebook's recipe measured (scripts/bench_*.py), else its GPU rehearsal's."""
    if not bench or not (ROOT / bench).exists():
        return rehearsal_cost(name)
    b = json.loads((ROOT / bench).read_text())
    if bench.endswith("image_video.json"):  # image- and video-to-video, each pipeline with each recipe
        rows = "; ".join(f"{r['pipeline']}-to-video with `{r['recipe_steps']}` {r['end_to_end_s']:.0f} s, "
                         + (f"{r['peak_vram_gib']:.1f} GiB peak VRAM" if r.get("peak_vram_gib") else "no GPU")
                         for r in b["results"])
        gpu = b["results"][0]["gpu"].replace("NVIDIA ", "") if b["results"] else "GPU"
        return (f"CogVideoX-5b-I2V and CogVideoX-5b (49x480x720, 50 steps, video-to-video at strength 0.8 running 40 of "
                f"them, end to end) on an {gpu}, measured with "
                f"their full-size architectures and **random weights** (`{bench}`): {rows or 'nothing finished'}. "
                "A T4 is not measured (none here).")
    if bench.endswith("family.json"):  # the family's other members, all on the GPU
        from helpers.family import member

        rows = [r for r in b["results"] if r.get("recipe") == "all_on_gpu+vae_tiling" and "error" not in r]
        said = "; ".join(f"{r['model']} ({r['num_frames']}x{member(r['model']).height}x{member(r['model']).width}, "
                         f"{dtype_label(member(r['model']).dtype)}) {r['step_s']:.2f} s "
                         f"per step, {r['peak_vram_gib']:.1f} GiB peak VRAM" for r in rows)
        return (f"This notebook runs CogVideoX-nano everywhere. The family's other members all on the GPU, measured on an "
                f"{rows[0]['gpu'].replace('NVIDIA ', '')} with their full-size architectures and **random weights** "
                f"(`{bench}`): {said}. A T4's speed is not measured (none here; the same file holds what fitted its "
                "emulation's memory).")
    if bench.endswith("lora.json"):  # the LoRA benchmark: what loading and training one costs on the 5b
        rows = {r["name"]: r for r in b["results"] if "failed" not in r}
        plain, lora, fused = rows["no LoRA"], rows["rank 64"], rows["rank 64, fused"]
        train = rows["train rank 64, gradient checkpointing"]
        return (f"This notebook runs CogVideoX-nano everywhere. On CogVideoX-5b (49x480x720) on an "
                f"{b['gpu'].replace('NVIDIA ', '')}, measured with its full-size architecture and **random weights** "
                f"(`{bench}`, section 7): {plain['step_s']:.2f} s per step without a LoRA, {lora['step_s']:.2f} s with a "
                f"rank-64 LoRA unfused, {fused['step_s']:.2f} s fused; one rank-64 training step with gradient "
                f"checkpointing {train['step_s']:.1f} s and {train['peak_vram_gib']:.1f} GiB peak VRAM. "
                "A T4 is not measured (none here).")
    if bench.endswith("speed.json"):  # the speed benchmark: bf16 eager and the fastest recipe
        from types import SimpleNamespace

        from helpers.planner import fastest_speed

        done = [r for r in b["results"] if "end_to_end_s" in r and not r.get("estimated")]
        base = next(r for r in done if r["recipe"] == "baseline")
        any_gpu = SimpleNamespace(cuda=True, vram_total_gib=1e9, compute_capability="9.0")
        fast = next(r for r in done if r["recipe"] == fastest_speed(any_gpu, results=b)[0])
        return (
            f"CogVideoX-5b (49x480x720, 50 steps, end to end) on an {base['gpu'].replace('NVIDIA ', '')}, measured with "
            f"its full-size architecture and **random weights** (`{bench}`): bf16 eager {base['end_to_end_s']:.0f} s, "
            f"{base['peak_vram_gib']:.1f} GiB peak VRAM; fastest that keeps the request and its quality on CogVideoX-nano "
            f"(within 5 caption points) `{fast['recipe']}` {fast['end_to_end_s']:.0f} s ({fast['speedup']:.2f}x) after "
            f"{fast['compile_s']:.0f} s of compiling, {fast['peak_vram_gib']:.1f} GiB. "
            "A T4 is not measured (none here)."
        )
    if "results" in b:  # the quantization benchmark: the unquantized run, the smallest and the fastest
        done = [r for r in b["results"] if r["step_s"] is not None]
        base = next(r for r in done if r["scheme"] == "bf16" and not r["compiled"])
        small = min((r for r in done if not r["compiled"]), key=lambda r: (r["peak_vram_gib"], r["step_s"]))
        fast = min(done, key=lambda r: r["step_s"])

        def say(r):
            how = f" + compiled ({r['compile_scope']})" if r["compiled"] else ""
            derived = " (decode's peak derived)" if r.get("decode_peak_source") else ""
            return f"`{r['scheme']}`{how} {r['step_s']:.2f} s per step, {r['peak_vram_gib']:.1f} GiB peak VRAM{derived}"

        return (
            f"CogVideoX-5b (49x480x720) on an {base['gpu'].replace('NVIDIA ', '')}, measured with its full-size "
            f"architecture and **random weights** (`{bench}`): unquantized {say(base)}; smallest in eager mode {say(small)}; "
            f"fastest {say(fast)}. The full table is below. A T4 is not measured (none here)."
        )
    return (
        f"CogVideoX-5b on an {b['gpu'].replace('NVIDIA ', '')}, measured with its full-size architecture and "
        f"**random weights** (values change neither time nor memory; `{bench}`): {b['generate_s']:.0f} s to generate "
        f"{b['frames_returned']} frames at {b['frame_size'][0]}x{b['frame_size'][1]} ({b['median_step_s']:.2f} s per step), "
        f"{b['peak_vram_gib']:.1f} GiB peak VRAM, {b['peak_rss_gib']:.1f} GiB peak host RAM with `{b['recipe']}`. "
        "A T4 is not measured (none here)."
    )


def cost_line(times: dict, name: str, bench: str | None = None) -> str:
    from helpers.workshop import measured_on

    run = times.get(name)
    cpu = (
        f"{run['seconds']:.0f} s for the whole notebook on {measured_on(run)} with CogVideoX-nano "
        f"(measured by `scripts/run_notebooks.py`)"
        if run
        else "not measured yet"
    )
    return f"**What it costs:** {cpu}. {gpu_cost(bench, name)}"


def figure(spec: str) -> str:
    """One number from a committed benchmark file, for prose that quotes it: ``FILE:WHERE:EXPR:FORMAT[:min|max]``.

    FILE is ``media/benchmarks/FILE.json``; WHERE picks rows of its ``results`` (or ``rows``): ``key=value`` or
    ``key!=value`` joined by ``,`` (each key a field of some row); EXPR is computed from a row's fields (``ceil`` allowed; the specs are the kit's own committed text, so ``eval`` is no sandbox); the first
    row that has a value is quoted, or the smallest or the largest of them.

    Example:
        >>> figure("memory:recipe=model_cpu_offload+vae_tiling:peak_vram_gib:.0f")
        '13'
    """
    name, where, expr, fmt, *pick = spec.split(":")
    rows = json.loads((ROOT / "media" / "benchmarks" / f"{name}.json").read_text())
    rows = rows.get("results", rows.get("rows", []))
    tests = [re.fullmatch(r"(\w+)(!?=)(.*)", t) for t in where.split(",")]
    for test in tests:
        if test is None or not any(test[1] in row for row in rows):
            raise SystemExit(f"figure {spec}: each of {where!r} must be key=value or key!=value with a key of "
                             f"media/benchmarks/{name}.json's rows")
    values = []
    for row in rows:
        if all((str(row.get(key)) == value) == (op == "=") for key, op, value in (t.groups() for t in tests)):
            try:
                value = eval(expr, {"__builtins__": {}, "ceil": math.ceil}, dict(row))
            except (NameError, TypeError):  # a row without the field (a failed run, another kind of row)
                continue
            if value is not None:
                values.append(value)
    if not values:
        raise SystemExit(f"figure {spec}: no row of media/benchmarks/{name}.json gives {expr}")
    value = {"min": min, "max": max}[pick[0]](values) if pick else values[0]
    return format(value, fmt)


def fill_figures(text: str) -> str:
    """Refresh every ``<!-- fig SPEC -->N<!-- /fig -->`` in ``text`` from its file (see :func:`figure`)."""
    new = FIGURE.sub(lambda m: f"<!-- fig {m[1]} -->{figure(m[1])}<!-- /fig -->", text)
    if new.count("<!-- fig ") != new.count("<!-- /fig -->"):
        raise SystemExit(f"a <!-- fig ... --> marker has no <!-- /fig --> before the next comment: {text[:80]!r}...")
    return new


def title_cell(nb, name: str, repository: str, times: dict) -> str:
    kit = nb.metadata["kit"]
    return "\n".join(
        [
            f"# {kit['title']}",
            "",
            colab_badge(repository, name),
            "",
            f"**What you will learn:** {kit['learn']}",
            "",
            f"**Where it runs:** {kit['hardware']}.",
            "",
            cost_line(times, name, kit.get("gpu_bench")),
        ]
    )


def clean(nb) -> None:
    """Strip outputs (except checked cells), unneeded execution counts and widget state."""
    nb.metadata.pop("widgets", None)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        cell.metadata.pop("execution", None)
        if CHECK not in cell.source:
            cell.outputs = []
        # nbval compares only cells that show they ran: a fixed count keeps the file stable.
        cell.execution_count = number if cell.outputs else None
        for out in cell.outputs:
            if "execution_count" in out:
                out["execution_count"] = cell.execution_count


def sync_notebook(path: Path, repository: str, times: dict, refresh_checked: bool = False):
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kit"]["hardware"] = fill_figures(nb.metadata["kit"]["hardware"])
    nb.cells[0] = nbformat.v4.new_markdown_cell(title_cell(nb, path.name, repository, times), id=nb.cells[0].get("id"))
    nb.cells[1] = nbformat.v4.new_code_cell(BOOTSTRAP.format(repository=repository, notebook=path.name), id=nb.cells[1].get("id"))
    for cell in nb.cells:  # markdown cells that quote a committed results file
        if cell.cell_type == "markdown" and QUANTIZATION.exists():
            cell.source = replace_between(cell.source, Q_START, Q_END, quantization_table())
        if cell.cell_type == "markdown" and SPEED.exists():
            cell.source = replace_between(cell.source, S_START, S_END, speed_table())
        if cell.cell_type == "markdown" and NANO_EVAL.exists():
            cell.source = replace_between(cell.source, "<!-- nano:start -->", "<!-- nano:end -->", nano_table())
        if cell.cell_type == "markdown" and NANO_LORA.exists():
            cell.source = replace_between(cell.source, "<!-- nano-lora:start -->", "<!-- nano-lora:end -->", nano_lora_table())
        if cell.cell_type == "markdown":
            cell.source = fill_figures(cell.source)
            cell.source = replace_between(cell.source, "<!-- lora:start -->", "<!-- lora:end -->", lora_table())
            cell.source = replace_between(cell.source, "<!-- prompts:start -->", "<!-- prompts:end -->", prompts_table())
            cell.source = replace_between(cell.source, *T4_FIT, t4_fit_line())
        if cell.cell_type == "markdown" and OFFLOAD_RAM.exists():
            cell.source = replace_between(cell.source, "<!-- offload-ram:start -->", "<!-- offload-ram:end -->",
                                          offload_ram_line())
        if cell.cell_type == "markdown" and NANO_I2V_EVAL.exists():
            cell.source = replace_between(cell.source, "<!-- nano-i2v:start -->", "<!-- nano-i2v:end -->", nano_image_table())
    if refresh_checked:
        for cell, outputs in zip(nb.cells, executed_outputs(nb)):
            if cell.cell_type == "code" and CHECK in cell.source:
                cell.outputs = outputs
    clean(nb)
    return nb


def times_machine(times: dict) -> str:
    """The CPU a notebook_times*.json was measured on, in words (one run of run_notebooks.py: one machine)."""
    from helpers.workshop import measured_on

    return measured_on(next(iter(times.values()))) if times else "no machine yet"


def readme_table(notebooks: list[Path], times: dict) -> str:
    rows = [
        f"| notebook | what you learn | where it runs | time on {times_machine(times)}, CogVideoX-nano (measured) |",
        "|---|---|---|---|",
    ]
    for path in notebooks:
        kit = nbformat.read(path, as_version=4).metadata["kit"]
        run = times.get(path.name)
        t = f"{run['seconds']:.0f} s" if run else "not measured yet"
        rows.append(f"| [`{path.stem}`](notebooks/{path.name}) | {kit['learn']} | {kit['hardware']} | {t} |")
    rows += ["", "The GiB in \"where it runs\" come from `media/benchmarks/`, measured on a GPU with CogVideoX-5b's "
                 "full-size architecture and random weights (weights' values change neither time nor memory)."]
    return "\n".join(rows)


def nano_table() -> str:
    record = json.loads(NANO_EVAL.read_text())
    rows = [
        f"CogVideoX-nano on its {record['held_out_scenes']} held-out captions (colour/shape/motion combinations never "
        f"shown in training), each clip judged from its pixels by `helpers.nano.judge`; {record['device']}. "
        "Written by `python scripts/eval_nano.py curves` to `media/nano_eval.json`.",
        "",
        "| steps | guidance | colour right | motion right | seconds per clip |",
        "|---|---|---|---|---|",
    ]
    for r in record["results"]:
        rows.append(f"| {r['steps']} | {r['guidance']:g} | {r['colour_accuracy']:.0%} | {r['motion_accuracy']:.0%} | {r['seconds_per_clip']:.1f} |")
    return "\n".join(rows)


def nano_image_table() -> str:
    record = json.loads(NANO_I2V_EVAL.read_text())
    rows = [
        f"Image to video on CogVideoX-nano's {record['held_out_scenes']} held-out scenes: each clip is asked to start "
        "from the scene's first frame (rendered by `helpers.nano.render`) and follow its caption; judged from the "
        f"pixels (`helpers.nano.judge`, `helpers.nano.start_offset`); {record['device']}. The text-to-video nano gets the "
        "caption alone: the same measure without the picture. Written by `python scripts/eval_nano.py image` to "
        "`media/nano_i2v_eval.json`.",
        "",
        f"| model | steps | starts where the picture has the object (within {record['start_tolerance_px']:g} px) "
        "| median distance px | colour right | motion right | seconds per clip |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in record["results"]:
        rows.append(f"| {r['model']} | {r['steps']} | {r['start_accuracy']:.0%} | {r['start_offset_px']:.1f} | {r['colour_accuracy']:.0%} "
                    f"| {r['motion_accuracy']:.0%} | {r['seconds_per_clip']:.1f} |")
    return "\n".join(rows)


def nano_lora_table() -> str:
    record = json.loads(NANO_LORA.read_text())
    settings, training = record["settings"], record["training"]
    rows = [
        f"Each LoRA: rank {settings['rank']}, {settings['steps']} steps of {settings['batch']} clips at learning rate "
        f"{settings['lr']:g}, on its colour's 63 clips and {settings['own_scenes']} of the nano's own, on a "
        f"{record['machine']}; judged at the nano's default steps (`helpers.nano.DEFAULT_STEPS`), seed 0. Written by `python scripts/train_nano_lora.py` to `media/nano_lora_eval.json`.",
        "",
        "| LoRA | captions | colour right | motion right |",
        "|---|---|---|---|",
    ]
    for r in record["evaluation"]:
        rows.append(f"| {r['lora']} | {r['test']} ({r['captions']}) | {r['colour']:.0%} | {r['motion']:.0%} |")
    return "\n".join(rows)


def prompts_table() -> str:
    if not PROMPTS.exists():
        return "Not measured yet: `python scripts/eval_nano.py prompts` writes `media/nano_prompt_eval.json`."
    record = json.loads(PROMPTS.read_text())
    rows = [f"{record['note']} On a {record['device']}; written to `media/nano_prompt_eval.json`.", "",
            "| setting | colour right | motion right |", "|---|---|---|"]
    rows += [f"| {r['setting']} | {r['colour_accuracy']:.0%} | {r['motion_accuracy']:.0%} |" for r in record["results"]]
    return "\n".join(rows)


def dtype_label(dtype: str) -> str:
    """``"bfloat16"`` as ``"bf16"``, ``"float16"`` as ``"fp16"``."""
    return dtype.replace("bfloat", "bf").replace("float", "fp")


def family_table() -> str:
    """helpers.family's table as the README shows it."""
    from helpers.family import FAMILY

    rows = ["| model | pipeline | dtype | default request | frames | size | fps | scheduler (THUDM's demo) | prompt tokens trained |",
            "|---|---|---|---|---|---|---|---|---|"]
    for m in FAMILY:
        size = ("short side 768, long side 768 to 1360 (multiples of 16)" if m.any_size
                else f"{m.height}x{m.width} only (learned positions: others fail)" if m.task == "image"
                else f"{m.height}x{m.width} (others run, with less quality)")
        scheduler = m.scheduler.replace("CogVideoX", "").replace("Scheduler", "") + (", `use_dynamic_cfg=True`" if "DPM" in m.scheduler else "")
        rows.append(f"| `{m.hub_id}` | `{m.pipeline}` | {dtype_label(m.dtype)} | "
                    f"{m.num_frames} frames, {m.height}x{m.width}, {m.num_inference_steps} steps, guidance {m.guidance_scale:g} | "
                    f"{m.frame_rule}, up to {m.max_frames} | {size} | {m.fps} | {scheduler} | {m.prompt_tokens} |")
    return "\n".join(rows)


def family_measured_table() -> str:
    """media/benchmarks/family.json's rows, and what the planner picks from them for three machines."""
    from types import SimpleNamespace

    from helpers.planner import recommend_model

    record = json.loads(FAMILY.read_text())
    gpus = sorted({real_gpu(r["gpu"]) for r in record["results"] if "gpu" in r})
    rows = [f"Written by `scripts/bench_memory.py --model` to `media/benchmarks/family.json` on {', '.join(gpus)}: "
            f"{record['note']}", "",
            "| model | recipe | request | s/step | decode s | 50 steps + decode, s | peak VRAM GiB | host RAM GiB |",
            "|---|---|---|---|---|---|---|---|"]
    for r in record["results"]:
        where = f" (emulated {r['emulated']})" if r.get("emulated") else ""
        if "error" in r:
            rows.append(f"| {r['model']} | `{r['recipe']}`{where} | failed: {r['error'][:120]} | | | | | |")
            continue
        decoded = "" if r["frames_returned"] == r["num_frames"] else f" (decoded {r['frames_returned']}*)"
        times = (f"{r['step_s']:.2f} | {r['decode_s']:.1f} | {r['end_to_end_50_steps_s']:.0f}" if not where
                 else "- | - | - (an emulation's memory, not its speed)")
        rows.append(f"| {r['model']} | `{r['recipe']}`{where} | {r['num_frames']} frames{decoded} | {times} | "
                    f"{r['peak_vram_gib']:.1f} | {r['peak_host_rss_gib']:.1f} |")
    if any(r.get("frames_returned", r.get("num_frames")) != r.get("num_frames") for r in record["results"]):
        rows += ["", "\\* The benchmark decoded the pipeline's latents itself and kept the latent frame CogVideoX1.5's "
                 "pipeline pads (its own decode drops it): these decode figures are for the frames shown. "
                 "`helpers.checks.trim_latent_padding` now drops it (the low-RAM path had the same fault); "
                 "`bash scripts/gpu_session.sh family` measures them again."]
    rows += ["", "What `helpers.planner.recommend_model` picks from these files (CogVideoX-5b first, then the 2b; "
             "predicted peaks; the T4's rows above are its emulation's memory, not its speed; the 5b's sets the share of its fp32 "
             "attention copies the planner counts, so the 5b's T4 prediction matches it by construction, and the 2b's "
             "checks the planner):", ""]
    for label, vram, ram, cc in (("free Colab T4 (15 GiB, 12.7 GiB RAM)", 15.0, 12.7, "7.5"),
                                 ("a 13 GB card, 12.7 GiB RAM, compute capability 7.5", 13.0, 12.7, "7.5"),
                                 ("24 GB card, 32 GiB RAM", 24.0, 32.0, "8.9"), ("80 GB card, 128 GiB RAM", 80.0, 128.0, "9.0")):
        name, best, _ = recommend_model(SimpleNamespace(cuda=True, vram_total_gib=vram, host_ram_total_gib=ram,
                                                        compute_capability=cc))
        rows.append(f"- {label}: " + (f"{name} with `{best.recipe}` ({best.peak_vram_gib:.1f} GiB VRAM, "
                                      f"{best.peak_host_rss_gib:.1f} GiB host RAM)" if name else "none fits"))
    return "\n".join(rows)


FACTORY_ANCHOR = ("Published for comparison, not measured here: cogvideox-factory reports training a CogVideoX-5b LoRA "
                  "(rank 64, batch 1, gradient checkpointing) in about 20 GB.")


def lora_table() -> str:
    if not LORA.exists():
        return ("Not measured yet: loading time, peak VRAM and step time (unfused, fused, with model offload) of a "
                "rank-64 and a rank-128 LoRA on CogVideoX-5b's full-size architecture, and one LoRA training step with "
                "and without gradient checkpointing, wait for a GPU session. " + FACTORY_ANCHOR)
    record = json.loads(LORA.read_text())
    gpu = record["gpu"].replace("NVIDIA ", "")
    rows = [f"Measured on an {gpu} by `scripts/bench_lora.py` (`media/benchmarks/lora.json`, chart `lora.png`). "
            f"{record['note']}", "",
            "| LoRA | file MiB | load s | s per step | peak VRAM GiB | peak host RAM GiB |", "|---|---|---|---|---|---|"]
    for r in record["results"]:
        if "failed" in r:
            rows.append(f"| {r['name']} | failed: {r['failed'][:80]} | | | | |")
            continue
        step = f"{r['step_s']:.2f}" + (" (a training step)" if r["what"].startswith("train") else "")
        rows.append(f"| {r['name']} | {r.get('lora_mib', '')} | {r.get('load_s', '')} | {step} | {r['peak_vram_gib']:.1f} "
                    f"| {r['peak_rss_gib']:.1f} |")
    compiled = next((r for r in record["results"] if r["what"] == "compiled" and "failed" not in r), None)
    if compiled:
        rows += ["", f"Compiled after loading (`torch.compile` of each transformer block, the kit's `compile` recipe): "
                 f"the first call of 2 steps took {compiled['first_call_2_steps_s']:.0f} s (compiling), then "
                 f"{compiled['step_s']:.2f} s a step. After `pipe.set_adapters([...], [0.5])` the next call of 2 steps "
                 f"took {compiled['after_set_adapters_2_steps_s']:.1f} s against "
                 f"{2 * compiled['step_s']:.1f} s of steps: a new weight compiles the blocks again. Load and weight the "
                 "LoRA before compiling; to swap LoRAs on a compiled model, diffusers' `pipe.enable_lora_hotswap("
                 "target_rank=...)` before the first load turns the weights into tensors that swap without "
                 "recompiling (not measured here)."]
    return "\n".join(rows + ["", FACTORY_ANCHOR])


def image_video_table() -> str:
    b = json.loads(IMAGE_VIDEO.read_text())
    gpu = b["results"][0]["gpu"].replace("NVIDIA ", "") if b["results"] else "GPU"
    rows = [f"Measured on an {gpu} by `scripts/bench_image_video.py` (`media/benchmarks/image_video.json`). {b['note']}", "",
            "| pipeline | recipe | end to end s | peak VRAM GiB | frames returned |", "|---|---|---|---|---|"]
    for r in b["results"]:
        rows.append(f"| {r['pipeline']} to video | `{r['recipe_steps']}` | {r['end_to_end_s']:.0f} | {r['peak_vram_gib']:.1f} "
                    f"| {r['frames_returned']} |")
    for r in b["not_measured"]:
        rows.append(f"| {r['pipeline']} to video | `{r['recipe_steps']}` | not measured: {r['error'][:80]} | | |")
    return "\n".join(rows)


def memory_table() -> str:
    record = json.loads(MEMORY.read_text())
    rows = [
        record["note"] + " Written by `scripts/bench_memory.py` to `media/benchmarks/memory.json`; "
        "the planner's predictions beside the measurements.",
        "",
        "| recipe | GPU | s/step | decode s | 50 steps + decode, s | peak VRAM GiB (planner) | peak host RAM GiB (planner) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in record["results"]:
        if "error" in r:
            rows.append(f"| `{r['recipe']}` | failed: {r['error'][:60]} | | | | | |")
            continue
        gpu = r["gpu"].replace("NVIDIA ", "") + (f", capped at {r['vram_cap_gib']:g} GiB" if r.get("vram_cap_gib") else "")
        rows.append(
            f"| `{r['recipe']}` | {gpu} | {r['step_s']:.2f} | {r['decode_s']:.1f} | {r['end_to_end_50_steps_s']:.0f} | "
            f"{r['peak_vram_gib']:.1f} ({r.get('predicted_peak_vram_gib', float('nan')):.1f}) | "
            f"{r['peak_host_rss_gib']:.1f} ({r.get('predicted_peak_host_rss_gib', float('nan')):.1f}) |"
        )
    return "\n".join(rows)


def offload_ram_line() -> str:
    """Group offloading's host RAM with pinned copies of every block and with ``low_cpu_mem_usage``, from one run."""
    rows = {r["recipe"].split("+")[0]: r for r in json.loads(OFFLOAD_RAM.read_text())["results"] if "error" not in r}
    pinned, low = rows["group_offload_streams"], rows["group_offload_low_cpu"]
    return (f"Measured in one run by `scripts/bench_memory.py` on an {low['gpu'].replace('NVIDIA ', '')} (CogVideoX-5b's "
            "full-size architecture, **random weights**, 49x480x720, VAE tiling; `media/benchmarks/offload_ram.json`): "
            f"group offloading on streams peaked at {pinned['peak_host_rss_gib']:.1f} GiB of host RAM with pinned copies "
            f"of every block and {low['peak_host_rss_gib']:.1f} GiB with `low_cpu_mem_usage=True`, at "
            f"{pinned['step_s']:.2f} and {low['step_s']:.2f} s per step (peak VRAM {pinned['peak_vram_gib']:.1f} and "
            f"{low['peak_vram_gib']:.1f} GiB). The planner counts it as `group_offload_low_cpu+vae_tiling`.")


def real_gpu(label: str) -> str:
    """The GPU a results row ran on: an emulated profile's label ends with it (helpers.environment's "..., emulated on H100")."""
    return label.split(" emulated on ")[-1]


def t4_fit_line() -> str:
    """What fitted the T4's emulation: the 5b and the 2b, each with the low-RAM recipe at its own request."""
    from helpers.environment import PROFILES
    from helpers.family import member

    rows = {r["model"]: r for r in json.loads(FAMILY.read_text())["results"]
            if r.get("emulated") == "t4" and r["recipe"] == "low_ram_staged" and "error" not in r}
    five, two, t4 = rows["CogVideoX-5b"], rows["CogVideoX-2b"], PROFILES["t4"]
    return (f"Measured under the T4's emulation on an {real_gpu(five['gpu']).replace('NVIDIA ', '')} "
            f"(its {t4.vram_gib:g} GiB with the CUDA context, {t4.host_ram_gib:g} GiB of host RAM, its attention kernels; "
            "not its speed) by `scripts/bench_memory.py` (`media/benchmarks/family.json`; full-size architectures, "
            f"**random weights**, {five['num_frames']}x{member(five['model']).height}x{member(five['model']).width}): "
            f"with the low-RAM recipe CogVideoX-5b peaked at {five['peak_vram_gib']:.1f} GiB "
            f"of VRAM and {five['peak_host_rss_gib']:.1f} GiB of host RAM, CogVideoX-2b (fp16) at "
            f"{two['peak_vram_gib']:.1f} and {two['peak_host_rss_gib']:.1f}. Both fit a T4; how long each takes on one "
            "is not measured here.")


def workshop_table(notebooks: list[Path], times: dict) -> str:
    """Each notebook's needs and measured times, in workshop mode and in full (README's instructor page)."""
    workshop = json.loads(WORKSHOP_TIMES.read_text()) if WORKSHOP_TIMES.exists() else {}
    rows = [
        f"| notebook | needs | workshop mode, CogVideoX-nano, on {times_machine(workshop)} | full mode, on {times_machine(times)} |",
        "|---|---|---|---|",
    ]
    for path in notebooks:
        kit = nbformat.read(path, as_version=4).metadata["kit"]
        w, f = workshop.get(path.name), times.get(path.name)
        say = lambda run: f"{run['seconds']:.0f} s" if run else "not measured yet"  # noqa: E731
        rows.append(f"| `{path.stem}` | {kit['hardware']} | {say(w)} | {say(f)} |")
    return "\n".join(rows)


def quantization_table() -> str:
    """media/benchmarks/quantization.json as a markdown table (README and notebooks 03, 04)."""
    record = json.loads(QUANTIZATION.read_text())
    results = record["results"]
    base = next(r["step_s"] for r in results if r["scheme"] == "bf16" and not r["compiled"])
    gpu = next(r["gpu"] for r in results if "gpu" in r).replace("NVIDIA ", "")
    rows = [
        f"Measured on an {gpu} by `scripts/bench_quantization.py` (`media/benchmarks/quantization.json`, "
        "chart `media/benchmarks/quantization.png`). " + record["note"],
        "",
        "| scheme | compiled | weights GiB | peak VRAM GiB | s/step | vs bf16 eager | compile s | 5b forward error "
        "| nano PSNR dB | nano captions right |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        compiled = r.get("compile_scope") or "no"
        quality = (f"{r['psnr_db']:.1f}" if r.get("psnr_db") else ("reference" if r["scheme"] == "bf16" else "-"),
                   f"{r['nano_caption_accuracy']:.0%}" if r.get("nano_caption_accuracy") is not None else "-")
        if r["step_s"] is None:
            rows.append(f"| `{r['scheme']}` | {compiled} | {r['error']} | | | | | | {quality[0]} | {quality[1]} |")
            continue
        rows.append(
            f"| `{r['scheme']}` | {compiled} | {r['weights_gib']:.1f} | {r['peak_vram_gib']:.1f}"
            + (" (decode's peak derived)" if r.get("decode_peak_source") else "") + f" | {r['step_s']:.2f} | "
            f"{base / r['step_s']:.2f}x | {r.get('compile_s', '-')} | {r['transformer_rel_error']:.1%} | "
            f"{quality[0]} | {quality[1]} |"
        )
    return "\n".join(rows)




def one_gpu_target(kept: list[dict], target_s: float) -> str:
    """The one-GPU target against the fastest recipe that keeps the request, and against the fastest that
    also keeps the video (within ``helpers.planner.MAX_CAPTION_LOSS`` points of nano caption score).

    Example:
        >>> one_gpu_target([dict(recipe="baseline", end_to_end_s=99.0, caption_score=100.0),
        ...                 dict(recipe="x", end_to_end_s=30.0, caption_score=60.0)], 40)
        '**One GPU, 40 s target:** fastest `x`, 30.0 s (10.0 s under), nano caption score 60%; fastest within 5 points of the unaccelerated caption score: `baseline`, 99.0 s (59.0 s over).'
    """
    from helpers.planner import MAX_CAPTION_LOSS, quality_measured

    def against(r: dict) -> str:
        gap = r["end_to_end_s"] - target_s
        return f"`{r['recipe']}`, {r['end_to_end_s']:.1f} s ({abs(gap):.1f} s {'over' if gap > 0 else 'under'})"

    timed = [r for r in kept if "end_to_end_s" in r]
    least = next(r for r in timed if r["recipe"] == "baseline").get("caption_score", 100) - MAX_CAPTION_LOSS
    fastest = min(timed, key=lambda r: r["end_to_end_s"])
    keeping = min((r for r in timed if quality_measured(r) and r.get("caption_score", 0) >= least),
                  key=lambda r: r["end_to_end_s"])
    return (f"**One GPU, {target_s:.0f} s target:** fastest {against(fastest)}, nano caption score "
            f"{fastest.get('caption_score', 0):.0f}%; fastest within {MAX_CAPTION_LOSS:.0f} points of the unaccelerated "
            f"caption score: {against(keeping)}.")


def speed_table() -> str:
    """media/benchmarks/speed.json as markdown (README and notebook 07): what keeps the request, ranked,
    apart from what changes it (fewer steps) and from what is estimated from CogVideoX-nano."""
    from helpers.planner import quality_measured

    record = json.loads(SPEED.read_text())
    gpu = next(r["gpu"] for r in record["results"] if r.get("gpu")).replace("NVIDIA ", "")
    head = ["| recipe | end to end s | vs bf16 eager | compile s (warm start) | peak VRAM GiB | graphs / breaks "
            "| 5b transformer output vs bf16 eager | nano PSNR dB | nano caption score |",
            "|---|---|---|---|---|---|---|---|---|"]

    def row(r: dict) -> str:
        name = f"`{r['recipe']}`"
        if "end_to_end_s" not in r:
            error = r.get('error', '')[:160].replace('|', '/').replace('\n', ' ')
            return f"| {name} | not measured: {error} | | | | | | | |"
        compile_s = f"{r['compile_s']:.0f}" if r.get("compile_s") else "0"
        if r.get("warm_compile_s") is not None:
            compile_s += f" ({r['warm_compile_s']:.0f})"
        graphs = f"{r['graphs']} / {r['graph_breaks']}" if "graphs" in r else "-"
        psnr = r.get("quality_psnr_db")
        psnr = "reference" if r["recipe"] == "baseline" else "-" if psnr is None else \
            "identical" if psnr >= 99 else f"{psnr:.1f}"
        score = f"{r['caption_score']:.0f}%" if "caption_score" in r else "-"
        if not quality_measured(r) and "fp8_psnr_db" in r:  # fp8 with another step: only its parts' quality measured
            psnr = f"not measured together ({r['recipe'].split('+', 2)[-1]} alone {psnr}, fp8 alone {r['fp8_psnr_db']:.1f})"
            score = f"not measured ({r['fp8_caption_score']:.0f}% and {score})"
        elif not quality_measured(r):
            psnr = score = "not measured"
        error = "-"  # the 5b transformer's output against bf16 eager (random weights), where measured
        if "transformer_relative_error" in r:  # an attention kernel the nano cannot run
            psnr, error = "-", f"{100 * r['transformer_relative_error']:.2f}% (attention kernel)"
        elif "fp8_transformer_relative_error" in r:
            error = f"{100 * r['fp8_transformer_relative_error']:.2f}% (fp8 alone)"
        speedup = f"{r['speedup']:.2f}x" + (f" (eager {r['session_baseline_s']:.1f} s that session)"
                                             if "session_baseline_s" in r else "")
        return (f"| {name} | {r['end_to_end_s']:.1f} | {speedup} | {compile_s} | "
                f"{r['peak_vram_gib']:.1f} | {graphs} | {error} | {psnr} | {score} |")

    rows = record["results"] + record.get("not_measured", [])
    clips = json.loads((SPEED.parent / "speed_quality_nano.json").read_text())["results"][0]["clips"]
    fewer = [r for r in rows if "half_steps" in r["recipe"] and not r.get("estimated")]
    estimated = [r for r in rows if r.get("estimated")]
    kept = [r for r in rows if r not in fewer and r not in estimated]
    return "\n".join([
        f"Measured on an {gpu} by `scripts/bench_speed.py` (`media/benchmarks/speed.json`, chart "
        "`media/benchmarks/speed.png`). " + record["note"], "",
        "**Same request (50 steps), measured on the 5b architecture**, fastest last. Quality is CogVideoX-nano's: the "
        "PSNR and caption score say whether a shortcut changes the video there; they cannot rank small differences "
        f"(the score saturates, and one clip is {100 / clips:.1f} points of it). TaylorSeer is fast and changes the video "
        "most.", "",
        *head, *(row(r) for r in kept), "", one_gpu_target(kept, record["one_gpu_target_s"]), "",
        "**Fewer steps: a different request**, not a speed-up of the same one (half the steps: 25).", "",
        *head, *(row(r) for r in fewer), "",
        "**Estimated, not measured on the 5b**: First Block Cache and MagCache decide from the activations, so how much "
        "they skip depends on the model and its thresholds; these rows take the share of work they skipped on the "
        "6-layer CogVideoX-nano at 25 steps, which need not carry over to the 5b.", "",
        *head, *(row(r).replace(f"`{r['recipe']}`", f"`{r['recipe']}` (estimated)", 1) for r in estimated),
    ])


def rehearsal_table() -> str:
    """The notebooks on a GPU under each profile, from ``media/gpu_rehearsal.json`` (scripts/gpu_rehearsal.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_rehearsal", ROOT / "scripts" / "gpu_rehearsal.py")
    rehearsal = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rehearsal)
    return rehearsal.table(json.loads(REHEARSAL.read_text()))


def replace_between(text: str, start: str, end: str, body: str) -> str:
    if start not in text or end not in text:
        return text
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"


def executed_outputs(nb) -> list:
    """Run a copy of a notebook on CogVideoX-nano and return each cell's outputs."""
    import copy
    import tempfile

    from nbclient import NotebookClient

    nb = copy.deepcopy(nb)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(COGVIDEOX_MODEL="nano", COGVIDEOX_OUTPUTS=tmp)
        NotebookClient(nb, timeout=600, resources={"metadata": {"path": tmp}}).execute()
    return [cell.get("outputs", []) for cell in nb.cells]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report what is out of step; exit 1 if any")
    parser.add_argument("--times", type=Path, help="a notebook_times.json written by run_notebooks.py to adopt")
    parser.add_argument("--workshop-times", type=Path, help="a notebook_times.json from a COGVIDEOX_WORKSHOP=1 run to adopt")
    parser.add_argument("--refresh-checked", action="store_true", help="re-execute to refresh checked outputs")
    args = parser.parse_args()

    if args.times:  # merge: a run of some notebooks keeps the others' times
        merged = {**(json.loads(TIMES.read_text()) if TIMES.exists() else {}), **json.loads(args.times.read_text())}
        TIMES.write_text(json.dumps(merged, indent=2) + "\n")
    if args.workshop_times:
        merged = {**(json.loads(WORKSHOP_TIMES.read_text()) if WORKSHOP_TIMES.exists() else {}),
                  **json.loads(args.workshop_times.read_text())}
        WORKSHOP_TIMES.write_text(json.dumps(merged, indent=2) + "\n")
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    repository = repository_url()
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    stale = []
    for path in paths:
        text = nbformat.writes(sync_notebook(path, repository, times, args.refresh_checked)) + "\n"
        if text != path.read_text():
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                path.write_text(text)
    readme = README.read_text()
    new = replace_between(readme, START, END, readme_table(paths, times))
    if NANO_EVAL.exists():
        new = replace_between(new, "<!-- nano:start -->", "<!-- nano:end -->", nano_table())
    if NANO_I2V_EVAL.exists():
        new = replace_between(new, "<!-- nano-i2v:start -->", "<!-- nano-i2v:end -->", nano_image_table())
    if NANO_LORA.exists():
        new = replace_between(new, "<!-- nano-lora:start -->", "<!-- nano-lora:end -->", nano_lora_table())
    new = replace_between(new, "<!-- lora:start -->", "<!-- lora:end -->", lora_table())
    new = replace_between(new, "<!-- family:start -->", "<!-- family:end -->", family_table())
    new = replace_between(new, "<!-- family-measured:start -->", "<!-- family-measured:end -->", family_measured_table())
    new = replace_between(new, *T4_FIT, t4_fit_line())
    new = replace_between(new, "<!-- prompts:start -->", "<!-- prompts:end -->", prompts_table())
    if IMAGE_VIDEO.exists():
        new = replace_between(new, "<!-- image-video:start -->", "<!-- image-video:end -->", image_video_table())
    if MEMORY.exists():
        new = replace_between(new, "<!-- memory:start -->", "<!-- memory:end -->", memory_table())
    if OFFLOAD_RAM.exists():
        new = replace_between(new, "<!-- offload-ram:start -->", "<!-- offload-ram:end -->", offload_ram_line())
    if QUANTIZATION.exists():
        new = replace_between(new, Q_START, Q_END, quantization_table())
    if SPEED.exists():
        new = replace_between(new, S_START, S_END, speed_table())
    new = replace_between(new, "<!-- workshop:start -->", "<!-- workshop:end -->", workshop_table(paths, times))
    if REHEARSAL.exists():
        new = replace_between(new, "<!-- rehearsal:start -->", "<!-- rehearsal:end -->", rehearsal_table())
    new = fill_figures(new)
    if new != readme:
        stale.append("README.md")
        if not args.check:
            README.write_text(new)
    if args.check and stale:
        print("out of step (run python scripts/sync_notebooks.py):", ", ".join(stale))
        return 1
    for name in stale:
        print("updated", name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
