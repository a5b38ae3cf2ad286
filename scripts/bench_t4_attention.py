"""What one CogVideoX-5b attention call costs on a T4's kernels: the math kernel for bf16, memory-efficient for fp16/fp32.

Runs under ``COGVIDEOX_EMULATE=t4`` on a bigger CUDA GPU (helpers.environment: 15 GiB cap, the
attention kernels a T4 has). For each frame count at 480x720 and each dtype it makes the query,
key and value of one CogVideoX-5b attention layer (classifier-free-guidance batch of 2, 48 heads
of 64, video tokens plus 226 text tokens), calls ``F.scaled_dot_product_attention`` once and
records the peak memory above the inputs, or that it ran out of memory, beside what
``helpers.planner.math_attention_gib`` predicts for the math kernel.

    COGVIDEOX_EMULATE=t4 python scripts/bench_t4_attention.py --out media/benchmarks/t4_attention.json
    python scripts/bench_t4_attention.py --chart   # (any machine) media/benchmarks/t4_attention.png from the results
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3


def chart(results: Path) -> Path:
    """Draw the results beside them (same name, .png): memory per frame count and dtype, out of memory marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    record = json.loads(results.read_text())
    rows = record["results"]
    frames = sorted({r["frames"] for r in rows})
    fig, ax = plt.subplots(figsize=(7, 3.6))
    width = 0.27
    for i, dtype in enumerate(("bfloat16", "float16", "float32")):
        for j, f in enumerate(frames):
            r = next(r for r in rows if r["frames"] == f and r["dtype"] == dtype)
            x = j + (i - 1) * width
            if "out_of_memory" in r or "error" in r:
                ax.bar(x, r["predicted_math_gib"], width, color="none", edgecolor="tab:red", hatch="//",
                       label="bf16, math kernel: out of memory (bar: counted need)" if j == 0 else None)
            else:
                ax.bar(x, max(r["peak_above_inputs_gib"], 0.01), width, color=("tab:blue", "tab:green")[i - 1],
                       label=f"{dtype}, memory-efficient kernel: measured" if j == 0 else None)
    ax.axhline(15, color="gray", linestyle="--", linewidth=1, label="a T4's 15 GiB")
    ax.set_yscale("log")
    ax.set_xticks(range(len(frames)), [f"{f} frames" for f in frames])
    ax.set_ylabel("GiB above q, k, v (log)")
    ax.set_title("One CogVideoX-5b attention call at 480x720 on a T4's kernels", fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    fig.text(0.01, 0.01, f"{record['gpu']}; scripts/bench_t4_attention.py", fontsize=6, color="gray")
    fig.tight_layout()
    out = results.with_suffix(".png")
    fig.savefig(out, dpi=110)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "media" / "benchmarks" / "t4_attention.json")
    parser.add_argument("--frames", type=int, nargs="*", default=[9, 17, 25, 49])
    parser.add_argument("--chart", action="store_true", help="only draw the chart of the results in --out")
    args = parser.parse_args(argv)
    if args.chart:
        print("wrote", chart(args.out))
        return 0
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("COGVIDEOX_EMULATE", "t4")
    import torch
    import torch.nn.functional as F

    if not torch.cuda.is_available():
        print("bench_t4_attention needs a CUDA GPU (it emulates a T4 on it).")
        return 2
    import helpers
    from helpers.architecture import TRANSFORMER_5B
    from helpers.planner import math_attention_gib, transformer_tokens

    report = helpers.environment_report()
    heads, dim = TRANSFORMER_5B["num_attention_heads"], TRANSFORMER_5B["attention_head_dim"]
    rows = []
    for frames in args.frames:
        tokens = transformer_tokens(frames, 480, 720)
        for dtype in (torch.bfloat16, torch.float16, torch.float32):
            q, k, v = (torch.randn(2, heads, tokens, dim, device="cuda", dtype=dtype) for _ in range(3))
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            row = dict(frames=frames, tokens=tokens, dtype=str(dtype).replace("torch.", ""),
                       predicted_math_gib=round(math_attention_gib(frames), 2))
            try:
                out = F.scaled_dot_product_attention(q, k, v)
                torch.cuda.synchronize()
                row["peak_above_inputs_gib"] = round((torch.cuda.max_memory_allocated() - base) / GIB, 3)
                row["finite"] = bool(torch.isfinite(out).all())
                del out
            except torch.OutOfMemoryError:
                row["out_of_memory"] = f"over the emulated {report.vram_total_gib:g} GiB"
            except RuntimeError as e:  # e.g. "No available kernel"
                row["error"] = str(e).splitlines()[0][:200]
            del q, k, v
            torch.cuda.empty_cache()
            rows.append(row)
            print(row, flush=True)
    record = dict(note=("One CogVideoX-5b attention call (CFG batch 2, 48 heads x 64, 480x720) under COGVIDEOX_EMULATE=t4 "
                        "on a bigger GPU: the T4's attention kernels (bf16 -> math, fp16/fp32 -> memory-efficient) and its "
                        "15 GiB; peak_above_inputs_gib is torch's peak allocation above q, k and v. scripts/bench_t4_attention.py"),
                  gpu=report.gpu_name, emulated=report.emulated, versions=helpers.environment.library_versions(), results=rows)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print("wrote", args.out, chart(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
