"""Notebook branches CI's CPU would not take on its own, run by changing only the parameters cell."""

import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run_with_parameters(name, tmp_path, monkeypatch, **parameters):
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(tmp_path / "videos"))
    NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def test_basic_inference_with_the_low_ram_recipe_saves_a_video(tmp_path, monkeypatch):
    nb = run_with_parameters("01_basic_inference.ipynb", tmp_path, monkeypatch, RECIPE="low_ram_staged")
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "recipe low_ram_staged: set in the parameters cell" in printed
    assert "applied: low_ram_staged" in printed
    sidecars = list((tmp_path / "videos").glob("*.json"))
    assert len(sidecars) == 1
    sidecar = json.loads(sidecars[0].read_text())
    assert sidecar["recipe"] == "low_ram_staged" and sidecar["frames_returned"] == 9


def test_image_and_video_to_video_with_your_own_files_records_them(tmp_path, monkeypatch):
    import hashlib

    import numpy as np
    from PIL import Image

    from helpers.video import write_mp4

    picture, clip = tmp_path / "my picture.png", tmp_path / "my clip.mp4"
    Image.new("RGB", (300, 200), (0, 200, 0)).save(picture)
    write_mp4([np.full((48, 72, 3), 40 * k % 255, np.uint8) for k in range(12)], clip)
    nb = run_with_parameters("08_image_and_video_to_video.ipynb", tmp_path, monkeypatch,
                             IMAGE=str(picture), VIDEO=str(clip), STRENGTHS=[0.5], CLIPS=2,
                             ROUTE=["a green square moving up on a grey background", "a green square shrinking on a grey background"])
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert f"{picture} -> resized 300x200" in printed
    assert f"{clip}: 12 frames, using 9 at 72x48" in printed
    sidecar = json.loads(next((tmp_path / "videos").glob("image-to-video-*.json")).read_text())
    assert sidecar["inputs"]["image"] == {"path": str(picture), "sha256": hashlib.sha256(picture.read_bytes()).hexdigest()}
    # the longer clip: your route's two clips joined without the repeated frame, saved as one valid video
    from helpers.video import read_video

    chained = next((tmp_path / "videos").glob("chained-*.mp4"))
    sidecar = json.loads(chained.with_suffix(".json").read_text())
    assert len(read_video(chained)[0]) == sidecar["frames_returned"] == 9 + 8
    assert sidecar["chained_clips"] == 2 and sidecar["prompt"].startswith("a green square moving up")
    assert sidecar["inputs"]["image"]["path"] == str(picture)
    # each video-to-video result records your clip and its strength
    (restyled,) = [json.loads(p.read_text()) for p in (tmp_path / "videos").glob("video-to-video-*.json")]
    assert restyled["strength"] == 0.5 and restyled["frames_returned"] == 9
    assert restyled["inputs"]["video"] == {"path": str(clip), "sha256": hashlib.sha256(clip.read_bytes()).hexdigest()}


def test_speed_recipes_compiles_on_a_cpu_when_asked(tmp_path, monkeypatch):
    """07 compiles by default on a CUDA GPU only (half a minute of the CPU run otherwise); asked to, a CPU
    compiles, recompiles for a new frame count, warm-starts from the disk cache and packs it."""
    nb = run_with_parameters("07_speed_recipes.ipynb", tmp_path, monkeypatch, COMPILE=True)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "first call (compiles)" in printed and "17 frames (recompiles)" in printed
    assert "PSNR of the compiled video against the eager one 99.0 dB" in printed
    assert "warm start in this process" in printed and "portable cache:" in printed
    assert (tmp_path / "videos" / "compile-cache.bin").stat().st_size > 0
