"""Speed recipes by name: diffusers' caching hooks, fused projections, fewer steps (``07_speed_recipes``).

Each recipe changes how much work a generation does; diffusers does the work
(``transformer.enable_cache``, ``fuse_qkv_projections``). Schedule-based caches (Pyramid
Attention Broadcast, FasterCache) skip the same work whatever the weights, so their speed on
random weights is their real speed; First Block Cache decides from the activations, so its
speed must be measured on a trained model (CogVideoX-nano).

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
    "half_steps": "half the denoising steps",
}


def apply_speed(pipe, recipe: str) -> dict:
    """Apply the speed ``recipe`` (one of :data:`SPEED_RECIPES`) to ``pipe``; returns request changes (e.g. steps).

    Recipes combine with "+" (``"fused_qkv+pab"``); ``first_block_cache@0.2`` sets its threshold
    (the relative change of the first block's output under which the other blocks are skipped).
    Call on a freshly loaded pipeline:
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
        ValueError: unknown speed recipe 'turbo'; the kit knows baseline, fused_qkv, pab, fastercache, first_block_cache, half_steps
    """
    from diffusers import FasterCacheConfig, FirstBlockCacheConfig, PyramidAttentionBroadcastConfig

    from .checks import model_defaults

    changes: dict = {}
    for step in recipe.split("+"):
        step, _, value = step.partition("@")  # "first_block_cache@0.2": a threshold other than 0.05
        if step not in SPEED_RECIPES:
            raise ValueError(f"unknown speed recipe {step!r}; the kit knows {', '.join(SPEED_RECIPES)}")
        if step == "fused_qkv":
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
        elif step == "half_steps":
            changes["num_inference_steps"] = model_defaults(pipe)["num_inference_steps"] // 2
    return changes
