"""09_multi_gpu's plumbing: para-attn splits one nano video across two gloo CPU processes under torchrun, and
gives the one-process video back; a split that cannot run is refused before any process starts."""

import importlib.util
import json
from pathlib import Path

import pytest

from helpers.multi_gpu import check_parallel, run_parallel
from helpers.video import read_video

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_multi_gpu", ROOT / "scripts" / "bench_multi_gpu.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
SCRIPT = bench.notebook_script()  # 09_multi_gpu's own script, as the notebook writes it and the benchmark runs it


@pytest.fixture
def script(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COGVIDEOX_OUTPUTS", raising=False)
    (tmp_path / "parallel_video.py").write_text(SCRIPT)
    return tmp_path / "parallel_video.py"


def test_two_processes_give_the_one_process_video(script, tmp_path):
    reference = run_parallel(script, "none", 1, tmp_path / "none.json", num_inference_steps=3)
    assert reference["frames"] == [9, 48, 72, 3] and len(reference["ranks"]) == 1
    for mode in ("cfg", "ulysses"):
        result = run_parallel(script, mode, 2, tmp_path / f"{mode}.json", num_inference_steps=3,
                              reference=tmp_path / "none.npy")
        assert len(result["ranks"]) == 2 and all(r["peak_rss_gib"] > 0.1 for r in result["ranks"])
        assert result["max_abs_difference"] < 1e-3, mode  # frames in [0, 1]: the same video
        frames, _ = read_video(result["video"])
        assert len(frames) == 9
        assert json.loads((tmp_path / f"{mode}.json").read_text())["mode"] == mode


@pytest.mark.parametrize("mode, processes, guidance, fix", [
    ("ring", 2, 6.0, "CUDA GPUs only"),
    ("cfg", 2, 1.0, "guidance_scale > 1"),
    ("cfg", 3, 6.0, "even number of processes"),
    ("none", 2, 6.0, "'none' is one process"),
    ("ulysses", 3, 6.0, "heads must divide evenly"),
    ("tensor", 2, 6.0, "use one of none, cfg, ulysses, ring"),
])
def test_a_split_that_cannot_run_is_refused_before_any_process_starts(script, tmp_path, mode, processes, guidance, fix):
    with pytest.raises(ValueError, match=fix.replace("(", r"\(")):
        run_parallel(script, mode, processes, tmp_path / "r.json", guidance_scale=guidance)
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "outputs").exists()


def test_more_gpus_than_the_machine_has_are_refused(monkeypatch):
    monkeypatch.setattr("torch.cuda.device_count", lambda: 1)
    with pytest.raises(ValueError, match="has 1 CUDA GPU"):
        check_parallel("cfg", world_size=2, device_type="cuda", heads=48, guidance_scale=6.0)


def test_a_failing_process_comes_back_as_its_error(script, tmp_path):
    script.write_text(SCRIPT.replace("args, device = start()", "args, device = start()\nraise OSError('disk gone')"))
    with pytest.raises(RuntimeError, match="OSError: disk gone"):
        run_parallel(script, "cfg", 2, tmp_path / "r.json", num_inference_steps=2)
    assert not (tmp_path / "r.json").exists()
