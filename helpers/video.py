"""Show a generated video inline: an embedded H.264 mp4 plus a still strip of frames.

Browsers play only H.264/yuv420p mp4 (not OpenCV's ``mp4v``), and GitHub strips ``<video>``
from notebooks, so :func:`show_video` shows both a player and a PNG strip.
Encoding is ``diffusers.utils.export_to_video`` (imageio-ffmpeg, libx264, yuv420p).

Why not mediapy (``show_video``, ``show_videos``): it would be a second video stack beside the one
diffusers already uses to save videos, and it needs an ``ffmpeg`` on the PATH, which a laptop may
not have (imageio-ffmpeg brings its own binary). What is left here is small: IPython's embedded player, with
a minimum display size so a 48x72 clip is not a thumbnail, and the PNG strip that GitHub shows.
"""

import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def read_video(path: str | os.PathLike) -> tuple[list[np.ndarray], float]:
    """Read an mp4 into a list of uint8 RGB frames (H, W, 3) and its frames per second.

    Example:
        >>> from helpers import read_video
        >>> frames, fps = read_video("outputs/panda-001.mp4")  # doctest: +SKIP
        >>> len(frames), frames[0].shape, fps  # doctest: +SKIP
        (49, (480, 720, 3), 8.0)
    """
    import imageio.v2 as imageio

    with imageio.get_reader(os.fspath(path), format="ffmpeg") as reader:
        fps = float(reader.get_meta_data().get("fps", 8))
        return [np.asarray(frame) for frame in reader], fps


def as_frames(video) -> list[np.ndarray]:
    """Frames as a list of uint8 RGB arrays, from what pipelines return or an mp4 path.

    Accepts a list of PIL images (``output_type="pil"``), an array or list of float frames in
    [0, 1] (``output_type="np"``), uint8 arrays, or the path of a video file.

    Example:
        >>> import numpy as np
        >>> from helpers.video import as_frames
        >>> as_frames(np.zeros((9, 48, 72, 3)))[0].dtype
        dtype('uint8')
    """
    if isinstance(video, (str, os.PathLike)):
        return read_video(video)[0]
    frames = [np.asarray(frame) for frame in video]
    frames = [f if f.dtype == np.uint8 else (np.clip(f, 0, 1) * 255).round().astype(np.uint8) for f in frames]
    if not frames:
        raise ValueError("the video has no frames")
    shapes = {f.shape for f in frames}
    if len(shapes) > 1 or frames[0].ndim != 3 or frames[0].shape[2] != 3:
        raise ValueError(f"frames must all be RGB images of one size (height, width, 3); got shapes {sorted(shapes)}")
    return frames


def write_mp4(frames: list[np.ndarray], path: str | os.PathLike, fps: int = 8) -> Path:
    """Encode uint8 frames to an H.264 yuv420p mp4 with ``diffusers.utils.export_to_video``.

    Frame sizes are kept as they are (they must be even, as yuv420p requires).

    Example:
        >>> import numpy as np
        >>> from helpers.video import write_mp4
        >>> write_mp4([np.zeros((48, 72, 3), np.uint8)] * 9, "/tmp/black.mp4").name
        'black.mp4'
    """
    from diffusers.utils import export_to_video

    export_to_video([Image.fromarray(f) for f in frames], os.fspath(path), fps=fps, macro_block_size=2)
    return Path(path)


def frame_strip(video, count: int = 6, height: int = 96):
    """A PIL image of ``count`` evenly spaced frames side by side, scaled to ``height`` pixels.

    Example:
        >>> import numpy as np
        >>> from helpers import frame_strip
        >>> frame_strip(np.zeros((9, 48, 72, 3)), count=3).size
        (432, 96)
    """
    frames = as_frames(video)
    picks = np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)
    h, w = frames[0].shape[:2]
    size = (max(1, round(w * height / h)), height)
    resample = Image.NEAREST if h < height else Image.LANCZOS
    return Image.fromarray(np.hstack([np.asarray(Image.fromarray(frames[i]).resize(size, resample)) for i in picks]))


def side_by_side(videos: dict, count: int = 6, height: int = 72):
    """Frame strips of several videos, one row per video with its label: compare runs at a glance.

    Returns a PNG image that notebooks show as a cell's result (and GitHub renders).

    Example:
        >>> import numpy as np
        >>> from helpers.video import side_by_side
        >>> picture = side_by_side({"before": np.zeros((9, 48, 72, 3)), "after": np.ones((9, 48, 72, 3))}, count=3)
        >>> picture.data[:4]
        b'\\x89PNG'
    """
    return strip_grid([[(label, video)] for label, video in videos.items()], count, height, (0.4, 0.3),
                      loc="left", fontsize=9)


def strip_grid(cells: list[list[tuple[str, object]]], count: int, height: int, pad: tuple[float, float] = (0.2, 0.45),
               **title_style):
    """A PNG of frame strips in rows and columns, each under its title: ``cells[row][column] = (title, video)``.

    ``pad`` is the room in inches around each strip (width, height) for its title; ``title_style``
    goes to matplotlib's ``set_title`` (``fontsize``, ``loc``...).

    Example:
        >>> import numpy as np
        >>> from helpers.video import strip_grid
        >>> strip_grid([[("a", np.zeros((9, 48, 72, 3))), ("b", np.ones((9, 48, 72, 3)))]], 3, 48).data[:4]
        b'\\x89PNG'
    """
    from IPython.display import Image as PNG
    from matplotlib.figure import Figure

    rows, cols = len(cells), len(cells[0])
    strips = [(title, frame_strip(video, count, height)) for row in cells for title, video in row]
    width = max(strip.size[0] for _, strip in strips)
    figure = Figure(figsize=(cols * (width / 100 + pad[0]), rows * (height / 100 + pad[1])), dpi=100)
    for ax, (title, strip) in zip(figure.subplots(rows, cols, squeeze=False).flat, strips):
        ax.imshow(strip)
        ax.set_title(title, **title_style)
        ax.axis("off")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return PNG(data=buffer.getvalue(), format="png")


def video_html(video, fps: int = 8, max_width: int = 480, min_display_width: int = 288) -> str:
    """An HTML ``<video>`` tag with the clip embedded as a base64 H.264 mp4.

    Clips wider than ``max_width`` are downscaled before embedding so notebooks stay small;
    small clips are displayed at least ``min_display_width`` wide.

    Example:
        >>> import numpy as np
        >>> from helpers.video import video_html
        >>> video_html(np.zeros((9, 48, 72, 3))).startswith("<video")
        True
    """
    from IPython.display import Video

    frames = as_frames(video)
    h, w = frames[0].shape[:2]
    if w > max_width:
        size = (max_width // 2 * 2, round(h * max_width / w / 2) * 2)
        frames = [np.asarray(Image.fromarray(f).resize(size, Image.LANCZOS)) for f in frames]
        w = size[0]
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_mp4(frames, Path(tmp) / "clip.mp4", fps=fps)
        return Video(clip, embed=True, width=max(w, min_display_width),
                     html_attributes="controls loop autoplay muted playsinline")._repr_html_()


def show_video(video, fps: int = 8, max_width: int = 480, strip_frames: int = 6) -> None:
    """Show a video inline: a looping player plus a still strip of frames.

    ``video`` is what the pipeline returned (``pipe(...).frames[0]``: PIL images or float
    arrays) or the path of an mp4. Plays in Jupyter, JupyterLab, Colab and VS Code; the
    PNG strip shows where video is stripped (GitHub); ``strip_frames=0`` shows the player alone.

    Example:
        >>> from helpers import show_video
        >>> show_video(video)  # doctest: +SKIP
        >>> show_video("outputs/panda-001.mp4")  # doctest: +SKIP
    """
    from IPython.display import HTML, Image, display

    frames = as_frames(video)
    display(HTML(video_html(frames, fps=fps, max_width=max_width)))
    if strip_frames > 0:  # else the player alone
        png = io.BytesIO()
        frame_strip(frames, count=strip_frames).save(png, format="PNG")
        display(Image(data=png.getvalue()))
