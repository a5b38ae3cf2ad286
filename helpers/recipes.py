"""Memory recipes: where the pipeline's parts live while it runs, applied by name.

A recipe is a ``+``-joined list of steps, e.g. ``"model_cpu_offload+vae_tiling"`` (the
seed's recipe). Steps that need CUDA are skipped on a CPU-only machine with a one-line note.
"""

from __future__ import annotations

#: Step name -> (needs CUDA, what it does). Each is one diffusers call.
STEPS = {
    "all_on_gpu": (True, "every component on the GPU: fastest, most VRAM"),
    "model_cpu_offload": (True, "each component moves to the GPU only while it runs (pipe.enable_model_cpu_offload)"),
    "sequential_cpu_offload": (True, "layers stream to the GPU one at a time: least VRAM, slowest"),
    "vae_tiling": (False, "the VAE decodes the video in overlapping tiles (pipe.vae.enable_tiling)"),
    "vae_slicing": (False, "the VAE decodes one video of a batch at a time (pipe.vae.enable_slicing)"),
}


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

    steps = [s.strip() for s in recipe.split("+") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown recipe step {unknown[0]!r}: use one or more of {', '.join(STEPS)} joined by '+'.")
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
        elif step == "vae_tiling":
            pipe.vae.enable_tiling()
        elif step == "vae_slicing":
            pipe.vae.enable_slicing()
        applied.append(step)
    return "+".join(applied) or "cpu"
