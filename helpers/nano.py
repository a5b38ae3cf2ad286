"""CogVideoX-nano: a tiny CogVideoX trained on synthetic clips, so lessons show real videos on a CPU.

Same classes as CogVideoX-5b (T5 encoder, ``CogVideoXTransformer3DModel`` with rotary
embeddings, ``AutoencoderKLCogVideoX`` with 4x temporal compression, ``CogVideoXDPMScheduler``
with v-prediction), 48x72 pixels, 9 frames at 8 fps. It learned one kind of scene: a coloured
shape that moves, grows, shrinks or stands still on a plain background, e.g.
"a red circle moving to the left on a dark background". Some colour/shape/motion combinations
were never shown in training (:data:`HELD_OUT`): the evaluation asks for those.

This module holds the scene vocabulary, the procedural clip renderer (training data), the
pixel-based judge of a generated clip, and where the weights are. The evaluation, which uses
them, is tooling: ``python scripts/eval_nano.py evaluate`` (also ``curves``, ``gallery``, ``image``).
"""

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .video import as_frames

COLOURS = {
    "red": (1.0, 0.0, 0.0),
    "yellow": (1.0, 1.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "blue": (0.0, 0.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
}
#: Colours the nano never saw in training: the kit's LoRAs (helpers.lora) teach them. A new word reaches the
#: model spelled out in letters (its tokenizer knows only the captions' words), as a rare trigger word does.
NEW_COLOURS = {"orange": (1.0, 0.5, 0.0), "purple": (0.5, 0.0, 1.0)}
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


#: (colour, shape, motion) combinations never shown in training: 3 per colour, every shape and motion.
HELD_OUT = tuple((colour, SHAPES[(c + k) % 3], list(MOTIONS)[(2 * c + 3 * k) % 7])
                 for c, colour in enumerate(COLOURS) for k in range(3))


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
    grow, shrink = (torch.tensor([m == size for m in motion]) for size in ("growing", "shrinking"))
    r_small, r_big, r_move = u(4.5, 5.5), u(10.0, 12.0), u(6.0, 9.0)
    r0 = torch.where(grow, r_small, torch.where(shrink, r_big, r_move))  # radius in the first frame and the last
    r1 = torch.where(grow, r_big, torch.where(shrink, r_small, r_move))
    dx = torch.tensor([{"left": -1.0, "right": 1.0}.get(m, 0.0) for m in motion]) * u(24.0, 32.0)
    dy = torch.tensor([{"up": -1.0, "down": 1.0}.get(m, 0.0) for m in motion]) * u(14.0, 20.0)
    r_max = torch.maximum(r0, r1) + 1.0
    # start anywhere that keeps the whole path inside the frame
    x0 = u(r_max - torch.clamp(dx, max=0), WIDTH - r_max - torch.clamp(dx, min=0))
    y0 = u(r_max - torch.clamp(dy, max=0), HEIGHT - r_max - torch.clamp(dy, min=0))

    t = torch.linspace(0, 1, FRAMES).view(1, FRAMES, 1, 1)
    cx, cy, r = ((start.view(n, 1, 1, 1) + change.view(n, 1, 1, 1) * t).to(device)  # linear over the clip
                 for start, change in ((x0, dx), (y0, dy), (r0, r1 - r0)))
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
    colour = torch.tensor([{**COLOURS, **NEW_COLOURS}[s.colour] for s in scenes], device=device).view(n, 1, 1, 1, 3)
    background = torch.tensor([BACKGROUNDS[s.background] for s in scenes], device=device).view(n, 1, 1, 1, 1)
    return background * (1 - alpha) + colour * alpha


@dataclass
class Judgement:
    """What the pixels of a clip show: the object's colour and motion (``None`` if no object)."""

    colour: str | None
    motion: str | None
    pixels: int


def judge(video, colours: dict | None = None) -> Judgement:
    """Find the coloured object in a clip and name its colour and motion, from the pixels alone.

    The object is the saturated pixels (backgrounds are grey). Colour: the nearest of the six
    hues (or of ``colours``, e.g. with :data:`NEW_COLOURS` too) to the object's mean hue. Motion: the centroid's shift between the first and last two
    frames (more than 6 px: left/right/up/down), else the area's change (x1.6: growing or
    shrinking), else still.

    Example:
        >>> from helpers.nano import Scene, judge, render
        >>> judge(render([Scene("blue", "triangle", "growing", "light")])[0].numpy())  # doctest: +ELLIPSIS
        Judgement(colour='blue', motion='growing', pixels=...)
    """
    frames = np.stack(as_frames(video)).astype(np.float32) / 255.0
    mask = _object_mask(frames)
    total = int(mask.sum())
    if total < 4:
        return Judgement(None, None, total)
    hue = _hue(frames[mask])
    mean_hue = math.degrees(math.atan2(np.sin(np.radians(hue)).mean(), np.cos(np.radians(hue)).mean())) % 360
    gap = lambda h: min(abs(mean_hue - h), 360 - abs(mean_hue - h))  # noqa: E731  (degrees around the hue circle)
    colours = colours or COLOURS
    colour = min(colours, key=lambda name: gap(_hue(np.array(colours[name]))))

    areas = mask.sum(axis=(1, 2)).astype(np.float32)
    ys, xs = np.mgrid[0 : mask.shape[1], 0 : mask.shape[2]]
    idx = np.flatnonzero(areas >= 2)  # frames that show the object
    if len(idx) < 2:
        return Judgement(colour, None, total)
    first, last = idx[:2], idx[-2:]
    cx, cy = ((mask * grid).sum(axis=(1, 2)) / np.maximum(areas, 1) for grid in (xs, ys))  # centroids per frame
    shift_x, shift_y = (c[last].mean() - c[first].mean() for c in (cx, cy))
    growth = areas[last].mean() / max(areas[first].mean(), 1.0)
    moved = max(abs(shift_x), abs(shift_y)) > 6
    if moved and abs(shift_x) >= abs(shift_y):
        motion = "right" if shift_x > 0 else "left"
    elif moved:
        motion = "down" if shift_y > 0 else "up"
    else:
        motion = "growing" if growth >= 1.6 else "shrinking" if growth <= 1 / 1.6 else "still"
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
    first, given = as_frames(video)[0], as_frames([picture])[0]
    masks = [_object_mask(frame.astype(np.float32) / 255.0) for frame in (first, given)]
    if min(mask.sum() for mask in masks) < 4:
        return math.inf
    return round(float(math.dist(*(np.argwhere(mask).mean(axis=0) for mask in masks))), 2)  # (row, column) centres


def _hue(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.degrees(np.arctan2(math.sqrt(3) * (g - b), 2 * r - g - b)) % 360


# ---------------------------------------------------------------------------- the model


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
    from .small_model import KIT_MARKER

    return (nano_model_path(task) / KIT_MARKER).exists()
