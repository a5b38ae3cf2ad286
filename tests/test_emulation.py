"""COGVIDEOX_EMULATE: a big CUDA GPU seen and capped as a T4 or a 24 GB card, checked on a CPU with a stand-in H200."""

import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import helpers
from helpers import environment

GIB = 1024**3


@pytest.fixture
def fake_h200(monkeypatch):
    """torch.cuda as an H200 would show it; every attribute emulation replaces is restored afterwards."""
    caps = []
    props = SimpleNamespace(name="NVIDIA H200", total_memory=int(139.8 * GIB), major=9, minor=0, multi_processor_count=132)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: props)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (int(139.3 * GIB), int(139.8 * GIB)))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 0)
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda fraction, device=None: caps.append(fraction))
    for name in ("get_device_capability", "get_device_name", "is_bf16_supported"):
        monkeypatch.setattr(torch.cuda, name, getattr(torch.cuda, name))
    monkeypatch.setattr(F, "scaled_dot_product_attention", F.scaled_dot_product_attention)
    watched = []
    monkeypatch.setattr(environment, "_watch_host_ram", watched.append)
    monkeypatch.setattr(environment, "_EMULATION_APPLIED", [])
    return SimpleNamespace(caps=caps, watched=watched)


def test_an_unknown_profile_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv("COGVIDEOX_EMULATE", "colab")
    with pytest.raises(ValueError, match="use t4, 24gb, or leave it unset"):
        environment.emulated_profile()


def test_without_a_gpu_emulation_is_ignored_and_the_report_says_so(monkeypatch):
    monkeypatch.setenv("COGVIDEOX_EMULATE", "t4")
    monkeypatch.setattr(environment, "_EMULATION_APPLIED", [])
    report = helpers.environment_report()
    assert not report.cuda and "ignored" in report.emulated
    assert "emulation" in str(report)


@pytest.mark.parametrize("profile, vram, ram, cc, bf16", [("t4", 15.0, 12.7, "7.5", False), ("24gb", 24.0, 32.0, "8.9", True)])
def test_the_report_sees_the_emulated_gpu(fake_h200, monkeypatch, profile, vram, ram, cc, bf16):
    monkeypatch.setenv("COGVIDEOX_EMULATE", profile)
    report = helpers.environment_report()
    assert report.cuda and report.compute_capability == cc and report.bf16_native is bf16
    assert report.vram_total_gib == pytest.approx(vram) and report.host_ram_total_gib == pytest.approx(ram)
    assert "emulated on NVIDIA H200" in report.gpu_name and report.emulated.startswith("emulating")
    # the allocator is capped so the card holds the profile's VRAM with the CUDA context (0.5 GiB here)
    assert fake_h200.caps == [pytest.approx((vram - 0.5) / 139.8)]
    assert fake_h200.watched == [ram]
    assert torch.cuda.get_device_capability() == tuple(int(x) for x in cc.split("."))
    assert torch.cuda.mem_get_info()[1] == int(vram * GIB)


def test_the_planner_and_the_capability_checks_see_the_profile(fake_h200, monkeypatch):
    five_b = helpers.choose_model("THUDM/CogVideoX-5b")
    monkeypatch.setenv("COGVIDEOX_EMULATE", "t4")
    t4 = helpers.environment_report()
    assert helpers.planner.attention_here(t4) == "fp32" and helpers.environment.needs_fp32_attention()
    assert helpers.planner.choose_recipe(t4, five_b)[0] == "low_ram_staged"  # 49 frames: measured under this emulation
    with pytest.raises(RuntimeError, match="nothing fits 15.0 GiB VRAM"):  # a larger size, even with fp32 attention
        helpers.planner.choose_recipe(t4, five_b, height=576, width=864)
    assert helpers.planner.choose_recipe(t4, five_b, num_frames=17, height=576, width=864)[0] == "low_ram_staged"
    assert helpers.planner.choose_recipe(t4, five_b, num_frames=9, height=240, width=360)[0] == "low_ram_staged"
    assert not helpers.planner.fits_here("49 frames", "sequential_cpu_offload+vae_tiling", t4)
    with pytest.raises(helpers.quantization.QuantizationError, match="compute capability 7.5"):
        helpers.quantization.check_scheme("torchao_fp8_dynamic", device="cuda")
    assert "no native bf16" in " ".join(t4.advice)


def test_the_24gb_profile_allows_fp8_and_picks_from_the_planner(fake_h200, monkeypatch):
    five_b = helpers.choose_model("THUDM/CogVideoX-5b")
    monkeypatch.setenv("COGVIDEOX_EMULATE", "24gb")
    card = helpers.environment_report()
    helpers.quantization.check_scheme("torchao_fp8_dynamic", device="cuda")  # cc 8.9: allowed
    recipe, why = helpers.planner.choose_recipe(card, five_b)
    assert recipe == helpers.planner.recommend(24.0, 32.0)[0].recipe and "helpers.planner" in why


@pytest.mark.parametrize("profile, task, kept, fallback", [
    ("t4", "text", True, None),            # 49 frames: the low-RAM recipe fits a T4 (measured under its emulation)
    ("t4", "image", False, "nano-i2v"),    # ... and the kit has it for text to video only
    ("24gb", "text", True, None),          # the planner's low-RAM recipe runs text to video
    ("24gb", "image", False, "nano-i2v"),  # ... and the kit has it for text to video only
])
def test_the_model_a_notebook_runs_under_each_profile(fake_h200, monkeypatch, profile, task, kept, fallback):
    monkeypatch.setenv("COGVIDEOX_EMULATE", profile)
    report = helpers.environment_report()
    model = "THUDM/CogVideoX-5b-I2V" if task == "image" else "THUDM/CogVideoX-5b"
    fit = helpers.planner.model_that_fits(report, model, task=task)
    if kept:
        assert fit.choice.source == model and not fit.fell_back
        assert fit.recipe == helpers.planner.choose_recipe(report, fit.choice)[0]
    else:
        assert fit.choice.kit_model == fallback and fit.recipe == "all_on_gpu" and fit.fell_back
        assert fit.why.startswith(f"skipped {model}: ") and fit.why.endswith("here.")
    whole = helpers.planner.model_that_fits(report, "THUDM/CogVideoX-5b", whole_gpu=True)  # 07: all on the GPU or nano
    assert whole.choice.kit_model == "nano"
    assert "keep the whole model on the GPU" in whole.why  # the planner's pick for the 5b offloads on both


def test_where_nothing_fits_the_fall_back_names_a_smaller_request_that_does(fake_h200, monkeypatch):
    monkeypatch.setenv("COGVIDEOX_EMULATE", "t4")
    fit = helpers.planner.model_that_fits(helpers.environment_report(), "THUDM/CogVideoX-5b", num_frames=49,
                                          height=576, width=864)  # 480x720 fits a T4 at 49 frames; this size does not
    assert fit.fell_back and fit.choice.kit_model == "nano"
    assert "it fits with NUM_FRAMES = 17 (low_ram_staged, " in fit.why and fit.why.endswith("using CogVideoX-nano here.")


def test_torch_compile_builds_for_the_real_chip_even_through_torch_cuda(fake_h200, monkeypatch):
    """Inductor asks torch.cuda.get_device_capability, which asks get_device_properties in turn: both
    emulated functions sit on that path, and the compiler must still get the H200 (cc 9.0), or its
    kernels do not load ("no kernel image is available"), as a 24gb rehearsal on an H200 showed."""
    monkeypatch.setenv("COGVIDEOX_EMULATE", "24gb")
    environment.apply_emulation()
    ask = "lambda: (torch.cuda.get_device_capability(0), torch.cuda.get_device_properties(0).major)"
    compiler = eval(ask, {"__name__": "torch._dynamo.device_interface", "torch": torch})
    notebook = eval(ask, {"__name__": "__main__", "torch": torch})
    assert compiler() == ((9, 0), 9)
    assert notebook() == ((8, 9), 8)



@pytest.mark.parametrize("profile, refused", [("t4", True), ("24gb", False)])
def test_compiling_bf16_is_refused_where_torch_compile_would_leave_it_eager(fake_h200, monkeypatch, profile, refused):
    """A T4 has no native bf16: inductor skips every bf16 graph, and with torchao's int8 weights dynamo failed
    while falling back (03 under t4, 2026-12-03). The kit says so before compiling; fp32 still compiles."""
    monkeypatch.setenv("COGVIDEOX_EMULATE", profile)
    environment.apply_emulation()
    problem = environment.compile_problem(torch.bfloat16)
    assert (problem is not None) is refused and environment.compile_problem(torch.float32) is None
    pipe = SimpleNamespace(transformer=SimpleNamespace(dtype=torch.bfloat16, transformer_blocks=[]))
    if refused:
        assert "compute capability 7.5" in problem and "8.0 or newer" in problem
        with pytest.raises(ValueError, match="compile: torch.compile leaves bf16 graphs uncompiled"):
            helpers.recipes.apply_speed(pipe, "compile")
    else:
        assert helpers.recipes.apply_speed(pipe, "compile") == {}
    t4 = SimpleNamespace(cuda=True, vram_total_gib=200.0, compute_capability="7.5")  # room for every measured row
    fastest, why = helpers.planner.fastest_speed(t4)
    assert fastest and "compile" not in fastest and "compiles" not in why

def test_t4_attention_keeps_to_the_kernels_a_t4_has(fake_h200, monkeypatch):
    monkeypatch.setenv("COGVIDEOX_EMULATE", "t4")
    used = []
    import torch.nn.attention as attention

    real = attention.sdpa_kernel
    monkeypatch.setattr(attention, "sdpa_kernel", lambda backends: used.append(list(backends)) or real(backends))
    environment.apply_emulation()
    q = torch.randn(1, 2, 8, 4)
    for dtype in (torch.bfloat16, torch.float32):
        out = F.scaled_dot_product_attention(q.to(dtype), q.to(dtype), q.to(dtype))
        assert out.dtype == dtype and torch.isfinite(out).all()
    from torch.nn.attention import SDPBackend

    assert used == [[SDPBackend.MATH], [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]]


def test_host_ram_past_the_profile_ends_the_process_as_colab_does():
    code = ("from helpers.environment import _watch_host_ram; _watch_host_ram(0.01)\n"
            "import time; time.sleep(20); print('still alive')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == -9 and "still alive" not in run.stdout
    assert "dies here" in run.stderr


def test_steps_setting_cuts_the_model_defaults(monkeypatch):
    pipe = helpers.load_pipeline("nano")
    monkeypatch.setenv("COGVIDEOX_STEPS", "2")
    assert helpers.model_defaults(pipe)["num_inference_steps"] == 2
    monkeypatch.setenv("COGVIDEOX_STEPS", "0")
    with pytest.raises(ValueError, match="COGVIDEOX_STEPS='0'"):
        helpers.model_defaults(pipe)


@pytest.mark.parametrize("profile, attention", [("t4", "fp32"), ("24gb", "fused"), ("", "fused")])
def test_the_dtype_and_attention_choice_under_each_profile(fake_h200, monkeypatch, profile, attention):
    monkeypatch.setenv("COGVIDEOX_EMULATE", profile)
    report = helpers.environment_report()
    assert helpers.loading.default_dtype() == torch.bfloat16  # weights in bf16 on every GPU (fp16: black frames)
    assert helpers.planner.attention_here(report) == attention
    assert helpers.environment.needs_fp32_attention() == (attention == "fp32")
