"""Measure LoRA on CogVideoX-5b's full-size architecture with random weights (a CUDA GPU; `--model nano` dry-runs on a CPU).

    python scripts/bench_lora.py run --model /tmp/cogvideox-rehearsal-models/CogVideoX-5b-random --out results.json
    python scripts/bench_lora.py chart results.json      # -> media/benchmarks/lora.json and lora.png

Each row runs in its own process (nothing left from the row before; peaks reset; one warm-up call):
- inference: a random LoRA (rank 64 or 128, on helpers.lora.TARGET_MODULES, saved in diffusers' format) loaded
  with pipe.load_lora_weights, then the denoising steps of the 49x480x720 request timed, unfused, fused
  (pipe.fuse_lora), with model offload, and compiled (torch.compile of each block after loading: the first call's
  seconds, and those of the first call after set_adapters changes the weight); the load time and peak VRAM beside them;
- training: one LoRA training step of the transformer (bf16, batch 1, the 49x480x720 latents), with and without
  gradient checkpointing: seconds and peak VRAM.
Weights' values (random here) change neither time nor memory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench_common import run_child  # noqa: E402

ROWS = [  # (name, rank, what)
    ("no LoRA", 0, "unfused"), ("rank 64", 64, "unfused"), ("rank 64, fused", 64, "fused"),
    ("rank 128", 128, "unfused"), ("rank 128, fused", 128, "fused"), ("rank 64, model offload", 64, "offload"),
    ("rank 64, compiled", 64, "compiled"),
    ("train rank 64", 64, "train"), ("train rank 64, gradient checkpointing", 64, "train+checkpointing"),
]
OUT = ROOT / "media" / "benchmarks" / "lora.json"


def measure_row(model: str, rank: int, what: str, steps: int) -> dict:
    import torch
    from diffusers import CogVideoXPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    import helpers
    from helpers.lora import TARGET_MODULES
    from helpers.measure import free_memory

    cuda = torch.cuda.is_available()
    pipe = helpers.load_pipeline(model)
    pipe.set_progress_bar_config(disable=True)
    request = {**helpers.model_defaults(pipe), "num_inference_steps": steps}
    row = {"rank": rank, "what": what}
    if rank:
        with tempfile.TemporaryDirectory() as folder:
            pipe.transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=TARGET_MODULES,
                                                    init_lora_weights="gaussian"), adapter_name="random")
            CogVideoXPipeline.save_lora_weights(folder, transformer_lora_layers=get_peft_model_state_dict(
                pipe.transformer, adapter_name="random"))
            pipe.transformer.delete_adapters("random")
            row["lora_mib"] = round(sum(p.stat().st_size for p in Path(folder).iterdir()) / 2**20, 1)
            start = time.perf_counter()
            pipe.load_lora_weights(folder, adapter_name="lora")
            row["load_s"] = round(time.perf_counter() - start, 2)
    device = "cuda" if cuda else "cpu"
    if what.startswith("train"):
        return {**row, **train_step(pipe, device, "checkpointing" in what, request)}
    if cuda:  # a dry run on the CPU keeps the pipeline where it is (and compiles nothing)
        helpers.apply_recipe(pipe, {"offload": "model_cpu_offload", "compiled": "all_on_gpu+compile"}.get(what, "all_on_gpu"))
    if what == "fused":
        pipe.fuse_lora()
    stamps: list[float] = []

    def on_step(pipeline, i, t, kwargs):
        if cuda:
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())
        return kwargs

    call = dict(**request, generator=torch.Generator().manual_seed(0), output_type="latent", callback_on_step_end=on_step)
    start = time.perf_counter()
    pipe(**{**call, "num_inference_steps": 2})  # warm-up (compiles, in the compiled row)
    row["first_call_2_steps_s"] = round(time.perf_counter() - start, 2)
    free_memory()
    with helpers.measure("steps") as m:
        stamps.clear()
        start = time.perf_counter()
        pipe(**call)
    gaps = sorted(b - a for a, b in zip([start] + stamps[:-1], stamps))
    row.update(step_s=round(gaps[len(gaps) // 2], 3), **peaks(m))
    if what == "compiled":  # a new weight after compiling: does the next call compile again?
        pipe.set_adapters(["lora"], [0.5])
        start = time.perf_counter()
        pipe(**{**call, "num_inference_steps": 2})
        row["after_set_adapters_2_steps_s"] = round(time.perf_counter() - start, 2)
    return row


def train_step(pipe, device: str, checkpointing: bool, request: dict) -> dict:
    import torch
    import torch.nn.functional as F

    import helpers
    from helpers.lora import lora_parameters
    from helpers.measure import free_memory

    transformer = pipe.transformer.to(device)
    trained = lora_parameters(transformer)
    if checkpointing:
        transformer.enable_gradient_checkpointing()
    frames = (request["num_frames"] - 1) // pipe.vae_scale_factor_temporal + 1
    h, w = request["height"] // pipe.vae_scale_factor_spatial, request["width"] // pipe.vae_scale_factor_spatial
    config = transformer.config
    latents = torch.randn(1, frames, config.in_channels, h, w, device=device, dtype=transformer.dtype)
    text = torch.randn(1, config.max_text_seq_length, config.text_embed_dim, device=device, dtype=transformer.dtype)
    rope = pipe._prepare_rotary_positional_embeddings(request["height"], request["width"], frames, device)
    optimizer = torch.optim.AdamW(trained, lr=1e-4)
    transformer.train()

    def step() -> None:
        out = transformer(hidden_states=latents, encoder_hidden_states=text, timestep=torch.tensor([500], device=device),
                          image_rotary_emb=rope, return_dict=False)[0]
        F.mse_loss(out.float(), latents.float()).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    step()  # warm-up: the optimizer's state is made here
    free_memory()
    with helpers.measure("training step") as m:
        step()
    return {"step_s": round(m.seconds, 2), **peaks(m), "trained_parameters": sum(p.numel() for p in trained)}


def peaks(m) -> dict:
    """A measurement's peaks in GiB (no VRAM figure on a CPU dry run)."""
    return {"peak_vram_gib": None if m.peak_vram_gib is None else round(m.peak_vram_gib, 2),
            "peak_rss_gib": round(m.peak_rss_gib, 2)}


def chart(results: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    record = json.loads(results.read_text())
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    rows = [r for r in record["results"] if r.get("peak_vram_gib") is not None]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(rows) + 1))
    ax.barh([r["name"] for r in rows], [r["peak_vram_gib"] for r in rows])
    ax.set(xlabel="peak VRAM GiB", title=f"LoRA on CogVideoX-5b, random weights ({record['gpu']})")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(OUT.with_suffix(".png"), dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--model", required=True, help="the random 5b folder, or nano for a dry run")
    run.add_argument("--steps", type=int, default=5, help="denoising steps timed (median step reported)")
    run.add_argument("--out", type=Path, required=True)
    run.add_argument("--timeout", type=int, default=900)
    child = sub.add_parser("child")
    child.add_argument("--model", required=True)
    child.add_argument("--row", type=int, required=True)
    child.add_argument("--steps", type=int, default=5)
    sub.add_parser("chart").add_argument("results", type=Path)
    args = parser.parse_args()

    if args.command == "child":
        name, rank, what = ROWS[args.row]
        print("RESULT " + json.dumps({"name": name, **measure_row(args.model, rank, what, args.steps)}), flush=True)
    elif args.command == "chart":
        chart(args.results)
    else:
        import torch

        from helpers.environment import library_versions

        results = []
        for i, (name, rank, what) in enumerate(ROWS):
            rows, failure = run_child([sys.executable, __file__, "child", "--model", args.model, "--row", str(i),
                                       "--steps", str(args.steps)], args.timeout)
            results += rows or [{"name": name, "rank": rank, "what": what, "failed": failure}]
            print(results[-1], flush=True)
        record = {"note": f"CogVideoX-5b's full-size architecture with RANDOM weights (their values change neither time "
                          f"nor memory), 49x480x720, bf16; median of {args.steps} denoising steps after a warm-up call; "
                          "each row in its own process. Written by scripts/bench_lora.py.",
                  "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU",
                  "versions": library_versions(), "results": results}
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
