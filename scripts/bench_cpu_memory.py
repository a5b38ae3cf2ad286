"""How much host RAM and time CogVideoX-nano takes on a CPU for a request: the constants behind the kit's refusal of requests that cannot fit or finish.

Generates with CogVideoX-nano on the CPU (2 steps: memory does not depend on steps) at a few
frame counts and sizes, samples the process's resident memory, and fits the peak above the
loaded pipeline as ``pixels x (per_pixel + per_pixel_frame x frames)`` (least squares). It
also times the second denoising step and fits it as ``tokens x (per_token + per_token_pair x
tokens)`` (attention grows with the square of the transformer's tokens).
``helpers.checks.check_request`` reads both fits from ``media/benchmarks/cpu_memory.json`` and
refuses, before any compute, a request on a CPU whose predicted peak exceeds the RAM available,
or whose predicted time exceeds ``COGVIDEOX_MAX_CPU_MINUTES``.

    python scripts/bench_cpu_memory.py            # writes media/benchmarks/cpu_memory.json and .png
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "media" / "benchmarks" / "cpu_memory.json"
REQUESTS = [(9, 240, 360), (17, 240, 360), (9, 480, 720), (17, 480, 720), (33, 240, 360)]
GIB = 1024**3


def peak_above_base(pipe, frames: int, height: int, width: int) -> tuple[int, float]:
    """Peak resident bytes above the process's memory before the call, sampled every 10 ms, and
    the seconds of the second denoising step (the first pays one-off costs)."""
    import psutil

    gc.collect()
    me = psutil.Process()
    base = peak = me.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, me.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    ends = []

    def step_ended(pipe, i, t, kwargs):
        ends.append(time.perf_counter())
        return kwargs

    video = pipe("a red circle moves right", num_frames=frames, height=height, width=width, num_inference_steps=2,
                 output_type="np", callback_on_step_end=step_ended).frames[0]
    done.set()
    sampler.join()
    del video
    gc.collect()
    return peak - base, ends[1] - ends[0]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    import helpers
    from helpers.environment import library_versions

    pipe = helpers.load_pipeline("nano")
    pipe.set_progress_bar_config(disable=True)
    peak_above_base(pipe, 9, 48, 72)  # warm-up: first-call allocations
    from helpers.checks import transformer_tokens

    rows = []
    for f, h, w in REQUESTS:
        peak, step_s = peak_above_base(pipe, f, h, w)
        rows.append(dict(num_frames=f, height=h, width=w, tokens=transformer_tokens(pipe, f, h, w),
                         peak_above_loaded_gib=round(peak / GIB, 3), step_s=round(step_s, 3)))
    pixels = np.array([r["height"] * r["width"] for r in rows], float)
    frames = np.array([r["num_frames"] for r in rows], float)
    peaks = np.array([r["peak_above_loaded_gib"] * GIB for r in rows])
    (per_pixel, per_pixel_frame), *_ = np.linalg.lstsq(np.stack([pixels, pixels * frames], 1), peaks, rcond=None)
    tokens = np.array([r["tokens"] for r in rows], float)
    seconds = np.array([r["step_s"] for r in rows])
    (per_token, per_token_pair), *_ = np.linalg.lstsq(np.stack([tokens, tokens**2], 1), seconds, rcond=None)
    for r, p, f, t in zip(rows, pixels, frames, tokens):
        r["fitted_gib"] = round((per_pixel + per_pixel_frame * f) * p / GIB, 3)
        r["fitted_step_s"] = round(per_token * t + per_token_pair * t**2, 3)
    OUT.write_text(json.dumps(dict(
        note=("CogVideoX-nano on this machine's CPU, 2 steps (memory does not depend on steps), fp32: peak resident memory "
              "above the loaded pipeline, sampled every 10 ms; fit: pixels x (per_pixel + per_pixel_frame x frames). "
              "step_s: the second denoising step; fit: tokens x (per_token + per_token_pair x tokens), tokens being "
              f"the transformer's. Machine: {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}. "
              "scripts/bench_cpu_memory.py"),
        fit=dict(per_pixel_bytes=round(float(per_pixel), 1), per_pixel_frame_bytes=round(float(per_pixel_frame), 1),
                 step_s_per_token=float(per_token), step_s_per_token_pair=float(per_token_pair),
                 cpu_cores=os.cpu_count()),
        versions=library_versions(), results=rows), indent=2) + "\n")
    chart(rows)
    print(json.dumps(rows, indent=1))
    return 0


def chart(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    labels = [f"{r['num_frames']}x{r['height']}x{r['width']}" for r in rows]
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [r["peak_above_loaded_gib"] for r in rows], 0.4, label="measured")
    ax.bar([i + 0.2 for i in x], [r["fitted_gib"] for r in rows], 0.4, label="fitted")
    ax.set_xticks(list(x), labels, fontsize=8)
    ax.set_ylabel("GiB above the loaded pipeline")
    ax.set_title("CogVideoX-nano on a CPU: host RAM per request (1 step)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT.with_suffix(".png"), dpi=110)


if __name__ == "__main__":
    sys.exit(main())
