"""Small local CogVideoX models (text-to-video, image-to-video) with random weights, built offline.

It uses the same classes as ``THUDM/CogVideoX-5b`` (T5 encoder, ``CogVideoXTransformer3DModel``
with rotary position embeddings, ``AutoencoderKLCogVideoX`` with 4x temporal compression,
``CogVideoXDPMScheduler`` with v-prediction) and is saved in the hub repository's folder
layout, so every loading, offloading and generation call the notebooks teach runs on it
unchanged. Its weights are random: it proves the code runs, the video is noise.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

#: Bump when the architecture below changes, so cached copies are rebuilt.
SMALL_MODEL_VERSION = 2

#: The scheduler of CogVideoX-5b (``scheduler/scheduler_config.json`` in the hub repository): where it differs from
#: ``CogVideoXDPMScheduler``'s defaults (the rest, betas 0.00085 to 0.012 scaled-linear over 1000 steps, are its).
SCHEDULER_CONFIG = dict(clip_sample=False, prediction_type="v_prediction", rescale_betas_zero_snr=True,
                        snr_shift_scale=1.0, timestep_spacing="trailing")

# Words the tokenizer knows whole; anything else is spelled out character by character.
_WORDS = (
    "a an the and of in on at with to from by is are it its as that this while some few other "
    "panda pandas red jacket tiny hat sits wooden stool serene bamboo forest fluffy paws strum "
    "miniature acoustic guitar producing soft melodic tunes nearby gather watching curiously "
    "clapping rhythm sunlight filters through tall casting gentle glow scene face expressive "
    "showing concentration joy plays background includes small flowing stream vibrant green "
    "foliage enhancing peaceful magical atmosphere unique musical performance cat dog bird car "
    "circle square triangle blue yellow orange purple white black grey dark light moving left "
    "right up down growing shrinking standing still sky sea beach city street night day sun "
    "rain snow river mountain flower tree water fire slowly quickly camera video"
).split()


def _tokenizer(words=_WORDS):
    """A T5 tokenizer (Unigram, as transformers' T5Tokenizer needs) knowing ``words`` whole."""
    from transformers import T5Tokenizer

    chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()"
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(f"▁{w}", -5.0) for w in dict.fromkeys(words)]
    vocab += [(c, -10.0) for c in chars] + [(f"▁{c}", -9.0) for c in chars]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=226)


def scaled_down_components(tokenizer, *, text: dict, vae: dict, transformer: dict, image: bool = False) -> dict:
    """A scaled-down CogVideoX (the kit's small and nano models) with random weights: ``text``, ``vae`` and
    ``transformer`` give the sizes, the rest is CogVideoX-5b's design.

    That design: a gated-GELU T5 encoder; a 3-block VAE (4x in space, 4x in time; tiles of 24x40 pixels,
    half of ``sample_height`` x 80, keep a tiled decode of 48x72 exactly the size of an untiled one); a
    transformer with rotary position embeddings over 2x2 patches, taking the VAE's latents (twice the channels
    for image to video, which stacks the picture's latents on the noisy ones and, as CogVideoX-5b-I2V, learns
    its position embeddings for one size); CogVideoX-5b's scheduler.

    Example:
        >>> from helpers.small_model import _tokenizer, scaled_down_components
        >>> parts = scaled_down_components(_tokenizer(), text=dict(d_model=16, d_kv=4, d_ff=32, num_layers=1,
        ...     num_heads=4), vae=dict(block_out_channels=(8, 8, 8), latent_channels=4, norm_num_groups=4,
        ...     sample_height=48, scaling_factor=1.0), transformer=dict(num_attention_heads=2, attention_head_dim=8,
        ...     time_embed_dim=16, text_embed_dim=16, num_layers=1, sample_width=18, sample_height=12, sample_frames=9))
        >>> parts["transformer"].config.in_channels, sorted(parts)
        (4, ['scheduler', 'text_encoder', 'tokenizer', 'transformer', 'vae'])
    """
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    latent = vae["latent_channels"]
    return dict(
        tokenizer=tokenizer,
        text_encoder=T5EncoderModel(T5Config(vocab_size=len(tokenizer), feed_forward_proj="gated-gelu",
                                             dropout_rate=0.0, **text)),
        vae=AutoencoderKLCogVideoX(down_block_types=("CogVideoXDownBlock3D",) * 3,
                                   up_block_types=("CogVideoXUpBlock3D",) * 3, layers_per_block=1,
                                   temporal_compression_ratio=4, sample_width=80, **vae),
        transformer=CogVideoXTransformer3DModel(**{
            "in_channels": 2 * latent if image else latent, "out_channels": latent, "patch_size": 2,
            "temporal_compression_ratio": 4, "max_text_seq_length": 226, "use_rotary_positional_embeddings": True,
            "use_learned_positional_embeddings": image, **transformer}),
        scheduler=CogVideoXDPMScheduler(**SCHEDULER_CONFIG),
    )


#: How the other family members' designs differ from the 5b's (diffusers' scripts/convert_cogvideox_to_diffusers.py):
#: the 2b has sine-cosine positions and its own VAE scale; 1.5 a temporal patch of 2 (16N+1 frames), no patch bias,
#: and, for image to video, an "ofs" embedding in place of learned positions.
DESIGNS = {
    "5b": dict(transformer={}, vae={}),
    "2b": dict(transformer=dict(use_rotary_positional_embeddings=False), vae=dict(scaling_factor=1.15258426)),
    "1.5": dict(transformer=dict(patch_size_t=2, patch_bias=False, sample_frames=17), vae=dict(invert_scale_latents=True)),
}


def build_small_model(folder: str | os.PathLike, seed: int = 0, task: str = "text", design: str = "5b") -> Path:
    """Write a small random-weight CogVideoX pipeline to ``folder``: text-to-video, or ``task="image"``; with
    CogVideoX-5b's design, or ``design="2b"`` or ``"1.5"`` (:data:`DESIGNS`).

    The folder gets the hub repository's layout (``model_index.json``, ``text_encoder/``,
    ``tokenizer/``, ``transformer/``, ``vae/``, ``scheduler/``) with fp32 safetensors
    (a few MB). The same seed always gives the same weights. The folder is written
    atomically: a half-written model is never left behind. The image-to-video model is built
    like CogVideoX-5b-I2V: its transformer takes twice the latent channels and has learned
    position embeddings (one size only).

    Example:
        >>> from helpers import build_small_model
        >>> from diffusers import CogVideoXPipeline
        >>> path = build_small_model("/tmp/cogvideox-small")
        >>> pipe = CogVideoXPipeline.from_pretrained(path)
    """
    import torch
    from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline

    image = task == "image"
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Written beside ``folder`` and renamed into place; the temporary folder goes however this ends.
    with tempfile.TemporaryDirectory(prefix=f".{folder.name}-", dir=folder.parent, ignore_cleanup_errors=True) as tmp:
        torch.manual_seed(seed)
        changes = DESIGNS[design]
        ofs = dict(ofs_embed_dim=32, use_learned_positional_embeddings=False) if design == "1.5" and image else {}
        components = scaled_down_components(
            _tokenizer(), image=image,
            text=dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4),
            vae=dict(block_out_channels=(16, 32, 32), latent_channels=4, norm_num_groups=8, sample_height=48,
                     scaling_factor=0.7) | changes["vae"],
            transformer=dict(num_attention_heads=4, attention_head_dim=16, time_embed_dim=32, text_embed_dim=32,
                             num_layers=2, sample_width=18, sample_height=12, sample_frames=9) | changes["transformer"] | ofs,
        )
        pipeline = CogVideoXImageToVideoPipeline if image else CogVideoXPipeline
        pipeline(**components).save_pretrained(tmp, safe_serialization=True)
        marker = {"kind": "small-i2v" if image else "small", "version": SMALL_MODEL_VERSION, "seed": seed, "design": design}
        (Path(tmp) / KIT_MARKER).write_text(json.dumps(marker, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        Path(tmp).rename(folder)
    return folder


#: The file that marks a folder as one of the kit's own models (small, small-i2v, nano, nano-i2v).
KIT_MARKER = "kit_model.json"


def read_kit_marker(folder: str | os.PathLike) -> dict | None:
    """``folder``'s :data:`KIT_MARKER`, parsed (kind, version, defaults), or ``None`` where there is none.

    A file that is not JSON raises ``ValueError`` (``json.JSONDecodeError`` or ``UnicodeDecodeError``).

    Example:
        >>> from helpers.small_model import read_kit_marker, small_model_path
        >>> read_kit_marker(small_model_path())["kind"], read_kit_marker("THUDM/CogVideoX-5b")
        ('small', None)
    """
    marker = Path(folder) / KIT_MARKER
    return json.loads(marker.read_text()) if marker.is_file() else None


def kit_cache_dir() -> Path:
    """The kit's cache folder: ``$COGVIDEOX_KIT_CACHE``, else ``~/.cache/cogvideox-kit``.

    Example:
        >>> import os
        >>> from pathlib import Path
        >>> from helpers.small_model import kit_cache_dir
        >>> kit_cache_dir() == Path(os.environ.get("COGVIDEOX_KIT_CACHE", Path.home() / ".cache" / "cogvideox-kit"))
        True
    """
    return Path(os.environ.get("COGVIDEOX_KIT_CACHE", Path.home() / ".cache" / "cogvideox-kit"))


def small_model_path(seed: int = 0, task: str = "text", design: str = "5b") -> Path:
    """The small model's folder in the kit cache (``task="image"``: image-to-video; ``design``: which family member's
    design, :data:`DESIGNS`), built on first use.

    Example:
        >>> from helpers import small_model_path
        >>> (small_model_path() / "model_index.json").exists(), small_model_path(design="1.5").name
        (True, 'cogvideox-small-1.5-v2-seed0')
    """
    name = "cogvideox-small" + ("" if design == "5b" else f"-{design}") + ("-i2v" if task == "image" else "")
    folder = kit_cache_dir() / f"{name}-v{SMALL_MODEL_VERSION}-seed{seed}"
    if not (folder / KIT_MARKER).exists():
        build_small_model(folder, seed=seed, task=task, design=design)
    return folder
