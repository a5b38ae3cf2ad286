"""Recipes by name, in one registry: where the pipeline's parts live while it runs (memory steps) and how
much work it skips (speed steps: diffusers' caching hooks, fused projections, fp8, compile, fewer steps).

A recipe is a ``+``-joined list of steps, e.g. ``"model_cpu_offload+vae_tiling"`` (the seed's
recipe) or ``"all_on_gpu+vae_tiling+fp8+compile"``; ``first_block_cache@0.2`` gives a step its value.
Each step is one entry of :data:`REGISTRY`: what it does, whether it needs CUDA, whether it is a speed
step, and when it applies (the feed-forward chunks wrap the blocks before offloading hooks see them;
fp8 quantizes where the weights now are; compile comes last, tracing whatever the others installed).

Schedule-based caches (Pyramid Attention Broadcast, FasterCache, TaylorSeer) skip the same work
whatever the weights, so their speed on random weights is their real speed; First Block Cache and
MagCache decide from the activations, so how much they skip must be measured on a trained model.

Example:
    >>> from helpers.recipes import parse_recipe
    >>> parse_recipe("compile+model_cpu_offload+first_block_cache@0.2")
    [('model_cpu_offload', ''), ('first_block_cache', '0.2'), ('compile', '')]
"""

import math
from dataclasses import dataclass
from typing import Callable

import torch

from .checks import model_defaults
from .environment import compile_problem
from .low_ram import StagedPipeline
from .quantization import quantize_model

# diffusers' default TaylorSeer patterns ("^transformer_blocks.*attn", re.fullmatch) match no module of
# CogVideoX, whose attention is "transformer_blocks.N.attn1": these do (attention and feed-forward).
# TaylorSeer keeps two bf16 copies (value and slope) of every hooked output: about 27 GiB more for the
# 5b at 49x480x720 (with fp32 copies it ran out of an H100's 80 GB).
TAYLORSEER_IDENTIFIERS = [r"transformer_blocks\.\d+\.attn1", r"transformer_blocks\.\d+\.ff"]


@dataclass(frozen=True)
class Step:
    """One recipe step: ``apply(pipe, value, options)`` returns the request changes it makes (or None)."""

    what: str
    apply: Callable
    needs_cuda: bool = False
    speed: bool = False
    keeps_request: bool = True
    order: int = 1  # 0: wraps the blocks, 1: memory, 2: fp8, 3: the other speed steps, 4: compile
    takes: str | None = None  # what ``step@value`` may give: "threshold", "interval", "mode"; None: no value


def _group_offload(pipe, use_stream: bool, t5_leaf_level: bool = False, low_cpu_mem_usage: bool = False) -> None:
    """T5 and the transformer offloaded block by block (T5 leaf by leaf with ``t5_leaf_level``), the VAE on the GPU;
    ``low_cpu_mem_usage`` pins a block's host copy only while it moves instead of keeping pinned copies of all."""
    from diffusers.hooks import apply_group_offloading

    blocks = dict(offload_type="block_level", num_blocks_per_group=1)
    for module, level in ((pipe.text_encoder, dict(offload_type="leaf_level") if t5_leaf_level else blocks),
                          (pipe.transformer, blocks)):
        apply_group_offloading(module, onload_device="cuda", use_stream=use_stream, low_cpu_mem_usage=low_cpu_mem_usage,
                               **level)
    pipe.vae.to("cuda")


def _chunk_feed_forwards(pipe, chunks: int = 8) -> None:
    """Run each block's feed-forward on ``chunks`` slices of the sequence: the same result, a
    fraction of its intermediate tensors at a time. Measured on CogVideoX-5b: the peak did not
    move (it is elsewhere), so no recipe the planner recommends uses it."""
    class ChunkedFeedForward(torch.nn.Module):
        def __init__(self, ff) -> None:
            super().__init__()
            self.ff = ff

        def forward(self, hidden_states):
            return torch.cat([self.ff(part) for part in hidden_states.chunk(chunks, dim=1)], dim=1)

    for block in pipe.transformer.transformer_blocks:
        if type(block.ff).__name__ != "ChunkedFeedForward":
            block.ff = ChunkedFeedForward(block.ff)


def _small_tiles(pipe) -> None:
    """Tiles whose overlaps stay whole latents (else a tiled decode changes the frame size)."""
    height, width = pipe.vae.config.sample_height // 5, pipe.vae.config.sample_width * 2 // 9
    factor = pipe.vae_scale_factor_spatial
    if all(tile % factor == 0 and int(tile // factor * (1 - overlap)) * factor == tile - int(tile * overlap)
           for tile, overlap in ((height, 1 / 6), (width, 1 / 5))):
        pipe.vae.enable_tiling(tile_sample_min_height=height, tile_sample_min_width=width)
    else:
        print("vae_small_tiles: no smaller tile size fits this VAE; using its default tiles.")
        pipe.vae.enable_tiling()


def _staged(pipe) -> None:
    if not isinstance(pipe, StagedPipeline):
        raise ValueError("low_ram_staged loads each component only while it runs, so it cannot apply to a loaded "
                         "pipeline: load with helpers.load_pipeline_for(model, 'low_ram_staged') instead.")


def _pab(pipe, value, options) -> None:  # diffusers' documented configuration for CogVideoX
    from diffusers import PyramidAttentionBroadcastConfig

    pipe.transformer.enable_cache(PyramidAttentionBroadcastConfig(
        spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(100, 800),
        current_timestep_callback=lambda: pipe.current_timestep))


def _fastercache(pipe, value, options) -> None:  # diffusers' documented configuration for CogVideoX
    from diffusers import FasterCacheConfig

    pipe.transformer.enable_cache(FasterCacheConfig(
        spatial_attention_block_skip_range=2, spatial_attention_timestep_skip_range=(-1, 681),
        current_timestep_callback=lambda: pipe.current_timestep, attention_weight_callback=lambda _: 0.3,
        unconditional_batch_skip_range=5, unconditional_batch_timestep_skip_range=(-1, 781), tensor_format="BFCHW"))


def _first_block_cache(pipe, value, options) -> None:
    from diffusers import FirstBlockCacheConfig

    pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=float(value or 0.05)))


def _taylorseer(pipe, value, options) -> None:
    from diffusers import TaylorSeerCacheConfig

    pipe.transformer.enable_cache(TaylorSeerCacheConfig(
        cache_interval=int(value or 5), disable_cache_before_step=3, max_order=1,
        taylor_factors_dtype=torch.bfloat16, cache_identifiers=TAYLORSEER_IDENTIFIERS))


def _magcache(pipe, value, options) -> None:
    from diffusers import MagCacheConfig

    if options.get("mag_ratios") is None:
        raise ValueError("magcache needs the model's magnitude ratios: ratios = helpers.recipes.calibrate_magcache"
                         '(pipe, prompt=...), then apply_speed(pipe, "magcache", mag_ratios=ratios)')
    steps = options.get("num_inference_steps") or options.get("steps") or model_defaults(pipe)["num_inference_steps"]
    pipe.transformer.enable_cache(MagCacheConfig(threshold=float(value or 0.06), mag_ratios=list(options["mag_ratios"]),
                                                 num_inference_steps=steps))


def _half_steps(pipe, value, options) -> dict:
    return {"num_inference_steps": max(1, (options.get("steps") or model_defaults(pipe)["num_inference_steps"]) // 2)}


def _compile(pipe, value, options) -> None:
    if problem := compile_problem(pipe.transformer.dtype):
        raise ValueError(f"compile: {problem}")
    for block in pipe.transformer.transformer_blocks:  # block 0 compiles one graph, the other 41 share a second
        block.compile(**({"mode": value} if value else {}))  # compile@max-autotune-no-cudagraphs: a torch.compile mode


def _sage_attention(pipe, value, options) -> None:
    """SageAttention 1.0.6's Triton kernel (8-bit query-key products) in diffusers' CogVideoX attention processor."""
    import importlib.util

    from .attention import KernelAttention

    if importlib.util.find_spec("sageattention") is None or pipe.transformer.device.type != "cuda":
        raise ValueError("sage_attention runs on a CUDA GPU with the sageattention package (Triton kernels): "
                         'pip install "sageattention==1.0.6", and move the pipeline to the GPU first.')
    if {type(p).__name__ for p in pipe.transformer.attn_processors.values()} != {"CogVideoXAttnProcessor2_0"}:
        raise ValueError("sage_attention replaces the attention processors, which another step (fused_qkv, or fp32 "
                         "attention on a GPU without fused bf16 kernels) has replaced already: use one of them.")
    from sageattention import sageattn

    def kernel(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, **kwargs):
        if attn_mask is not None:  # CogVideoX passes none; SageAttention takes none
            return torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal)
        return sageattn(query, key, value, tensor_layout="HND", is_causal=is_causal)

    pipe.transformer.set_attn_processor(KernelAttention(kernel))


def _fused_qkv(pipe, value, options) -> None:
    if "KernelAttention" in {type(p).__name__ for p in pipe.transformer.attn_processors.values()}:
        raise ValueError("fused_qkv replaces the attention processors, which sage_attention has replaced already: "
                         "use one of them.")
    pipe.transformer.fuse_qkv_projections()


def _memory(call: Callable, what: str, needs_cuda: bool = False, order: int = 1) -> Step:
    return Step(what, lambda pipe, value, options: call(pipe), needs_cuda=needs_cuda, order=order)


def _speed(call: Callable, what: str, keeps_request: bool = True, order: int = 3, takes: str | None = None) -> Step:
    return Step(what, call, speed=True, keeps_request=keeps_request, order=order, takes=takes)


def value_problem(name: str, value: str) -> str | None:
    """What is wrong with ``name@value`` (checked before any step applies), or ``None``.

    Example:
        >>> from helpers.recipes import value_problem
        >>> value_problem("taylorseer", "0")
        'taylorseer@0: give a whole number of steps between full passes, at least 1, e.g. taylorseer@5'
        >>> value_problem("first_block_cache", "0.2") is None
        True
    """
    takes, modes = REGISTRY[name].takes, torch._inductor.list_mode_options()
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    fixes = {None: f"{name} takes no value; write {name} alone",
             "interval": f"give a whole number of steps between full passes, at least 1, e.g. {name}@5",
             "threshold": f"give the cache's threshold, a number above 0, e.g. {name}@0.1",
             "mode": f"not a torch.compile mode; use one of {', '.join(modes)}, or {name} alone"}
    fine = {None: False, "interval": value.isascii() and value.isdigit() and int(value) >= 1,
            "threshold": math.isfinite(number) and number > 0, "mode": value in modes}[takes]
    return None if not value or fine else f"{name}@{value}: {fixes[takes]}"


#: Every step a recipe can name: memory steps first, then speed steps.
REGISTRY: dict[str, Step] = {
    "all_on_gpu": _memory(lambda pipe: pipe.to("cuda"), "every component on the GPU: fastest, most VRAM", True),
    "model_cpu_offload": _memory(lambda pipe: pipe.enable_model_cpu_offload(), "each component moves to the GPU only while it runs (pipe.enable_model_cpu_offload)", True),
    "sequential_cpu_offload": _memory(lambda pipe: pipe.enable_sequential_cpu_offload(), "layers stream to the GPU one at a time: least VRAM, slowest", True),
    "group_offload": _memory(lambda pipe: _group_offload(pipe, use_stream=False), "transformer blocks move to the GPU one block at a time, T5 whole: it has no list of blocks directly under it (diffusers group offloading)", True),
    "group_offload_streams": _memory(lambda pipe: _group_offload(pipe, use_stream=True), "group offloading that copies the next block on a CUDA stream while this one runs", True),
    "group_offload_low_cpu": _memory(lambda pipe: _group_offload(pipe, use_stream=True, low_cpu_mem_usage=True), "group offloading on CUDA streams with low_cpu_mem_usage=True: each block pinned only while it moves, not pinned copies of all", True),
    "lean_offload": _memory(lambda pipe: _group_offload(pipe, use_stream=True, t5_leaf_level=True), "T5 streamed layer by layer, transformer block by block (CUDA streams), the VAE on the GPU", True),
    "ff_chunking": _memory(_chunk_feed_forwards, "each transformer block's feed-forward runs on 8 slices of the sequence (measured: no lower peak)", order=0),
    "layerwise_fp8": _memory(lambda pipe: pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=pipe.transformer.dtype), "transformer weights stored in fp8, each layer cast up to compute in (enable_layerwise_casting)"),
    "vae_tiling": _memory(lambda pipe: pipe.vae.enable_tiling(), "the VAE decodes the video in overlapping tiles (pipe.vae.enable_tiling)"),
    "vae_small_tiles": _memory(_small_tiles, "VAE tiling with tiles of a fifth of the height and 2/9 of the width: less decode memory"),
    "vae_slicing": _memory(lambda pipe: pipe.vae.enable_slicing(), "the VAE decodes one video of a batch at a time (pipe.vae.enable_slicing)"),
    "low_ram_staged": _memory(_staged, "one component at a time, loaded straight to the GPU and freed after use: least host RAM (helpers.low_ram)"),
    "baseline": _speed(lambda pipe, value, options: None, "nothing skipped"),
    "fused_qkv": _speed(_fused_qkv, "query, key and value projections fused into one matmul per attention layer"),
    "pab": _speed(_pab, "Pyramid Attention Broadcast: reuse attention outputs of the previous step in the middle of sampling"),
    "fastercache": _speed(_fastercache, "FasterCache: reuse attention outputs and skip most unconditional (CFG) passes"),
    "first_block_cache": _speed(_first_block_cache, "First Block Cache: skip all later blocks when the first block's output barely changed", takes="threshold"),
    "taylorseer": _speed(_taylorseer, "TaylorSeer: between full passes, extrapolate each block's attention and feed-forward outputs", takes="interval"),
    "magcache": _speed(_magcache, "MagCache: skip whole passes while the calibrated residual magnitudes say little changes", takes="threshold"),
    "half_steps": _speed(_half_steps, "half the denoising steps", keeps_request=False),
    "sage_attention": Step("SageAttention: attention with 8-bit query-key products (sageattention's Triton kernel, CUDA GPUs)", _sage_attention, needs_cuda=True, speed=True),
    "fp8": _speed(lambda pipe, value, options: quantize_model(pipe.transformer, "torchao_fp8_dynamic", pipe.transformer.device.type), "torchao fp8 dynamic quantization of the transformer (GPUs of compute capability 8.9+)", order=2),
    "compile": _speed(_compile, "torch.compile of each transformer block (two compiled graphs: one for block 0, whose input is a slice of the joined text and video sequence (other strides), one that the other 41 share)", order=4, takes="mode"),
}

#: The caches: a cache on a compiled transformer recompiles it while its schedule changes.
CACHES = ("pab", "fastercache", "first_block_cache", "taylorseer", "magcache")
#: Memory steps: name -> (needs CUDA, what it does) (``02_memory_optimizations`` lists them).
STEPS = {name: (step.needs_cuda, step.what) for name, step in REGISTRY.items() if not step.speed}
#: Speed steps: name -> what it does.
SPEED_RECIPES = {name: step.what for name, step in REGISTRY.items() if step.speed}


def parse_recipe(recipe: str, known: dict | None = None) -> list[tuple[str, str]]:
    """``recipe``'s ``(step, value)`` pairs in the order they apply; ``ValueError`` names an unknown step.

    ``known`` (default: :data:`REGISTRY`) limits the steps allowed.

    Example:
        >>> from helpers.recipes import SPEED_RECIPES, parse_recipe
        >>> parse_recipe("vae_tiling+all_on_gpu")
        [('vae_tiling', ''), ('all_on_gpu', '')]
        >>> parse_recipe("turbo", SPEED_RECIPES)
        Traceback (most recent call last):
        ...
        ValueError: unknown speed recipe 'turbo'; the kit knows baseline, fused_qkv, pab, fastercache, first_block_cache, taylorseer, magcache, half_steps, sage_attention, fp8, compile
    """
    known = REGISTRY if known is None else known
    if not isinstance(recipe, str):
        raise ValueError(f"recipe {recipe!r}: give a string of steps joined by '+', e.g. 'model_cpu_offload+vae_tiling'")
    steps = [tuple(s.strip().partition("@")[::2]) for s in recipe.split("+") if s.strip()]
    for name in [name for name, _ in steps if name not in known]:  # the first unknown step raises
        if name in REGISTRY and not REGISTRY[name].keeps_request:
            raise ValueError(f"recipe step {name!r} changes the request: use changes = apply_speed(pipe, {name!r}) "
                             "and pass the changes to the pipeline with your request.")
        if known is SPEED_RECIPES:
            raise ValueError(f"unknown speed recipe {name!r}; the kit knows {', '.join(SPEED_RECIPES)}")
        keeping = ", ".join(k for k, s in REGISTRY.items() if s.speed and s.keeps_request)
        raise ValueError(f"unknown recipe step {name!r}: use one or more of {', '.join(STEPS)} joined by '+' "
                         f"(speed steps that keep the request: {keeping}).")
    for problem in filter(None, (value_problem(name, value) for name, value in steps)):  # before any step applies
        raise ValueError(problem)
    return sorted(steps, key=lambda step: REGISTRY[step[0]].order)


def apply_recipe(pipe, recipe: str) -> str:
    """Apply a recipe (memory steps, then speed steps that keep the request) to ``pipe``; return the steps
    actually applied, ``+``-joined.

    Steps that need a CUDA GPU are skipped on a CPU-only machine (the pipeline stays on the
    CPU) with a printed note. An unknown step raises ``ValueError`` listing the known ones.

    Example:
        >>> from helpers import apply_recipe, load_pipeline
        >>> pipe = load_pipeline("small")  # doctest: +ELLIPSIS
        model: small local model (random weights: its videos are noise)  [argument]
          folder: ...
        >>> apply_recipe(pipe, "model_cpu_offload+vae_tiling")  # on a CPU-only machine
        skipped model_cpu_offload: it needs a CUDA GPU; running on the CPU.
        'vae_tiling'
    """
    applied = []
    for name, value in parse_recipe(recipe, {k: s for k, s in REGISTRY.items() if s.keeps_request}):
        if REGISTRY[name].needs_cuda and not torch.cuda.is_available():
            print(f"skipped {name}: it needs a CUDA GPU; running on the CPU.")
            continue
        REGISTRY[name].apply(pipe, value, {})
        applied.append(f"{name}@{value}" if value else name)
    return "+".join(applied) or "cpu"


def apply_speed(pipe, recipe: str, *, steps: int | None = None, mag_ratios: list[float] | None = None) -> dict:
    """Apply the speed ``recipe`` (steps of :data:`SPEED_RECIPES`) to ``pipe``; returns request changes (e.g. steps).

    Recipes combine with "+" (``"fused_qkv+pab"``); ``first_block_cache@0.2`` sets its threshold
    (the relative change of the first block's output under which the other blocks are skipped),
    ``taylorseer@3`` its interval (one full pass every 3 steps), ``magcache@0.1`` its error budget.
    ``magcache`` needs ``mag_ratios`` from :func:`calibrate_magcache` and the number of ``steps`` you
    will ask for (default: the model's). Call on a freshly loaded pipeline:
    caching hooks stay until ``pipe.transformer.disable_cache()``.

    Example:
        >>> import helpers
        >>> from helpers.recipes import apply_speed
        >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
        >>> apply_speed(pipe, "half_steps")
        {'num_inference_steps': 12}
        >>> apply_speed(pipe, "magcache")
        Traceback (most recent call last):
        ...
        ValueError: magcache needs the model's magnitude ratios: ratios = helpers.recipes.calibrate_magcache(pipe, prompt=...), then apply_speed(pipe, "magcache", mag_ratios=ratios)
    """
    changes: dict = {}
    for name, value in parse_recipe(recipe, SPEED_RECIPES):
        options = dict(steps=steps, mag_ratios=mag_ratios, **changes)
        changes.update(REGISTRY[name].apply(pipe, value, options) or {})
    return changes


def calibrate_magcache(pipe, **request) -> list[float]:
    """Run ``pipe(**request)`` once in MagCache's calibration mode and return the model's magnitude ratios.

    The ratios (how much the transformer's residual shrinks from one step to the next) belong to
    the checkpoint and the number of steps: calibrate once per model, keep the list, pass it to
    ``apply_speed(pipe, "magcache", mag_ratios=...)``. Nothing is skipped while calibrating.

    Example:
        >>> import helpers
        >>> from helpers.recipes import calibrate_magcache
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

    request = {**model_defaults(pipe), **request}
    pipe.transformer.enable_cache(MagCacheConfig(calibrate=True, num_inference_steps=request["num_inference_steps"]))
    try:
        with contextlib.redirect_stdout(io.StringIO()) as printed:  # diffusers prints the ratios at the last step
            pipe(**request, output_type="latent")
    finally:
        pipe.transformer.disable_cache()
    line = [ln for ln in printed.getvalue().splitlines() if ln.startswith("[")][-1]
    return [round(float(x), 5) for x in line.strip("[]").split(",")]
