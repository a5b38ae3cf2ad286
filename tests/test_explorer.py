"""The parameter explorer: generation from a parameter record, sweeps, and the panel's handlers without a browser."""

import contextlib
import io
import json

import pytest

import helpers
from helpers.explorer import Panel, Params, generate, grid_image, sweep


@pytest.fixture(scope="module")
def nano():
    pipe = helpers.load_pipeline("nano")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_a_parameter_record_makes_the_video_asked_for_and_saves_it_with_its_parameters(nano, tmp_path, monkeypatch):
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(tmp_path))
    seen = []
    run = generate(nano, Params(steps=4, guidance=3.0, seed=7, scheduler="DDIM"), on_step=lambda *a: seen.append(a))
    assert [s[0] for s in seen] == [1, 2, 3, 4] and seen[-1][2] == 0  # steps done, and no time left at the end
    frames, fps = helpers.read_video(run.path)
    assert len(frames) == 9 and frames[0].shape == (48, 72, 3)
    sidecar = json.loads(run.path.with_suffix(".json").read_text())
    assert sidecar["seed"] == 7 and sidecar["num_inference_steps"] == 4
    assert sidecar["guidance_scale"] == 3.0 and sidecar["scheduler"] == "DDIM"
    assert type(nano.scheduler).__name__ == "CogVideoXDDIMScheduler"


def test_a_bad_frame_count_is_refused_before_any_compute_and_saves_nothing(nano, tmp_path, monkeypatch):
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(tmp_path))
    with pytest.raises(helpers.RequestError, match="num_frames"):
        generate(nano, Params(frames=0))
    assert list(tmp_path.iterdir()) == []


def test_a_sweep_is_a_grid_over_the_parameters_asked_for(nano):
    grid = sweep(nano, Params(steps=2, seed=3), rows=("guidance", [1.0, 6.0]), columns=("seed", [1, 2, 3]))
    assert [[(r.params.guidance, r.params.seed) for r in row] for row in grid] == [
        [(1.0, 1), (1.0, 2), (1.0, 3)], [(6.0, 1), (6.0, 2), (6.0, 3)]]
    assert all(run.verdict is not None and run.path is None for row in grid for run in row)
    assert grid_image(grid).data[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="cannot sweep 'cfg'"):
        sweep(nano, Params(), rows=("cfg", [1, 2]))


def test_the_panel_buttons_work_without_a_browser(nano, tmp_path, monkeypatch):
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(tmp_path))
    panel = Panel(nano, recipe="all_on_gpu")
    assert panel.frames.options == tuple(range(9, 50, 8))  # 8N+1 only
    old = panel.seed.value
    panel.random.click()
    assert panel.seed.value != old
    panel.steps.value, panel.guidance.value = 3, 2.5
    with contextlib.redirect_stdout(io.StringIO()):
        panel.go.click()
    assert len(panel.history) == 1 and panel.history[0].params.guidance == 2.5
    assert panel.progress.value == panel.progress.max == 3
    assert panel.status.value.startswith("done in") and "explorer-001.mp4" in panel.status.value
    assert not panel.go.disabled
