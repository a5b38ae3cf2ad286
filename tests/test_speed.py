"""Speed recipes on CogVideoX-nano: each one runs, and the caches really skip work."""

import numpy as np
import pytest
import torch

import helpers
from helpers.quantization import QuantizationError
from helpers.recipes import SPEED_RECIPES, apply_speed, calibrate_magcache

CPU_RECIPES = [r for r in SPEED_RECIPES if r not in ("baseline", "fp8", "compile", "magcache", "sage_attention")]


def run(recipe: str, steps: int = 10, **options):
    """Frames, and how many times the last block's feed-forward ran, for one generation with ``recipe``."""
    pipe = helpers.load_pipeline("nano")
    pipe.set_progress_bar_config(disable=True)
    if recipe.startswith("magcache"):
        options["mag_ratios"] = calibrate_magcache(pipe, prompt="a blue square moving left", num_inference_steps=steps)
    changes = apply_speed(pipe, recipe, steps=steps, **options)
    calls = []
    # the feed-forward's first linear layer: caches that replace the whole feed-forward skip it too
    linear = next(m for m in pipe.transformer.transformer_blocks[-1].ff.modules() if isinstance(m, torch.nn.Linear))
    linear.register_forward_hook(lambda *args: calls.append(1))
    request = {**helpers.model_defaults(pipe), "num_inference_steps": steps, **changes}
    video = pipe(**request, generator=torch.Generator().manual_seed(0), output_type="np").frames[0]
    return video, len(calls)


@pytest.fixture(scope="module")
def baseline():
    return run("baseline")


@pytest.mark.parametrize("recipe", CPU_RECIPES)
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


def test_taylorseer_skips_feed_forwards_on_schedule(baseline):
    _, every_fifth = run("taylorseer")  # 3 warm-up steps, then one full pass in 5
    _, every_other = run("taylorseer@2")
    assert every_fifth < every_other < baseline[1]
    # diffusers' rule: full passes during the first 3 steps, then at steps 4, 9, 14, ...
    assert every_fifth == len([k for k in range(10) if k < 3 or (k - 4) % 5 == 0]) == 5


def test_diffusers_default_taylorseer_patterns_match_nothing_in_cogvideox():
    import re

    from diffusers.hooks.taylorseer_cache import _TRANSFORMER_BLOCK_IDENTIFIERS

    names = [name for name, _ in helpers.load_pipeline("nano").transformer.named_modules()]
    assert not [n for n in names if any(re.fullmatch(p, n) for p in _TRANSFORMER_BLOCK_IDENTIFIERS)]
    assert "transformer_blocks.0.attn1" in names


def test_magcache_calibrates_then_skips_steps(baseline):
    video, calls = run("magcache@0.5")
    assert video.shape == baseline[0].shape
    assert calls < baseline[1]


def test_magcache_without_calibration_says_how_to_calibrate():
    with pytest.raises(ValueError, match="calibrate_magcache"):
        apply_speed(helpers.load_pipeline("nano"), "magcache")


def test_fp8_on_a_cpu_says_what_it_needs():
    with pytest.raises(QuantizationError, match="compute capability 8.9"):
        apply_speed(helpers.load_pipeline("nano"), "fp8+compile")


def test_compiled_blocks_compute_the_same_video(baseline):
    video, _ = run("compile")  # (forward hooks inside a compiled block run at trace time only: no count)
    assert np.abs(video - baseline[0]).max() < 1e-2


def test_half_steps_halves_the_transformer_passes(baseline):
    _, calls = run("half_steps", steps=None)
    assert calls == helpers.model_defaults(helpers.load_pipeline("nano"))["num_inference_steps"] // 2


def test_one_registry_applies_memory_steps_then_fp8_then_the_caches_then_compile():
    from helpers.recipes import REGISTRY, STEPS, parse_recipe

    assert [name for name, _ in parse_recipe("compile+pab+fp8+vae_tiling+ff_chunking")] == \
        ["ff_chunking", "vae_tiling", "fp8", "pab", "compile"]
    assert set(STEPS) | set(SPEED_RECIPES) == set(REGISTRY) and not set(STEPS) & set(SPEED_RECIPES)


def test_a_recipe_takes_memory_and_speed_steps_but_not_one_that_changes_the_request():
    from helpers.recipes import apply_recipe

    pipe = helpers.load_pipeline("nano")
    with pytest.raises(ValueError, match=r"'half_steps' changes the request: use changes = apply_speed\(pipe, 'half_steps'\)"):
        apply_recipe(pipe, "vae_tiling+half_steps")
    with pytest.raises(ValueError, match=r"unknown recipe step 'turbo': use one or more of all_on_gpu, .* \(speed steps that keep"):
        apply_recipe(pipe, "vae_tiling+turbo")
    assert not pipe.vae.use_tiling  # refused before anything was applied
    assert apply_recipe(pipe, "first_block_cache@0.3+vae_tiling") == "vae_tiling+first_block_cache@0.3"
    assert pipe.vae.use_tiling and pipe.transformer.is_cache_enabled


def test_the_low_ram_recipe_runs_behind_the_pipeline_call_and_is_refused_on_a_loaded_pipeline():
    from helpers.recipes import apply_recipe

    with pytest.raises(ValueError, match=r"cannot apply to a loaded pipeline: load with helpers.load_pipeline_for"):
        apply_recipe(helpers.load_pipeline("nano"), "low_ram_staged")
    staged = helpers.load_pipeline_for("nano", "low_ram_staged")
    assert apply_recipe(staged, "low_ram_staged") == "low_ram_staged"
    request = dict(helpers.model_defaults(staged), num_inference_steps=2)
    helpers.check_request(staged, **request)
    video = staged(**request, generator=torch.Generator().manual_seed(3)).frames[0]
    assert video.shape == (9, 48, 72, 3) and np.isfinite(video).all()
    with pytest.raises(ValueError, match="one video per call"):
        staged(**request, num_videos_per_prompt=2)


def test_a_compile_mode_torch_does_not_know_is_refused_with_the_modes():
    pipe = helpers.load_pipeline("nano")
    with pytest.raises(ValueError, match=r"compile@turbo: not a torch.compile mode; use one of default, .*max-autotune"):
        apply_speed(pipe, "compile@turbo")
