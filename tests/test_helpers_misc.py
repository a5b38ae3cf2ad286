"""Recipes, measuring and the environment report on a CPU-only machine."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import helpers
from helpers.environment import EnvironmentReport, _advice


def test_cuda_only_recipe_steps_are_skipped_on_cpu_with_a_note(small_pipe, capsys):
    applied = helpers.apply_recipe(small_pipe, "model_cpu_offload+vae_tiling")
    assert applied == "vae_tiling"
    assert small_pipe.vae.use_tiling
    assert capsys.readouterr().out.strip() == "skipped model_cpu_offload: it needs a CUDA GPU; running on the CPU."
    small_pipe.vae.disable_tiling()


def test_unknown_recipe_step_lists_the_known_ones(small_pipe):
    with pytest.raises(ValueError, match="unknown recipe step 'cpu_offload'.*model_cpu_offload"):
        helpers.apply_recipe(small_pipe, "cpu_offload")


def test_measure_records_time_and_peak_host_memory():
    with helpers.measure("baseline") as base:
        pass
    with helpers.measure("allocate") as m:
        block = np.ones(300 * 1024**2 // 8)  # 300 MiB
        block.sum()
        del block
    assert m.seconds > 0 and m.peak_vram_gib is None
    assert m.peak_rss_gib - base.peak_rss_gib > 0.2
    table = str(m).splitlines()
    assert table[0].split() == ["what", "seconds", "peak", "VRAM", "peak", "RAM"]
    assert table[1].startswith("allocate") and "GiB" in table[1]



def test_measure_counts_what_is_alive_not_what_an_earlier_step_left_behind():
    """A pipeline dropped before a run can linger in a reference cycle until the garbage collector runs:
    the run's peak must not include it (02's first row read 4 GiB more than the same recipe measured again after
    a free(), on a 24gb rehearsal: this is one way that happens)."""
    import gc

    import psutil

    class Holder:
        pass

    gc.disable()
    try:
        before = psutil.Process().memory_info().rss / 1024**3
        left = Holder()
        left.self, left.block = left, np.ones(300 * 1024**2 // 8)  # 300 MiB that only the collector frees
        del left
        with helpers.measure("next run") as m:
            pass
    finally:
        gc.enable()
    assert m.peak_rss_gib < before + 0.1

def test_measure_fills_the_record_even_when_the_block_fails():
    with pytest.raises(RuntimeError):
        with helpers.measure("oom") as m:
            raise RuntimeError("out of memory")
    assert m.seconds >= 0 and m.peak_rss_gib > 0


def test_environment_report_on_cpu(capsys):
    report = helpers.show_environment()
    out = capsys.readouterr().out
    for row in ("torch", "diffusers", "transformers", "accelerate", "torchao", "optimum-quanto", "GPU",
                "host RAM total / available", "free disk at hub cache", "notebook host"):
        assert row in out
    assert report.device == "cpu" and not report.cuda
    assert "no GPU: the notebooks will use CogVideoX-nano" in out
    assert "model: CogVideoX-nano" in out


def test_advice_for_a_free_colab_t4():
    t4 = EnvironmentReport(
        versions={}, platform="Linux", cuda=True, gpu_name="Tesla T4", compute_capability="7.5", bf16_native=False,
        vram_total_gib=14.7, vram_free_gib=14.6, host_ram_total_gib=12.7, host_ram_available_gib=11.0,
        hub_cache="/root/.cache/huggingface/hub", disk_free_gib=20.0, colab=True,
    )
    advice = " ".join(_advice(t4))
    assert "no native bf16" in advice and "fp16 gives black or NaN frames" in advice
    assert "no fused bf16 attention kernel" in advice and "computes its attention in fp32" in advice
    assert "helpers.planner picks the one that fits" in advice
    assert "12.7 GiB host RAM: use the low-RAM recipe" in advice
    assert "download will not fit" in advice
    assert "no GPU" not in advice


class _Pipe:
    """Records the steps it was asked for; runs out of memory on the measured call when told to."""

    def __init__(self, out_of_memory: bool = False):
        self.steps, self.out_of_memory = [], out_of_memory

    def __call__(self, **asked):
        self.steps.append(asked["num_inference_steps"])
        if self.out_of_memory and len(self.steps) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return SimpleNamespace(frames=[np.zeros((asked["num_frames"], 4, 4, 3), np.float32)])


@pytest.fixture
def unchecked(monkeypatch):
    """_Pipe is no pipeline that helpers.check_request can read: these tests are about the measuring, and
    test_bad_requests checks the request check on the nano."""
    monkeypatch.setattr("helpers.checks.check_request", lambda pipe, **request: [])
    monkeypatch.setattr("helpers.checks.model_defaults", lambda pipe: {})


def test_generate_and_measure_warms_up_then_adds_its_row(capsys, unchecked):
    runs, pipe = [], _Pipe()
    video, m = helpers.generate_and_measure(pipe, dict(num_frames=9, num_inference_steps=25), "baseline", runs=runs)
    assert pipe.steps == [1, 25] and video.shape == (9, 4, 4, 3) and runs == [m]
    assert "baseline" in capsys.readouterr().out.splitlines()[-1]
    pipe = _Pipe()
    helpers.generate_and_measure(pipe, dict(num_frames=9, num_inference_steps=25), "5 steps", warm_up=False,
                                 num_inference_steps=5)
    assert pipe.steps == [5]


def test_generate_and_measure_says_out_of_memory_and_goes_on(capsys, unchecked):
    runs = []
    assert helpers.generate_and_measure(_Pipe(out_of_memory=True), dict(num_frames=9, num_inference_steps=25),
                                        "all on the GPU", runs=runs) == (None, None)
    assert runs == []
    assert capsys.readouterr().out.strip() == ("skipped all on the GPU: out of memory (CUDA out of memory); "
                                               "the other rows go on.")
