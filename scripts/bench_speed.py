"""Speed recipes end to end on CogVideoX-5b's full-size architecture -> media/benchmarks/speed.json + speed.png.

No machine of the kit's can download the real weights, so the model is CogVideoX-5b's
architecture with RANDOM weights (helpers.architecture.random_5b_pipeline), built on the GPU:
weights' values change neither time nor memory, and the schedule-based caches (Pyramid
Attention Broadcast, FasterCache, TaylorSeer) skip the same work whatever the weights are.
First Block Cache and MagCache decide from the activations: random weights would say nothing
about them, so their time is ESTIMATED from how much transformer work they skipped on the
trained CogVideoX-nano (media/benchmarks/speed_quality_nano.json) and say so.

Each group runs in a fresh process on one pipeline (all components on the GPU, VAE tiling):
its base recipe (nothing, "compile", "fp8+compile") is applied once, then each extra recipe
(helpers.recipes) in turn, its caches removed after. For each: a 2-step warm-up at the same size
(compilation happens there: compile_s is that call less its encoding and the same steps' steady
time; over all the steps when a cache sits on a compiled model, whose schedule recompiles it),
then the timed call: prompt encoding, 50 steps at 49x480x720 with guidance 6, tiled decode
(end_to_end_s), with peak VRAM and the number of compiled graphs and graph breaks.
Group "warm" compiles again in a new process with the compile caches the first one left on
disk (TORCHINDUCTOR_CACHE_DIR): the warm-start compile time.

    python scripts/bench_speed.py run --groups eager compiled fp8 warm --out results.json
    python scripts/bench_speed.py redraw   # (any machine) the chart again from media/benchmarks/speed.json
    python scripts/bench_speed.py nano-fp8 --out results.json     # fp8's quality on the nano, alone and with
                                                                  # each step of the fp8 rows (GPU)
    python scripts/bench_speed.py chart results*.json             # (any machine) merge + chart into media/
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

from bench_common import run_child

GIB = 1024**3
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "media" / "benchmarks" / "speed.json"
NANO = ROOT / "media" / "benchmarks" / "speed_quality_nano.json"
QUANTIZATION = ROOT / "media" / "benchmarks" / "quantization.json"  # fp8's error on the 5b transformer, measured there
GROUPS = {  # base recipe applied once, then each extra in turn ("" = the base alone)
    "eager": ("", ["baseline", "pab", "fastercache", "taylorseer", "half_steps"]),
    "eager_more": ("", ["taylorseer", "half_steps", "pab+half_steps"]),
    "compiled": ("compile", ["", "half_steps", "pab"]),
    "compiled_caches": ("compile", ["fastercache", "taylorseer"]),
    "fp8": ("fp8+compile", ["", "half_steps", "pab"]),
    "fp8_pab": ("fp8+compile", ["pab"]),  # fp8+compile+pab alone: "fp8" ran out of its limit before it
    "fp8_caches": ("fp8+compile", ["fastercache", "taylorseer"]),  # issue 19's single-GPU record: over 560 s together
    "fp8_fastercache": ("fp8+compile", ["fastercache"]),  # ... so each alone (with --timeout 900: fp8's compile, then
    "fp8_taylorseer": ("fp8+compile", ["taylorseer"]),  # the cache's recompiles over all 50 steps of the warm-up)
    "attention": ("", ["sage_attention"]),  # 8-bit query-key attention (sageattention), eager
    "compile_modes": ("compile@max-autotune-no-cudagraphs", [""]),  # a torch.compile mode other than the default
    "warm": ("compile", [""]),  # the compile caches "compiled" left on disk, in a new process
    "warm_fp8": ("fp8+compile", [""]),  # the same after "fp8"
    "session_baseline": ("", ["baseline"]),  # bf16 eager again, for groups run on another machine or day
}
COLD = {"warm": "compiled", "warm_fp8": "fp8"}  # whose compile cache folder a warm start reads
ONE_GPU_TARGET_S = 40  # issue 19's target on one GPU: 49x480x720, 50 steps, end to end (the chart's line, speed.json's)
ESTIMATED = ["first_block_cache@0.2", "magcache", "magcache@0.1"]  # data-dependent: from the nano's skips
NOTE = (
    "CogVideoX-5b's full-size architecture with RANDOM weights (weights' values change neither time nor memory; "
    "the schedule-based caches skip the same work whatever the weights), all components on an H100, VAE tiling. "
    "end_to_end_s: one call after a warm-up call: prompt encoding, 50 steps at 49x480x720 with guidance 6 "
    "(CFG batch of 2), tiled decode to frames. compile_s: the warm-up call (2 steps; all steps for a cache on a "
    "compiled model, whose schedule changes recompile it) less its encoding and the same steps' steady time "
    "(0 when not compiled); a recipe that adds to a compiled base counts the base's compile too, as a fresh "
    "process would pay it; warm_compile_s: the same in a new process that found the first one's compile "
    "caches on disk. Recipes of one group share a process and a pipeline (caches removed between recipes), so a "
    "cache added to a compiled model shows its recompilation in compile_s. speedup: bf16 eager's end_to_end_s "
    "over the recipe's, in the same run, or in the same session where a results file holds a session_baseline row "
    "(session_baseline_s: bf16 eager on that machine that day). Rows marked estimated (First Block Cache, MagCache, which decide from "
    "the activations): bf16 eager's encode+decode plus its denoising times the share of transformer work the "
    "recipe kept on the trained CogVideoX-nano. psnr_db and caption_score: CogVideoX-nano, 18 held-out captions, "
    "same seeds, against the unaccelerated clips (helpers.nano.judge; compile adds nothing to the loss; fp8's "
    "from the nano in bf16 on a GPU, with per-row scales: torchao 0.18's per-tensor default fails on the "
    "nano's 128x128 layers; fp8 with a cache or fewer steps measured together there where a row has no quality_note, "
    "else the parts' figures). TaylorSeer keeps bf16 Taylor factors (with fp32 ones it ran out of the H100's memory; "
    "the raw files in media/benchmarks/speed_raw/ keep that run). transformer_relative_error (sage_attention): one "
    "transformer call at the request's size on fixed random inputs, its relative L2 difference from PyTorch's "
    "attention (the kernel's error on the random 5b's activations, not a trained model's; the nano's head size, 32, "
    "is one SageAttention 1.0.6 does not take). fp8_transformer_relative_error (rows with fp8): the same measure for "
    "torchao fp8 dynamic (the fp8 step's scheme) against bf16, from scripts/bench_quantization.py's torchao_fp8_dynamic "
    "row (media/benchmarks/quantization.json: one transformer forward on the random 5b); a cache or compile adds its own "
    "change on top, which the nano's figures show."
)


def transformer_probe(pipe, num_frames: int, height: int, width: int):
    """One transformer call at the request's size on fixed random inputs, as the pipeline makes it (fp32 copy)."""
    import torch

    t, config = pipe.transformer, pipe.transformer.config
    g = torch.Generator().manual_seed(0)
    frames = (num_frames - 1) // pipe.vae_scale_factor_temporal + 1
    rows, columns = height // pipe.vae_scale_factor_spatial, width // pipe.vae_scale_factor_spatial
    latents = torch.randn(1, frames, config.in_channels, rows, columns, generator=g).to(t.device, t.dtype)
    text = torch.randn(1, config.max_text_seq_length, config.text_embed_dim, generator=g).to(t.device, t.dtype)
    rotary = (pipe._prepare_rotary_positional_embeddings(height, width, frames, t.device)
              if config.use_rotary_positional_embeddings else None)
    with torch.no_grad():
        return t(hidden_states=latents, encoder_hidden_states=text, timestep=torch.tensor([500], device=t.device),
                 image_rotary_emb=rotary, return_dict=False)[0].float()


def child(group: str, steps: int, model: str) -> None:
    """One group in this process: build once, then each recipe; a RESULT line per recipe."""
    import torch

    import helpers
    from helpers.recipes import apply_speed

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    counters = torch._dynamo.utils.counters
    torch.manual_seed(0)
    if model == "5b":
        from helpers.architecture import random_5b_pipeline

        pipe = random_5b_pipeline(device)
        size = dict(num_frames=49, height=480, width=720)
    else:  # a dry run of this script's logic on a small model (any device)
        pipe = helpers.load_pipeline(model).to(device)
        d = helpers.model_defaults(pipe)
        size = dict(num_frames=d["num_frames"], height=d["height"], width=d["width"])
    pipe.set_progress_bar_config(disable=True)
    pipe.vae.enable_tiling()
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    base, extras = GROUPS[group]
    try:
        if base:
            apply_speed(pipe, base)
    except Exception as e:  # e.g. fp8 on a GPU without fp8: every row says why
        for extra in extras:
            row = dict(recipe="+".join(p for p in (base, extra) if p), gpu=gpu, group=group,
                       error=f"{type(e).__name__}: {e}")
            print("RESULT " + json.dumps(row), flush=True)
        return

    first_forward: list[float] = []  # when the transformer first runs in a call: encoding ends there
    pipe.transformer.register_forward_pre_hook(lambda *a: first_forward.append(time.perf_counter()))

    def call(n: int, **kw) -> tuple:
        """Seconds of one generation of ``n`` steps, its step marks (call start, first forward, each step end)."""
        marks: list[float] = []

        def on_step(pipeline, i, ts, kwargs):
            sync()
            marks.append(time.perf_counter())
            return kwargs

        first_forward.clear()
        sync()
        begin = time.perf_counter()
        out = pipe("a panda playing a guitar in a bamboo forest", **size, num_inference_steps=n, guidance_scale=6.0,
                   generator=torch.Generator(device="cpu").manual_seed(42), callback_on_step_end=on_step, **kw)
        sync()
        return time.perf_counter() - begin, [begin, first_forward[0]] + marks, out

    for extra in extras:
        recipe = "+".join(p for p in (base, extra) if p) or "baseline"
        row = dict(recipe=recipe, gpu=gpu, group=group, model=model, steps=steps, compiled="compile" in recipe)
        try:
            # an attention kernel's own error: one transformer call against PyTorch's attention, same inputs
            reference = transformer_probe(pipe, **size) if extra == "sage_attention" else None
            changes = apply_speed(pipe, extra, steps=steps) if extra else {}
            if reference is not None:
                error = (transformer_probe(pipe, **size) - reference).norm() / reference.norm()
                row["transformer_relative_error"] = round(float(error), 5)
            n = changes.get("num_inference_steps", steps)
            # a cache on a compiled model recompiles when its schedule changes: warm up over all the steps
            warm_steps = n if row["compiled"] and extra not in ("", "half_steps") else 2
            counters.clear()
            warm_s, _, _ = call(warm_steps, output_type="latent")
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            total, marks, out = call(n, output_type="np")
            durations = [b - a for a, b in zip(marks[1:-1], marks[2:])]  # each step, from the first forward
            encode_s = marks[1] - marks[0]
            row.update(
                end_to_end_s=round(total, 2), steps_run=n, median_step_s=round(sorted(durations)[n // 2], 3),
                denoise_s=round(sum(durations), 2), encode_s=round(encode_s, 2),
                decode_s=round(total - (marks[-1] - marks[0]), 2), frames_returned=int(out.frames[0].shape[0]),
                compile_s=round(max(0.0, warm_s - encode_s - sum(durations[:warm_steps])), 1)
                if row["compiled"] else 0,
                peak_vram_gib=round(torch.cuda.max_memory_allocated() / GIB, 2) if device == "cuda" else None,
                graphs=int(counters["stats"].get("unique_graphs", 0)),
                graph_breaks=int(sum(counters["graph_break"].values())),
            )
            if group.startswith("warm"):
                row["warm_compile_s"] = row["compile_s"]
            del out
        except Exception as e:  # recorded, not hidden: the notebook shows it
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        try:
            pipe.transformer.disable_cache()
        except Exception:
            pass  # no cache was on
        gc.collect()  # an out-of-memory error's traceback held the failed recipe's tensors until here
        if device == "cuda":
            torch.cuda.empty_cache()
        print("RESULT " + json.dumps(row), flush=True)


def run(args) -> None:
    """Each group in a fresh process; rows appended to --out as they come (a timeout keeps the groups done)."""
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    for group in args.groups:  # each cold group its own cache folder; a warm start reads its cold one's
        env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(Path(args.cache) / COLD.get(group, group)))
        command = [sys.executable, __file__, "child", group, "--steps", str(args.steps), "--model", args.model]
        start = time.perf_counter()
        new, failure = run_child(command, args.timeout, env)
        base, extras = GROUPS[group]
        new += [dict(recipe="+".join(p for p in (base, x) if p) or "baseline", group=group, error=failure)
                for x in extras[len(new):]]
        for row in new:
            row["process_s"] = round(time.perf_counter() - start, 1)
            print(json.dumps(row), flush=True)
        rows += new
        out.write_text(json.dumps(rows, indent=1))


NANO_FP8 = sorted({"+".join(p for p in ("fp8", x) if p) for base, extras in GROUPS.values() if "fp8" in base
                   for x in extras})  # fp8 alone and with each step an fp8 row adds: their quality on the nano


def nano_fp8(args) -> None:
    """fp8 dynamic's quality on CogVideoX-nano (bf16 on the GPU): fp8 alone and with each step the
    5b's fp8 rows add (measured together, not borrowed from the parts), against the bf16 baseline's
    clips; one row per recipe appended to --out."""
    import numpy as np
    import torch

    import helpers
    from helpers.nano import BACKGROUNDS, HELD_OUT, Scene, judge
    from eval_nano import generate
    from helpers.quantization import psnr_db
    from helpers.recipes import apply_speed

    backgrounds = list(BACKGROUNDS)
    scenes = [Scene(c, s, m, backgrounds[k % len(backgrounds)]) for k, (c, s, m) in enumerate(HELD_OUT)]

    def caption_right(clips: list) -> list[bool]:
        return [j.colour == s.colour and j.motion == s.motion for j, s in zip(map(judge, clips), scenes)]

    reference, rows = None, []
    for recipe in ["baseline"] + args.recipes:
        row = dict(recipe=recipe, model="nano", gpu=torch.cuda.get_device_name(0), granularity="per row")
        pipe = helpers.load_pipeline("nano").to("cuda", torch.bfloat16)
        pipe.set_progress_bar_config(disable=True)
        try:  # fp8 on the nano: per-row scales (helpers.quantization.quantize_model)
            changes = apply_speed(pipe, recipe, steps=25)
            clips = generate(pipe, scenes, steps=changes.get("num_inference_steps", 25))
        except Exception as e:
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            clips = None
        del pipe
        gc.collect()
        if reference is None:
            if clips is None:
                raise SystemExit(f"the nano's bf16 baseline failed: {row['error']}")
            reference, base_right = clips, caption_right(clips)
            continue
        if clips is not None:
            row.update(psnr_db=round(float(np.mean([min(psnr_db(a, b), 99.0) for a, b in zip(reference, clips)])), 1),
                       caption_accuracy=round(float(np.mean(caption_right(clips))), 3),
                       baseline_caption_accuracy=round(float(np.mean(base_right)), 3))
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = Path(args.out)
    out.write_text(json.dumps((json.loads(out.read_text()) if out.exists() else []) + rows, indent=1))


def quality(recipe: str, nano: dict) -> dict:
    """The nano's quality figures for ``recipe``: compile adds nothing; fp8's from the GPU nano runs,
    fp8 with a step from their run together where there was one (else the parts', with a ``quality_note``)."""
    parts = [p for p in recipe.split("+") if p.split("@")[0] not in ("compile", "fp8")] or ["baseline"]  # any mode
    key = "+".join(parts)
    found = nano.get(key)
    if "fp8" not in recipe:
        return {} if found is None else dict(caption_score=round(100 * found["caption_accuracy"], 1),
                                             quality_psnr_db=found.get("psnr_db", 99.0))
    fp8, together = nano.get("fp8"), nano.get("fp8" if key == "baseline" else f"fp8+{key}")
    if not fp8 or "psnr_db" not in fp8:
        return dict(quality_note="fp8's effect on the nano not measured")
    out = dict(fp8_psnr_db=fp8["psnr_db"], fp8_caption_score=round(100 * fp8["caption_accuracy"], 1))
    if together and "psnr_db" in together:
        return dict(out, caption_score=round(100 * together["caption_accuracy"], 1), quality_psnr_db=together["psnr_db"])
    if found:
        out.update(caption_score=round(100 * found["caption_accuracy"], 1), quality_psnr_db=found.get("psnr_db", 99.0))
    return dict(out, quality_note="psnr/caption of the cache or step change alone; fp8 adds its own (fp8_*)")


def merge(files: list[str]) -> list[dict]:
    """Rows of the result files, the latest per recipe, with ratios, estimates and the nano's quality."""
    latest: dict[str, dict] = {}
    nano = {r["recipe"]: r for r in json.loads(NANO.read_text())["results"]}
    for f in files:
        file_rows = json.loads(Path(f).read_text())
        session = next((r["end_to_end_s"] for r in file_rows if r.get("group") == "session_baseline"
                        and "end_to_end_s" in r), None)  # this file's groups ran beside their own bf16 eager
        for row in file_rows:
            if row.get("group") == "session_baseline":
                continue
            if session and "end_to_end_s" in row:
                row["session_baseline_s"] = session
            if row.get("model") == "nano" and row["recipe"].startswith("fp8"):
                nano[row["recipe"]] = row
            elif row.get("group", "").startswith("warm"):
                if "warm_compile_s" in row:
                    latest.setdefault(row["recipe"], {})["warm_compile_s"] = row["warm_compile_s"]
            elif "end_to_end_s" in row or "end_to_end_s" not in latest.get(row["recipe"], {}):
                # a measured row replaces a failed one whichever file comes first; a failure never hides a measurement
                latest[row["recipe"]] = {**latest.get(row["recipe"], {}), **row}
                if "end_to_end_s" in row:
                    latest[row["recipe"]].pop("error", None)
    # the groups say what the benchmark measures: rows of recipes since dropped stay in the raw files only
    wanted = {"+".join(p for p in (base, x) if p) or "baseline" for base, extras in GROUPS.values() for x in extras}
    latest = {name: row for name, row in latest.items() if name in wanted}
    for name in sorted(wanted - set(latest)):
        latest[name] = dict(recipe=name, error="not run: no results file holds it (the session's GPU time ran out, "
                                               "or its group is newer than the runs)")
    fp8_error = next((r["transformer_rel_error"] for r in json.loads(QUANTIZATION.read_text())["results"]
                      if r.get("scheme") == "torchao_fp8_dynamic" and "transformer_rel_error" in r), None)
    for name, row in latest.items():
        if "fp8" in name.split("+") and fp8_error is not None:
            row["fp8_transformer_relative_error"] = fp8_error
    base = latest.get("baseline", {})
    rows = list(latest.values())
    if "end_to_end_s" in base:
        for name in ESTIMATED:
            found = nano.get(name)
            if found and "transformer_work" in found:
                denoise = base["denoise_s"] * found["transformer_work"]
                rows.append(dict(recipe=name, gpu=base["gpu"], estimated=True, compile_s=0, compiled=False,
                                 peak_vram_gib=base["peak_vram_gib"], transformer_work=found["transformer_work"],
                                 end_to_end_s=round(base["end_to_end_s"] - base["denoise_s"] + denoise, 1)))
    for group, (first, extras) in GROUPS.items():  # a fresh process pays its group's base compile too
        base_row = latest.get(first) if first and "compile" in first else None
        if not (base_row and "compile_s" in base_row):
            continue
        for k, x in enumerate(extras):  # the group's first call paid the base's compile; later ones found it done
            row = latest.get("+".join(p for p in (first, x) if p))
            if k and row and row.get("group") == group and "compile_s" in row:
                row["compile_s"] = round(row["compile_s"] + base_row["compile_s"], 1)
                row["compile_note"] = f"{first}'s compile ({base_row['compile_s']} s) plus this recipe's recompiles"
    for row in rows:
        row.setdefault("gpu", base.get("gpu"))
        if str(row.get("error", "")).startswith("over "):
            row["error"] = f"not finished within its group's time limit ({row['error'].split(';')[0]})"
        row.setdefault("compile_s", 0)
        if "end_to_end_s" in row and "end_to_end_s" in base:
            row["speedup"] = round(row.get("session_baseline_s", base["end_to_end_s"]) / row["end_to_end_s"], 2)
        row.update(quality(row["recipe"], nano))
    return sorted(rows, key=lambda r: r.get("end_to_end_s", 1e9), reverse=True)


def chart(args) -> None:
    """Merge result files into media/benchmarks/speed.json and draw speed-up against quality."""
    import matplotlib

    matplotlib.use("Agg")

    rows = merge(args.files)
    done = [r for r in rows if "end_to_end_s" in r]
    failed = [dict(recipe=r["recipe"], gpu=r.get("gpu"), error=r["error"]) for r in rows if "end_to_end_s" not in r]
    RESULTS.write_text(json.dumps(dict(note=NOTE, random_weights=True, one_gpu_target_s=ONE_GPU_TARGET_S, results=done,
                                       not_measured=failed), indent=1) + "\n")
    draw([r for r in rows if "end_to_end_s" in r])


def draw(timed: list[dict]) -> None:
    """media/benchmarks/speed.png: seconds per recipe, and speed-up against CogVideoX-nano quality.

    Fewer steps (a different request) and estimated rows are marked as such; a recipe whose
    quality was only measured for its parts (a quality_note) has no quality point.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sys.path.insert(0, str(ROOT))
    from helpers.planner import quality_measured

    def label(r: dict) -> str:
        return r["recipe"] + (" (estimated)" if r.get("estimated") else " (fewer steps)" if "half_steps" in r["recipe"] else "")

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.42 * len(timed) + 1.6))
    names = [label(r) for r in timed]
    left.barh(names, [r["end_to_end_s"] for r in timed],
              color=["#bbb" if r.get("estimated") or "half_steps" in r["recipe"] else "#4c78a8" for r in timed])
    left.barh(names, [r["compile_s"] for r in timed], left=[r["end_to_end_s"] for r in timed], color="#f58518",
              label="first-run compile")
    for k, r in enumerate(timed):
        left.text(r["end_to_end_s"] + r["compile_s"] + 1, k, f"{r['end_to_end_s']:.0f} s, {r['peak_vram_gib']:.0f} GiB",
                  va="center", fontsize=8)
    left.axvline(ONE_GPU_TARGET_S, color="#e45756", ls="--", lw=1, label=f"{ONE_GPU_TARGET_S} s target, one GPU")
    left.set_xlabel("seconds end to end, 49x480x720 (grey: fewer steps, or estimated)")
    left.set_title(f"CogVideoX-5b architecture, random weights, {timed[0].get('gpu', '').replace('NVIDIA ', '')}",
                   fontsize=9)
    left.legend(fontsize=8, loc="lower right")
    shown = [r for r in timed if "caption_score" in r and r["recipe"] != "baseline" and quality_measured(r)]
    for k, r in enumerate(shown):  # PSNR spreads the recipes out; colour says whether the captions still hold
        y = min(r.get("quality_psnr_db", 99.0), 40.0)
        hollow = r.get("estimated") or "half_steps" in r["recipe"]
        colour = "#4c78a8" if r["caption_score"] >= 95 else "#e45756"
        right.scatter(r["speedup"], y, facecolors="none" if hollow else colour, edgecolors=colour)
        right.annotate(f"{label(r)} ({r['caption_score']:.0f}%)", (r["speedup"], y), fontsize=7,
                       xytext=(4, -3 if k % 2 else 4), textcoords="offset points")
    right.set_xlabel("speed-up over bf16 eager (hollow: fewer steps, or estimated)")
    right.set_ylabel("PSNR against the unaccelerated clip, CogVideoX-nano (dB; 40 = identical)")
    right.set_title("nano quality (red: caption < 95%; parts-only quality: left out)", fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS.with_suffix(".png"), dpi=110)
    print("wrote", RESULTS, RESULTS.with_suffix(".png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--groups", nargs="+", default=list(GROUPS), choices=list(GROUPS))
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--model", default="5b")
    p.add_argument("--out", default="speed_results.json")
    p.add_argument("--cache", default="/tmp/kit-compile-cache")
    p.add_argument("--timeout", type=int, default=560)
    p = sub.add_parser("child")
    p.add_argument("group", choices=list(GROUPS))
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--model", default="5b")
    p = sub.add_parser("nano-fp8")
    p.add_argument("--out", default="speed_results.json")
    p.add_argument("--recipes", nargs="+", default=NANO_FP8)
    p = sub.add_parser("chart")
    p.add_argument("files", nargs="+")
    sub.add_parser("redraw", help="draw media/benchmarks/speed.png again from media/benchmarks/speed.json")
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    elif args.command == "child":
        child(args.group, args.steps, args.model)
    elif args.command == "nano-fp8":
        nano_fp8(args)
    elif args.command == "redraw":
        draw(json.loads(RESULTS.read_text())["results"])
    else:
        chart(args)


if __name__ == "__main__":
    main()
