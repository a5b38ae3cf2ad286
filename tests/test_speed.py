"""Speed recipes on CogVideoX-nano: each one runs, and the caches really skip work."""

import numpy as np
import pytest
import torch

import helpers
from helpers.speed import SPEED_RECIPES, apply_speed


def run(recipe: str, steps: int = 10):
    """Frames, and how many times the last block's feed-forward ran, for one generation with ``recipe``."""
    pipe = helpers.load_pipeline("nano")
    pipe.set_progress_bar_config(disable=True)
    changes = apply_speed(pipe, recipe)
    calls = []
    pipe.transformer.transformer_blocks[-1].ff.register_forward_hook(lambda *args: calls.append(1))
    request = {**helpers.model_defaults(pipe), "num_inference_steps": steps, **changes}
    video = pipe(**request, generator=torch.Generator().manual_seed(0), output_type="np").frames[0]
    return video, len(calls)


@pytest.fixture(scope="module")
def baseline():
    return run("baseline")


@pytest.mark.parametrize("recipe", [r for r in SPEED_RECIPES if r != "baseline"])
def test_each_recipe_makes_the_frames_asked_for(recipe, baseline):
    video, _ = run(recipe)
    assert video.shape == baseline[0].shape and np.isfinite(video).all()


def test_fused_projections_compute_the_same_video(baseline):
    video, calls = run("fused_qkv")
    assert calls == baseline[1]
    assert np.abs(video - baseline[0]).max() < 1e-3


def test_first_block_cache_skips_blocks_once_its_threshold_allows(baseline):
    _, strict = run("first_block_cache@0.01")
    _, loose = run("first_block_cache@0.4")
    assert strict == baseline[1] == 10  # one batched (CFG) pass per step
    assert loose < strict


def test_half_steps_halves_the_transformer_passes(baseline):
    _, calls = run("half_steps", steps=None)
    assert calls == helpers.model_defaults(helpers.load_pipeline("nano"))["num_inference_steps"] // 2
