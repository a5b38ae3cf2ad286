"""Memory recipes on CogVideoX-5b's full-size architecture (needs a CUDA GPU) -> media/benchmarks/memory.json.

No machine of the kit's can download the real weights, so the model is CogVideoX-5b's
architecture with RANDOM weights, saved once in the hub layout (helpers.architecture);
weights' values change neither time nor memory. Pass --folder to use a real download instead.

Each recipe runs in a fresh Python process, so its peak host RSS includes loading: the
process loads the folder with helpers.load_pipeline, applies the recipe with
helpers.apply_recipe, encodes the prompt, runs a few denoising steps (the first is warm-up,
the median of the rest is the step time), then decodes the latents on their own so the
decode's time and peak VRAM are measured apart. 49 frames at 480x720, guidance 6 (CFG batch of two).

    python scripts/bench_memory.py                       # every recipe
    python scripts/bench_memory.py --recipes all_on_gpu+vae_tiling model_cpu_offload+vae_tiling
    python scripts/bench_memory.py --vram-cap-gib 15 --recipes low_ram_staged   # a simulated 15 GB GPU
    COGVIDEOX_EMULATE=t4 python scripts/bench_memory.py --vram-cap-gib 15 --recipes low_ram_staged  # a T4's kernels,
                                                                                 # VRAM and host RAM (helpers.environment)
    python scripts/bench_memory.py --recipes low_ram_staged+int8_transformer     # the transformer int8 weight-only
                                                                                 # (not in the planner yet)
    python scripts/bench_memory.py --chart          # (any machine) predictions + chart from the results
    python scripts/bench_memory.py --model CogVideoX1.5-5B --folder /tmp/CogVideoX1.5-5B-random \
        --recipes all_on_gpu+vae_tiling model_cpu_offload+vae_tiling --out media/benchmarks/family.json   # the family
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

RECIPES = [
    "all_on_gpu+vae_tiling",
    "all_on_gpu",
    "model_cpu_offload+vae_tiling",
    "sequential_cpu_offload+vae_tiling",
    "group_offload+vae_tiling",
    "group_offload_streams+vae_tiling",
    "group_offload_streams+vae_small_tiles",
    "layerwise_fp8+all_on_gpu+vae_tiling",
    "all_on_gpu+vae_tiling@25frames",
    "low_ram_staged",
]
GIB = 1024**3


def run_one(folder: str, recipe: str, steps: int, cap_gib: float | None) -> dict:
    """Runs in the child process: load, apply, encode, denoise, decode; return the measurements."""
    import psutil

    process, peak_rss, done = psutil.Process(), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak_rss[0] = max(peak_rss[0], process.memory_info().rss)

    threading.Thread(target=sample, daemon=True).start()
    import torch

    import helpers

    from helpers.environment import EMULATE_ENV, emulated_profile

    emulated = emulated_profile()  # COGVIDEOX_EMULATE=t4: import helpers shaped the GPU (its cap, kernels, host RAM)
    if cap_gib and emulated is None:
        torch.cuda.set_per_process_memory_fraction(cap_gib * GIB / torch.cuda.get_device_properties(0).total_memory)
    recipe_steps, _, frames = recipe.partition("@")
    num_frames = int(frames.removesuffix("frames")) if frames else None  # None: the model's own (49; 1.5: 81)
    marks: list[float] = []
    peaks: dict[str, float] = {}
    times: dict[str, float] = {"start": time.perf_counter()}

    def on_step(pipeline, i, t, kwargs):
        torch.cuda.synchronize()
        marks.append(time.perf_counter())
        return kwargs

    def on_stage(name: str) -> None:
        torch.cuda.synchronize()
        times[name] = time.perf_counter()
        peaks[name] = torch.cuda.max_memory_allocated() / GIB
        torch.cuda.reset_peak_memory_stats()

    if recipe_steps.startswith("low_ram_staged"):
        from helpers.low_ram import generate_low_ram

        applied = recipe_steps
        video = generate_low_ram(folder, seed=42, num_inference_steps=steps,
                                 transformer_int8="int8_transformer" in recipe_steps,
                                 callback_on_step_end=on_step, on_stage=on_stage,
                                 **({"num_frames": num_frames} if num_frames else {}))
        frames_returned, load_s, begin = video.shape[0], None, times["encoded"]
        num_frames = num_frames or int(frames_returned)  # the model's own count, a 4k+1 that comes back whole
    else:
        pipe = helpers.load_pipeline(folder)
        applied = helpers.apply_recipe(pipe, recipe_steps)
        load_s = time.perf_counter() - times["start"]
        request = {**helpers.model_defaults(pipe), "num_inference_steps": steps}
        num_frames = request["num_frames"] = num_frames or request["num_frames"]
        torch.cuda.reset_peak_memory_stats()
        begin = time.perf_counter()
        latents = pipe(**request, generator=torch.Generator(device="cuda").manual_seed(42), output_type="latent",
                       callback_on_step_end=on_step).frames
        latents = helpers.checks.trim_latent_padding(latents, num_frames)  # 1.5's padding: 81 frames, not 88
        on_stage("denoised")
        with torch.no_grad():  # outside the pipeline's own no_grad: without this autograd keeps every activation
            video = pipe.decode_latents(latents)
        on_stage("decoded")
        frames_returned = int(video.shape[2])
    denoise_peak, decode_peak = peaks["denoised"], peaks["decoded"]
    decode_s = times["decoded"] - times["denoised"]
    durations = [b - a for a, b in zip([begin] + marks[:-1], marks)]
    step_s = sorted(durations[1:])[len(durations[1:]) // 2]
    done.set()
    from helpers.family import member_of

    return dict(
        model=member_of(json.loads((Path(folder) / "transformer" / "config.json").read_text())).name,
        recipe=recipe,
        applied=applied,
        gpu=torch.cuda.get_device_name(0),
        vram_cap_gib=emulated.vram_gib if emulated else cap_gib,
        emulated=os.environ[EMULATE_ENV] if emulated else None,
        num_frames=num_frames,
        frames_returned=int(frames_returned),
        load_s=None if load_s is None else round(load_s, 1),
        first_step_s=round(durations[0], 2),
        step_s=round(step_s, 3),
        decode_s=round(decode_s, 2),
        end_to_end_50_steps_s=round(durations[0] + 49 * step_s + decode_s, 1),
        peak_vram_gib=round(max(peaks.values()), 2),
        denoise_peak_vram_gib=round(denoise_peak, 2),
        decode_peak_vram_gib=round(decode_peak, 2),
        peak_host_rss_gib=round(max(peak_rss[0], process.memory_info().rss) / GIB, 2),
    )


def annotate(path: Path) -> list[dict]:
    """Add the planner's predictions (``helpers.planner.predict``) to every measured recipe of a results file."""
    from helpers.planner import predict

    record = json.loads(path.read_text())
    for r in record["results"]:
        if "error" in r or r.get("model", "CogVideoX-5b") != "CogVideoX-5b":  # the planner knows the 5b's figures
            continue
        p = predict(r["recipe"].split("@")[0], num_frames=r.get("num_frames", 49))
        r["predicted_peak_vram_gib"] = round(p.peak_vram_gib, 2)
        r["predicted_peak_host_rss_gib"] = round(p.peak_host_rss_gib, 2)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record["results"]


def chart(results_file: Path) -> Path:
    """Add the planner's predictions to the results and draw peak VRAM, host RAM and time per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in annotate(results_file) if "error" not in r and not r.get("vram_cap_gib")]
    rows.sort(key=lambda r: r["peak_vram_gib"])
    names = [r["recipe"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.45 * len(rows) + 1.6), sharey=True)
    y = range(len(rows))
    axes[0].barh(y, [r["peak_vram_gib"] for r in rows], color="tab:blue", label="measured")
    axes[0].plot([r["predicted_peak_vram_gib"] for r in rows], y, "k|", markersize=14, label="planner")
    axes[0].set(title="peak VRAM (GiB)", yticks=list(y), yticklabels=names)
    axes[0].legend(loc="lower right")
    axes[1].barh(y, [r["peak_host_rss_gib"] for r in rows], color="tab:orange")
    axes[1].plot([r["predicted_peak_host_rss_gib"] for r in rows], y, "k|", markersize=14)
    axes[1].axvline(12.7, color="grey", linestyle=":")
    axes[1].set(title="peak host RAM (GiB; dotted: free Colab)")
    axes[2].barh(y, [r["end_to_end_50_steps_s"] for r in rows], color="tab:green")
    axes[2].set(title="seconds for 50 steps + decode")
    gpu = rows[0]["gpu"].replace("NVIDIA ", "")
    fig.suptitle(f"CogVideoX-5b architecture, random weights, 49x480x720 (unless @N frames), CFG 6, {gpu}")
    fig.tight_layout()
    path = results_file.with_suffix(".png")
    fig.savefig(path, dpi=100)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/CogVideoX-5b-random"))
    parser.add_argument("--model", default="CogVideoX-5b", help="the family member to build in --folder when it is "
                        "empty (helpers.family; e.g. CogVideoX-2b, CogVideoX1.5-5B): with --out media/benchmarks/family.json")
    parser.add_argument("--out", type=Path, default=Path("media/benchmarks/memory.json"))
    parser.add_argument("--recipes", nargs="*", default=RECIPES)
    parser.add_argument("--steps", type=int, default=4, help="denoising steps per recipe (the first is warm-up)")
    parser.add_argument("--vram-cap-gib", type=float, default=None, help="cap this process's GPU memory")
    parser.add_argument("--timeout", type=int, default=240)
    parser.add_argument("--chart", action="store_true", help="only add the planner's predictions and draw the chart")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.chart:
        chart(args.out)
        return
    if args.one:
        print("RESULT " + json.dumps(run_one(str(args.folder), args.one, args.steps, args.vram_cap_gib)), flush=True)
        return
    if not (args.folder / "model_index.json").exists():  # built in a process the emulation's GPU cap leaves alone
        from helpers.environment import EMULATE_ENV

        print(f"building {args.model}'s architecture with random weights in {args.folder} ...", flush=True)
        build = f"from helpers.architecture import save_random_5b; save_random_5b({str(args.folder)!r}, model={args.model!r})"
        subprocess.run([sys.executable, "-c", build], check=True, cwd=Path(__file__).resolve().parents[1],
                       env={k: v for k, v in os.environ.items() if k != EMULATE_ENV})
    results = json.loads(args.out.read_text())["results"] if args.out.exists() else []
    for recipe in args.recipes:
        cmd = [sys.executable, __file__, "--one", recipe, "--folder", str(args.folder), "--steps", str(args.steps)]
        if args.vram_cap_gib:
            cmd += ["--vram-cap-gib", str(args.vram_cap_gib)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            result = json.loads(lines[-1][7:]) if lines else dict(
                recipe=recipe, error=(done.stderr.strip().splitlines() or ["no output"])[-1][:300])
        except subprocess.TimeoutExpired:
            result = dict(recipe=recipe, error=f"timed out after {args.timeout} s")
        result["vram_cap_gib"] = args.vram_cap_gib
        result.setdefault("model", args.model)
        key = (result["model"], recipe, args.vram_cap_gib)
        results = [r for r in results if (r.get("model", "CogVideoX-5b"), r["recipe"], r.get("vram_cap_gib")) != key]
        results.append(result)
        print(json.dumps(result), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(dict(
            note="Full-size architectures with RANDOM weights (the real weights were not available); weights' values "
                 "change neither time nor memory. Each model's own request (49x480x720 for CogVideoX 1.0, 81x768x1360 "
                 "for 1.5) unless the recipe says @N frames, "
                 f"guidance 6, {args.steps} denoising steps per recipe (first is warm-up).",
            results=results,
        ), indent=2) + "\n")


if __name__ == "__main__":
    main()
