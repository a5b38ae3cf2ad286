"""Check a generation request against the model before spending minutes on it.

Errors raise :class:`RequestError` (a ``ValueError``) whose message names the fix;
requests that run but will not give what the user expects return warnings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: CogVideoX reads at most this many T5 tokens of a prompt (``max_sequence_length``).
MAX_PROMPT_TOKENS = 226

#: The seed article's prompt, CogVideoX-5b's example.
PANDA_PROMPT = (
    "A panda, dressed in a small, red jacket and a tiny hat, sits on a wooden stool in a serene bamboo forest. "
    "The panda's fluffy paws strum a miniature acoustic guitar, producing soft, melodic tunes. Nearby, a few other "
    "pandas gather, watching curiously and some clapping in rhythm. Sunlight filters through the tall bamboo, "
    "casting a gentle glow on the scene. The panda's face is expressive, showing concentration and joy as it plays. "
    "The background includes a small, flowing stream and vibrant green foliage, enhancing the peaceful and magical "
    "atmosphere of this unique musical performance."
)


class RequestError(ValueError):
    """A generation request the model cannot run; the message says what to use instead."""


def model_defaults(pipe) -> dict:
    """Prompt, size, frame count, steps and guidance the loaded model was made for.

    Size and frames come from the model's configuration (480x720, 49 frames for CogVideoX-5b;
    48x72, 9 frames for the kit's models); the kit's own models may set other defaults in
    ``kit_model.json`` (CogVideoX-nano: 25 steps and a prompt it can draw). Otherwise: the seed
    article's panda prompt, 50 steps, guidance 6. Workshop mode (``COGVIDEOX_WORKSHOP=1``,
    :mod:`helpers.workshop`) asks for fewer frames and steps.

    Example:
        >>> from helpers import load_pipeline, model_defaults
        >>> defaults = model_defaults(load_pipeline("nano"))  # doctest: +ELLIPSIS
        model: CogVideoX-nano ...
          folder: ...
        >>> {k: v for k, v in defaults.items() if k != "prompt"}
        {'height': 48, 'width': 72, 'num_frames': 9, 'num_inference_steps': 25, 'guidance_scale': 6.0}
    """
    cfg = pipe.transformer.config
    marker = Path(str(getattr(pipe, "name_or_path", "") or "")) / "kit_model.json"
    kit = json.loads(marker.read_text()).get("defaults", {}) if marker.is_file() else {}
    from .workshop import shrink

    kind = json.loads(marker.read_text()).get("kind") if marker.is_file() else None
    return steps_override(shrink(dict(
        prompt=kit.get("prompt", PANDA_PROMPT),
        height=cfg.sample_height * pipe.vae_scale_factor_spatial,
        width=cfg.sample_width * pipe.vae_scale_factor_spatial,
        num_frames=cfg.sample_frames,
        num_inference_steps=kit.get("num_inference_steps", 50),
        guidance_scale=kit.get("guidance_scale", 6.0),
    ), kind, fixed_frames=cfg.use_learned_positional_embeddings))


#: The one setting that cuts every notebook's step count (the GPU rehearsal's "full size, few steps").
STEPS_ENV = "COGVIDEOX_STEPS"


def steps_override(request: dict) -> dict:
    """``request`` with ``num_inference_steps`` from ``COGVIDEOX_STEPS`` when that is set.

    Peak memory depends on frames and size, not on steps: a 2-step run of the full request shows
    its memory in a fraction of the time (``scripts/gpu_rehearsal.py`` uses it). A value that is
    not a whole number of at least 1 is refused with the fix.

    Example:
        >>> import os
        >>> from helpers.checks import steps_override
        >>> os.environ["COGVIDEOX_STEPS"] = "2"; steps_override({"num_inference_steps": 50})
        {'num_inference_steps': 2}
        >>> os.environ["COGVIDEOX_STEPS"] = "two"; steps_override({})
        Traceback (most recent call last):
        ...
        ValueError: COGVIDEOX_STEPS='two' is not a step count: set a whole number of at least 1, or unset it for the model's own.
        >>> del os.environ["COGVIDEOX_STEPS"]
    """
    value = os.environ.get(STEPS_ENV, "").strip()
    if not value:
        return request
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{STEPS_ENV}={value!r} is not a step count: set a whole number of at least 1, "
                         "or unset it for the model's own.")
    return {**request, "num_inference_steps": int(value)}


def latent_frames(num_frames: int, temporal_compression: int = 4) -> int:
    """Latent frames the transformer works on: ``(num_frames - 1) // 4 + 1``.

    Example:
        >>> from helpers.checks import latent_frames
        >>> latent_frames(49), latent_frames(24), latent_frames(21)
        (13, 6, 6)
    """
    return (num_frames - 1) // temporal_compression + 1


def frames_returned(num_frames: int, temporal_compression: int = 4) -> int:
    """Frames the pipeline actually returns for ``num_frames``.

    The VAE decodes latent frames in pairs (an odd count keeps one extra first frame), so
    8N+1 and 8N come back as asked and other counts do not: 13 gives 16, 12 gives 9.

    Example:
        >>> from helpers.checks import frames_returned
        >>> [frames_returned(n) for n in (49, 24, 13, 12, 21)]
        [49, 24, 16, 9, 24]
    """
    latents = latent_frames(num_frames, temporal_compression)
    return temporal_compression * latents - (temporal_compression - 1) * (latents % 2)


def check_request(
    pipe,
    prompt: str,
    num_frames: int,
    height: int,
    width: int,
    num_inference_steps: int,
    guidance_scale: float,
    negative_prompt: str | None = None,
    **_ignored,
) -> list[str]:
    """Check a request for ``pipe``; raise :class:`RequestError` or return warnings (also printed).

    Extra keyword arguments (whatever else you pass to the pipeline) are ignored, so the same
    dict can be given to both: ``check_request(pipe, **request); pipe(**request)``.

    Example:
        >>> from helpers import check_request, load_pipeline
        >>> pipe = load_pipeline("small")  # doctest: +ELLIPSIS
        model: small local model (random weights: its videos are noise)  [argument]
          folder: ...
        >>> warnings = check_request(pipe, "a panda", num_frames=24, height=48, width=72,
        ...                          num_inference_steps=50, guidance_scale=6)  # doctest: +ELLIPSIS
        warning: num_frames=24 is not 8N+1: ... the pipeline returns 24 frames. Use 25 or 17 (8N+1, ...
        warning: num_frames=24 is above the 9 frames this model was made for: ...
    """
    native = model_defaults(pipe)
    trained = native["num_frames"]
    multiple = pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size
    compression = pipe.vae_scale_factor_temporal
    warnings: list[str] = []

    if not isinstance(prompt, str):
        raise RequestError(f"prompt must be a string, got {type(prompt).__name__}.")
    if not isinstance(num_frames, int) or num_frames < 1:
        raise RequestError(
            f"num_frames={num_frames!r}: must be a whole number of at least 1. "
            f"This model was made for {trained}; 8N+1 counts such as 25 or 17 give faster drafts."
        )
    if (num_frames - 1) % 8:
        latents = latent_frames(num_frames, compression)
        cheapest = compression * (latents - 1) + 1
        got = frames_returned(num_frames, compression)
        below = (num_frames - 1) // 8 * 8 + 1
        warnings.append(
            f"num_frames={num_frames} is not 8N+1: the VAE compresses time {compression}x into {latents} latent frames"
            + (f" (the same work as {cheapest} frames)" if cheapest != num_frames else "")
            + f" and the pipeline returns {got} frames"
            + ("" if got == num_frames else f", not {num_frames}")
            + f". Use {below + 8} or {below} (8N+1, as the model was trained)."
        )
    if num_frames > trained:
        warnings.append(
            f"num_frames={num_frames} is above the {trained} frames this model was made for: "
            f"expect broken motion and more memory. Use {trained} or fewer (25 or 17 for drafts)."
        )
    for name, value, default in (("height", height, native["height"]), ("width", width, native["width"])):
        if not isinstance(value, int) or value < multiple or value % multiple:
            nearest = max(multiple, round(value / multiple) * multiple) if isinstance(value, (int, float)) else default
            raise RequestError(
                f"{name}={value!r}: must be a positive multiple of {multiple} "
                f"({pipe.vae_scale_factor_spatial}x VAE downscaling times patch size "
                f"{pipe.transformer.config.patch_size}). "
                + (f"Use {default}, the size this model was made for." if nearest == default
                   else f"Use {nearest}, or {default}, the size this model was made for.")
            )
    if pipe.transformer.config.use_learned_positional_embeddings:  # CogVideoX-5b-I2V: made for one size and length
        from .image_video import InputError, check_size

        try:
            check_size(pipe, height, width)
        except InputError as e:
            raise RequestError(str(e)) from None
        if num_frames != native["num_frames"]:
            warnings.append(
                f"num_frames={num_frames}: this model learned its position embeddings for {native['num_frames']} frames; "
                "for any other count diffusers swaps them for computed sine-cosine ones it never trained with "
                "(CogVideoX-5b-I2V users report broken videos at 65 frames, zai-org/CogVideo#680). Use "
                f"{native['num_frames']} and keep the frames you need.")
    elif (height, width) != (native["height"], native["width"]):
        warnings.append(
            f"{height}x{width} differs from the {native['height']}x{native['width']} this model was trained at: "
            "it runs, but quality drops the further you go."
        )
    if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
        raise RequestError(
            f"num_inference_steps={num_inference_steps!r}: must be a whole number of at least 1 (50 is the default)."
        )
    if guidance_scale < 1:
        raise RequestError(
            f"guidance_scale={guidance_scale}: must be at least 1 (1 turns classifier-free guidance off; "
            "6 is CogVideoX-5b's default)."
        )
    for label, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
        if text:
            n = len(pipe.tokenizer(text).input_ids)
            if n > MAX_PROMPT_TOKENS:
                warnings.append(
                    f"{label} is {n} T5 tokens: CogVideoX reads the first {MAX_PROMPT_TOKENS} and drops the rest. "
                    "Shorten it, keeping what matters at the start."
                )
    for w in warnings:
        print(f"warning: {w}")
    return warnings
