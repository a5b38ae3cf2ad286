"""09_multi_gpu's plumbing: para-attn splits one nano video across two gloo CPU processes under torchrun, and
gives the one-process video back; a split that cannot run is refused before any process starts."""

import importlib.util
import json
import sys
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
    # cfg on 4 processes: each guidance branch on two of them, its sequence split with Ulysses (what 4 GPUs run)
    for mode, processes in (("cfg", 2), ("ulysses", 2), ("cfg", 4)):
        name = f"{mode}-x{processes}"
        result = run_parallel(script, mode, processes, tmp_path / f"{name}.json", num_inference_steps=3,
                              reference=tmp_path / "none.npy")
        assert len(result["ranks"]) == processes and all(r["peak_rss_gib"] > 0.1 for r in result["ranks"])
        assert result["max_abs_difference"] < 1e-3, name  # frames in [0, 1]: the same video
        frames, _ = read_video(result["video"])
        assert len(frames) == 9
        assert json.loads((tmp_path / f"{name}.json").read_text())["mode"] == mode


@pytest.mark.parametrize("mode, processes, guidance, fix", [
    ("ring", 2, 6.0, "CUDA GPUs only"),
    ("cfg_ring", 4, 6.0, "CUDA GPUs only"),
    ("ulysses", 4, 6.0, "226 text tokens and 54 patches per latent frame do not divide by 4. Here the sequence "
                        "splits 2 ways at most: 'ulysses' on 2 processes, 'cfg' on 4."),
    ("cfg", 2, 1.0, "guidance_scale > 1"),
    ("cfg", 3, 6.0, "even number of processes"),
    ("none", 2, 6.0, "'none' is one process"),
    ("ulysses", 3, 6.0, "heads must divide evenly"),
    ("tensor", 2, 6.0, "use one of none, cfg, cfg_ring, ulysses, ring"),
])
def test_a_split_that_cannot_run_is_refused_before_any_process_starts(script, tmp_path, mode, processes, guidance, fix):
    with pytest.raises(ValueError, match=fix.replace("(", r"\(")):
        run_parallel(script, mode, processes, tmp_path / "r.json", guidance_scale=guidance)
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "outputs").exists()


def test_speed_steps_apply_after_the_split_and_keep_the_video(script, tmp_path):
    run_parallel(script, "none", 1, tmp_path / "eager.json", num_inference_steps=4)
    cached = run_parallel(script, "ulysses", 2, tmp_path / "cached.json", num_inference_steps=4, speed="fastercache",
                          reference=tmp_path / "eager.npy")
    assert cached["max_abs_difference"] > 1e-2  # the cache ran: its video is not the eager one
    reference = run_parallel(script, "none", 1, tmp_path / "pab.json", num_inference_steps=4, speed="pab")
    split = run_parallel(script, "cfg", 2, tmp_path / "cfg.json", num_inference_steps=4, speed="pab",
                         reference=tmp_path / "pab.npy")
    assert reference["speed"] == split["speed"] == "pab" and split["max_abs_difference"] < 1e-3


def test_fastercache_with_cfg_is_refused_before_any_process_starts(script, tmp_path):
    """FasterCache cuts the guidance batch that cfg splits: inside para-attn that ended in an IndexError."""
    with pytest.raises(ValueError, match="Use pab with 'cfg', or fastercache with 'ulysses'"):
        run_parallel(script, "cfg", 2, tmp_path / "r.json", speed="fastercache")
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "outputs").exists()


def test_without_para_attn_the_split_is_refused_with_the_install_command(script, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "para_attn", None)  # as if it were not installed
    with pytest.raises(ValueError, match=r'pip install "para-attn>=0.3.38"'):
        run_parallel(script, "cfg", 2, tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "outputs").exists()


def test_the_5b_sequence_splits_two_ways_at_most_so_8_gpus_are_refused(monkeypatch):
    """CogVideoX-5b at 480x720: 226 text tokens, 60 latent rows, 30x45 patches a latent frame; 8 GPUs would split
    each guidance branch's sequence 4 ways, which para-attn cannot cut evenly."""
    monkeypatch.setattr("torch.cuda.device_count", lambda: 8)
    lengths = {"text tokens": 226, "latent rows": 60, "patches per latent frame": 30 * 45}
    check_parallel("cfg", world_size=4, device_type="cuda", heads=48, guidance_scale=6.0, lengths=lengths)
    with pytest.raises(ValueError, match="'ulysses' or 'ring' on 2 processes, 'cfg' or 'cfg_ring' on 4"):
        check_parallel("cfg", world_size=8, device_type="cuda", heads=48, guidance_scale=6.0, lengths=lengths)


def test_more_gpus_than_the_machine_has_are_refused(monkeypatch):
    monkeypatch.setattr("torch.cuda.device_count", lambda: 1)
    with pytest.raises(ValueError, match="has 1 CUDA GPU"):
        check_parallel("cfg", world_size=2, device_type="cuda", heads=48, guidance_scale=6.0)


def test_a_failing_process_comes_back_as_its_error(script, tmp_path):
    script.write_text(SCRIPT.replace("args, device = start()", "args, device = start()\nraise OSError('disk gone')"))
    with pytest.raises(RuntimeError, match="OSError: disk gone"):
        run_parallel(script, "cfg", 2, tmp_path / "r.json", num_inference_steps=2)
    assert not (tmp_path / "r.json").exists()


def test_a_failed_run_leaves_the_last_result_as_it_was(script, tmp_path):
    script.write_text(SCRIPT.replace("args, device = start()", "args, device = start()\nraise OSError('disk gone')"))
    (tmp_path / "r.json").write_text('{"seconds": 1.0}')
    with pytest.raises(RuntimeError, match="OSError: disk gone"):
        run_parallel(script, "none", 1, tmp_path / "r.json", num_inference_steps=2)
    assert (tmp_path / "r.json").read_text() == '{"seconds": 1.0}'


@pytest.mark.parametrize("where", ["missing/r.json", "."])
def test_a_result_path_that_cannot_be_written_is_refused_before_any_process_starts(script, tmp_path, where):
    with pytest.raises(ValueError, match="give a .json file in a folder that exists"):
        run_parallel(script, "none", 1, tmp_path / where, num_inference_steps=2)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("bad", [dict(height=50), dict(num_inference_steps=0), dict(num_frames=-3),
                                 dict(guidance_scale=float("nan"))])
def test_a_bad_request_is_refused_before_any_process_loads_the_model(script, tmp_path, bad):
    from helpers import RequestError

    with pytest.raises(RequestError):
        run_parallel(script, "none", 1, tmp_path / "r.json", **bad)
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("processes", [0, -2, 1.5])
def test_a_process_count_that_means_nothing_is_refused(processes):
    with pytest.raises(ValueError, match="whole number of at least 1"):
        check_parallel("ulysses", world_size=processes, device_type="cpu", heads=8, guidance_scale=6.0)


def test_the_benchmark_adds_runs_on_more_gpus_with_their_scaling(tmp_path, monkeypatch):
    """Issue 22's rows: a 4-GPU run joins the 2-GPU rows in multi_gpu.json, each with its efficiency against one GPU
    and, for the same split, against two."""
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "multi_gpu.json")

    def row(mode, processes, seconds, speed=""):
        return dict(mode=mode, speed=speed, processes=processes, seconds=seconds,
                    ranks=[dict(peak_vram_gib=23.5, peak_rss_gib=3.0)])

    runs = {"two": {"none x1": row("none", 1, 100.0), "cfg x2": row("cfg", 2, 50.0),
                    "none x1+pab": row("none", 1, 80.0, "pab"), "cfg x2+pab": row("cfg", 2, 50.0, "pab")},
            "four": {"none x1": row("none", 1, 100.0), "cfg x4": row("cfg", 4, 40.0), "ulysses x4": dict(error="refused")}}
    for name, results in runs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(dict(gpu="NVIDIA H200", results=results)))
        bench.chart(tmp_path / f"{name}.json")
    merged = json.loads((tmp_path / "multi_gpu.json").read_text())["results"]
    assert list(merged) == ["none x1", "cfg x2", "none x1+pab", "cfg x2+pab", "cfg x4", "ulysses x4"]
    assert merged["cfg x2"]["efficiency"] == pytest.approx(1.0) and "efficiency_vs_2" not in merged["cfg x2"]
    assert merged["cfg x2+pab"]["efficiency"] == pytest.approx(80 / (2 * 50))  # against one process with PAB
    assert merged["cfg x4"]["efficiency"] == pytest.approx(100 / (4 * 40))
    assert merged["cfg x4"]["efficiency_vs_2"] == pytest.approx(2 * 50 / (4 * 40))
    assert merged["ulysses x4"] == dict(error="refused") and (tmp_path / "multi_gpu.png").stat().st_size > 0
    before = (tmp_path / "multi_gpu.json").read_text()
    (tmp_path / "dry.json").write_text(json.dumps(dict(gpu="cpu", results={"none x1": row("none", 1, 1.0)})))
    with pytest.raises(SystemExit, match="rows measured another way do not merge"):
        bench.chart(tmp_path / "dry.json")  # a CPU dry run never replaces the GPUs' reference
    assert (tmp_path / "multi_gpu.json").read_text() == before
