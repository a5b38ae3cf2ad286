"""Speed recipes by name: diffusers' caching hooks, fused projections, fewer steps (``07_speed_recipes``).

Each recipe changes how much work a generation does; diffusers does the work
(``transformer.enable_cache``, ``fuse_qkv_projections``). Schedule-based caches (Pyramid
Attention Broadcast, FasterCache, TaylorSeer) skip the same work whatever the weights, so their
speed on random weights is their real speed; First Block Cache and MagCache decide from the
activations, so how much they skip must be measured on a trained model (CogVideoX-nano).

Example:
    >>> import helpers
    >>> from helpers.speed import apply_speed
    >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
    model: ...
    >>> apply_speed(pipe, "pab")
    {}
"""

from __future__ import annotations

SPEED_RECIPES = {
    "baseline": "nothing skipped",
    "fused_qkv": "query, key and value projections fused into one matmul per attention layer",
    "pab": "Pyramid Attention Broadcast: reuse attention outputs of the previous step in the middle of sampling",
    "fastercache": "FasterCache: reuse attention outputs and skip most unconditional (CFG) passes",
    "first_block_cache": "First Block Cache: skip all later blocks when the first block's output barely changed",
    "taylorseer": "TaylorSeer: between full passes, extrapolate each block's attention and feed-forward outputs",
    "magcache": "MagCache: skip whole passes while the calibrated residual magnitudes say little changes",
    "half_steps": "half the denoising steps",
    "fp8": "torchao fp8 dynamic quantization of the transformer (GPUs of compute capability 8.9+)",
    "compile": "torch.compile of each transformer block (the 42 identical blocks share one compiled graph)",
}


# diffusers' default TaylorSeer patterns ("^transformer_blocks.*attn", re.fullmatch) match no module of
# CogVideoX, whose attention is "transformer_blocks.N.attn1": these do (attention and feed-forward).
# TaylorSeer keeps two bf16 copies (value and slope) of every hooked output: about 27 GiB more for the
# 5b at 49x480x720 (with fp32 copies it ran out of an H100's 80 GB).
TAYLORSEER_IDENTIFIERS = [r"transformer_blocks\.\d+\.attn1", r"transformer_blocks\.\d+\.ff"]


def apply_speed(pipe, recipe: str, *, steps: int | None = None, mag_ratios: list[float] | None = None) -> dict:
    """Apply the speed ``recipe`` (one of :data:`SPEED_RECIPES`) to ``pipe``; returns request changes (e.g. steps).

    Recipes combine with "+" (``"fused_qkv+pab"``); ``first_block_cache@0.2`` sets its threshold
    (the relative change of the first block's output under which the other blocks are skipped),
    ``taylorseer@3`` its interval (one full pass every 3 steps), ``magcache@0.1`` its error budget.
    ``magcache`` needs ``mag_ratios`` from :func:`calibrate_magcache` and the number of ``steps`` you
    will ask for (default: the model's). Call on a freshly loaded pipeline:
    caching hooks stay until ``pipe.transformer.disable_cache()``.

    Example:
        >>> import helpers
        >>> from helpers.speed import apply_speed
        >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
        >>> apply_speed(pipe, "half_steps")
        {'num_inference_steps': 12}
        >>> apply_speed(pipe, "turbo")
        Traceback (most recent call last):
        ...
        ValueError: unknown speed recipe 'turbo'; the kit knows baseline, fused_qkv, pab, fastercache, first_block_cache, taylorseer, magcache, half_steps, fp8, compile
        >>> apply_speed(pipe, "magcache")
        Traceback (most recent call last):
        ...
        ValueError: magcache needs the model's magnitude ratios: ratios = helpers.speed.calibrate_magcache(pipe, prompt=...), then apply_speed(pipe, "magcache", mag_ratios=ratios)
    """
    import torch
    from diffusers import (FasterCacheConfig, FirstBlockCacheConfig, MagCacheConfig, PyramidAttentionBroadcastConfig,
                           TaylorSeerCacheConfig)

    from .checks import model_defaults

    changes: dict = {}
    steps_asked = recipe.split("+")
    for step in steps_asked:
        if step.partition("@")[0] not in SPEED_RECIPES:
            raise ValueError(f"unknown speed recipe {step.partition('@')[0]!r}; the kit knows {', '.join(SPEED_RECIPES)}")
    # quantize first, compile last (compiling traces whatever the other steps installed)
    for step in sorted(steps_asked, key=lambda s: {"fp8": 0, "compile": 2}.get(s.partition("@")[0], 1)):
        step, _, value = step.partition("@")  # "first_block_cache@0.2": a threshold other than the default
        if step == "fp8":
            from .quantization import quantize_model

            quantize_model(pipe.transformer, "torchao_fp8_dynamic", pipe.transformer.device.type)
        elif step == "compile":
            for block in pipe.transformer.transformer_blocks:
                block.compile()
        elif step == "fused_qkv":
            pipe.transformer.fuse_qkv_projections()
        elif step == "pab":  # diffusers' documented configuration for CogVideoX
            pipe.transformer.enable_cache(PyramidAttentionBroadcastConfig(
                spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(100, 800),
                current_timestep_callback=lambda: pipe.current_timestep))
        elif step == "fastercache":  # diffusers' documented configuration for CogVideoX
            pipe.transformer.enable_cache(FasterCacheConfig(
                spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, 681),
                current_timestep_callback=lambda: pipe.current_timestep, attention_weight_callback=lambda _: 0.3,
                unconditional_batch_skip_range=5, unconditional_batch_timestep_skip_range=(-1, 781),
                tensor_format="BFCHW"))
        elif step == "first_block_cache":
            pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=float(value or 0.05)))
        elif step == "taylorseer":
            pipe.transformer.enable_cache(TaylorSeerCacheConfig(
                cache_interval=int(value or 5), disable_cache_before_step=3, max_order=1,
                taylor_factors_dtype=torch.bfloat16, cache_identifiers=TAYLORSEER_IDENTIFIERS))
        elif step == "magcache":
            if mag_ratios is None:
                raise ValueError("magcache needs the model's magnitude ratios: ratios = helpers.speed.calibrate_magcache"
                                 '(pipe, prompt=...), then apply_speed(pipe, "magcache", mag_ratios=ratios)')
            n = changes.get("num_inference_steps") or steps or model_defaults(pipe)["num_inference_steps"]
            pipe.transformer.enable_cache(MagCacheConfig(
                threshold=float(value or 0.06), mag_ratios=list(mag_ratios), num_inference_steps=n))
        elif step == "half_steps":
            changes["num_inference_steps"] = (steps or model_defaults(pipe)["num_inference_steps"]) // 2
    return changes


def calibrate_magcache(pipe, **request) -> list[float]:
    """Run ``pipe(**request)`` once in MagCache's calibration mode and return the model's magnitude ratios.

    The ratios (how much the transformer's residual shrinks from one step to the next) belong to
    the checkpoint and the number of steps: calibrate once per model, keep the list, pass it to
    ``apply_speed(pipe, "magcache", mag_ratios=...)``. Nothing is skipped while calibrating.

    Example:
        >>> import helpers
        >>> from helpers.speed import calibrate_magcache
        >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
        >>> pipe.set_progress_bar_config(disable=True)
        >>> ratios = calibrate_magcache(pipe, prompt="a red circle moving right", num_inference_steps=4)
        >>> len(ratios), ratios[0]
        (4, 1.0)
    """
    import contextlib
    import io

    from diffusers import MagCacheConfig

    from .checks import model_defaults

    request = {**model_defaults(pipe), **request}
    pipe.transformer.enable_cache(MagCacheConfig(calibrate=True, num_inference_steps=request["num_inference_steps"]))
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):  # diffusers prints the ratios at the last step
            pipe(**request, output_type="latent")
    finally:
        pipe.transformer.disable_cache()
    line = [ln for ln in printed.getvalue().splitlines() if ln.startswith("[")][-1]
    return [round(float(x), 5) for x in line.strip("[]").split(",")]
