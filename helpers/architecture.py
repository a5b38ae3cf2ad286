"""The full-size CogVideoX-5b architecture (and the family's others), built from its configs without downloading weights.

Weights' values change neither time nor memory, so GPU benchmarks build these components
with random weights; on the ``meta`` device they cost no memory at all (for counting).
The configs are those of the hub repository ``THUDM/CogVideoX-5b``.
"""

import json
from pathlib import Path

import torch

from .family import member
from .image_video import PIPELINES
from .measure import free_memory
from .small_model import SCHEDULER_CONFIG, _tokenizer

# The configs of the hub repository THUDM/CogVideoX-5b (its transformer/, vae/ and text_encoder/ config.json:
# google/t5-v1_1-xxl), kept as data beside the nano's, which ship with the package.
_CONFIGS = json.loads((Path(__file__).parent / "models" / "cogvideox-5b-configs.json").read_text())
TRANSFORMER_5B: dict = _CONFIGS["transformer"]
VAE_5B: dict = _CONFIGS["vae"]

#: How the other family members' full-size configs differ from the 5b's (transformer, VAE), from diffusers'
#: scripts/convert_cogvideox_to_diffusers.py (the 2b: 30 heads and layers, sine-cosine positions, its VAE scale;
#: 1.5: a temporal patch of 2, no patch bias, a 300x300 rotary table, 81 frames; 1.5-I2V: an "ofs" embedding).
FULL_SIZE_CHANGES = {
    "CogVideoX-2b": (dict(num_attention_heads=30, num_layers=30, use_rotary_positional_embeddings=False),
                     dict(scaling_factor=1.15258426)),
    "CogVideoX-5b": ({}, {}),
    "CogVideoX-5b-I2V": (dict(in_channels=32, use_learned_positional_embeddings=True), {}),
    "CogVideoX1.5-5B": (dict(patch_size_t=2, patch_bias=False, sample_height=300, sample_width=300, sample_frames=81),
                        dict(invert_scale_latents=True)),
    "CogVideoX1.5-5B-I2V": (dict(patch_size_t=2, patch_bias=False, sample_height=300, sample_width=300, sample_frames=81,
                                 in_channels=32, ofs_embed_dim=512), dict(invert_scale_latents=True)),
}


def full_size_transformer_config(model: str = "CogVideoX-5b") -> dict:
    """A family member's full-size transformer configuration (``model``: a name of :data:`helpers.family.FAMILY`).

    Example:
        >>> from helpers.architecture import full_size_transformer_config
        >>> [full_size_transformer_config(m)["num_layers"] for m in ("CogVideoX-2b", "CogVideoX-5b", "CogVideoX1.5-5B")]
        [30, 42, 42]
    """
    return {**TRANSFORMER_5B, **FULL_SIZE_CHANGES[model][0]}


def build_components(model: str = "CogVideoX-5b", device: str = "meta", dtype=None) -> dict:
    """A CogVideoX model's text encoder, transformer and VAE, full size, with random weights on ``device``
    (``model``: a name of :data:`helpers.family.FAMILY`).

    On ``"meta"`` (the default) nothing is allocated: use it to count parameters or bytes.
    On ``"cuda"`` this is the random-weight model the kit's GPU benchmarks time.

    Example:
        >>> from helpers.architecture import build_components
        >>> {m: round(sum(p.numel() for p in build_components(m)["transformer"].parameters()) / 1e9, 2)
        ...  for m in ("CogVideoX-2b", "CogVideoX1.5-5B")}
        {'CogVideoX-2b': 1.69, 'CogVideoX1.5-5B': 5.57}
    """
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype or previous)
    try:
        with torch.device(device):
            return dict(
                text_encoder=T5EncoderModel(T5Config(**_CONFIGS["text_encoder"])),
                transformer=CogVideoXTransformer3DModel(**full_size_transformer_config(model)),
                vae=AutoencoderKLCogVideoX(**{**VAE_5B, **FULL_SIZE_CHANGES[model][1]}),
            )
    finally:
        torch.set_default_dtype(previous)


def parameter_counts_5b() -> dict[str, int]:
    """Parameters of each CogVideoX-5b component, counted on the meta device (no memory used).

    Example:
        >>> from helpers.architecture import parameter_counts_5b
        >>> {k: round(v / 1e9, 3) for k, v in parameter_counts_5b().items()}
        {'text_encoder': 4.762, 'transformer': 5.57, 'vae': 0.216}
    """
    return {name: sum(p.numel() for p in module.parameters()) for name, module in build_components().items()}


def random_5b_pipeline(device: str = "cuda", dtype=None, task: str = "text", model: str | None = None):
    """A pipeline of CogVideoX-5b's architecture with random weights, built on ``device``.

    ``task`` picks the pipeline as :func:`helpers.load_pipeline` does: ``"image"`` builds
    CogVideoX-5b-I2V's architecture, ``"video"`` the video-to-video pipeline on CogVideoX-5b's.
    ``model`` builds another member of :data:`helpers.family.FAMILY` (its task's pipeline).

    The member's dtype by default (bf16; fp16 for the 2b). The tokenizer is the kit's small local one (its ids fall
    inside T5's vocabulary); the scheduler is CogVideoX-5b's. Weights' values change neither time nor memory.

    Example:
        >>> from helpers.architecture import random_5b_pipeline
        >>> pipe = random_5b_pipeline("meta")
        >>> type(pipe).__name__, type(random_5b_pipeline("meta", task="image")).__name__
        ('CogVideoXPipeline', 'CogVideoXImageToVideoPipeline')
    """
    import diffusers

    name = model or ("CogVideoX-5b-I2V" if task == "image" else "CogVideoX-5b")
    parts = build_components(name, device=device, dtype=dtype or getattr(torch, member(name).dtype))
    # The member's own pipeline, unless video to video (which runs on text-to-video weights).
    pipeline = getattr(diffusers, PIPELINES["video"] if task == "video" else member(name).pipeline)
    return pipeline(tokenizer=_tokenizer(), scheduler=diffusers.CogVideoXDPMScheduler(**SCHEDULER_CONFIG), **parts)


def save_random_5b(folder, device: str = "cuda", task: str = "text", model: str | None = None) -> None:
    """Save CogVideoX-5b's architecture (5b-I2V's for ``task="image"``; ``model``: another family member's) with random
    weights in its own dtype, in the hub layout.

    The folder loads like a download of ``THUDM/CogVideoX-5b`` (sharded safetensors, no
    ``kit_model.json``); the tokenizer is the kit's small local one. About 21 GB of disk (the 2b: about 13 GB).

    Example:
        >>> from helpers.architecture import save_random_5b
        >>> save_random_5b("/tmp/CogVideoX-5b-random")  # doctest: +SKIP
    """
    import shutil

    pipe = random_5b_pipeline(device, task=task, model=model)
    if Path(folder).exists():
        shutil.rmtree(folder)
    pipe.save_pretrained(folder, safe_serialization=True)
    del pipe
    free_memory()
