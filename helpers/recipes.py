"""Memory recipes: where the pipeline's parts live while it runs, applied by name.

A recipe is a ``+``-joined list of steps, e.g. ``"model_cpu_offload+vae_tiling"`` (the
seed's recipe). Steps that need CUDA are skipped on a CPU-only machine with a one-line note.
Speed steps that keep the request as asked (``fp8``, ``compile``, ``pab``, ... from
:mod:`helpers.speed`) may follow the memory steps: the planner's "fastest" recipe uses them.
"""

from __future__ import annotations

#: Step name -> (needs CUDA, what it does). Each is one diffusers call.
STEPS = {
    "all_on_gpu": (True, "every component on the GPU: fastest, most VRAM"),
    "model_cpu_offload": (True, "each component moves to the GPU only while it runs (pipe.enable_model_cpu_offload)"),
    "sequential_cpu_offload": (True, "layers stream to the GPU one at a time: least VRAM, slowest"),
    "group_offload": (True, "transformer blocks move to the GPU one block at a time, T5 whole: it has no list of blocks directly under it (diffusers group offloading)"),
    "group_offload_streams": (True, "group offloading that copies the next block on a CUDA stream while this one runs"),
    "lean_offload": (True, "T5 streamed layer by layer, transformer block by block (CUDA streams), the VAE on the GPU"),
    "ff_chunking": (False, "each transformer block's feed-forward runs on 8 slices of the sequence (measured: no lower peak)"),
    "layerwise_fp8": (False, "transformer weights stored in fp8, each layer cast up to compute in (enable_layerwise_casting)"),
    "vae_tiling": (False, "the VAE decodes the video in overlapping tiles (pipe.vae.enable_tiling)"),
    "vae_small_tiles": (False, "VAE tiling with tiles of a fifth of the height and 2/9 of the width: less decode memory"),
    "vae_slicing": (False, "the VAE decodes one video of a batch at a time (pipe.vae.enable_slicing)"),
}


def _group_offload(pipe, use_stream: bool) -> None:
    from diffusers.hooks import apply_group_offloading

    for module in (pipe.text_encoder, pipe.transformer):
        apply_group_offloading(module, onload_device="cuda", offload_type="block_level", num_blocks_per_group=1,
                               use_stream=use_stream)
    pipe.vae.to("cuda")


def _chunk_feed_forwards(pipe, chunks: int = 8) -> None:
    """Run each block's feed-forward on ``chunks`` slices of the sequence: the same result, a
    fraction of its intermediate tensors at a time. Measured on CogVideoX-5b: the peak did not
    move (it is elsewhere), so no recipe the planner recommends uses it."""
    import torch

    class ChunkedFeedForward(torch.nn.Module):
        def __init__(self, ff) -> None:
            super().__init__()
            self.ff = ff

        def forward(self, hidden_states):
            return torch.cat([self.ff(part) for part in hidden_states.chunk(chunks, dim=1)], dim=1)

    for block in pipe.transformer.transformer_blocks:
        if type(block.ff).__name__ != "ChunkedFeedForward":
            block.ff = ChunkedFeedForward(block.ff)


def _lean_offload(pipe) -> None:
    from diffusers.hooks import apply_group_offloading

    apply_group_offloading(pipe.text_encoder, onload_device="cuda", offload_type="leaf_level", use_stream=True)
    apply_group_offloading(pipe.transformer, onload_device="cuda", offload_type="block_level",
                           num_blocks_per_group=1, use_stream=True)
    pipe.vae.to("cuda")


def _small_tiles(pipe) -> None:
    """Tiles whose overlaps stay whole latents (else a tiled decode changes the frame size)."""
    cfg = pipe.vae.config
    height, width = cfg.sample_height // 5, cfg.sample_width * 2 // 9
    factor = pipe.vae_scale_factor_spatial
    whole = all(
        int(tile // factor * (1 - overlap)) * factor == tile - int(tile * overlap)
        for tile, overlap in ((height, 1 / 6), (width, 1 / 5))
    ) and height % factor == 0 and width % factor == 0
    if whole:
        pipe.vae.enable_tiling(tile_sample_min_height=height, tile_sample_min_width=width)
    else:
        print("vae_small_tiles: no smaller tile size fits this VAE; using its default tiles.")
        pipe.vae.enable_tiling()


def apply_recipe(pipe, recipe: str) -> str:
    """Apply a memory recipe to ``pipe``; return the steps actually applied, ``+``-joined.

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
    import torch

    from .speed import SPEED_RECIPES, apply_speed

    steps = [s.strip() for s in recipe.split("+") if s.strip()]
    speed = [s for s in steps if s.partition("@")[0] in SPEED_RECIPES and s not in ("baseline", "half_steps")]
    steps = [s for s in steps if s not in speed]
    steps.sort(key=lambda s: s != "ff_chunking")  # wrap the blocks before any offloading hooks see them
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown recipe step {unknown[0]!r}: use one or more of {', '.join(STEPS)} joined by '+' "
                         f"(speed steps that keep the request: {', '.join(k for k in SPEED_RECIPES if k not in ('baseline', 'half_steps'))}).")
    applied = []
    for step in steps:
        needs_cuda, _ = STEPS[step]
        if needs_cuda and not torch.cuda.is_available():
            print(f"skipped {step}: it needs a CUDA GPU; running on the CPU.")
            continue
        if step == "all_on_gpu":
            pipe.to("cuda")
        elif step == "model_cpu_offload":
            pipe.enable_model_cpu_offload()
        elif step == "sequential_cpu_offload":
            pipe.enable_sequential_cpu_offload()
        elif step in ("group_offload", "group_offload_streams"):
            _group_offload(pipe, use_stream=step.endswith("streams"))
        elif step == "lean_offload":
            _lean_offload(pipe)
        elif step == "ff_chunking":
            _chunk_feed_forwards(pipe)
        elif step == "layerwise_fp8":
            pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=pipe.transformer.dtype)
        elif step == "vae_small_tiles":
            _small_tiles(pipe)
        elif step == "vae_tiling":
            pipe.vae.enable_tiling()
        elif step == "vae_slicing":
            pipe.vae.enable_slicing()
        applied.append(step)
    if speed:  # after the memory steps: fp8 quantizes where the weights now are, compile comes last
        apply_speed(pipe, "+".join(speed))
        applied += speed
    return "+".join(applied) or "cpu"
