"""Workshop mode: one environment variable shrinks every notebook's request and prints its measured time."""

import json
import os

import nbformat
from nbclient import NotebookClient

import helpers
from helpers.workshop import WORKSHOP_DEFAULTS, shrink

NOTEBOOKS = os.path.join(os.path.dirname(__file__), "..", "notebooks")


def test_workshop_mode_shrinks_the_defaults_of_each_model(monkeypatch):
    full = {"num_frames": 49, "num_inference_steps": 50, "guidance_scale": 6.0}
    assert shrink(full, None) == full  # off unless asked
    monkeypatch.setenv("COGVIDEOX_WORKSHOP", "1")
    assert shrink(full, None) == {**full, **WORKSHOP_DEFAULTS["5b"]}
    assert (shrink(full, None)["num_frames"] - 1) % 8 == 0  # still 8N+1
    assert helpers.model_defaults(helpers.load_pipeline("nano"))["num_inference_steps"] == 10


def test_the_first_cell_prints_the_notebooks_measured_workshop_time(monkeypatch, capsys):
    monkeypatch.setenv("COGVIDEOX_WORKSHOP", "1")
    helpers.show_environment(notebook="01_basic_inference.ipynb")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("workshop mode: CogVideoX-5b 17 frames x 25 steps") and "this notebook took" in line


def test_a_notebook_runs_in_workshop_mode_and_its_video_has_the_workshop_steps(monkeypatch, tmp_path):
    monkeypatch.setenv("COGVIDEOX_WORKSHOP", "1")
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(tmp_path))
    nb = nbformat.read(os.path.join(NOTEBOOKS, "01_basic_inference.ipynb"), as_version=4)
    NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    first = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert "workshop mode:" in first
    sidecars = list((tmp_path / "videos").glob("*.json")) or list(tmp_path.rglob("*.json"))
    assert sidecars, "the notebook saved no video"
    record = json.loads(sidecars[0].read_text())
    assert record["num_inference_steps"] == 10 and record["frames_returned"] == 9
