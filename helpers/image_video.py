"""Image-to-video, video-to-video and longer clips: inputs checked and prepared (``08_image_and_video_to_video``).

diffusers does the generating (``CogVideoXImageToVideoPipeline``, ``CogVideoXVideoToVideoPipeline``);
this module makes sure what goes in fits: the right checkpoint for the task (read from the
transformer's configuration before any weight is loaded), a picture or clip that can be read,
resized and centre-cropped to the size the model takes, a ``strength`` in (0, 1], enough frames.

Example:
    >>> from helpers.image_video import check_strength  # defined in helpers.checks
    >>> check_strength(0.6)
    0.6
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from .checks import InputError, check_seed, check_size, check_strength, fixed_size  # noqa: F401  (also read from here)
from .family import I2V, T2V
from .nano import FPS, Scene, render
from .small_model import kit_cache_dir
from .video import as_frames, write_mp4

#: The pipeline class for each task, by diffusers name.
PIPELINES = {"text": T2V, "image": I2V, "video": "CogVideoXVideoToVideoPipeline"}
#: The hub checkpoint each task needs (video-to-video runs on the text-to-video weights).
CHECKPOINTS = {"text": "THUDM/CogVideoX-5b", "image": "THUDM/CogVideoX-5b-I2V", "video": "THUDM/CogVideoX-5b"}
#: Where the kit's example inputs are (in a clone of the kit; elsewhere example_inputs draws them).
EXAMPLES = Path(__file__).resolve().parents[1] / "media" / "examples"


def checkpoint_task(folder: str | os.PathLike) -> str:
    """``"image"`` for an image-to-video checkpoint, else ``"text"``, from its configs alone (no weights read).

    An image-to-video transformer takes the noisy latents and the encoded picture stacked on the
    channel axis: twice the VAE's latent channels (32 for CogVideoX-5b-I2V, 16 for CogVideoX-5b).

    Example:
        >>> from helpers import small_model_path
        >>> from helpers.image_video import checkpoint_task
        >>> checkpoint_task(small_model_path()), checkpoint_task(small_model_path(task="image"))
        ('text', 'image')
    """
    folder = Path(folder)
    try:
        transformer = json.loads((folder / "transformer" / "config.json").read_text())
        vae = json.loads((folder / "vae" / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{folder} has no readable transformer/config.json and vae/config.json ({e}); "
                         "run helpers.check_model_folder on it.") from None
    return "image" if transformer["in_channels"] == 2 * vae["latent_channels"] else "text"


def check_task(folder: str | os.PathLike, task: str) -> None:
    """Raise :class:`InputError` naming the right checkpoint when ``folder`` cannot do ``task``.

    Example:
        >>> from helpers import small_model_path
        >>> from helpers.image_video import check_task
        >>> check_task(small_model_path(), "image")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        helpers.checks.InputError: ...is a text-to-video checkpoint (its transformer takes 4 channels, ...
    """
    if task not in PIPELINES:
        raise InputError(f"unknown task {task!r}: use one of {', '.join(PIPELINES)}")
    if checkpoint_task(folder) == ("image" if task == "image" else "text"):  # video-to-video takes text weights
        return
    channels = json.loads((Path(folder) / "transformer" / "config.json").read_text())["in_channels"]
    if task == "image":
        raise InputError(
            f"{folder} is a text-to-video checkpoint (its transformer takes {channels} channels, image-to-video needs "
            f"twice the latent channels): loading it into {PIPELINES['image']} fails with 'Expected size ... but got "
            f"size ...'. Use {CHECKPOINTS['image']} (or the kit's 'nano-i2v') for image-to-video.")
    raise InputError(
        f"{folder} is an image-to-video checkpoint (its transformer takes {channels} channels): {task}-to-video "
        f"needs a text-to-video one such as {CHECKPOINTS[task]} (or the kit's 'nano').")


def image_model_for(choice) -> str:
    """The image-to-video model that goes with a text-to-video :class:`helpers.loading.ModelChoice`.

    CogVideoX-5b -> ``THUDM/CogVideoX-5b-I2V``, or your copy named by ``COGVIDEOX_IMAGE_MODEL`` (a
    folder or hub id); the kit's ``"nano"`` -> ``"nano-i2v"`` (trained), ``"small"`` -> ``"small-i2v"``
    (random weights).

    Example:
        >>> import helpers
        >>> from helpers.image_video import image_model_for
        >>> image_model_for(helpers.choose_model("nano")), image_model_for(helpers.choose_model("THUDM/CogVideoX-5b"))
        ('nano-i2v', 'THUDM/CogVideoX-5b-I2V')
    """
    yours = os.environ.get("COGVIDEOX_IMAGE_MODEL", "").strip()
    return {"nano": "nano-i2v", "small": "small-i2v"}.get(choice.kit_model, yours or CHECKPOINTS["image"])


def fit_image(image, height: int, width: int):
    """``image`` (a path, PIL image or array) as an RGB PIL image of height x width, and what was done.

    Scaled so that it covers the size, then centre-cropped: nothing is stretched.

    Example:
        >>> from PIL import Image
        >>> from helpers.image_video import fit_image
        >>> picture, note = fit_image(Image.new("RGB", (300, 300)), 48, 72)
        >>> picture.size, note
        ((72, 48), 'resized 300x300 to 72x72 and cropped to 72x48 (the model takes 72x48)')
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as opened:
                image = opened.convert("RGB")
        except FileNotFoundError:
            raise InputError(f"no image at {image}: check the path (or upload one with the widget).") from None
        except (UnidentifiedImageError, OSError) as e:
            raise InputError(f"{image} cannot be read as an image ({type(e).__name__}): use a PNG or JPEG.") from None
    elif isinstance(image, np.ndarray):
        image = Image.fromarray(_array_as_uint8(image))
    elif not isinstance(image, Image.Image):
        raise InputError(f"an image must be a file path, a PIL image or an array, not {type(image).__name__}.")
    if min(image.size) < 1:
        raise InputError(f"the image is empty ({image.size[0]}x{image.size[1]}): give a picture.")
    image = image.convert("RGB")
    w, h = image.size
    scale = max(width / w, height / h)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    note = f"resized {w}x{h} to {size[0]}x{size[1]} and cropped to {width}x{height} (the model takes {width}x{height})"
    return image.resize(size, Image.LANCZOS).crop((left, top, left + width, top + height)), note


def _array_as_uint8(image: np.ndarray) -> np.ndarray:
    """An image array as uint8 pixels: floats must be finite and in [0, 1], integers in [0, 255]; H x W (x 1, 3 or 4)."""
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise InputError(f"an image array must be height x width (x 1, 3 or 4 channels), not shape {image.shape}.")
    if image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise InputError("the image array has NaN or infinite values: give finite pixels (floats in 0..1).")
        if image.min() < 0 or image.max() > 1:
            raise InputError(f"the image array's floats run from {image.min():g} to {image.max():g}: float pixels must "
                             "be in 0..1 (or give uint8 pixels in 0..255).")
        image = image * 255
    elif image.dtype.kind in "iu":
        if image.size and (image.min() < 0 or image.max() > 255):
            raise InputError(f"the image array's integers run from {image.min()} to {image.max()}: give uint8 pixels in 0..255.")
    else:
        raise InputError(f"the image array holds {image.dtype}: give uint8 pixels in 0..255 or floats in 0..1.")
    image = np.asarray(np.rint(image), dtype=np.uint8)
    return image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image


def fit_video(video, num_frames: int, height: int, width: int):
    """The first ``num_frames`` frames of ``video`` (an mp4 path or frames), each fitted like :func:`fit_image`.

    Example:
        >>> import numpy as np
        >>> from helpers.image_video import fit_video
        >>> fit_video(np.zeros((5, 48, 72, 3)), 9, 48, 72)
        Traceback (most recent call last):
        ...
        helpers.checks.InputError: the input video has 5 frames and 9 were asked for: ask for 5 or fewer frames (8N+1: 1), or give a longer clip.
    """
    if isinstance(video, (str, os.PathLike)) and not Path(video).exists():
        raise InputError(f"no video at {video}: check the path.")
    try:
        frames = as_frames(video)
    except Exception as e:
        raise InputError(f"{video} cannot be read as a video ({type(e).__name__}): use an mp4 file.") from None
    if len(frames) < num_frames:
        best = (len(frames) - 1) // 8 * 8 + 1
        raise InputError(f"the input video has {len(frames)} frames and {num_frames} were asked for: ask for "
                         f"{len(frames)} or fewer frames (8N+1: {best}), or give a longer clip.")
    return [fit_image(f, height, width)[0] for f in frames[:num_frames]]


def example_inputs() -> tuple[Path, Path]:
    """The kit's example picture (720x480 PNG) and clip (9 frames, 48x72 mp4): a red circle moving right.

    Drawn by CogVideoX-nano's clip renderer: in a clone of the kit they are ``media/examples/``;
    elsewhere (Colab) they are drawn into the kit's cache folder on first use.

    Example:
        >>> from helpers.image_video import example_inputs
        >>> [p.name for p in example_inputs()]
        ['red-circle.png', 'red-circle-right.mp4']
    """
    from PIL import Image

    folder = EXAMPLES if EXAMPLES.is_dir() else kit_cache_dir() / "examples"
    image, video = folder / "red-circle.png", folder / "red-circle-right.mp4"
    if not (image.exists() and video.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        clip = as_frames(render([Scene("red", "circle", "right", "dark")], seed=3)[0].numpy())
        Image.fromarray(clip[0]).resize((720, 480), Image.LANCZOS).save(image)
        write_mp4(clip, video, fps=FPS)
    return image, video


def input_record(path: str | os.PathLike) -> dict:
    """Where an input file is and its SHA-256, for a video's sidecar.

    Example:
        >>> from helpers.image_video import example_inputs, input_record
        >>> sorted(input_record(example_inputs()[0]))
        ['path', 'sha256']
    """
    return dict(path=str(Path(path).absolute()), sha256=hashlib.sha256(Path(path).read_bytes()).hexdigest())


def chain_clips(pipe, image, prompts: list[str], seed: int = 0, **request) -> list[np.ndarray]:
    """Image-to-video clips one after another, each starting from the last frame of the one before.

    Example:
        >>> import helpers
        >>> from helpers.image_video import chain_clips, example_inputs, fit_image
        >>> pipe = helpers.load_pipeline("small-i2v", task="image")  # doctest: +ELLIPSIS
        model: ...
        >>> pipe.set_progress_bar_config(disable=True)
        >>> start, _ = fit_image(example_inputs()[0], 48, 72)
        >>> clips = chain_clips(pipe, start, ["a red circle"] * 2, num_frames=9, height=48, width=72, num_inference_steps=2)
        >>> len(clips), clips[0].shape
        (2, (9, 48, 72, 3))
    """
    check_seed(seed + len(prompts) - 1)  # every clip's seed, before the first one runs
    clips = []
    for k, prompt in enumerate(prompts):
        generator = torch.Generator(device="cpu").manual_seed(seed + k)
        clip = pipe(image=image, prompt=prompt, generator=generator, output_type="np", **request).frames[0]
        clips.append(clip)
        image, _ = fit_image(clip[-1], *clip.shape[1:3])
    return clips


def seam_differences(clips: list) -> tuple[np.ndarray, list[int]]:
    """Mean absolute change between consecutive frames of clips played one after another, and where they join.

    ``change[k]`` is the change from frame k to frame k + 1; ``joins`` are the k where one clip
    ends and the next begins. A seam shows as a spike at a join.

    Example:
        >>> import numpy as np
        >>> from helpers.image_video import seam_differences
        >>> still, white = np.zeros((3, 4, 4, 3)), np.ones((3, 4, 4, 3))
        >>> change, joins = seam_differences([still, white])
        >>> change.round(2).tolist(), joins
        ([0.0, 0.0, 1.0, 0.0, 0.0], [2])
    """
    clips = [as_frames(clip) for clip in clips]  # each mp4 read once
    frames = [f.astype(np.float32) / 255 for clip in clips for f in clip]
    change = np.array([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])
    return change, (np.cumsum([len(clip) for clip in clips])[:-1] - 1).tolist()
