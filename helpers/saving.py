"""Save a generated video with a JSON sidecar that records how it was made. Never overwrites.

Example:
    >>> from helpers import save_video
    >>> path = save_video(video, request, seed=42)  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'a-panda-dressed-in-a-001.mp4'
"""

import errno
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .checks import _is_finite
from .environment import library_versions
from .family import member_of
from .measure import Measurement
from .video import as_frames, write_mp4

OUTPUTS_ENV = "COGVIDEOX_OUTPUTS"
#: How to set it, for the messages that say to.
SET_OUTPUTS = f"(os.environ[{OUTPUTS_ENV!r}] = \"/content/outputs\", or a Drive folder in Colab)"


def outputs_dir() -> Path:
    """Where videos are saved: ``$COGVIDEOX_OUTPUTS``, else ``outputs/`` in the working folder; made if missing.

    A leading ``~`` is expanded. If the folder cannot be made or written to (the setting names a
    file, a read-only place...), the error says so and names the setting to change.

    Example:
        >>> from helpers import outputs_dir
        >>> outputs_dir().is_dir()  # made on first use, parents too
        True
        >>> outputs_dir().name  # doctest: +SKIP
        'outputs'
    """
    setting = (os.environ.get(OUTPUTS_ENV) or "").strip()
    if setting:
        fix = f"{OUTPUTS_ENV}={setting!r}: point {OUTPUTS_ENV} at a folder you can write to {SET_OUTPUTS}, or unset it"
    else:
        fix = f"the default outputs/ in the working folder ({os.getcwd()}): set {OUTPUTS_ENV} to a folder you can write to"
    return _writable_folder(Path(setting or "outputs"), fix)


def _writable_folder(path: Path, fix: str) -> Path:
    """``path`` (``~`` expanded, made absolute) as an existing folder this process can write to, or an OSError naming ``fix``."""
    expanded = Path(os.path.expanduser(path))  # Path.expanduser raises a bare RuntimeError for ~unknown
    if str(expanded).startswith("~"):
        raise FileNotFoundError(f"{path} starts with a ~ that names no home folder here, so nothing can be saved there; {fix}.")
    folder = expanded.absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:  # a file where the folder (or one of its parents) should be
        where = " is" if isinstance(e, FileExistsError) else ": part of this path is"
        raise NotADirectoryError(f"{folder}{where} a file, not a folder, so nothing can be saved there; {fix}.") from e
    except OSError as e:  # read-only, no permission, no space...
        raise type(e)(f"{folder} cannot be made ({e.strerror or e}), so nothing can be saved there; {fix}.") from e
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{folder} is not writable here, so nothing can be saved there; {fix}.")
    return folder


def _place(source: Path, target: Path) -> bool:
    """Put ``source``'s bytes at ``target``, whole or not at all; ``False`` if ``target`` already exists."""
    try:
        os.link(source, target)  # atomic, and fails rather than overwrite
    except FileExistsError:
        return False
    except OSError:  # a filesystem without hard links (some network drives): copy
        try:
            with open(target, "xb") as out:
                out.write(source.read_bytes())
        except FileExistsError:  # from open: someone else's file, left as it is
            return False
        except BaseException:
            target.unlink(missing_ok=True)  # a half-copied file is never left
            raise
    return True


#: Longest ``name=`` save_video takes, in UTF-8 bytes (room left for ``-00001.json`` within a file name's 255).
MAX_NAME = 200


def check_name(name: str | None) -> None:
    """Refuse a ``save_video(name=...)`` that is not a plain file name, with a ValueError saying what a name may be.

    ``None`` (a name made from the prompt) and any text without folders pass: no ``/`` or ``\\``,
    not ``..``, nothing starting with ``.``, no control characters, at most 200 bytes in UTF-8.

    Example:
        >>> from helpers.saving import check_name
        >>> check_name("panda-walk")
        >>> check_name("../panda")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: name='../panda' is not a plain file name: ...
    """
    plain = name is None or (isinstance(name, str) and name.strip() and not name.startswith(".")
                             and len(name.encode("utf-8", "surrogatepass")) <= MAX_NAME
                             and not any(c in "/\\" or ord(c) < 32 for c in name))
    if not plain:
        raise ValueError(
            f"name={name!r} is not a plain file name: a name is text such as \"panda-walk\" (saved as "
            f"panda-walk-001.mp4), not empty, with no / or \\, not starting with a dot (so no .. either), "
            f"no control characters, at most {MAX_NAME} bytes in UTF-8 ({MAX_NAME} plain letters). "
            f"To save in another folder, pass folder= or set {OUTPUTS_ENV}; leave name out for one made from the prompt."
        )


def _mp4_check(path: Path, frames: int) -> None:
    """Raise an OSError unless ffmpeg reads all ``frames`` back from ``path``.

    ffmpeg writes the index (``moov``) last and, on a full disk, stops without any error reaching
    Python: its file is then empty or cut short.
    """
    import imageio_ffmpeg

    size = path.stat().st_size
    try:  # an empty file (or /dev/full) is not probed: ffmpeg would read it forever
        complete = size > 0 and imageio_ffmpeg.count_frames_and_secs(str(path))[0] == frames
    except (RuntimeError, OSError):
        complete = False
    if not complete:
        raise OSError(errno.EIO, f"ffmpeg left an incomplete mp4 of {size} bytes, as it does when the disk is full")


def _not_saved(e: OSError, folder: Path, stem: str, fix: str) -> OSError:
    """``e`` (same type and errno) with what was not saved, where, why, that nothing changed, and what to do."""
    reason = e.strerror or (str(e).strip().splitlines() or [type(e).__name__])[0]
    try:
        free = f"; {shutil.disk_usage(folder).free / 2**20:.0f} MiB free there"
    except OSError:
        free = ""
    todo = "make it writable" if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else "free space on that disk"
    error = type(e)(
        f"{stem}-NNN.mp4 was not saved in {folder} ({reason}{free}). Nothing was written there and no file "
        f"already there was changed. To save, {todo}, or {fix}; then call save_video again: the video is still in memory."
    )
    error.errno = e.errno
    return error


def save_video(video, request: dict, *, pipe=None, seed: int | None = None, recipe: str | None = None,
               measurement: Measurement | None = None, fps: int | None = None, folder: str | os.PathLike | None = None,
               name: str | None = None, inputs: dict | None = None) -> Path:
    """Save ``video`` as an H.264 mp4 plus a ``.json`` sidecar; return the mp4's path.

    The file gets a new numbered name (``<name>-001.mp4``, ``-002``, ...) so nothing already
    there is ever overwritten, and it appears complete or not at all: if the disk is full (or
    anything else stops it) nothing is left there and the error names the folder and the fix.
    ``name`` is a plain file name (:func:`check_name`); by default one is made from the prompt.

    The sidecar records ``request`` (prompt, frames, size, steps, guidance...), seed, model,
    dtype, recipe, library versions, seconds and peak memory; ``inputs`` names the files it was
    made from (``{"image": helpers.image_video.input_record(path)}``: path and SHA-256). ``fps`` defaults to
    the model's own (``pipe``'s family member: 8 for CogVideoX 1.0, 16 for 1.5; 8 without a ``pipe``).

    Example:
        >>> from helpers import save_video
        >>> request = dict(prompt="a panda", num_frames=9, height=48, width=72,
        ...                num_inference_steps=50, guidance_scale=6.0)
        >>> path = save_video(frames, request, pipe=pipe, seed=42)  # doctest: +SKIP
        >>> path.with_suffix(".json").exists()  # doctest: +SKIP
        True
    """
    check_name(name)
    frames = as_frames(video)
    if fps is None:  # the model's own: 8 for CogVideoX 1.0, 16 for 1.5
        fps = member_of(pipe.transformer.config).fps if hasattr(pipe, "transformer") else 8
    fps, seed = _plain(fps), _plain(seed)  # numpy numbers as Python's, for the encoder and the sidecar
    if not _is_finite(fps) or fps <= 0:
        raise ValueError(f"fps {fps!r}: give a frame rate above 0, e.g. 8 (CogVideoX 1.0's) or 16 (CogVideoX 1.5's), "
                         "or leave it out for the model's own.")
    if folder is None:
        folder = outputs_dir()
        fix = f"set {OUTPUTS_ENV} to a folder on another disk {SET_OUTPUTS}"
    else:
        fix = f"pass save_video another folder= than {str(folder)!r}"
        folder = _writable_folder(Path(folder), fix)
    stem = name or "-".join(re.findall(r"[a-z0-9]+", str(request.get("prompt", "")).lower())[:5]) or "video"
    sidecar = {
        **{k: _plain(v) for k, v in request.items() if isinstance(_plain(v), (str, int, float, bool, type(None)))},
        "seed": seed,
        "frames_returned": len(frames),
        "frame_size": list(frames[0].shape[:2]),
        "fps": fps,
        "model": str(getattr(pipe, "name_or_path", None) or "") or None,
        "dtype": str(getattr(pipe, "dtype", None)).replace("torch.", "") if pipe is not None else None,
        "recipe": recipe,
        "inputs": inputs,
        **{key: None if getattr(measurement, key, None) is None else round(getattr(measurement, key), 3)
           for key in ("seconds", "peak_vram_gib", "peak_rss_gib")},
        "versions": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    json.dumps(sidecar)  # not JSON (an object in inputs=): refused before anything is encoded
    try:
        path = _save(frames, sidecar, folder, stem, fps)
    except OSError as e:
        raise _not_saved(e, folder, stem, fix) from e
    if path is None:
        raise FileExistsError(f"{folder} already holds 99,999 videos named {stem}-NNN.mp4: pass another name=.")
    return path


def _plain(value):
    """A numpy number as the Python number it holds (``np.int64(9)`` -> ``9``); anything else as it is."""
    return value.item() if isinstance(value, np.generic) else value


def _save(frames: list, sidecar: dict, folder: Path, stem: str, fps: int) -> Path | None:
    """Encode, then place ``<stem>-NNN.mp4`` and its ``.json`` under the first number free for both; return the mp4.

    ``None`` when all 99,999 numbers are taken. Any OSError leaves nothing behind.
    """
    # Encode inside a private folder that is removed afterwards: ffmpeg writes its file late,
    # so a failed encode must have nowhere left to write.
    with tempfile.TemporaryDirectory(prefix=".saving-", dir=folder, ignore_cleanup_errors=True) as work:
        tmp, note = Path(work) / "video.mp4", Path(work) / "video.json"  # each written whole before it is placed
        write_mp4(frames, tmp, fps=fps)
        _mp4_check(tmp, len(frames))
        for n in range(1, 100_000):
            path = folder / f"{stem}-{n:03d}.mp4"
            if path.exists() or path.with_suffix(".json").exists():
                continue
            note.write_text(json.dumps({"file": path.name, **sidecar}, indent=2))
            if not _place(tmp, path):
                continue
            try:
                if _place(note, path.with_suffix(".json")):
                    return path
            except BaseException:
                path.unlink(missing_ok=True)  # a video without its sidecar is not left behind
                raise
            path.unlink()  # that sidecar's name was just taken: try the next number
        return None
