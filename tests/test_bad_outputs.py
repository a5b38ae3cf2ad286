"""Bad outputs are refused before compute; nothing a user made is lost, half-written or overwritten.

One test per case: a full disk while saving, a name that is not a plain file name, a
COGVIDEOX_OUTPUTS that cannot be written (found by the first cell's show_environment), and a
name already taken. Each lists the folder before and after.
"""

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

import helpers
import helpers.saving
from helpers.video import write_mp4

REQUEST = dict(prompt="a red circle moving right", num_frames=9, height=48, width=72, num_inference_steps=2)
VIDEO = np.zeros((9, 48, 72, 3), np.float32)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` (hidden ones too) with its bytes; ``None`` for folders."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes() for p in sorted(root.rglob("*"))}


def _writer_raises(monkeypatch):
    def full(frames, path, fps=8):
        Path(path).write_bytes(b"\0" * 10)  # what a writer leaves before the disk fills
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(helpers.saving, "write_mp4", full)


def _ffmpeg_on_a_full_disk(monkeypatch):
    """The real encoder writing into /dev/full: ffmpeg fails, and no error reaches Python."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")

    def onto_dev_full(frames, path, fps=8):
        Path(path).symlink_to("/dev/full")
        return write_mp4(frames, path, fps=fps)

    monkeypatch.setattr(helpers.saving, "write_mp4", onto_dev_full)


def _mp4_cut_short(monkeypatch):
    """ffmpeg stopped before writing its index: the mp4 is cut short, silently."""

    def cut(frames, path, fps=8):
        write_mp4(frames, path, fps=fps)
        with open(path, "r+b") as f:
            f.truncate(Path(path).stat().st_size // 2)

    monkeypatch.setattr(helpers.saving, "write_mp4", cut)


def _sidecar_write_fails(monkeypatch):
    real = Path.write_text

    def write_text(self, *args, **kwargs):
        if self.suffix == ".json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)


@pytest.mark.parametrize("disk_full", [_writer_raises, _ffmpeg_on_a_full_disk, _mp4_cut_short, _sidecar_write_fails])
def test_a_full_disk_leaves_nothing_and_changes_nothing(tmp_path, monkeypatch, disk_full):
    folder = tmp_path / "videos"
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(folder))
    first = helpers.save_video(VIDEO, REQUEST, name="clip")  # the user's earlier video, then the disk fills
    assert first.name == "clip-001.mp4"
    before = snapshot(tmp_path)
    disk_full(monkeypatch)
    with pytest.raises(OSError) as caught:
        helpers.save_video(VIDEO, REQUEST, name="clip")
    message = str(caught.value)
    assert caught.value.errno in (errno.ENOSPC, errno.EIO)
    assert f"clip-NNN.mp4 was not saved in {folder}" in message
    assert "Nothing was written there and no file already there was changed" in message
    assert "free space on that disk, or set COGVIDEOX_OUTPUTS to a folder on another disk" in message
    assert "the video is still in memory" in message
    assert snapshot(tmp_path) == before  # no clip-002.*, no temporary, clip-001 untouched
    assert not (folder / "clip-002.mp4").exists() and not (folder / "clip-002.json").exists()


@pytest.mark.parametrize("name", ["../x", "a/b", "/tmp/absolute", "", "  ", ".", "..", ".hidden", "a\\b", "two\nlines",
                                  "é" * 150])
def test_a_name_that_is_not_a_plain_file_name_is_refused(tmp_path, monkeypatch, name):
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "mine.mp4").write_text("mine")
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(folder))
    before = snapshot(tmp_path)
    with pytest.raises(ValueError) as caught:
        helpers.save_video(VIDEO, REQUEST, name=name)
    message = str(caught.value)
    assert message.startswith(f"name={name!r} is not a plain file name: a name is text such as \"panda-walk\"")
    assert "no / or \\, not starting with a dot" in message and "pass folder= or set COGVIDEOX_OUTPUTS" in message
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "x-001.mp4").exists()  # "../x" wrote nothing beside the outputs folder


def _a_file(tmp_path, monkeypatch):
    return tmp_path / "notes.txt", NotADirectoryError, "is a file, not a folder"


def _below_a_file(tmp_path, monkeypatch):
    return tmp_path / "notes.txt" / "videos", NotADirectoryError, "part of this path is a file"


def _read_only(tmp_path, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    real = os.access  # root writes anywhere: the kit's check is told the folder is read-only
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == folder else real(path, mode, **kw))
    return folder, PermissionError, "is not writable here"


def _unknown_home(tmp_path, monkeypatch):
    return "~no-such-user-here/videos", FileNotFoundError, "starts with a ~ that names no home folder"


@pytest.mark.parametrize("setting", [_a_file, _below_a_file, _read_only, _unknown_home])
def test_a_bad_outputs_setting_is_refused_by_the_first_cell(tmp_path, monkeypatch, capsys, setting):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (tmp_path / "notes.txt").write_text("mine")
    value, error, says = setting(tmp_path, monkeypatch)
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(value))
    before = snapshot(tmp_path)
    try:
        with pytest.raises(error, match=f"{says}.*point COGVIDEOX_OUTPUTS at a folder you can write to"):
            helpers.show_environment("nano")
    finally:
        if (tmp_path / "read-only").exists():
            (tmp_path / "read-only").chmod(0o755)  # so that pytest can remove it
    assert "model: CogVideoX-nano" in capsys.readouterr().out  # the report came first; the error before any compute
    assert snapshot(tmp_path) == before  # no folder made, no literal ~ folder in the working folder


def test_the_first_cell_expands_a_tilde_and_says_where_videos_go(tmp_path, monkeypatch, capsys):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", "~/videos")
    helpers.show_environment("nano")
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("outputs: "))
    assert line.startswith(f"outputs: {home / 'videos'}  (") and line.endswith(" GiB free)")
    assert list(work.iterdir()) == [] and (home / "videos").is_dir()


def test_a_name_already_taken_is_never_overwritten(tmp_path, monkeypatch):
    folder = tmp_path / "videos"
    folder.mkdir()
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(folder))
    (folder / "clip-001.mp4").write_text("the user's own video")
    (folder / "clip-002.json").write_text("a sidecar whose video was moved away")
    (folder / "clip.mp4").write_text("another of the user's videos")
    before = snapshot(tmp_path)
    path = helpers.save_video(VIDEO, REQUEST, name="clip")
    again = helpers.save_video(VIDEO, REQUEST, name="clip")
    assert (path.name, again.name) == ("clip-003.mp4", "clip-004.mp4")
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before  # every earlier file unchanged
    assert sorted(set(after) - set(before)) == [f"videos/clip-00{n}.{ext}" for n in (3, 4) for ext in ("json", "mp4")]
    assert json.loads((folder / "clip-003.json").read_text())["file"] == "clip-003.mp4"


@pytest.mark.parametrize("fps", [-8, 0, float("nan"), "8", True])
def test_a_frame_rate_that_means_nothing_is_refused_before_anything_is_written(tmp_path, fps):
    frames = np.zeros((9, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="give a frame rate above 0"):
        helpers.save_video(frames, {"prompt": "x", "num_frames": 9}, folder=tmp_path, fps=fps)
    assert list(tmp_path.iterdir()) == []


def test_numpy_numbers_go_into_the_sidecar_as_numbers(tmp_path):
    frames = np.zeros((9, 16, 16, 3), dtype=np.uint8)
    path = helpers.save_video(frames, {"prompt": "x", "num_frames": np.int64(9), "guidance_scale": np.float32(6.0)},
                              folder=tmp_path, seed=np.int64(3), fps=np.int64(8))
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert (sidecar["num_frames"], sidecar["guidance_scale"], sidecar["seed"], sidecar["fps"]) == (9, 6.0, 3, 8)
