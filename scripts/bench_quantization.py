"""Quantization schemes on CogVideoX-5b's full-size architecture -> media/benchmarks/quantization.json.

No machine of the kit's can download the real weights, so the model is CogVideoX-5b's
architecture with RANDOM weights (helpers.architecture.random_5b_pipeline), built on the GPU:
weights' values change neither time nor memory. Each scheme (helpers.quantization.SCHEMES)
quantizes the text encoder and the transformer (the VAE stays bf16) and runs in a fresh
process that measures:

- weights_gib: what the three components store after quantizing (int8/fp8 data + scales);
- transformer_rel_error: ||out - out_bf16|| / ||out_bf16|| of one transformer forward at full
  size (13 latent frames, 60x90 latents, CFG batch of 2) against the same random weights in bf16;
- eager: a 49x480x720 generation at guidance 6 for a few steps (the first is warm-up, the median
  of the rest is step_s), then the tiled VAE decode; peak_vram_gib covers both;
- compiled: the same after torch.compile(transformer); the first step holds the compilation
  (compile_s is that step less one compiled step); peak VRAM is the compiled denoise or the
  eager decode, whichever is larger (compiling leaves the decode alone).

Quality (psnr_db, caption accuracy) is measured on the trained CogVideoX-nano, which has
real weights: 18 held-out captions with and without each scheme, same seeds.

    python scripts/bench_quantization.py run --schemes bf16 torchao_int8_weight_only --modes eager compiled
    python scripts/bench_quantization.py quality          # nano, on whatever device this is
    python scripts/bench_quantization.py chart results/*.json   # (any machine) merge + chart into media/
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench_common import run_child

GIB = 1024**3
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "media" / "benchmarks" / "quantization.json"
COMPONENTS = ("text_encoder", "transformer")
SCOPES = {"compiled": "whole transformer", "compiled_blocks": "each transformer block"}
NOTE = (
    "CogVideoX-5b's full-size architecture with RANDOM weights (weights' values change neither time nor "
    "memory), 49 frames at 480x720, guidance 6 (CFG batch of 2), all components on the GPU, VAE tiling. "
    "Each scheme quantizes the text encoder and the transformer; the VAE stays bf16. step_s is the median "
    "denoising step after a warm-up; compiled: torch.compile (default mode) of the whole transformer or of "
    "each of its 42 blocks (two graphs: block 0's input has other strides, the other 41 share one); compile_s is the first step less a compiled "
    "one. torchao_int8_dynamic leaves the timestep-conditioning layers in bf16 (they fail under compile "
    "otherwise; see helpers.quantization). Rows that say 'not measured' ran out of this session's GPU time. "
    "peak_vram_gib "
    "covers encoding, denoising and decoding. psnr_db and nano_caption_accuracy: the trained CogVideoX-nano "
    "on a CPU (fp32, where every scheme but fp8 runs), 18 held-out captions, each clip against the same seed "
    "without quantization. "
    "transformer_rel_error: one full-size transformer forward against bf16 (random weights)."
)


def child(scheme: str, modes: list[str], steps: int, model: str) -> list[dict]:
    """One scheme in this process: build, quantize, measure each mode; rows of results."""
    import torch

    import helpers
    from helpers.quantization import check_scheme, quantize_model, weight_gib

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    torch.manual_seed(0)
    if model == "5b":
        from helpers.architecture import random_5b_pipeline

        pipe = random_5b_pipeline(device)
        size = dict(num_frames=49, height=480, width=720)
    else:  # a dry run of this script's logic on a small model (any device)
        pipe = helpers.load_pipeline(model)
        pipe.to(device)
        d = helpers.model_defaults(pipe)
        size = dict(num_frames=d["num_frames"], height=d["height"], width=d["width"])
    pipe.set_progress_bar_config(disable=True)
    pipe.vae.enable_tiling()
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    base = dict(scheme=scheme, gpu=gpu, model=model, quantized=list(COMPONENTS) if scheme != "bf16" else [])
    try:
        check_scheme(scheme, device)
    except helpers.quantization.QuantizationError as e:
        rows = [dict(base, compiled=m != "eager", error=str(e)) for m in modes]
        for row in rows:
            print("RESULT " + json.dumps(row), flush=True)
        return rows

    # One full-size transformer forward on fixed random inputs, before and after quantizing.
    t = pipe.transformer
    latent_frames = (size["num_frames"] - 1) // 4 + 1
    lh, lw = size["height"] // pipe.vae_scale_factor_spatial, size["width"] // pipe.vae_scale_factor_spatial
    g = torch.Generator(device="cpu").manual_seed(1)
    dtype = t.dtype
    x = torch.randn(2, latent_frames, t.config.in_channels, lh, lw, generator=g).to(device, dtype)
    text = torch.randn(2, t.config.max_text_seq_length, t.config.text_embed_dim, generator=g).to(device, dtype)
    rotary = (pipe._prepare_rotary_positional_embeddings(size["height"], size["width"], latent_frames, device)
              if t.config.use_rotary_positional_embeddings else None)
    step = torch.tensor([500, 500], device=device)

    def forward():
        with torch.no_grad():
            return t(hidden_states=x, encoder_hidden_states=text, timestep=step, image_rotary_emb=rotary,
                     return_dict=False)[0].float()

    reference = forward()
    for name in COMPONENTS if scheme != "bf16" else ():
        quantize_model(getattr(pipe, name), scheme, device)
    out = forward()
    rel_error = float((out - reference).norm() / reference.norm())
    del out, reference
    base.update(
        weights_gib=round(sum(weight_gib(getattr(pipe, n)) for n in ("text_encoder", "transformer", "vae")), 2),
        transformer_rel_error=round(rel_error, 5),
    )
    if device == "cuda":
        torch.cuda.empty_cache()
        base["allocated_after_load_gib"] = round(torch.cuda.memory_allocated() / GIB, 2)

    rows, decode_peak = [], 0.0
    for mode in modes:
        row = dict(base, compiled=mode != "eager")
        try:
            if mode != "eager":
                row["compile_scope"] = SCOPES[mode]
            if mode == "compiled":  # the whole transformer: one graph, 42 blocks traced and compiled
                pipe.transformer = torch.compile(pipe.transformer)
            elif mode == "compiled_blocks":  # each block: block 0 compiles a graph, the other 41 share a second
                for block in pipe.transformer.transformer_blocks:
                    block.compile()
            marks: list[float] = []

            def on_step(pipeline, i, ts, kwargs):
                sync()
                marks.append(time.perf_counter())
                return kwargs

            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            sync()
            begin = time.perf_counter()
            latents = pipe("a panda playing a guitar", **size, num_inference_steps=steps, guidance_scale=6.0,
                           generator=torch.Generator(device="cpu").manual_seed(42), output_type="latent",
                           callback_on_step_end=on_step).frames
            durations = [b - a for a, b in zip([begin] + marks[:-1], marks)]
            timed = sorted(durations[1:])
            row["step_s"] = round(timed[len(timed) // 2], 3)
            row["first_step_s"] = round(durations[0], 2)
            if mode != "eager":
                row["compile_s"] = round(durations[0] - row["step_s"], 1)
            peak = torch.cuda.max_memory_allocated() / GIB if device == "cuda" else 0.0
            if mode == "eager":
                if device == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                sync()
                start = time.perf_counter()
                with torch.no_grad():
                    frames = pipe.decode_latents(latents)
                sync()
                row["decode_s"] = round(time.perf_counter() - start, 2)
                row["frames_returned"] = int(frames.shape[2])
                decode_peak = torch.cuda.max_memory_allocated() / GIB if device == "cuda" else 0.0
                row["decode_peak_vram_gib"] = round(decode_peak, 2)
                del frames
            row["denoise_peak_vram_gib"] = round(peak, 2)
            if decode_peak:  # else the chart takes the decode's peak from the eager run (see merge)
                row["peak_vram_gib"] = round(max(peak, decode_peak), 2)
            del latents
        except Exception as e:  # recorded, not hidden: the chart and the notebooks show it
            row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        print("RESULT " + json.dumps(row), flush=True)  # one line per mode: a timeout keeps the modes done
        rows.append(row)
    return rows


def run(args) -> None:
    """Each scheme in a fresh process; rows appended to --out as they come (a timeout keeps the rest)."""
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    for scheme in args.schemes:
        command = [sys.executable, __file__, "child", scheme, "--modes", *args.modes, "--steps", str(args.steps),
                   "--model", args.model]
        start = time.perf_counter()
        new, failure = run_child(command, args.timeout)
        new += [dict(scheme=scheme, compiled=m != "eager", compile_scope=SCOPES.get(m), error=failure)
                for m in args.modes[len(new):]]
        for row in new:
            row["process_s"] = round(time.perf_counter() - start, 1)
            print(json.dumps(row), flush=True)
        rows += new
        out.write_text(json.dumps(rows, indent=1))


def quality(args) -> None:
    """psnr_db and caption accuracy of each scheme on CogVideoX-nano against no quantization."""
    import numpy as np
    import torch

    import helpers
    from helpers.nano import HELD_OUT, BACKGROUNDS, Scene, judge
    from eval_nano import generate
    from helpers.quantization import QuantizationError, psnr_db, quantize_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    backgrounds = list(BACKGROUNDS)
    scenes = [Scene(c, s, m, backgrounds[k % len(backgrounds)]) for k, (c, s, m) in enumerate(HELD_OUT)]
    rows, reference = [], None
    for scheme in args.schemes:
        pipe = helpers.load_pipeline("nano")
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        row = dict(scheme=scheme, device=torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
                   dtype=str(pipe.transformer.dtype).removeprefix("torch."), clips=len(scenes))
        try:
            for name in COMPONENTS if scheme != "bf16" else ():
                quantize_model(getattr(pipe, name), scheme, device)
            videos = generate(pipe, scenes)
        except Exception as e:  # QuantizationError, or a library that fails on this model: recorded
            rows.append(dict(row, error=str(e) if isinstance(e, QuantizationError) else f"{type(e).__name__}: {e}"))
            print(json.dumps(rows[-1]), flush=True)
            continue
        verdicts = [judge(v) for v in videos]
        row["caption_accuracy"] = round(float(np.mean(
            [j.colour == s.colour and j.motion == s.motion for j, s in zip(verdicts, scenes)])), 3)
        if scheme == "bf16":
            reference = videos  # the reference itself: no psnr
        elif reference is not None:
            row["psnr_db"] = round(float(np.mean([min(psnr_db(r, v), 99.0) for r, v in zip(reference, videos)])), 1)
        print(json.dumps(row), flush=True)
        rows.append(row)
    Path(args.out).write_text(json.dumps(rows, indent=1))


def merge(files: list[str]) -> list[dict]:
    """Rows of the run/quality files, one per (scheme, compile scope): a measured row beats an error.

    A compiled row whose process did not decode gets the decode's peak from the same scheme's
    eager run (compiling the transformer leaves the VAE alone): that run's measured decode peak,
    or, where its denoise peak was higher, its resident weights plus the decode's working memory
    measured in the eager runs that recorded it.
    """
    from helpers.quantization import SCHEMES

    rows: dict[tuple, dict] = {}
    quality_rows: dict[str, dict] = {}
    for name in files:
        for row in json.loads(Path(name).read_text()):
            if "clips" in row:
                quality_rows[row["scheme"]] = row
                continue
            key = (row["scheme"], row.get("compile_scope"))
            if "error" not in row or "error" in rows.get(key, {"error": ""}):
                rows[key] = row
    eager = {r["scheme"]: r for r in rows.values() if not r["compiled"] and "step_s" in r}
    for r in eager.values():  # decode peak: measured, or (older runs) the overall peak when it came after denoising
        if "decode_peak_vram_gib" not in r and r["peak_vram_gib"] > r["denoise_peak_vram_gib"]:
            r["decode_peak_vram_gib"] = r["peak_vram_gib"]
    working = [r["decode_peak_vram_gib"] - r["allocated_after_load_gib"] for r in eager.values()
               if "decode_peak_vram_gib" in r]
    working_gib = sorted(working)[len(working) // 2] if working else None
    for r in rows.values():
        r.pop("process_s", None)
        if r["compiled"] and "step_s" in r and r.get("decode_peak_vram_gib") is None:
            e = eager.get(r["scheme"], {})
            decode = e.get("decode_peak_vram_gib")
            if decode is None and working_gib is not None:
                decode = round(r["allocated_after_load_gib"] + working_gib, 2)
                r["decode_peak_source"] = "resident weights + the decode working memory of the eager runs"
            r["decode_peak_vram_gib"] = decode
            r["peak_vram_gib"] = round(max(r["denoise_peak_vram_gib"], decode or 0), 2)
        if r.get("error", "").startswith("over "):  # the parent's timeout: say so in words
            limit, _, tail = r["error"].removeprefix("over ").partition("; last output: ")
            r["error"] = f"not measured: still running when its time limit ({limit}, building the model included) ran out"
            if tail:
                r["log_tail"] = tail
        q = quality_rows.get(r["scheme"], {})
        if "error" in q:
            r["quality_error"] = q["error"]
        r["psnr_db"] = q.get("psnr_db")
        r["nano_caption_accuracy"] = q.get("caption_accuracy")
        r["quality_device"] = q.get("device")
    gpus = [r["gpu"] for r in rows.values() if "gpu" in r]
    for r in rows.values():  # every row has the interface's keys; None where not measured
        r.setdefault("gpu", max(set(gpus), key=gpus.count) if gpus else None)  # timeouts ran on the same machine
        for key in ("weights_gib", "peak_vram_gib", "step_s"):
            r.setdefault(key, None)
    order = list(SCHEMES)
    return sorted(rows.values(), key=lambda r: (order.index(r["scheme"]), r["compiled"], r.get("compile_scope") or ""))


def chart(args) -> None:
    """Merge run/quality files into media/benchmarks/quantization.json and draw media/benchmarks/quantization.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = merge(args.files)
    RESULTS.write_text(json.dumps(dict(note=NOTE, results=results), indent=1) + "\n")
    ok = [r for r in results if r["step_s"] is not None]
    labels = [r["scheme"] + {None: "", "whole transformer": " + compile", "each transformer block":
                             " + compile blocks"}[r.get("compile_scope")] for r in ok]
    fig, axes = plt.subplots(1, 3, figsize=(15, 0.42 * len(ok) + 1.8), sharey=True)
    y = range(len(ok))
    axes[0].barh(y, [r["weights_gib"] for r in ok], color="tab:purple")
    axes[0].set(title="weights on the GPU (GiB)", yticks=list(y), yticklabels=labels)
    axes[1].barh(y, [r["peak_vram_gib"] for r in ok], color="tab:blue")
    axes[1].set(title="peak VRAM (GiB)")
    axes[2].barh(y, [r["step_s"] for r in ok], color=["tab:green" if r["compiled"] else "tab:olive" for r in ok])
    axes[2].set(title="seconds per denoising step (green: compiled)")
    for ax in axes:
        ax.invert_yaxis()
    gpu = ok[0]["gpu"].replace("NVIDIA ", "") if ok else "?"
    fig.suptitle(f"CogVideoX-5b architecture, RANDOM weights, 49x480x720, CFG 6, {gpu}; "
                 "text encoder + transformer quantized")
    fig.tight_layout()
    fig.savefig(RESULTS.with_suffix(".png"), dpi=110)
    print(f"wrote {RESULTS} and {RESULTS.with_suffix('.png')}")


def main() -> None:
    from helpers.quantization import SCHEMES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="time each scheme (CUDA GPU; --model small for a dry run anywhere)")
    p.add_argument("--schemes", nargs="+", default=list(SCHEMES), choices=list(SCHEMES))
    p.add_argument("--modes", nargs="+", default=["eager", "compiled"], choices=["eager", "compiled", "compiled_blocks"])
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--model", default="5b", help="5b (random weights, full size) or a kit model for a dry run")
    p.add_argument("--timeout", type=int, default=560)
    p.add_argument("--out", default="quantization_run.json")
    p = sub.add_parser("child")
    p.add_argument("scheme")
    p.add_argument("--modes", nargs="+")
    p.add_argument("--steps", type=int)
    p.add_argument("--model")
    p = sub.add_parser("quality", help="psnr and caption accuracy on CogVideoX-nano")
    p.add_argument("--schemes", nargs="+", default=list(SCHEMES), choices=list(SCHEMES))
    p.add_argument("--out", default="quantization_quality.json")
    p = sub.add_parser("chart", help="merge result files into media/benchmarks/quantization.json + chart")
    p.add_argument("files", nargs="+")
    args = parser.parse_args()
    if args.command == "child":
        child(args.scheme, args.modes, args.steps, args.model)
    else:
        {"run": run, "quality": quality, "chart": chart}[args.command](args)


if __name__ == "__main__":
    main()
