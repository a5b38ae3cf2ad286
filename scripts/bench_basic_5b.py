"""Measure 01_basic_inference's recipe on CogVideoX-5b's full-size architecture (needs a CUDA GPU).

No machine of the kit's can download the real weights, so this builds CogVideoX-5b's
architecture from its configs (helpers.architecture) with random weights, saves it in the hub
repository's layout (sharded bf16 safetensors), and then runs the notebook's steps through the
same helpers: load_pipeline on that folder, model_defaults, apply_recipe
("model_cpu_offload+vae_tiling"), check_request, and the seed's pipe(...) call at 49x480x720,
50 steps, guidance 6, seed 42. Weights' values change neither time nor memory.

    python scripts/bench_basic_5b.py --out media/bench_basic_5b.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import helpers
from helpers.architecture import save_random_5b
from helpers.environment import library_versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=Path("/tmp/CogVideoX-5b-random"))
    parser.add_argument("--out", type=Path, default=Path("media/bench_basic_5b.json"))
    parser.add_argument("--steps", type=int, default=None, help="default: the model's (50)")
    args = parser.parse_args()

    start = time.perf_counter()
    save_random_5b(args.folder)
    build_s = time.perf_counter() - start
    with helpers.measure("load") as load:
        pipe = helpers.load_pipeline(str(args.folder))
    defaults = helpers.model_defaults(pipe)
    recipe = helpers.apply_recipe(pipe, "model_cpu_offload+vae_tiling")
    request = {**defaults, "num_inference_steps": args.steps or defaults["num_inference_steps"]}
    warnings = helpers.check_request(pipe, **request)

    step_times: list[float] = []

    def on_step(pipeline, i, t, kwargs):
        torch.cuda.synchronize()
        step_times.append(time.perf_counter())
        return kwargs

    with helpers.measure("generate") as gen:
        start = time.perf_counter()
        video = pipe(**request, num_videos_per_prompt=1, generator=torch.Generator(device="cuda").manual_seed(42),
                     callback_on_step_end=on_step, output_type="np").frames[0]
    steps = [b - a for a, b in zip([start] + step_times[:-1], step_times)]
    median_step = sorted(steps[1:])[len(steps[1:]) // 2]
    result = dict(
        what="01_basic_inference's recipe on CogVideoX-5b's full-size architecture with RANDOM weights "
             "(weights' values change neither time nor memory)",
        gpu=torch.cuda.get_device_name(0),
        versions=library_versions(),
        dtype=str(pipe.transformer.dtype).replace("torch.", ""),
        recipe=recipe,
        request={k: v for k, v in request.items() if k != "prompt"},
        warnings=warnings,
        frames_returned=int(video.shape[0]),
        frame_size=list(video.shape[1:3]),
        build_and_save_s=round(build_s, 1),
        load_s=round(load.seconds, 1),
        load_peak_rss_gib=round(load.peak_rss_gib, 2),
        first_step_s=round(steps[0], 2),
        median_step_s=round(median_step, 3),
        decode_and_rest_s=round(gen.seconds - (step_times[-1] - start), 2),
        generate_s=round(gen.seconds, 1),
        peak_vram_gib=round(gen.peak_vram_gib, 2),
        peak_rss_gib=round(gen.peak_rss_gib, 2),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
