"""Every notebook runs alone, as Colab opens it (issue 16, item 5).

The outputs folder may not exist yet, may be set with a ``~``, or may be set wrongly: the kit makes
it, or says what to change. And the nbval run gives each notebook a fresh working folder, outputs
and caches, while unit tests keep the session's outputs folder.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

import helpers
import helpers.saving

REPO = Path(__file__).resolve().parents[1]
REQUEST = dict(prompt="a red circle moving right", num_frames=9, height=48, width=72, num_inference_steps=2)


def test_outputs_dir_makes_a_missing_folder_and_its_parents(tmp_path, monkeypatch):
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(tmp_path / "not" / "yet" / "there"))
    folder = helpers.outputs_dir()
    assert folder == tmp_path / "not" / "yet" / "there" and folder.is_dir()
    scratch = tempfile.mkdtemp(prefix="broken-models-", dir=helpers.outputs_dir())  # 05's cell, alone
    assert Path(scratch).parent == folder


def test_outputs_dir_expands_a_tilde_and_writes_nothing_in_the_working_folder(tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", "~/videos ")  # as typed into a notebook, stray space and all
    assert helpers.outputs_dir() == home / "videos" and (home / "videos").is_dir()
    assert list(work.iterdir()) == []


def test_outputs_dir_unset_is_outputs_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("COGVIDEOX_OUTPUTS")
    monkeypatch.chdir(tmp_path)
    assert helpers.outputs_dir() == tmp_path / "outputs" and (tmp_path / "outputs").is_dir()


@pytest.mark.parametrize("where", ["file", "below a file"])
def test_outputs_dir_on_a_file_names_the_setting_to_change(tmp_path, monkeypatch, where):
    (tmp_path / "notes.txt").write_text("mine")
    target = tmp_path / "notes.txt" if where == "file" else tmp_path / "notes.txt" / "videos"
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(target))
    with pytest.raises(NotADirectoryError, match="file, not a folder.*point COGVIDEOX_OUTPUTS at a folder"):
        helpers.outputs_dir()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_outputs_dir_in_a_read_only_place_names_the_setting_to_change(tmp_path, monkeypatch):
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(tmp_path / "videos"))

    def read_only(self, *args, **kwargs):
        raise OSError(30, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(OSError, match="Read-only file system.*point COGVIDEOX_OUTPUTS at a folder"):
        helpers.outputs_dir()


def test_outputs_dir_refuses_a_folder_it_cannot_write(tmp_path, monkeypatch):
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(tmp_path))
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root may write anywhere: pretend
    with pytest.raises(PermissionError, match="not writable.*COGVIDEOX_OUTPUTS"):
        helpers.outputs_dir()


def test_save_video_into_a_missing_outputs_folder(tmp_path, monkeypatch, frames):
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(tmp_path / "outputs"))
    path = helpers.save_video(frames, REQUEST, seed=1)
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == sorted([path.name, path.with_suffix(".json").name])
    assert json.loads(path.with_suffix(".json").read_text())["file"] == path.name


def test_save_video_to_a_folder_that_is_a_file_says_so(tmp_path, frames):
    (tmp_path / "taken").write_text("mine")
    with pytest.raises(NotADirectoryError, match="another folder="):
        helpers.save_video(frames, REQUEST, folder=tmp_path / "taken")


def test_a_sidecar_that_cannot_be_written_leaves_nothing_behind(tmp_path, frames, monkeypatch):
    with pytest.raises(TypeError):  # not JSON: found before any file appears
        helpers.save_video(frames, REQUEST, folder=tmp_path, inputs={"image": object()})
    assert list(tmp_path.iterdir()) == []

    placed = helpers.saving._place

    def disk_full_for_sidecars(source, target):
        if target.suffix == ".json":  # _place removes its own half-written file (tested below)
            raise OSError(28, "No space left on device")
        return placed(source, target)

    monkeypatch.setattr(helpers.saving, "_place", disk_full_for_sidecars)
    with pytest.raises(OSError, match="No space"):
        helpers.save_video(frames, REQUEST, folder=tmp_path)
    assert list(tmp_path.iterdir()) == []  # the video went too: never one without its sidecar


def test_a_copy_that_fails_halfway_is_removed(tmp_path, monkeypatch):
    source = tmp_path / "source.bin"
    source.write_bytes(b"x" * 100)

    def no_hard_links(*args):
        raise OSError(1, "no hard links on this drive")

    monkeypatch.setattr(os, "link", no_hard_links)

    class HalfWriter:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[:10])
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(helpers.saving, "open", lambda *a, **k: HalfWriter(open(*a, **k)), raising=False)
    with pytest.raises(OSError, match="No space"):
        helpers.saving._place(source, tmp_path / "copy.bin")
    assert not (tmp_path / "copy.bin").exists()


def _notebook(path: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


ALONE = """
import os
from pathlib import Path

here = Path.cwd()
assert here.name == "content" and list(here.iterdir()) == [], (here, list(here.iterdir()))
for setting in ("COGVIDEOX_OUTPUTS", "COGVIDEOX_KIT_CACHE", "HF_HUB_CACHE", "TORCHINDUCTOR_CACHE_DIR"):
    folder = Path(os.environ[setting])
    assert not folder.exists(), f"{setting}={folder} exists already"
    assert here.parent in folder.parents, (setting, folder)
Path(os.environ["COGVIDEOX_OUTPUTS"]).mkdir()
Path(os.environ["COGVIDEOX_KIT_CACHE"]).mkdir()
Path("left-behind.txt").write_text("for the next notebook to find")
"""

AFTER = """
import os
from pathlib import Path


def test_unit_tests_keep_the_session_folder():
    assert Path(os.environ["COGVIDEOX_OUTPUTS"]).name.startswith("cogvideox-test-outputs-")
    for setting in ("COGVIDEOX_KIT_CACHE", "HF_HOME", "HF_HUB_CACHE", "TORCHINDUCTOR_CACHE_DIR"):
        assert os.environ.get(setting) == os.environ.get("BEFORE_" + setting), setting
"""


def test_nbval_runs_each_notebook_alone(tmp_path):
    """Two notebooks under nbval with the repository's conftest: neither sees what the other left."""
    for name in ("first.ipynb", "second.ipynb"):
        _notebook(tmp_path / name, ALONE)
    (tmp_path / "test_after.py").write_text(AFTER)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    settings = ("COGVIDEOX_KIT_CACHE", "HF_HOME", "HF_HUB_CACHE", "TORCHINDUCTOR_CACHE_DIR")
    env.update({f"BEFORE_{k}": env[k] for k in settings if k in env})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["TMPDIR"] = str(tmp_path / "tmp")  # the run's session folders land here, not in the system's
    (tmp_path / "tmp").mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "--nbval-lax",
         "--rootdir", str(tmp_path), "first.ipynb", "second.ipynb", "test_after.py", "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "3 passed" in run.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.ipynb", "second.ipynb", "test_after.py", "tmp"]
    kernels = sorted((tmp_path / "tmp").glob("cogvideox-notebooks-*/*"))
    assert [k.name.split("-")[0] for k in kernels] == ["first", "second"]
    for k in kernels:  # what each notebook made stayed in its own folder
        assert sorted(p.name for p in k.iterdir()) == ["content", "kit-cache", "outputs"]
        assert [p.name for p in (k / "content").iterdir()] == ["left-behind.txt"]


def test_the_main_job_records_each_notebooks_time_and_the_cpu_it_ran_on(tmp_path):
    notebook = tmp_path / "00_tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]), notebook)
    subprocess.run([sys.executable, str(REPO / "scripts" / "run_notebooks.py"), str(notebook), "--outputs",
                    str(tmp_path / "out")], check=True, capture_output=True, timeout=300)
    run = json.loads((tmp_path / "out" / "notebook_times.json").read_text())["00_tiny.ipynb"]
    assert run["status"] == "ok" and run["seconds"] > 0
    assert run["cpu"] == helpers.environment.cpu_description()  # what README's "time on CPU" names
    assert helpers.workshop.measured_on(run).startswith(f"a {os.cpu_count()}-core CPU (")
    executed = nbformat.read(tmp_path / "out" / "notebooks" / "00_tiny.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "42\n"
