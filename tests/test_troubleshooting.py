"""The troubleshooting catalogue: each failure gets a message that says what to do, and leaves nothing behind."""

import types

import numpy as np
import pytest
import torch

import helpers
from helpers import ModelLoadError
from helpers.diagnose import catch_oom, check_frames, memory_budget, oom_advice, verify_against_hub
from helpers.environment import version_problems


@pytest.fixture
def online(monkeypatch):
    """Pretend the hub is reachable (the download itself is replaced in each test)."""
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr("helpers.loading._repo_download_bytes", lambda repo_id: 1024)


def failing_download(error):
    def download(*args, **kwargs):
        raise error
    return download


def test_gated_model_without_login_says_how_to_log_in_and_never_shows_a_token(online, monkeypatch, tmp_path, capsys):
    from huggingface_hub import errors

    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    response = types.SimpleNamespace(status_code=401, headers={}, request=None)
    monkeypatch.setattr("huggingface_hub.snapshot_download",
                        failing_download(errors.GatedRepoError("gated", response=response)))
    with pytest.raises(ModelLoadError) as e:
        helpers.download_model("THUDM/CogVideoX-5b", cache_dir=tmp_path)
    assert "accept its licence" in str(e.value) and "login()" in str(e.value)
    assert "hf_secret_value_123" not in str(e.value) + capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_misspelt_model_id_says_which_id_is_right(online, monkeypatch, tmp_path):
    from huggingface_hub import errors

    response = types.SimpleNamespace(status_code=404, headers={}, request=None)
    monkeypatch.setattr("huggingface_hub.snapshot_download",
                        failing_download(errors.RepositoryNotFoundError("not found", response=response)))
    with pytest.raises(ModelLoadError, match=r"'THUDM/CogVideoX-5B-v2' is not a model on the hub.*'THUDM/CogVideoX-5b'"):
        helpers.download_model("THUDM/CogVideoX-5B-v2", cache_dir=tmp_path)


def test_a_real_out_of_memory_is_caught_and_the_process_goes_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(tmp_path))
    pipe = helpers.load_pipeline("nano")
    pipe.set_progress_bar_config(disable=True)
    request = helpers.model_defaults(pipe)
    with memory_budget(0.3) as enforced, catch_oom() as caught:
        pipe(**{**request, "height": 240, "width": 360, "num_inference_steps": 2}, output_type="np")
    if not enforced:
        pytest.skip("this OS does not enforce RLIMIT_AS")
    assert "can't allocate memory" in caught.error
    assert "Ask for less: fewer frames" in capsys.readouterr().out
    video = pipe(**{**request, "num_inference_steps": 2}, output_type="np").frames[0]  # still works after it
    assert video.shape[0] == request["num_frames"]
    assert list(tmp_path.iterdir()) == []  # a failed generation saves nothing


def test_errors_that_are_not_out_of_memory_pass_through():
    with pytest.raises(ValueError, match="not memory"), catch_oom():
        raise ValueError("not memory")
    with pytest.raises(RuntimeError, match="shape mismatch"), catch_oom():
        raise RuntimeError("shape mismatch")


def test_cuda_oom_advice_names_the_recipe_that_fits_a_t4():
    advice = oom_advice("all_on_gpu+vae_tiling", vram_gib=15, ram_gib=12.7)
    assert "needs about 23.5 GiB" in advice and "Next: low_ram_staged" in advice
    assert "generate_low_ram" in advice
    with catch_oom("model_cpu_offload+vae_tiling", vram_gib=15, ram_gib=12.7) as caught:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
    assert caught.error.startswith("CUDA out of memory") and "low_ram_staged" in caught.advice


def test_nothing_fits_says_what_to_cut():
    advice = oom_advice("low_ram_staged", vram_gib=2, ram_gib=8)
    assert "Nothing fits" in advice and "fewer frames" in advice


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda v: np.full_like(v, np.nan), "NaN pixels"),
        (lambda v: np.zeros_like(v), "frames are black"),
        (lambda v: np.repeat(v[:1], len(v), axis=0), "every frame is the same"),
    ],
)
def test_bad_frames_are_named_with_their_cause(frames, make, expected):
    assert check_frames(frames) == []
    problems = check_frames(make(frames))
    assert len(problems) == 1 and expected in problems[0]


def test_hub_sizes_find_a_short_file_and_a_missing_one(monkeypatch, tmp_path):
    (tmp_path / "transformer").mkdir()
    (tmp_path / "model_index.json").write_text("{}")
    (tmp_path / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"x" * 10)
    siblings = [
        types.SimpleNamespace(rfilename="model_index.json", size=2),
        types.SimpleNamespace(rfilename="transformer/diffusion_pytorch_model.safetensors", size=20),
        types.SimpleNamespace(rfilename="vae/diffusion_pytorch_model.safetensors", size=5),
        types.SimpleNamespace(rfilename="README.md", size=999),  # not needed: ignored
    ]
    monkeypatch.setattr("huggingface_hub.HfApi.model_info", lambda self, *a, **k: types.SimpleNamespace(siblings=siblings))
    assert verify_against_hub(tmp_path, "THUDM/CogVideoX-5b") == [
        "transformer/diffusion_pytorch_model.safetensors: 10 bytes here, 20 on the hub",
        "vae/diffusion_pytorch_model.safetensors: missing",
    ]


def test_known_bad_versions_are_flagged_and_current_ones_are_not():
    assert version_problems({"diffusers": "0.42.1", "torch": "2.13.0"}, notes=False) == []
    flagged = version_problems({"diffusers": "0.28.0", "torch": "2.2.0"}, notes=False)
    assert len(flagged) == 2 and "diffusers>=0.42.1" in flagged[0] and 'pip install -U "torch>=2.6"' in flagged[1]
    old = version_problems({"diffusers": "0.42.1", "torch": "2.6.0", "transformers": "4.46.0", "torchao": "0.10.0"})
    assert 'pip install -U "transformers>=5.0"' in old[0] and 'pip install -U "torchao>=0.16"' in old[1]


def test_a_gpu_memory_budget_caps_the_allocator_above_what_it_holds_and_restores_the_old_cap(monkeypatch):
    import functools

    import torch

    real_props = lambda device=None: type("Props", (), {"total_memory": 100 * 2**30})()  # noqa: E731
    emulated = functools.wraps(real_props)(lambda device=None: type("Props", (), {"total_memory": 15 * 2**30})())
    fractions = [0.15]  # an emulated T4's cap, set by COGVIDEOX_EMULATE
    monkeypatch.setattr(torch.cuda, "get_device_properties", emulated)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 2 * 2**30)
    monkeypatch.setattr(torch.cuda, "get_per_process_memory_fraction", lambda device=None: fractions[-1])
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda f, device=None: fractions.append(f))
    with memory_budget(1.0, "cuda") as enforced:
        assert enforced
        assert fractions[-1] == pytest.approx(0.03)  # (2 GiB held + 1 GiB) of the real card's 100 GiB
    assert fractions[-1] == 0.15
