"""Check a generation request against the model before spending minutes on it.

Errors raise :class:`RequestError` (a ``ValueError``) whose message names the fix;
requests that run but will not give what the user expects return warnings.
"""

import math
import numbers
import os

import psutil

from .environment import GIB
from .family import Member, member_of
from .results import load_results
from .small_model import read_kit_marker
from .workshop import shrink

#: diffusers' CogVideoX pipelines read at most this many T5 tokens of a prompt (``max_sequence_length``).
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


class InputError(RequestError):
    """An input (checkpoint, image, video, strength, size) the pipeline cannot take; the message says what to do.

    A :class:`RequestError` too, so :func:`check_request` lets the ones it meets (size, strength) through as they are."""


def fixed_size(pipe) -> tuple[int, int] | None:
    """The only (height, width) a model with learned position embeddings takes, else ``None``.

    CogVideoX-5b-I2V learned one position embedding per patch of 480x720: other sizes fail.

    Example:
        >>> import helpers
        >>> from helpers.checks import fixed_size
        >>> fixed_size(helpers.load_pipeline("small-i2v", task="image"))  # doctest: +ELLIPSIS
        model: ...
        (48, 72)
    """
    config = pipe.transformer.config
    if not config.use_learned_positional_embeddings:
        return None
    return config.sample_height * pipe.vae_scale_factor_spatial, config.sample_width * pipe.vae_scale_factor_spatial


def check_size(pipe, height: int, width: int) -> None:
    """Raise :class:`InputError` when ``pipe``'s model cannot make height x width videos.

    Example:
        >>> import helpers
        >>> from helpers.checks import check_size
        >>> check_size(helpers.load_pipeline("small-i2v", task="image"), 64, 96)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        helpers.checks.InputError: this model learned its position embeddings for 48x72 only ...
    """
    size = fixed_size(pipe)
    if size and (height, width) != size:
        raise InputError(f"this model learned its position embeddings for {size[0]}x{size[1]} only (as "
                         f"CogVideoX-5b-I2V did for 480x720): ask for height={size[0]}, width={size[1]}; "
                         "fit_image resizes and crops your picture to it.")


def check_strength(strength: float) -> float:
    """``strength`` if it is in (0, 1], else :class:`InputError` saying what it means.

    Example:
        >>> from helpers.checks import check_strength
        >>> check_strength(0)
        Traceback (most recent call last):
        ...
        helpers.checks.InputError: strength 0 is outside (0, 1]: it is how much of the input is replaced (0.0 would return the input unchanged, 1.0 ignores it). Try 0.5 to 0.8.
    """
    if not isinstance(strength, (int, float)) or not 0 < strength <= 1:
        raise InputError(f"strength {strength} is outside (0, 1]: it is how much of the input is replaced (0.0 would "
                         "return the input unchanged, 1.0 ignores it). Try 0.5 to 0.8.")
    return float(strength)


def model_defaults(pipe) -> dict:
    """Prompt, size, frame count, steps and guidance the loaded model was made for.

    A CogVideoX model's size and frames come from its family member (:mod:`helpers.family`: 480x720
    and 49 frames for the 1.0 models, 768x1360 and 81 for the 1.5 ones, whose configuration holds the
    size of a position table, not of a video); the kit's own models' from their configuration (48x72, 9
    frames), and ``kit_model.json`` may set others (CogVideoX-nano: 25 steps and a prompt it can draw).
    Otherwise: the seed article's panda prompt, 50 steps, guidance 6. Workshop mode
    (``COGVIDEOX_WORKSHOP=1``, :mod:`helpers.workshop`) asks for fewer frames and steps.

    Example:
        >>> from helpers import load_pipeline, model_defaults
        >>> defaults = model_defaults(load_pipeline("nano"))  # doctest: +ELLIPSIS
        model: CogVideoX-nano ...
          folder: ...
        >>> {k: v for k, v in defaults.items() if k != "prompt"}
        {'height': 48, 'width': 72, 'num_frames': 9, 'num_inference_steps': 25, 'guidance_scale': 6.0}
    """
    cfg, scale = pipe.transformer.config, pipe.vae_scale_factor_spatial
    member = member_of(cfg)
    marker = read_kit_marker(str(getattr(pipe, "name_or_path", "") or "")) or {}
    defaults = dict(prompt=PANDA_PROMPT, height=member.height, width=member.width, num_frames=member.num_frames,
                    num_inference_steps=member.num_inference_steps, guidance_scale=member.guidance_scale)
    if marker.get("kind"):  # the kit's scaled-down models: the size in their configuration
        defaults.update(height=cfg.sample_height * scale, width=cfg.sample_width * scale, num_frames=cfg.sample_frames)
    defaults.update(marker.get("defaults", {}))  # kit_model.json: steps, guidance and a prompt the model can draw
    return steps_override(shrink(defaults, marker.get("kind"), fixed_frames=cfg.use_learned_positional_embeddings))


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
    steps = env_step_count(STEPS_ENV)
    return request if steps is None else {**request, "num_inference_steps": steps}


def env_step_count(name: str) -> int | None:
    """A step count set in the environment variable ``name`` (``COGVIDEOX_STEPS``, ``COGVIDEOX_LORA_STEPS``), or
    ``None`` when it is unset; anything but a whole number of at least 1 is refused with the fix.

    Example:
        >>> import os
        >>> from helpers.checks import env_step_count
        >>> os.environ["COGVIDEOX_LORA_STEPS"] = "-3"; env_step_count("COGVIDEOX_LORA_STEPS")
        Traceback (most recent call last):
        ...
        ValueError: COGVIDEOX_LORA_STEPS='-3' is not a step count: set a whole number of at least 1, or unset it for the notebook's own.
        >>> del os.environ["COGVIDEOX_LORA_STEPS"]; env_step_count("COGVIDEOX_LORA_STEPS") is None
        True
    """
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or int(value) < 1:
        whose = "the model's own" if name == STEPS_ENV else "the notebook's own"
        raise ValueError(f"{name}={value!r} is not a step count: set a whole number of at least 1, or unset it for "
                         f"{whose}.")
    return int(value)


#: torch.Generator.manual_seed takes 0 to 2**64 - 1 (negative seeds wrap around to large ones).
SEED_LIMIT = 2**64


def check_seed(seed: int) -> int:
    """``seed`` if ``torch.Generator().manual_seed`` takes it as given, else :class:`RequestError` with the range.

    Seeds are not part of the request dict (the pipeline takes a ``generator``): call it where
    the generator is made, ``torch.Generator(device).manual_seed(check_seed(seed))``.

    Example:
        >>> from helpers.checks import check_seed
        >>> check_seed(42)
        42
        >>> check_seed("42")
        Traceback (most recent call last):
        ...
        helpers.checks.RequestError: seed='42': must be a whole number (an int such as 42), not str.
        >>> check_seed(-1)
        Traceback (most recent call last):
        ...
        helpers.checks.RequestError: seed=-1: must be from 0 to 2**64 - 1 (18446744073709551615), the seeds torch takes. Use 42, or any seed in that range.
    """
    if not _is_int(seed):
        raise RequestError(f"seed={seed!r}: must be a whole number (an int such as 42), not {type(seed).__name__}.")
    if not 0 <= seed < SEED_LIMIT:
        raise RequestError(f"seed={seed}: must be from 0 to 2**64 - 1 ({SEED_LIMIT - 1}), the seeds torch takes. "
                           "Use 42, or any seed in that range.")
    return int(seed)


def check_dimension(name: str, value: int, multiple: int, default: int, why: str = "") -> int:
    """``value`` if it is a positive multiple of ``multiple``, else :class:`RequestError` naming one to use.

    ``why`` says where the multiple comes from; ``default`` is the size the model was made for.

    Example:
        >>> from helpers.checks import check_dimension
        >>> check_dimension("height", 480, 16, 480)
        480
        >>> check_dimension("width", 700, 16, 720)
        Traceback (most recent call last):
        ...
        helpers.checks.RequestError: width=700: must be a positive multiple of 16. Use 704, or 720, the size this model was made for.
    """
    if _is_int(value) and value >= multiple and not value % multiple:
        return value
    nearest = max(multiple, round(value / multiple) * multiple) if _is_finite(value) else default
    raise RequestError(
        f"{name}={value!r}: must be a positive multiple of {multiple}{f' ({why})' if why else ''}. "
        f"Use {'' if nearest == default else f'{nearest}, or '}{default}, the size this model was made for.")


def _is_int(value) -> bool:
    """A whole number the pipeline takes: an ``int``, not a ``bool`` (nor a float such as 9.0 or inf)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value) -> bool:
    """A real number, not a ``bool``, neither infinite nor NaN (numpy scalars count)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_guidance(guidance_scale) -> None:
    """Refuse a guidance that is not a finite number of at least 1 (NaN would switch guidance off, inf gives NaN frames)."""
    if not isinstance(guidance_scale, numbers.Real) or isinstance(guidance_scale, bool):
        raise RequestError(f"guidance_scale={guidance_scale!r}: must be a number (a float such as 6.0), "
                           f"not {type(guidance_scale).__name__}.")
    if not math.isfinite(guidance_scale) or guidance_scale < 1:
        need = "at least 1" if math.isfinite(guidance_scale) else "a finite number of at least 1"
        raise RequestError(f"guidance_scale={guidance_scale}: must be {need} (1 turns classifier-free guidance off; "
                           "6 is CogVideoX-5b's default).")


def _check_steps(pipe, num_inference_steps) -> None:
    """Refuse a step count that is not a whole number from 1 to the scheduler's training timesteps."""
    if not _is_int(num_inference_steps) or num_inference_steps < 1:
        raise RequestError(
            f"num_inference_steps={num_inference_steps!r}: must be a whole number of at least 1 (50 is the default).")
    limit = pipe.scheduler.config.get("num_train_timesteps")  # 1000 for CogVideoX
    if _is_int(limit) and num_inference_steps > limit:
        setting = os.environ.get(STEPS_ENV, "").strip()
        raise RequestError(
            f"num_inference_steps={num_inference_steps}: more than the {limit} timesteps this model's scheduler "
            f"was trained with. Use at most {limit} (50 is the default)"
            + (f"; {STEPS_ENV}={setting!r} is set: lower it or unset it." if setting else ".")
        )


def _least_strength(steps: int) -> float:
    """The least strength, rounded up to 3 decimals, for which ``int(steps * strength)`` is at least 1."""
    return math.ceil(1000 / steps) / 1000  # never rounds below 1 in floats (tests check every step count up to 1000)


def _least_steps(strength: float) -> int:
    """The fewest steps for which ``int(steps * strength)`` is at least 1."""
    steps = math.ceil(1 / strength)
    while int(steps * strength) < 1:
        steps += 1
    return steps


def _check_strength(strength, steps: int) -> None:
    """Refuse a video-to-video strength outside (0, 1], or so small that none of ``steps`` runs."""

    if not _is_finite(strength):
        raise RequestError(f"strength={strength!r}: must be a finite number in (0, 1]"
                           + ("" if isinstance(strength, numbers.Real) else f", not {type(strength).__name__}")
                           + " (how much of the input video is replaced). Try 0.5 to 0.8.")
    check_strength(strength)
    if int(steps * strength) < 1:
        raise RequestError(
            f"strength={strength} with num_inference_steps={steps} runs no denoising step (video-to-video runs "
            f"int(steps x strength) = 0 of them). Use strength >= {_least_strength(steps):g} (1/{steps}) for "
            f"{steps} steps, or at least {_least_steps(strength)} steps at strength {strength}.")


def cpu_memory_gib(num_frames: int, height: int, width: int) -> float | None:
    """Host RAM a request takes on a CPU above the loaded pipeline, as measured for CogVideoX-nano (bigger models take more).

    From the fit in ``media/benchmarks/cpu_memory.json`` (``scripts/bench_cpu_memory.py``);
    ``None`` where that file is not shipped.

    Example:
        >>> from helpers.checks import cpu_memory_gib
        >>> 5 < cpu_memory_gib(9, 480, 720) < 8
        True
    """
    fit = (load_results("benchmarks/cpu_memory.json") or {}).get("fit")
    if fit is None:
        return None
    return height * width * (fit["per_pixel_bytes"] + fit["per_pixel_frame_bytes"] * num_frames) / GIB


def transformer_tokens(pipe, num_frames: int, height: int, width: int) -> int:
    """How many tokens the transformer attends over for a request (per video, per guidance branch).

    Example:
        >>> from helpers.checks import transformer_tokens
        >>> from helpers.low_ram import config_only_pipeline
        >>> pipe = config_only_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
          folder: ...
        >>> transformer_tokens(pipe, 9, 48, 72)  # 3 latent frames x 6 x 9 patches
        162
    """
    spatial, patch = pipe.vae_scale_factor_spatial, pipe.transformer.config.patch_size
    frames = latent_frames(num_frames, pipe.vae_scale_factor_temporal)
    patch_t = getattr(pipe.transformer.config, "patch_size_t", None) or 1  # CogVideoX1.5 patches time too
    return -(-frames // patch_t) * (height // spatial // patch) * (width // spatial // patch)


MAX_CPU_MINUTES_ENV = "COGVIDEOX_MAX_CPU_MINUTES"


def cpu_minutes(pipe, num_frames: int, height: int, width: int, num_inference_steps: int) -> float | None:
    """Predicted minutes of denoising on a CPU like the one ``media/benchmarks/cpu_memory.json`` was measured on
    (CogVideoX-nano; bigger models take longer); ``None`` where that file is not shipped.

    Example:
        >>> from helpers.checks import cpu_minutes
        >>> from helpers.low_ram import config_only_pipeline
        >>> cpu_minutes(config_only_pipeline("nano"), 9, 48, 72, 25) < 1  # doctest: +ELLIPSIS
        model: ...
        True
    """
    record = load_results("benchmarks/cpu_memory.json")
    if record is None or "step_s_per_token" not in record["fit"]:
        return None
    fit, tokens = record["fit"], transformer_tokens(pipe, num_frames, height, width)
    return num_inference_steps * tokens * (fit["step_s_per_token"] + fit["step_s_per_token_pair"] * tokens) / 60


def _check_cpu_cost(pipe, num_frames: int, height: int, width: int, num_inference_steps: int) -> None:
    """On a CPU, refuse a request whose predicted memory exceeds the RAM available now (it would swap or be killed),
    or predicted to take longer than ``COGVIDEOX_MAX_CPU_MINUTES`` (60 by default)."""
    if getattr(getattr(pipe, "device", None), "type", "cpu") != "cpu":
        return
    need = cpu_memory_gib(num_frames, height, width)
    have = psutil.virtual_memory().available / GIB
    if need is not None and need > have:
        raise RequestError(
            f"{num_frames} frames at {height}x{width} need at least about {need:.0f} GiB of RAM on a CPU (measured for "
            f"CogVideoX-nano, media/benchmarks/cpu_memory.json); {have:.1f} GiB is available. Ask for fewer frames or "
            "a smaller size (the model's own size fits), or close what else uses memory.")
    limit = os.environ.get(MAX_CPU_MINUTES_ENV, "").strip() or "60"
    try:
        limit_minutes = float(limit)
    except ValueError:
        limit_minutes = float("nan")
    if not _is_finite(limit_minutes) or limit_minutes <= 0:
        raise RequestError(f"{MAX_CPU_MINUTES_ENV}={limit!r} is not a number of minutes: set a positive number, "
                           "or unset it for 60.")
    minutes = cpu_minutes(pipe, num_frames, height, width, num_inference_steps)
    if minutes is not None and minutes > limit_minutes:
        raise RequestError(
            f"{num_frames} frames at {height}x{width} with {num_inference_steps} steps would take about "
            f"{minutes:,.0f} minutes on a CPU (measured for CogVideoX-nano on the kit's test machine, a 2-core CPU; "
            f"media/benchmarks/cpu_memory.json); the limit is {limit_minutes:g}. Ask for fewer frames, a smaller size "
            f"or fewer steps, or set {MAX_CPU_MINUTES_ENV} higher to run it anyway.")


def latent_frames(num_frames: int, temporal_compression: int = 4) -> int:
    """Latent frames the transformer works on: ``(num_frames - 1) // 4 + 1``.

    Example:
        >>> from helpers.checks import latent_frames
        >>> latent_frames(49), latent_frames(24), latent_frames(21)
        (13, 6, 6)
    """
    return (num_frames - 1) // temporal_compression + 1


def trim_latent_padding(latents, num_frames: int):
    """The denoised ``latents`` (batch, frames, channels, height, width) without the latent frames CogVideoX1.5's
    pipeline adds in front to make their count even (its transformer patches frames in pairs). The pipeline drops
    them before it decodes, but ``output_type="latent"`` returns them: decoded as they are, 81 frames come back as 88.

    Example:
        >>> import torch
        >>> from helpers.checks import trim_latent_padding
        >>> trim_latent_padding(torch.zeros(1, 22, 16, 96, 170), num_frames=81).shape[1]  # 1.5: 21 latent frames, padded
        21
        >>> trim_latent_padding(torch.zeros(1, 13, 16, 60, 90), num_frames=49).shape[1]  # 1.0: nothing to drop
        13
    """
    return latents[:, latents.shape[1] - latent_frames(num_frames):]


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


def check_request(pipe, prompt: str, num_frames: int, height: int, width: int, num_inference_steps: int,
                  guidance_scale: float, negative_prompt: str | None = None, strength: float | None = None,
                  **extras) -> list[str]:
    """Check a request for ``pipe``; raise :class:`RequestError` or return warnings (also printed).

    Every number must be finite; steps at most the scheduler's training timesteps (1000);
    ``strength`` (video-to-video) in (0, 1] and large enough that at least one step runs. Extra
    keyword arguments (whatever else you pass to the pipeline) are only checked to be finite where
    they are numbers, so the same dict can be given to both:
    ``check_request(pipe, **request); pipe(**request)``. Seeds: :func:`check_seed`.

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
    if not isinstance(prompt, str):
        raise RequestError(f"prompt must be a string, got {type(prompt).__name__}.")
    if negative_prompt is not None and not isinstance(negative_prompt, str):
        raise RequestError(f"negative_prompt must be a string or None, got {type(negative_prompt).__name__}.")
    member = member_of(pipe.transformer.config)
    kit = read_kit_marker(str(getattr(pipe, "name_or_path", "") or "")) is not None
    warnings = _frame_warnings(pipe, num_frames, native["num_frames"], member, kit)
    warnings += _size_warnings(pipe, num_frames, height, width, native, member, kit)
    _check_steps(pipe, num_inference_steps)
    _check_guidance(guidance_scale)
    _check_cpu_cost(pipe, num_frames, height, width, num_inference_steps)
    if strength is not None:
        _check_strength(strength, num_inference_steps)
    for name, value in extras.items():  # any other number (fps, eta...) must not be infinite or NaN
        if isinstance(value, numbers.Real) and not math.isfinite(value):
            raise RequestError(f"{name}={value!r}: must be a finite number; leave it out for the pipeline's default.")
    warnings += _dtype_warnings(pipe.transformer.dtype, member)
    for label, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
        n = len(pipe.tokenizer(text).input_ids) if text else 0
        if n > MAX_PROMPT_TOKENS:
            warnings.append(f"{label} is {n} T5 tokens: CogVideoX reads the first {MAX_PROMPT_TOKENS} and drops the "
                            "rest. Shorten it, keeping what matters at the start.")
        elif n > member.prompt_tokens:
            warnings.append(f"{label} is {n} T5 tokens: {member.name} was trained on {member.prompt_tokens} "
                            f"(diffusers reads {MAX_PROMPT_TOKENS}); shorten it to {member.prompt_tokens}.")
    for w in warnings:
        print(f"warning: {w}")
    return warnings


def _frame_warnings(pipe, num_frames, trained: int, member: Member, kit: bool) -> list[str]:
    """Refuse a frame count that is not a whole number >= 1; warn where it breaks the model's frame rule (8N+1 for
    CogVideoX 1.0, 16N+1 for 1.5) or is above what it was trained for."""
    step = member.frame_step
    if not _is_int(num_frames) or num_frames < 1:
        drafts = " or ".join(str(n) for n in (trained - 3 * step, trained - 4 * step) if n > 1)
        raise RequestError(
            f"num_frames={num_frames!r}: must be a whole number of at least 1. This model was made for {trained}"
            + (f"; {member.frame_rule} counts such as {drafts} give faster drafts." if drafts else ".")
        )
    compression, warnings = pipe.vae_scale_factor_temporal, []
    if (num_frames - 1) % step:
        latents = latent_frames(num_frames, compression)
        cheapest = compression * (latents - 1) + 1
        got = frames_returned(num_frames, compression)
        below = (num_frames - 1) // step * step + 1
        warnings.append(
            f"num_frames={num_frames} is not {member.frame_rule}: the VAE compresses time {compression}x into {latents} "
            "latent frames" + (f" (the same work as {cheapest} frames)" if cheapest != num_frames else "")
            + f" and the pipeline returns {got} frames" + ("" if got == num_frames else f", not {num_frames}")
            + f". Use {below + step} or {below} ({member.frame_rule}, as {member.name} was trained)."
        )
    elif step == 16 and not kit and num_frames not in (member.num_frames, member.max_frames):
        warnings.append(f"num_frames={num_frames} is {num_frames / member.fps:.0f} s at {member.name}'s {member.fps} fps; it "
                        f"makes videos of {member.num_frames} frames (5 s) or {member.max_frames} (10 s), and other "
                        f"16N+1 counts run as drafts (49 is CogVideoX 1.0's default, carried over by habit).")
    most = trained if kit else max(trained, member.max_frames)
    if num_frames > most:
        warnings.append(
            f"num_frames={num_frames} is above the {most} frames this model was made for: "
            f"expect broken motion and more memory. Use {most} or fewer"
            + (f" ({most - 3 * step} or {most - 4 * step} for drafts)." if most > 4 * step + 1 else ".")
        )
    return warnings


def _dtype_warnings(dtype, member: Member) -> list[str]:
    """Warn where the transformer runs in a half precision its family member was not trained in: fp16 for the 5b
    models (black or NaN frames), bf16 for the 2b (trained in fp16)."""
    import torch

    if dtype == torch.float16 and member.dtype == "bfloat16":
        return [f"the transformer is fp16, but {member.name} was trained in bf16: fp16 gives black or NaN frames. "
                "Load with torch_dtype=torch.bfloat16 (or fp32 on a GPU without bf16)."]
    if dtype == torch.bfloat16 and member.dtype == "float16":
        return [f"the transformer is bf16, but {member.name} was trained in fp16 (THUDM's README recommends fp16 for it): "
                "load with torch_dtype=torch.float16."]
    return []


def _size_warnings(pipe, num_frames: int, height, width, native: dict, member: Member, kit: bool) -> list[str]:
    """Refuse a size the model cannot take; warn where it differs from the one it was trained at (for
    CogVideoX-5b-I2V, whose position embeddings are learned, also a frame count other than its own)."""
    patch = pipe.transformer.config.patch_size
    why = f"{pipe.vae_scale_factor_spatial}x VAE downscaling times patch size {patch}"
    for name, value in (("height", height), ("width", width)):
        check_dimension(name, value, pipe.vae_scale_factor_spatial * patch, native[name], why)
    if pipe.transformer.config.use_learned_positional_embeddings:  # CogVideoX-5b-I2V: made for one size and length
        check_size(pipe, height, width)
        if num_frames != native["num_frames"]:
            return [f"num_frames={num_frames}: this model learned its position embeddings for {native['num_frames']} "
                    "frames; for any other count diffusers swaps them for computed sine-cosine ones it never trained "
                    "with (CogVideoX-5b-I2V users report broken videos at 65 frames, zai-org/CogVideo#680). Use "
                    f"{native['num_frames']} and keep the frames you need."]
    elif member.any_size and not kit:  # CogVideoX1.5-5B-I2V: short side 768, long side up to 1360
        if min(height, width) != 768 or max(height, width) > 1360:
            return [f"{height}x{width}: {member.name} was trained with a short side of 768 and a long side from 768 to "
                    "1360 (multiples of 16): use sizes such as 768x1360, 1360x768 or 768x768."]
    elif (height, width) != (native["height"], native["width"]):
        return [f"{height}x{width} differs from the {native['height']}x{native['width']} this model was trained at: "
                "it runs, but quality drops the further you go."]
    return []
