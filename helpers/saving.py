"""Save a generated video with a JSON sidecar that records how it was made. Never overwrites.

Example:
    >>> from helpers import save_video
    >>> path = save_video(video, request, seed=42)  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'a-panda-dressed-in-a-001.mp4'
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from .environment import library_versions
from .measure import Measurement
from .video import as_frames, write_mp4

OUTPUTS_ENV = "COGVIDEOX_OUTPUTS"


def outputs_dir() -> Path:
    """Where videos are saved: ``$COGVIDEOX_OUTPUTS``, else ``outputs/`` in the working folder.

    Example:
        >>> from helpers import outputs_dir
        >>> outputs_dir().name  # doctest: +SKIP
        'outputs'
    """
    return Path(os.environ.get(OUTPUTS_ENV) or "outputs").absolute()


def _slug(text: str, words: int = 5) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower())[:words]) or "video"


def save_video(
    video,
    request: dict,
    *,
    pipe=None,
    seed: int | None = None,
    recipe: str | None = None,
    measurement: Measurement | None = None,
    fps: int = 8,
    folder: str | os.PathLike | None = None,
    name: str | None = None,
    inputs: dict | None = None,
) -> Path:
    """Save ``video`` as an H.264 mp4 plus a ``.json`` sidecar; return the mp4's path.

    The file gets a new numbered name (``<name>-001.mp4``, ``-002``, ...) so nothing already
    there is ever overwritten, and it appears complete or not at all. The sidecar records
    ``request`` (prompt, frames, size, steps, guidance...), seed, model, dtype, recipe,
    library versions, seconds and peak memory; ``inputs`` names the files it was made from
    (``{"image": helpers.image_video.input_record(path)}``: path and SHA-256).

    Example:
        >>> from helpers import save_video
        >>> request = dict(prompt="a panda", num_frames=9, height=48, width=72,
        ...                num_inference_steps=50, guidance_scale=6.0)
        >>> path = save_video(frames, request, pipe=pipe, seed=42)  # doctest: +SKIP
        >>> path.with_suffix(".json").exists()  # doctest: +SKIP
        True
    """
    frames = as_frames(video)
    folder = Path(folder) if folder is not None else outputs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = name or _slug(str(request.get("prompt", "")))
    sidecar = {
        **{k: v for k, v in request.items() if isinstance(v, (str, int, float, bool, type(None)))},
        "seed": seed,
        "frames_returned": len(frames),
        "frame_size": list(frames[0].shape[:2]),
        "fps": fps,
        "model": str(getattr(pipe, "name_or_path", None) or "") or None,
        "dtype": str(getattr(pipe, "dtype", None)).replace("torch.", "") if pipe is not None else None,
        "recipe": recipe,
        "inputs": inputs,
        "seconds": None if measurement is None else round(measurement.seconds, 3),
        "peak_vram_gib": None if measurement is None or measurement.peak_vram_gib is None else round(measurement.peak_vram_gib, 3),
        "peak_rss_gib": None if measurement is None else round(measurement.peak_rss_gib, 3),
        "versions": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    # Encode inside a private folder that is removed afterwards: ffmpeg writes its file late,
    # so a failed encode must have nowhere left to write.
    work = Path(tempfile.mkdtemp(prefix=".saving-", dir=folder))
    tmp = work / "video.mp4"
    try:
        write_mp4(frames, tmp, fps=fps)
        for n in range(1, 100_000):
            path = folder / f"{stem}-{n:03d}.mp4"
            if path.exists() or path.with_suffix(".json").exists():
                continue
            try:
                os.link(tmp, path)  # atomic, and fails rather than overwrite
            except FileExistsError:
                continue
            except OSError:  # a filesystem without hard links (some network drives)
                try:
                    with open(path, "xb") as out:
                        out.write(Path(tmp).read_bytes())
                except FileExistsError:
                    continue
            try:
                with open(path.with_suffix(".json"), "x") as f:
                    json.dump({"file": path.name, **sidecar}, f, indent=2)
            except FileExistsError:
                path.unlink()
                continue
            return path
        raise FileExistsError(f"{folder} already holds 99,999 videos named {stem}-NNN.mp4: pass another name.")
    finally:
        shutil.rmtree(work, ignore_errors=True)
