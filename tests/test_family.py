"""The CogVideoX family: each member loads by its hub id (a small model of its design in the hub cache's layout),
is matched to its row of helpers.family, and its own rules apply: defaults, frames, sizes, dtype, fps."""

import re
import shutil

import pytest
import torch

import helpers
from helpers.checks import check_request, model_defaults
from helpers.family import FAMILY, member, member_of
from helpers.small_model import KIT_MARKER, small_model_path

DESIGN = {"CogVideoX-2b": "2b", "CogVideoX-5b": "5b", "CogVideoX-5b-I2V": "5b", "CogVideoX1.5-5B": "1.5",
          "CogVideoX1.5-5B-I2V": "1.5"}


def in_hub_cache(cache, m):
    """A small model of ``m``'s design where huggingface_hub keeps ``m.hub_id`` (no kit marker: it passes for the
    real thing)."""
    repo = cache / f"models--{m.hub_id.replace('/', '--')}"
    commit = "0" * 40
    snapshot = repo / "snapshots" / commit
    shutil.copytree(small_model_path(task=m.task, design=DESIGN[m.name]), snapshot)
    (snapshot / KIT_MARKER).unlink()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    cache = tmp_path_factory.mktemp("hub")
    for m in FAMILY:
        in_hub_cache(cache, m)
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    # full-size requests on tiny models: the rules are tested here, not the CPU's RAM (tests/test_bad_requests.py does)
    mp.setattr("helpers.checks._check_cpu_cost", lambda *args: None)
    pipes = {m.name: helpers.load_pipeline(m.hub_id, cache_dir=cache, allow_cpu=True, task=m.task) for m in FAMILY}
    yield pipes
    mp.undo()


@pytest.mark.parametrize("m", FAMILY, ids=lambda m: m.name)
def test_each_member_loads_by_its_hub_id_and_is_recognised(family, m):
    pipe = family[m.name]
    assert type(pipe).__name__ == m.pipeline
    assert member_of(pipe.transformer.config) == m
    defaults = model_defaults(pipe)
    assert (defaults["height"], defaults["width"], defaults["num_frames"]) == (m.height, m.width, m.num_frames)


def request(pipe, **kwargs):
    return check_request(pipe, "a cat", **{"num_inference_steps": 2, "guidance_scale": 6, **kwargs})


def test_1_5_takes_16n_plus_1_frames_and_says_how_long_a_draft_is(family):
    pipe = family["CogVideoX1.5-5B"]
    (advice,) = request(pipe, num_frames=57, height=768, width=1360)  # 8N+1, fine for 1.0, not for 1.5
    assert "num_frames=57 is not 16N+1" in advice and "Use 65 or 49 (16N+1, as CogVideoX1.5-5B was trained)" in advice
    (draft,) = request(pipe, num_frames=49, height=768, width=1360)  # 16N+1, but 3 s at 16 fps
    assert "3 s at CogVideoX1.5-5B's 16 fps" in draft and "81 frames (5 s) or 161 (10 s)" in draft
    assert request(pipe, num_frames=81, height=768, width=1360) == []
    assert request(pipe, num_frames=161, height=768, width=1360) == []  # 10 s: made for it too
    too_long = request(pipe, num_frames=177, height=768, width=1360)
    assert any("above the 161 frames" in w for w in too_long), too_long


def test_1_0_keeps_the_8n_plus_1_rule(family):
    (advice,) = request(family["CogVideoX-5b"], num_frames=24, height=480, width=720)
    assert "is not 8N+1" in advice and "Use 25 or 17 (8N+1, as CogVideoX-5b was trained)" in advice
    assert request(family["CogVideoX-2b"], num_frames=49, height=480, width=720) == []


def test_1_5_i2v_takes_other_sizes_within_its_training_range(family):
    pipe = family["CogVideoX1.5-5B-I2V"]
    assert request(pipe, num_frames=81, height=768, width=1024) == []
    assert request(pipe, num_frames=81, height=1360, width=768) == []
    (advice,) = request(pipe, num_frames=81, height=480, width=720)
    assert "short side of 768" in advice


def test_half_precision_other_than_the_members_own_gets_a_note(family):
    two_b, five_b = family["CogVideoX-2b"], family["CogVideoX-5b"]
    try:
        two_b.transformer.to(torch.bfloat16)
        five_b.transformer.to(torch.float16)
        assert any("trained in fp16" in w and "torch.float16" in w for w in request(two_b, num_frames=49, height=480, width=720))
        assert any("black or NaN frames" in w for w in request(five_b, num_frames=49, height=480, width=720))
    finally:
        two_b.transformer.to(torch.float32)
        five_b.transformer.to(torch.float32)


def test_save_video_uses_the_members_fps(family, tmp_path):
    import json

    frames = [torch.zeros(16, 16, 3).numpy()] * 5
    for name, fps in (("CogVideoX-5b", 8), ("CogVideoX1.5-5B", 16)):
        path = helpers.save_video(frames, {"prompt": name}, pipe=family[name], folder=tmp_path)
        assert json.loads(path.with_suffix(".json").read_text())["fps"] == fps


def test_member_names_and_ids():
    assert member("THUDM/CogVideoX-5b-I2V").task == "image" and member("cogvideox1.5-5b").fps == 16
    with pytest.raises(ValueError, match="no CogVideoX model the kit knows"):
        member("CogVideoX-3b")


def test_on_a_gpu_each_member_loads_in_its_own_dtype(monkeypatch):
    from helpers.loading import default_dtype

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_dtype(small_model_path(design="2b")) == torch.float16  # the 2b was trained in fp16
    assert default_dtype(small_model_path(design="1.5")) == torch.bfloat16
    assert default_dtype(small_model_path()) == torch.bfloat16
    from helpers.low_ram import StagedPipeline  # the low-RAM path, which the planner picks for the 2b on a T4, too

    assert StagedPipeline(small_model_path(design="2b")).dtype == torch.float16


@pytest.mark.parametrize("m", FAMILY, ids=lambda m: m.name)
def test_each_full_size_architecture_is_recognised_as_its_member(m):
    from helpers.architecture import random_5b_pipeline

    pipe = random_5b_pipeline("meta", model=m.name)  # what the GPU benchmarks build, on no memory
    assert member_of(pipe.transformer.config) == m and type(pipe).__name__ == m.pipeline
    assert str(pipe.transformer.dtype) == f"torch.{m.dtype}"


def test_the_planner_says_which_figures_are_the_members_own(monkeypatch):
    from types import SimpleNamespace

    from helpers import planner

    h100 = SimpleNamespace(cuda=True, vram_total_gib=79.2, host_ram_total_gib=200, compute_capability="9.0")
    _, why = planner.choose_recipe(h100, helpers.choose_model("THUDM/CogVideoX-2b"))
    assert "for CogVideoX-2b: its own weights, and its denoising memory measured on a GPU" in why
    assert "the relative speeds are CogVideoX-5b's" in why
    _, why = planner.choose_recipe(h100, helpers.choose_model("THUDM/CogVideoX1.5-5B-I2V"))  # its text twin's row
    assert "for CogVideoX1.5-5B-I2V: its own weights, and its denoising memory measured" in why
    _, why = planner.choose_recipe(h100, helpers.choose_model("THUDM/CogVideoX-5b"))
    assert "for CogVideoX" not in why and "estimate" not in why
    monkeypatch.setattr(planner, "benchmark_results", lambda name="memory.json": None)  # no family.json shipped
    _, why = planner.choose_recipe(h100, helpers.choose_model("THUDM/CogVideoX-2b"))
    assert "the 5b's denoising memory per token (an estimate" in why


def test_a_frame_count_that_is_no_whole_number_gets_the_members_drafts(family):
    from helpers.checks import RequestError

    for name, drafts in (("CogVideoX-5b", "8N+1 counts such as 25 or 17"), ("CogVideoX1.5-5B", "16N+1 counts such as 33 or 17")):
        with pytest.raises(RequestError, match=re.escape(drafts)):
            request(family[name], num_frames=12.5, height=480, width=720)


@pytest.mark.parametrize("num_frames", [17, 33])
def test_the_low_ram_path_returns_1_5s_frames_as_the_pipeline_does(num_frames):
    """1.5's pipeline pads its latent frames to an even count and drops the padding before it decodes; a path that
    decodes the latents itself (the low-RAM staged one, bench_memory) must drop it too: 81 frames came back as 88."""
    from helpers.low_ram import generate_low_ram

    folder = small_model_path(design="1.5")
    staged = generate_low_ram(str(folder), seed=1, num_inference_steps=2, num_frames=num_frames)
    pipe = helpers.load_pipeline(str(folder), allow_cpu=True)
    whole = pipe(**{**model_defaults(pipe), "num_frames": num_frames, "num_inference_steps": 2},
                 generator=torch.Generator().manual_seed(1), output_type="np").frames[0]
    assert staged.shape == whole.shape == (num_frames, 48, 72, 3)
