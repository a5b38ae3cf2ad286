"""Saving and showing videos: what a user gets on disk and inline."""

import json

import imageio_ffmpeg
import numpy as np
import pytest

import helpers
from helpers.video import video_html

REQUEST = dict(prompt="A panda plays guitar", num_frames=9, height=48, width=72, num_inference_steps=50, guidance_scale=6.0)


def codec_of(path):
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    reader.close()
    return meta["codec"], meta["pix_fmt"]


def test_saved_video_reads_back_with_frames_and_size_asked_for(tmp_path, frames):
    path = helpers.save_video(frames, REQUEST, seed=42, folder=tmp_path)
    back, fps = helpers.read_video(path)
    assert len(back) == 9
    assert back[0].shape == (48, 72, 3)
    assert fps == 8
    codec, pix_fmt = codec_of(path)
    assert codec.startswith("h264") and pix_fmt.startswith("yuv420p")
    # the moving square is where it was drawn (lossy codec: compare coarsely)
    assert back[0][12:24, 6:18].mean() > 200 and back[8][12:24, 6:18].mean() < 60


def test_sidecar_records_how_the_video_was_made(tmp_path, frames, small_pipe):
    with helpers.measure("generate") as m:
        pass
    path = helpers.save_video(frames, REQUEST, pipe=small_pipe, seed=7, recipe="vae_tiling", measurement=m, folder=tmp_path)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["file"] == path.name
    assert sidecar["prompt"] == REQUEST["prompt"] and sidecar["seed"] == 7
    assert (sidecar["num_frames"], sidecar["frames_returned"], sidecar["frame_size"]) == (9, 9, [48, 72])
    assert sidecar["num_inference_steps"] == 50 and sidecar["guidance_scale"] == 6.0
    assert sidecar["dtype"] == "float32" and "cogvideox-small" in sidecar["model"]
    assert sidecar["recipe"] == "vae_tiling"
    assert sidecar["seconds"] is not None and sidecar["peak_rss_gib"] > 0
    assert sidecar["versions"]["diffusers"] and sidecar["versions"]["torch"]


def test_saving_twice_never_overwrites(tmp_path, frames):
    first = helpers.save_video(frames, REQUEST, folder=tmp_path)
    before = first.read_bytes()
    user_file = tmp_path / "a-panda-plays-guitar-002.json"
    user_file.write_text("my notes")
    second = helpers.save_video(frames[:5], REQUEST, folder=tmp_path)
    assert first != second and second.name == "a-panda-plays-guitar-003.mp4"
    assert first.read_bytes() == before
    assert user_file.read_text() == "my notes"
    assert len(helpers.read_video(second)[0]) == 5


def test_a_failed_save_leaves_nothing_behind(tmp_path):
    uneven = [np.zeros((48, 72, 3), np.uint8), np.zeros((32, 32, 3), np.uint8)]
    with pytest.raises(ValueError, match="one size"):
        helpers.save_video(uneven, REQUEST, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="no frames"):
        helpers.save_video([], REQUEST, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_encoder_failure_leaves_nothing_behind(tmp_path, frames, monkeypatch):
    import diffusers.utils

    def broken_encoder(video_frames, output_video_path, **kwargs):
        open(output_video_path, "wb").write(b"half a video")
        raise OSError("disk full")

    monkeypatch.setattr(diffusers.utils, "export_to_video", broken_encoder)
    with pytest.raises(OSError, match="disk full"):
        helpers.save_video(frames, REQUEST, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_show_video_embeds_h264_and_a_still_strip(frames, monkeypatch, tmp_path):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    helpers.show_video(frames)
    html, strip = shown
    assert '<video controls loop autoplay muted' in html.data and "data:video/mp4;base64," in html.data
    assert strip.data[:8] == b"\x89PNG\r\n\x1a\n"
    # the embedded clip is itself a playable H.264 mp4
    import base64

    clip = tmp_path / "embedded.mp4"
    clip.write_bytes(base64.b64decode(html.data.split("base64,")[1].split('"')[0]))
    assert codec_of(clip)[0].startswith("h264")
    assert len(helpers.read_video(clip)[0]) == 9


def test_show_video_downscales_large_clips_and_accepts_paths(tmp_path):
    big = np.random.default_rng(0).random((3, 480, 720, 3)).astype(np.float32)
    path = helpers.save_video(big, REQUEST, folder=tmp_path)
    html = video_html(path, max_width=240)
    import base64

    clip = tmp_path / "small.mp4"
    clip.write_bytes(base64.b64decode(html.split("base64,")[1].split('"')[0]))
    assert helpers.read_video(clip)[0][0].shape == (160, 240, 3)
    assert len(base64.b64decode(html.split("base64,")[1].split('"')[0])) < path.stat().st_size


def test_frame_strip_picks_evenly_spaced_frames(frames):
    strip = helpers.frame_strip(frames, count=3, height=48)
    assert strip.size == (3 * 72, 48)
