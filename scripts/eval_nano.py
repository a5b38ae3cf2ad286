"""Evaluate CogVideoX-nano (and nano-i2v) on the CPU: held-out captions judged from the pixels.

The tooling around the model, kept out of ``helpers`` (which holds what a notebook needs at run time):

    python scripts/eval_nano.py evaluate        # held-out captions, default settings, on the CPU
    python scripts/eval_nano.py curves          # accuracy over guidance and steps -> media/nano_eval.json
    python scripts/eval_nano.py gallery         # a strip per caption -> media/nano_gallery.png
    python scripts/eval_nano.py image           # image to video on the held-out scenes -> media/nano_i2v_eval.json
    python scripts/eval_nano.py prompts         # negative prompts, schedulers, token budget -> media/nano_prompt_eval.json
    python scripts/eval_nano.py sweep           # 06's explorer grid, guidance x steps -> media/explorer_sweep.png
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from helpers.nano import (  # noqa: E402
    COLOURS, DEFAULT_GUIDANCE, DEFAULT_STEPS, FRAMES, HEIGHT, WIDTH, Scene, all_scenes, judge, nano_available,
    nano_model_path, render, start_offset,
)

def generate(pipe, scenes: list[Scene], steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE, seed: int = 0,
             prompt_of=lambda scene: scene.caption, negative_of=lambda scene: None, **call):
    """Generate one clip per scene with ``pipe``: a list of float arrays (FRAMES, H, W, 3). ``prompt_of`` and
    ``negative_of`` make each scene's prompt and negative prompt; ``call`` goes to the pipeline as it is."""
    import torch

    out = []
    for k, scene in enumerate(scenes):
        generator = torch.Generator(device="cpu").manual_seed(seed + k)
        out.append(
            pipe(prompt_of(scene), negative_prompt=negative_of(scene), num_frames=FRAMES, height=HEIGHT, width=WIDTH,
                 num_inference_steps=steps, guidance_scale=guidance, generator=generator, output_type="np",
                 **call).frames[0]
        )
    return out


def evaluate(pipe=None, scenes: list[Scene] | None = None, steps: int = DEFAULT_STEPS,
             guidance: float = DEFAULT_GUIDANCE, seed: int = 0, **generate_kwargs) -> dict:
    """Generate the held-out captions and judge each clip against its caption.

    Example:
        >>> from eval_nano import evaluate
        >>> evaluate()  # doctest: +SKIP
        {'colour_accuracy': 0.96, 'motion_accuracy': 0.85, 'clips': 54, 'seconds_per_clip': 2.1, ...}
    """
    import torch

    pipe = pipe or _load()
    pipe.set_progress_bar_config(disable=True)
    scenes = scenes if scenes is not None else [s for s in all_scenes() if s.held_out]
    start = time.perf_counter()
    with torch.inference_mode():
        clips = generate(pipe, scenes, steps=steps, guidance=guidance, seed=seed, **generate_kwargs)
    seconds = (time.perf_counter() - start) / len(scenes)
    verdicts = [judge(clip) for clip in clips]
    rows = [
        dict(caption=s.caption, colour=v.colour, motion=v.motion,
             colour_ok=v.colour == s.colour, motion_ok=v.motion == s.motion)
        for s, v in zip(scenes, verdicts)
    ]
    return dict(
        colour_accuracy=round(sum(r["colour_ok"] for r in rows) / len(rows), 3),
        motion_accuracy=round(sum(r["motion_ok"] for r in rows) / len(rows), 3),
        clips=len(rows),
        seconds_per_clip=round(seconds, 2),
        steps=steps,
        guidance=guidance,
        rows=rows,
    )


#: Image to video starts "from the picture" when the object's first position is within this many pixels.
START_TOLERANCE_PX = 3.0


def first_frames(scenes: list[Scene], seed: int = 0) -> list:
    """The first frame of each scene's rendered clip, as pictures (PIL) to start image-to-video from.

    Example:
        >>> from eval_nano import Scene, first_frames
        >>> first_frames([Scene("red", "circle", "right", "dark")])[0].size
        (72, 48)
    """
    from PIL import Image

    clips = render(scenes, seed=seed)
    return [Image.fromarray((clip[0].numpy() * 255).round().astype(np.uint8)) for clip in clips]


def evaluate_image(pipe=None, scenes: list[Scene] | None = None, steps: int = DEFAULT_STEPS,
                   guidance: float = DEFAULT_GUIDANCE, seed: int = 0) -> dict:
    """Image to video on the held-out scenes: each clip starts from that scene's first frame.

    Judged from the pixels: the captioned colour and motion (as :func:`evaluate`) and whether
    frame 0 has the object where the picture has it (within ``START_TOLERANCE_PX``). A
    text-to-video ``pipe`` gets the captions alone: the same measure, without the picture.

    Example:
        >>> from eval_nano import evaluate_image
        >>> evaluate_image()  # doctest: +SKIP
        {'colour_accuracy': ..., 'motion_accuracy': ..., 'start_accuracy': ..., 'start_offset_px': ..., ...}
    """
    import torch

    pipe = pipe or _load("nano-i2v")
    pipe.set_progress_bar_config(disable=True)
    takes_image = "image" in inspect.signature(pipe.__call__).parameters
    scenes = scenes if scenes is not None else [s for s in all_scenes() if s.held_out]
    pictures = first_frames(scenes, seed=seed)
    rows = []
    start = time.perf_counter()
    with torch.inference_mode():
        for k, (scene, picture) in enumerate(zip(scenes, pictures)):
            clip = pipe(prompt=scene.caption, **(dict(image=picture) if takes_image else {}), num_frames=FRAMES, height=HEIGHT,
                        width=WIDTH, num_inference_steps=steps, guidance_scale=guidance,
                        generator=torch.Generator(device="cpu").manual_seed(seed + k), output_type="np").frames[0]
            verdict, offset = judge(clip), start_offset(clip, picture)
            rows.append(dict(caption=scene.caption, colour=verdict.colour, motion=verdict.motion, start_offset_px=offset,
                             colour_ok=verdict.colour == scene.colour, motion_ok=verdict.motion == scene.motion,
                             start_ok=offset <= START_TOLERANCE_PX))
    seconds = (time.perf_counter() - start) / len(scenes)
    share = lambda key: round(sum(r[key] for r in rows) / len(rows), 3)  # noqa: E731
    found = [r["start_offset_px"] for r in rows if math.isfinite(r["start_offset_px"])]
    return dict(colour_accuracy=share("colour_ok"), motion_accuracy=share("motion_ok"), start_accuracy=share("start_ok"),
                start_offset_px=round(float(np.median(found)), 2) if found else None, image=takes_image,
                clips=len(rows), seconds_per_clip=round(seconds, 2), steps=steps, guidance=guidance, rows=rows)


#: Settings the accuracy curves sweep: (steps, guidance). (25, 6.0) is the default.
CURVE_SETTINGS = ((5, 6.0), (10, 6.0), (25, 6.0), (50, 6.0), (25, 1.0), (25, 3.0))
MEDIA = ROOT / "media"


def curves(pipe=None, out: Path = MEDIA) -> list[dict]:
    """Held-out accuracy and CPU seconds per clip over steps and guidance -> nano_eval.json + chart.

    Example:
        >>> from eval_nano import curves
        >>> results = curves()  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from helpers.environment import library_versions

    pipe = pipe or _load()
    results = []
    for steps, guidance in CURVE_SETTINGS:
        result = evaluate(pipe, steps=steps, guidance=guidance)
        print(f"steps={steps} guidance={guidance}: {_summary(result)}", flush=True)
        results.append(result)
    record = dict(
        model="helpers/models/cogvideox-nano", device=f"CPU, {torch.get_num_threads()} threads, {os.cpu_count()} cores",
        versions=library_versions(), held_out_scenes=len(results[0]["rows"]), results=results,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "nano_eval.json").write_text(json.dumps(record, indent=2) + "\n")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.4))
    by_steps = [r for r in results if r["guidance"] == DEFAULT_GUIDANCE]
    by_guidance = sorted((r for r in results if r["steps"] == DEFAULT_STEPS), key=lambda r: r["guidance"])
    for key, label in (("colour_accuracy", "colour"), ("motion_accuracy", "motion")):
        a.plot([r["steps"] for r in by_steps], [r[key] for r in by_steps], "o-", label=label)
        b.plot([r["guidance"] for r in by_guidance], [r[key] for r in by_guidance], "o-", label=label)
    a.set(title=f"steps (guidance {DEFAULT_GUIDANCE:g})", xlabel="denoising steps", ylabel="held-out captions followed", ylim=(0, 1.05))
    b.set(title=f"guidance ({DEFAULT_STEPS} steps)", xlabel="guidance_scale", ylim=(0, 1.05))
    a.legend()
    fig.suptitle(f"CogVideoX-nano on {len(results[0]['rows'])} held-out captions (CPU)")
    fig.tight_layout()
    fig.savefig(out / "nano_accuracy.png", dpi=100)
    return results


#: Six held-out scenes, then six seen in training: every colour, shape, motion and background.
GALLERY = (
    ("red", "circle", "left", "dark"), ("yellow", "triangle", "shrinking", "light"), ("green", "square", "down", "grey"),
    ("cyan", "square", "up", "dark"), ("blue", "triangle", "growing", "light"), ("magenta", "circle", "still", "grey"),
    ("red", "square", "right", "light"), ("green", "circle", "growing", "dark"), ("blue", "square", "shrinking", "grey"),
    ("magenta", "triangle", "up", "light"), ("yellow", "circle", "down", "grey"), ("cyan", "triangle", "left", "dark"),
)


def gallery(pipe=None, out: Path = MEDIA) -> Path:
    """Frame strips of generated clips with their captions (held-out ones marked) -> nano_gallery.png.

    Example:
        >>> from eval_nano import gallery
        >>> gallery()  # doctest: +SKIP
        PosixPath('.../media/nano_gallery.png')
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pipe = pipe or _load()
    pipe.set_progress_bar_config(disable=True)
    scenes = [Scene(*words) for words in GALLERY]
    clips = generate(pipe, scenes)
    fig, axes = plt.subplots(len(scenes), 1, figsize=(9, 1.15 * len(scenes)))
    for ax, scene, clip in zip(axes, scenes, clips):
        verdict = judge(clip)
        ax.imshow(np.concatenate(list(np.clip(clip, 0, 1)), axis=1))
        tag = "held out" if scene.held_out else "seen in training"
        ax.set_title(f'"{scene.caption}" ({tag}) -> judged: {verdict.colour}, {verdict.motion}', fontsize=8, loc="left")
        ax.axis("off")
    fig.suptitle(f"CogVideoX-nano, {DEFAULT_STEPS} steps, guidance {DEFAULT_GUIDANCE:g}, 9 frames left to right", fontsize=9)
    fig.tight_layout()
    path = out / "nano_gallery.png"
    fig.savefig(path, dpi=100)
    return path


def image_eval(out: Path = MEDIA) -> Path:
    """Image to video on every held-out scene with nano-i2v, and the text nano without the picture -> JSON."""
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    results = []
    for model, steps in (("nano-i2v", DEFAULT_STEPS), ("nano-i2v", 10), ("nano", DEFAULT_STEPS)):  # 10: workshop mode
        found = evaluate_image(_load(model), steps=steps)
        results.append(dict(model=model, **{k: v for k, v in found.items() if k != "rows"}))
        print(model, _summary(found), f"start_accuracy={found['start_accuracy']:.2f}")
    held_out = sum(s.held_out for s in all_scenes())
    path = out / "nano_i2v_eval.json"
    path.write_text(json.dumps(dict(device=f"CPU, 2 threads, {os.cpu_count()} cores", held_out_scenes=held_out,
                                    start_tolerance_px=START_TOLERANCE_PX, results=results), indent=2) + "\n")
    return path


#: The filler of the token-budget rows: the seed article's panda prompt, whose words the nano's tokenizer spells
#: letter by letter (hundreds of tokens), so that a caption after it lies beyond the 226 tokens the pipeline reads.
def _filler() -> str:
    from helpers.checks import PANDA_PROMPT

    return PANDA_PROMPT


def _wrong_colour(scene: Scene) -> str:
    """``scene``'s caption in the next of the nano's colours: a negative prompt that names what it should not draw."""
    colours = list(COLOURS)
    return scene.caption.replace(scene.colour, colours[(colours.index(scene.colour) + 1) % len(colours)], 1)


def prompt_eval(out: Path = MEDIA, steps: int = 10) -> Path:
    """Negative prompts, schedulers (DPM, DDIM, dynamic CFG) and the token budget on the held-out captions ->
    nano_prompt_eval.json (11_prompt_craft quotes it).

    Example:
        >>> from eval_nano import prompt_eval
        >>> prompt_eval()  # doctest: +SKIP
    """
    import torch
    from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler

    from helpers.environment import library_versions

    pipe = _load()
    tokens = len(pipe.tokenizer(_filler()).input_ids)
    dpm, ddim = (c.from_config(pipe.scheduler.config, timestep_spacing="trailing")
                 for c in (CogVideoXDPMScheduler, CogVideoXDDIMScheduler))
    settings = [  # (name, scheduler, generate() keyword arguments)
        ("DPM, no negative prompt", dpm, {}),
        ("DPM, negative: generic quality words", dpm, dict(negative_of=lambda s: "blurry, distorted, low quality, static")),
        ("DPM, negative: the caption in another colour", dpm, dict(negative_of=_wrong_colour)),
        ("DPM, use_dynamic_cfg=True", dpm, dict(use_dynamic_cfg=True)),
        ("DDIM", ddim, {}),
        ("DDIM, use_dynamic_cfg=True", ddim, dict(use_dynamic_cfg=True)),
        (f"DPM, the caption after {tokens} tokens of other text", dpm, dict(prompt_of=lambda s: f"{_filler()} {s.caption}")),
    ]
    results = []
    for name, scheduler, kwargs in settings:
        pipe.scheduler = scheduler
        result = evaluate(pipe, steps=steps, **kwargs)
        print(f"{name}: {_summary(result)}", flush=True)
        results.append({"setting": name, "scheduler": type(scheduler).__name__,
                        **{k: v for k, v in result.items() if k != "rows"}})
    record = dict(model="helpers/models/cogvideox-nano", device=f"CPU, {torch.get_num_threads()} threads, "
                  f"{os.cpu_count()} cores", versions=library_versions(), held_out_scenes=results[0]["clips"],
                  filler_tokens=tokens, note="Written by python scripts/eval_nano.py prompts: the nano's 54 held-out "
                  f"captions, {steps} steps, guidance {DEFAULT_GUIDANCE:g}, seeds 0-53, judged from the pixels.",
                  results=results)
    path = out / "nano_prompt_eval.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def _load(model: str = "nano"):
    from helpers.loading import load_pipeline

    return load_pipeline(model, task="image" if model == "nano-i2v" else "text")


def _summary(result: dict) -> str:
    return (
        f"colour_accuracy={result['colour_accuracy']:.2f} motion_accuracy={result['motion_accuracy']:.2f} "
        f"clips={result['clips']} seconds_per_clip={result['seconds_per_clip']:.1f}"
    )


def _check_evaluate_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, through ``parser.error`` (exit 2, the fix in the message), ``evaluate`` arguments it cannot run."""
    import math

    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit {args.limit}: must be at least 1 (held-out captions to generate); leave it out for all.")
    if not 1 <= args.steps <= 1000:  # the scheduler was trained with 1000 timesteps
        parser.error(f"--steps {args.steps}: must be from 1 to 1000 ({DEFAULT_STEPS} is the default).")
    if not (math.isfinite(args.guidance) and args.guidance >= 1):
        parser.error(f"--guidance {args.guidance}: must be a finite number of at least 1 "
                     f"(1 turns guidance off; {DEFAULT_GUIDANCE:g} is the default).")


def explorer_sweep(out: Path = ROOT / "media" / "explorer_sweep.png") -> str:
    """06's explorer over CogVideoX-nano's guidance x steps grid -> ``out``; the judge's verdict per cell."""
    from helpers import load_pipeline
    from helpers.explorer import Params, grid_image, sweep

    pipe = load_pipeline("nano")
    pipe.set_progress_bar_config(disable=True)
    grid = sweep(pipe, Params(prompt="a red circle moving right on a dark background"),
                 rows=("guidance", [1.0, 6.0]), columns=("steps", [2, 5, 25]))
    out.write_bytes(grid_image(grid).data)
    lines = [" | ".join(f"{run.label()}: {run.verdict.colour}, {run.verdict.motion}" for run in row) for row in grid]
    return "\n".join(lines + [f"wrote {out}"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/eval_nano.py", description="Evaluate CogVideoX-nano on the CPU.")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="held-out captions at the default settings")
    ev.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    ev.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    ev.add_argument("--json", type=Path, help="also write the full result here")
    ev.add_argument("--limit", type=int, help="only the first N held-out captions (a quick check)")
    sub.add_parser("curves", help="accuracy over steps and guidance -> media/nano_eval.json, nano_accuracy.png")
    sub.add_parser("gallery", help="frame strips with captions -> media/nano_gallery.png")
    sub.add_parser("image", help="image to video on the held-out scenes, nano-i2v and nano -> media/nano_i2v_eval.json")
    sub.add_parser("prompts", help="negative prompts, schedulers, token budget -> media/nano_prompt_eval.json")
    sub.add_parser("sweep", help="06's explorer grid, guidance x steps -> media/explorer_sweep.png")
    args = parser.parse_args(argv)
    if args.command == "evaluate":
        _check_evaluate_args(ev, args)

    if not nano_available():
        print(f"the nano model is not in {nano_model_path()}: train it with scripts/train_nano.py", file=sys.stderr)
        return 1
    if args.command == "curves":
        curves()
        return 0
    if args.command == "gallery":
        print(gallery())
        return 0
    if args.command == "image":
        print(image_eval())
        return 0
    if args.command == "prompts":
        print(prompt_eval())
        return 0
    if args.command == "sweep":
        print(explorer_sweep())
        return 0
    held_out = [s for s in all_scenes() if s.held_out][: args.limit]
    result = evaluate(scenes=held_out, steps=args.steps, guidance=args.guidance)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    for row in result["rows"]:
        if not (row["colour_ok"] and row["motion_ok"]):
            print(f"miss: {row['caption']!r} -> colour {row['colour']}, motion {row['motion']}")
    print(_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
