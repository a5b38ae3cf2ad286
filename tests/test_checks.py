"""Input checks: a bad request stops with a message naming the fix; a surprising one warns."""

import pytest

import helpers
from helpers import RequestError, check_request


def request(**overrides):
    base = dict(prompt="a panda playing guitar", num_frames=9, height=48, width=72, num_inference_steps=50, guidance_scale=6.0)
    return {**base, **overrides}


def test_the_models_own_defaults_pass_silently(small_pipe, capsys):
    assert check_request(small_pipe, **request(**helpers.model_defaults(small_pipe))) == []
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("n, returned", [(24, 24), (13, 16), (12, 9), (21, 24)])
def test_frame_counts_that_are_not_8n_plus_1_warn_with_what_comes_back(small_pipe, n, returned):
    warnings = check_request(small_pipe, **request(num_frames=n))
    assert any(f"returns {returned} frames" in w and "8N+1" in w for w in warnings)


def test_24_frames_costs_the_same_as_21(small_pipe):
    (warning, *_) = check_request(small_pipe, **request(num_frames=24))
    assert "6 latent frames" in warning and "same work as 21 frames" in warning and "Use 25 or 17" in warning


def test_frames_above_what_the_model_was_made_for_warn(small_pipe):
    warnings = check_request(small_pipe, **request(num_frames=17))
    assert any("above the 9 frames" in w for w in warnings)


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_zero_negative_or_fractional_frames_are_rejected(small_pipe, n):
    with pytest.raises(RequestError, match="at least 1"):
        check_request(small_pipe, **request(num_frames=n))


def test_size_not_a_multiple_of_the_models_block_is_rejected_with_the_nearest_size(small_pipe):
    # small model: 4x VAE x patch 2 = 8 (CogVideoX-5b: 8x x 2 = 16)
    with pytest.raises(RequestError, match=r"height=50: must be a positive multiple of 8.*Use 48"):
        check_request(small_pipe, **request(height=50))
    with pytest.raises(RequestError, match=r"width=0"):
        check_request(small_pipe, **request(width=0))


def test_other_sizes_warn_about_quality(small_pipe):
    warnings = check_request(small_pipe, **request(height=64, width=96))
    assert any("differs from the 48x72" in w for w in warnings)


def test_guidance_below_one_and_steps_below_one_are_rejected(small_pipe):
    with pytest.raises(RequestError, match="guidance_scale=0.5: must be at least 1"):
        check_request(small_pipe, **request(guidance_scale=0.5))
    with pytest.raises(RequestError, match="num_inference_steps=0"):
        check_request(small_pipe, **request(num_inference_steps=0))


def test_prompts_longer_than_226_tokens_warn(small_pipe):
    long_prompt = " ".join(["panda"] * 300)
    warnings = check_request(small_pipe, **request(prompt=long_prompt))
    assert any("301 T5 tokens" in w and "first 226" in w for w in warnings)


@pytest.mark.parametrize("n", [9, 12, 13, 17, 21, 24])
def test_frames_returned_matches_the_real_pipeline(small_pipe, n):
    import torch

    video = small_pipe(
        "a panda", num_frames=n, num_inference_steps=1, guidance_scale=1.0,
        generator=torch.Generator().manual_seed(0), output_type="np",
    ).frames[0]
    assert len(video) == helpers.frames_returned(n)
