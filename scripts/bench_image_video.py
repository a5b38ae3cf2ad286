"""Image-to-video and video-to-video on CogVideoX-5b's full-size architecture -> media/benchmarks/image_video.json.

No machine of the kit's can download the real weights, so the models are CogVideoX-5b-I2V's
and CogVideoX-5b's architectures with RANDOM weights (helpers.architecture.random_5b_pipeline):
weights' values change neither time nor memory. Each (pipeline, recipe) runs in a fresh
process: build on the GPU, move to the CPU when the recipe offloads, apply the recipe
(helpers.apply_recipe), a 2-step warm-up, then the timed call: 49 frames at 480x720, 50 steps,
guidance 6 (video-to-video: strength 0.8, so 40 of the 50 steps run), from the kit's example
picture (fitted to 480x720) or a 49-frame clip, to decoded frames.

    python scripts/bench_image_video.py run --out results.json        # on a CUDA GPU
    python scripts/bench_image_video.py chart results.json            # (any machine) -> media/benchmarks/
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

from bench_common import run_child

GIB = 1024**3
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "media" / "benchmarks" / "image_video.json"
#: The seed article's recipe, and the planner's leanest for a 5b on a GPU.
RECIPES = {"seed": "model_cpu_offload+vae_tiling", "lean": "lean_offload+vae_small_tiles"}
NOTE = (
    "CogVideoX-5b-I2V's (image) and CogVideoX-5b's (video) full-size architectures with RANDOM weights "
    "(weights' values change neither time nor memory). end_to_end_s: one call after a 2-step warm-up: prompt "
    "encoding, 50 steps at 49x480x720 with guidance 6 (video-to-video: strength 0.8, 40 steps run), decoding; "
    "from the kit's example picture fitted to 480x720 or a 49-frame clip. peak_vram_gib: torch's peak allocation "
    "in that call. Each row is a fresh process."
)


def child(task: str, recipe: str, steps: int, model: str) -> None:
    """One pipeline and recipe in this process; prints a RESULT line."""
    import numpy as np
    import torch

    import helpers
    from helpers.image_video import example_inputs, fit_image

    device = "cuda" if torch.cuda.is_available() else "cpu"
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    row = dict(pipeline=task, recipe=recipe, recipe_steps=RECIPES[recipe], model=model,
               gpu=torch.cuda.get_device_name(0) if device == "cuda" else "cpu")
    try:
        if model == "5b":
            from helpers.architecture import random_5b_pipeline

            pipe = random_5b_pipeline(device, task=task)
            size = dict(num_frames=49, height=480, width=720)
            if "offload" in RECIPES[recipe]:
                pipe.to("cpu")  # offloading recipes start from weights in host RAM
        else:  # --model kit: a dry run of this script's logic on the kit's models (any device)
            pipe = helpers.load_pipeline({"image": "small-i2v", "video": "nano"}[task] if model == "kit" else model,
                                         task=task)
            d = helpers.model_defaults(pipe)
            size = dict(num_frames=d["num_frames"], height=d["height"], width=d["width"])
        pipe.set_progress_bar_config(disable=True)
        gc.collect()
        row["applied"] = helpers.apply_recipe(pipe, RECIPES[recipe])
        picture, _ = fit_image(example_inputs()[0], size["height"], size["width"])
        if task == "image":
            inputs = dict(image=picture)
        else:
            rng = np.random.default_rng(0)
            inputs = dict(video=[picture] + [fit_image(rng.integers(0, 255, (size["height"], size["width"], 3),
                                                                    dtype=np.uint8), size["height"], size["width"])[0]
                                             for _ in range(size["num_frames"] - 1)], strength=0.8)
            size.pop("num_frames")  # video-to-video takes the clip's frames
        request = dict(prompt="a panda playing a guitar in a bamboo forest", guidance_scale=6.0, **size, **inputs)

        def call(n: int, **kw):
            sync()
            begin = time.perf_counter()
            out = pipe(**request, num_inference_steps=n, generator=torch.Generator(device="cpu").manual_seed(42), **kw)
            sync()
            return time.perf_counter() - begin, out

        call(2, output_type="latent")
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        seconds, out = call(steps, output_type="np")
        row.update(end_to_end_s=round(seconds, 2), steps=steps, frames_returned=int(out.frames[0].shape[0]),
                   peak_vram_gib=round(torch.cuda.max_memory_allocated() / GIB, 2) if device == "cuda" else None)
    except Exception as e:  # recorded, not hidden
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
    print("RESULT " + json.dumps(row), flush=True)


def run(args) -> None:
    """Each pipeline and recipe in a fresh process; rows appended to --out as they come."""
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    for task in args.pipelines:
        for recipe in args.recipes:
            command = [sys.executable, __file__, "child", task, recipe, "--steps", str(args.steps), "--model", args.model]
            new, failure = run_child(command, args.timeout)
            new = new or [dict(pipeline=task, recipe=recipe, recipe_steps=RECIPES[recipe], error=failure)]
            print(json.dumps(new[0]), flush=True)
            rows += new
            out.write_text(json.dumps(rows, indent=1))


def chart(args) -> None:
    """Merge result files (the latest row per pipeline and recipe) into media/benchmarks/image_video.json."""
    latest = {}
    for f in args.files:
        for row in json.loads(Path(f).read_text()):
            latest[(row["pipeline"], row["recipe"])] = row
    rows = list(latest.values())
    RESULTS.write_text(json.dumps(dict(note=NOTE, random_weights=True,
                                       results=[r for r in rows if "end_to_end_s" in r],
                                       not_measured=[r for r in rows if "end_to_end_s" not in r]), indent=1) + "\n")
    print("wrote", RESULTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--pipelines", nargs="+", default=["image", "video"], choices=["image", "video"])
    p.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--model", default="5b")
    p.add_argument("--out", default="image_video_results.json")
    p.add_argument("--timeout", type=int, default=280)
    p = sub.add_parser("child")
    p.add_argument("task", choices=["image", "video"])
    p.add_argument("recipe", choices=list(RECIPES))
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--model", default="5b")
    p = sub.add_parser("chart")
    p.add_argument("files", nargs="+")
    args = parser.parse_args()
    {"run": run, "child": lambda a: child(a.task, a.recipe, a.steps, a.model), "chart": chart}[args.command](args)


if __name__ == "__main__":
    main()
