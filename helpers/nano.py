"""CogVideoX-nano: a tiny CogVideoX trained on synthetic clips, so lessons show real videos on a CPU.

Same classes as CogVideoX-5b (T5 encoder, ``CogVideoXTransformer3DModel`` with rotary
embeddings, ``AutoencoderKLCogVideoX`` with 4x temporal compression, ``CogVideoXDPMScheduler``
with v-prediction), 48x72 pixels, 9 frames at 8 fps. It learned one kind of scene: a coloured
shape that moves, grows, shrinks or stands still on a plain background, e.g.
"a red circle moving to the left on a dark background". Some colour/shape/motion combinations
were never shown in training (:data:`HELD_OUT`): the evaluation asks for those.

This module holds the scene vocabulary, the procedural clip renderer (training data), the
pixel-based judge of a generated clip, and the evaluation:

    python -m helpers.nano evaluate        # held-out captions, default settings, on the CPU
    python -m helpers.nano curves          # accuracy over guidance and steps -> media/
    python -m helpers.nano gallery         # a strip per caption -> media/
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "yellow": (1.0, 1.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "blue": (0.0, 0.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
}
SHAPES = ("circle", "square", "triangle")
MOTIONS = {
    "left": "moving to the left",
    "right": "moving to the right",
    "up": "moving up",
    "down": "moving down",
    "growing": "growing",
    "shrinking": "shrinking",
    "still": "standing still",
}
BACKGROUNDS = {"dark": 0.08, "grey": 0.5, "light": 0.92}

HEIGHT, WIDTH, FRAMES, FPS = 48, 72, 9, 8
#: The nano model's own defaults (CogVideoX-5b: 50 steps); 25 DPM steps keep a clip under 3 s on 2 cores.
DEFAULT_STEPS, DEFAULT_GUIDANCE = 25, 6.0
#: A combination the model never saw in training (see HELD_OUT).
DEFAULT_PROMPT = "a blue triangle growing on a light background"


def _held_out() -> tuple[tuple[str, str, str], ...]:
    colours, motions = list(COLOURS), list(MOTIONS)
    return tuple(
        (colours[c], SHAPES[(c + k) % 3], motions[(2 * c + 3 * k) % 7]) for c in range(6) for k in range(3)
    )


#: (colour, shape, motion) combinations never shown in training: 3 per colour, every shape and motion.
HELD_OUT = _held_out()


@dataclass(frozen=True)
class Scene:
    """One clip's content; ``caption`` is the prompt that describes it."""

    colour: str
    shape: str
    motion: str
    background: str

    @property
    def caption(self) -> str:
        return f"a {self.colour} {self.shape} {MOTIONS[self.motion]} on a {self.background} background"

    @property
    def held_out(self) -> bool:
        return (self.colour, self.shape, self.motion) in HELD_OUT


def all_scenes() -> list[Scene]:
    """Every scene the vocabulary can describe (6 colours x 3 shapes x 7 motions x 3 backgrounds).

    Example:
        >>> from helpers.nano import all_scenes
        >>> len(all_scenes()), sum(s.held_out for s in all_scenes())
        (378, 54)
    """
    return [Scene(*combo) for combo in itertools.product(COLOURS, SHAPES, MOTIONS, BACKGROUNDS)]


def vocabulary() -> list[str]:
    """The words of every caption (the tokenizer knows each as one token)."""
    return sorted({word for scene in all_scenes() for word in scene.caption.split()})


def render(scenes: list[Scene], seed: int = 0, device: str = "cpu"):
    """Draw one clip per scene: a float tensor (N, FRAMES, HEIGHT, WIDTH, 3) in [0, 1].

    Positions, sizes and distances are random (from ``seed``) within the frame; motion is
    linear over the 9 frames (moves of 24-32 px across, 14-20 px up/down; sizes double or halve).

    Example:
        >>> from helpers.nano import Scene, render
        >>> render([Scene("red", "circle", "left", "dark")]).shape
        torch.Size([1, 9, 48, 72, 3])
    """
    import torch

    n = len(scenes)
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=g)  # noqa: E731
    motion = [s.motion for s in scenes]
    grow = torch.tensor([m == "growing" for m in motion], dtype=torch.float32)
    shrink = torch.tensor([m == "shrinking" for m in motion], dtype=torch.float32)
    r_small, r_big = u(4.5, 5.5), u(10.0, 12.0)
    r_move = u(6.0, 9.0)
    r0 = grow * r_small + shrink * r_big + (1 - grow - shrink) * r_move
    r1 = grow * r_big + shrink * r_small + (1 - grow - shrink) * r_move
    dist_x, dist_y = u(24.0, 32.0), u(14.0, 20.0)
    dx = torch.tensor([{"left": -1.0, "right": 1.0}.get(m, 0.0) for m in motion]) * dist_x
    dy = torch.tensor([{"up": -1.0, "down": 1.0}.get(m, 0.0) for m in motion]) * dist_y
    r_max = torch.maximum(r0, r1) + 1.0
    # start anywhere that keeps the whole path inside the frame
    x_lo, x_hi = r_max - torch.clamp(dx, max=0), WIDTH - r_max - torch.clamp(dx, min=0)
    y_lo, y_hi = r_max - torch.clamp(dy, max=0), HEIGHT - r_max - torch.clamp(dy, min=0)
    x0 = x_lo + (x_hi - x_lo) * torch.rand(n, generator=g)
    y0 = y_lo + (y_hi - y_lo) * torch.rand(n, generator=g)

    t = torch.linspace(0, 1, FRAMES).view(1, FRAMES, 1, 1)
    cx = (x0.view(n, 1, 1, 1) + dx.view(n, 1, 1, 1) * t).to(device)
    cy = (y0.view(n, 1, 1, 1) + dy.view(n, 1, 1, 1) * t).to(device)
    r = (r0.view(n, 1, 1, 1) + (r1 - r0).view(n, 1, 1, 1) * t).to(device)
    ys = torch.arange(HEIGHT, device=device, dtype=torch.float32).view(1, 1, HEIGHT, 1) + 0.5
    xs = torch.arange(WIDTH, device=device, dtype=torch.float32).view(1, 1, 1, WIDTH) + 0.5
    ddx, ddy = xs - cx, ys - cy
    circle = torch.sqrt(ddx**2 + ddy**2) - r
    square = torch.maximum(ddx.abs(), ddy.abs()) - 0.89 * r  # about the circle's area
    top, bottom = -1.1 * r, 0.9 * r  # apex up, centred so its area is about the circle's
    triangle = torch.maximum(
        torch.maximum(top - ddy, ddy - bottom), ddx.abs() - (ddy - top) * (1.15 * r / (bottom - top))
    )
    kind = torch.tensor([SHAPES.index(s.shape) for s in scenes], device=device).view(n, 1, 1, 1)
    distance = torch.where(kind == 0, circle, torch.where(kind == 1, square, triangle))
    alpha = torch.clamp(0.5 - distance, 0, 1).unsqueeze(-1)
    colour = torch.tensor([COLOURS[s.colour] for s in scenes], device=device).view(n, 1, 1, 1, 3)
    background = torch.tensor([BACKGROUNDS[s.background] for s in scenes], device=device).view(n, 1, 1, 1, 1)
    return background * (1 - alpha) + colour * alpha


@dataclass
class Judgement:
    """What the pixels of a clip show: the object's colour and motion (``None`` if no object)."""

    colour: str | None
    motion: str | None
    pixels: int


def judge(video) -> Judgement:
    """Find the coloured object in a clip and name its colour and motion, from the pixels alone.

    The object is the saturated pixels (backgrounds are grey). Colour: the nearest of the six
    hues to the object's mean hue. Motion: the centroid's shift between the first and last two
    frames (more than 6 px: left/right/up/down), else the area's change (x1.6: growing or
    shrinking), else still.

    Example:
        >>> from helpers.nano import Scene, judge, render
        >>> judge(render([Scene("blue", "triangle", "growing", "light")])[0].numpy())  # doctest: +ELLIPSIS
        Judgement(colour='blue', motion='growing', pixels=...)
    """
    from .video import as_frames

    frames = np.stack(as_frames(video)).astype(np.float32) / 255.0
    mask = _object_mask(frames)
    total = int(mask.sum())
    if total < 4:
        return Judgement(None, None, total)
    rgb = frames[mask]
    hue = _hue(rgb)
    mean_hue = math.degrees(math.atan2(np.sin(np.radians(hue)).mean(), np.cos(np.radians(hue)).mean())) % 360
    names = list(COLOURS)
    hues = [_hue(np.array([COLOURS[c]]))[0] for c in names]
    colour = names[int(np.argmin([min(abs(mean_hue - h), 360 - abs(mean_hue - h)) for h in hues]))]

    areas = mask.sum(axis=(1, 2)).astype(np.float32)
    ys, xs = np.mgrid[0 : mask.shape[1], 0 : mask.shape[2]]
    valid = areas >= 2
    if valid.sum() < 2:
        return Judgement(colour, None, total)
    cx = np.where(valid, (mask * xs).sum(axis=(1, 2)) / np.maximum(areas, 1), np.nan)
    cy = np.where(valid, (mask * ys).sum(axis=(1, 2)) / np.maximum(areas, 1), np.nan)
    idx = np.flatnonzero(valid)
    first, last = idx[:2], idx[-2:]
    shift_x = np.nanmean(cx[last]) - np.nanmean(cx[first])
    shift_y = np.nanmean(cy[last]) - np.nanmean(cy[first])
    growth = areas[last].mean() / max(areas[first].mean(), 1.0)
    if max(abs(shift_x), abs(shift_y)) > 6:
        if abs(shift_x) >= abs(shift_y):
            motion = "right" if shift_x > 0 else "left"
        else:
            motion = "down" if shift_y > 0 else "up"
    elif growth >= 1.6:
        motion = "growing"
    elif growth <= 1 / 1.6:
        motion = "shrinking"
    else:
        motion = "still"
    return Judgement(colour, motion, total)


def _object_mask(frames: np.ndarray) -> np.ndarray:
    """The object's pixels in float frames (..., H, W, 3) in [0, 1]: saturated and not dark."""
    top, bottom = frames.max(-1), frames.min(-1)
    return ((top - bottom) / np.maximum(top, 1e-6) > 0.5) & (top > 0.35)


def start_offset(video, picture) -> float:
    """How far (pixels) the object in a clip's first frame is from where it is in ``picture`` (one frame).

    Image-to-video should start from the picture: a few pixels at most. ``inf`` when either
    frame shows no object.

    Example:
        >>> from helpers.nano import Scene, render, start_offset
        >>> clip = render([Scene("red", "circle", "right", "dark")])[0].numpy()
        >>> start_offset(clip, clip[0]), start_offset(clip[::-1], clip[0]) > 20
        (0.0, True)
    """
    from .video import as_frames

    centres = []
    for frame in (as_frames(video)[0], as_frames([picture])[0]):
        mask = _object_mask(frame.astype(np.float32) / 255.0)
        if mask.sum() < 4:
            return math.inf
        ys, xs = np.nonzero(mask)
        centres.append((xs.mean(), ys.mean()))
    return round(float(math.dist(*centres)), 2)


def _hue(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.degrees(np.arctan2(math.sqrt(3) * (g - b), 2 * r - g - b)) % 360


# ---------------------------------------------------------------------------- the model


def tokenizer():
    """A T5 tokenizer (Unigram) whose vocabulary is the captions' words, built locally."""
    from .small_model import _tokenizer

    return _tokenizer(vocabulary())


def untrained_components(seed: int = 0) -> dict:
    """The nano pipeline's components before training: same classes as CogVideoX-5b.

    Example:
        >>> from helpers.nano import untrained_components
        >>> sorted(untrained_components())
        ['scheduler', 'text_encoder', 'tokenizer', 'transformer', 'vae']
    """
    import torch
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    from .small_model import SCHEDULER_CONFIG

    tok = tokenizer()
    torch.manual_seed(seed)
    text_encoder = T5EncoderModel(
        T5Config(vocab_size=len(tok), d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                 feed_forward_proj="gated-gelu", dropout_rate=0.0)
    )
    vae = AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * 3,
        up_block_types=("CogVideoXUpBlock3D",) * 3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=16,
        temporal_compression_ratio=4,
        sample_height=HEIGHT,
        sample_width=80,  # tiles of 24x40 keep a tiled decode exactly 48x72 (see small_model)
        scaling_factor=1.0,  # set from the trained encoder's latent spread
    )
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=8,
        attention_head_dim=32,
        in_channels=16,
        out_channels=16,
        time_embed_dim=128,
        text_embed_dim=64,
        num_layers=6,
        sample_width=WIDTH // 4,
        sample_height=HEIGHT // 4,
        sample_frames=FRAMES,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=226,
        use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=False,
    )
    return dict(
        tokenizer=tok, text_encoder=text_encoder, vae=vae, transformer=transformer,
        scheduler=CogVideoXDPMScheduler(**SCHEDULER_CONFIG),
    )


def nano_model_path(task: str = "text") -> Path:
    """The shipped nano model's folder (inside the installed package); ``task="image"``: its image-to-video twin.

    Example:
        >>> from helpers.nano import nano_model_path
        >>> nano_model_path().name, nano_model_path("image").name
        ('cogvideox-nano', 'cogvideox-nano-i2v')
    """
    return Path(__file__).parent / "models" / ("cogvideox-nano-i2v" if task == "image" else "cogvideox-nano")


def nano_available(task: str = "text") -> bool:
    """True when the trained nano weights (``task="image"``: the image-to-video ones) are present."""
    return (nano_model_path(task) / "kit_model.json").exists()


# ---------------------------------------------------------------------------- evaluation


def generate(pipe, scenes: list[Scene], steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE, seed: int = 0):
    """Generate one clip per scene with ``pipe``: a list of float arrays (FRAMES, H, W, 3)."""
    import torch

    out = []
    for k, scene in enumerate(scenes):
        generator = torch.Generator(device="cpu").manual_seed(seed + k)
        out.append(
            pipe(scene.caption, num_frames=FRAMES, height=HEIGHT, width=WIDTH, num_inference_steps=steps,
                 guidance_scale=guidance, generator=generator, output_type="np").frames[0]
        )
    return out


def evaluate(pipe=None, scenes: list[Scene] | None = None, steps: int = DEFAULT_STEPS,
             guidance: float = DEFAULT_GUIDANCE, seed: int = 0) -> dict:
    """Generate the held-out captions and judge each clip against its caption.

    Example:
        >>> from helpers.nano import evaluate
        >>> evaluate()  # doctest: +SKIP
        {'colour_accuracy': 0.96, 'motion_accuracy': 0.85, 'clips': 54, 'seconds_per_clip': 2.1, ...}
    """
    import torch

    pipe = pipe or _load()
    pipe.set_progress_bar_config(disable=True)
    scenes = scenes if scenes is not None else [s for s in all_scenes() if s.held_out]
    start = time.perf_counter()
    with torch.inference_mode():
        clips = generate(pipe, scenes, steps=steps, guidance=guidance, seed=seed)
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
        >>> from helpers.nano import Scene, first_frames
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
        >>> from helpers.nano import evaluate_image
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
MEDIA = Path(__file__).resolve().parents[1] / "media"


def curves(pipe=None, out: Path = MEDIA) -> list[dict]:
    """Held-out accuracy and CPU seconds per clip over steps and guidance -> nano_eval.json + chart.

    Example:
        >>> from helpers.nano import curves
        >>> results = curves()  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from .environment import library_versions

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
        >>> from helpers.nano import gallery
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


def _load(model: str = "nano"):
    from .loading import load_pipeline

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.nano", description="Evaluate CogVideoX-nano on the CPU.")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="held-out captions at the default settings")
    ev.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    ev.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE)
    ev.add_argument("--json", type=Path, help="also write the full result here")
    ev.add_argument("--limit", type=int, help="only the first N held-out captions (a quick check)")
    sub.add_parser("curves", help="accuracy over steps and guidance -> media/nano_eval.json, nano_accuracy.png")
    sub.add_parser("gallery", help="frame strips with captions -> media/nano_gallery.png")
    sub.add_parser("image", help="image to video on the held-out scenes, nano-i2v and nano -> media/nano_i2v_eval.json")
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
