"""What one CogVideoX-5b attention call costs on a T4's kernels: the math kernel for bf16, memory-efficient for fp16/fp32.

Runs under ``COGVIDEOX_EMULATE=t4`` on a bigger CUDA GPU (helpers.environment: 15 GiB cap, the
attention kernels a T4 has). For each frame count at 480x720 and each dtype it makes the query,
key and value of one CogVideoX-5b attention layer (classifier-free-guidance batch of 2, 48 heads
of 64, video tokens plus 226 text tokens), calls ``F.scaled_dot_product_attention`` once and
records the peak memory above the inputs, or that it ran out of memory, beside what
``helpers.planner.math_attention_gib`` predicts for the math kernel.

    COGVIDEOX_EMULATE=t4 python scripts/bench_t4_attention.py --out media/benchmarks/t4_attention.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "media" / "benchmarks" / "t4_attention.json")
    parser.add_argument("--frames", type=int, nargs="*", default=[9, 17, 25, 49])
    args = parser.parse_args(argv)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
