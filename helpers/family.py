"""The CogVideoX family in one table: what each member is, takes and was made for.

The rules differ between members (THUDM/CogVideo's README and ``inference/cli_demo.py``; diffusers'
``scripts/convert_cogvideox_to_diffusers.py``): the 1.0 models (2b, 5b, 5b-I2V) take 8N+1 frames
(49 at most) at 480x720 and 8 fps; the 1.5 models 16N+1 frames (81 or 161) at 16 fps, 768x1360, and
1.5-I2V other sizes too (short side 768, long side up to 1360, multiples of 16). The 2b was trained
in fp16, the 5b models in bf16. THUDM's demo samples the 2b with DDIM and the others with DPM and
``use_dynamic_cfg=True``. A loaded model is matched to its member by its design (rotary or sine-cosine
positions, a temporal patch, image channels), not by its size, so the kit's scaled-down models follow
the rules of the member they copy.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """One CogVideoX model: its hub id, pipeline, native dtype, default request and rules."""

    name: str
    hub_id: str
    task: str  # "text" or "image" (to video)
    pipeline: str  # the diffusers class for its task
    dtype: str  # "bfloat16" or "float16": the dtype it was trained in
    height: int
    width: int
    num_frames: int
    fps: int
    frame_step: int  # frames are frame_step * N + 1
    max_frames: int  # the most it was trained for
    any_size: bool  # False: height x width is its own (1.0 and 1.5 text-to-video: other sizes lose quality)
    scheduler: str  # the scheduler THUDM's demo uses for it (DPM: with use_dynamic_cfg=True)
    prompt_tokens: int  # T5 tokens it was trained on (diffusers pads to 226 for all)
    num_inference_steps: int = 50
    guidance_scale: float = 6.0

    @property
    def frame_rule(self) -> str:
        """``"8N+1"`` or ``"16N+1"``."""
        return f"{self.frame_step}N+1"


T2V, I2V = "CogVideoXPipeline", "CogVideoXImageToVideoPipeline"
DPM, DDIM = "CogVideoXDPMScheduler", "CogVideoXDDIMScheduler"
FAMILY = (  # name, hub id, task, pipeline, dtype, height, width, frames, fps, frame step, most frames, any size,
    #         scheduler, prompt tokens
    Member("CogVideoX-2b", "THUDM/CogVideoX-2b", "text", T2V, "float16", 480, 720, 49, 8, 8, 49, False, DDIM, 226),
    Member("CogVideoX-5b", "THUDM/CogVideoX-5b", "text", T2V, "bfloat16", 480, 720, 49, 8, 8, 49, False, DPM, 226),
    Member("CogVideoX-5b-I2V", "THUDM/CogVideoX-5b-I2V", "image", I2V, "bfloat16", 480, 720, 49, 8, 8, 49, False, DPM, 226),
    Member("CogVideoX1.5-5B", "THUDM/CogVideoX1.5-5B", "text", T2V, "bfloat16", 768, 1360, 81, 16, 16, 161, False, DPM, 224),
    Member("CogVideoX1.5-5B-I2V", "THUDM/CogVideoX1.5-5B-I2V", "image", I2V, "bfloat16", 768, 1360, 81, 16, 16, 161, True,
           DPM, 224),
)
BY_NAME = {m.name: m for m in FAMILY}


def member(name_or_id: str) -> Member:
    """The member called ``name_or_id`` (its name or hub id, any case).

    Example:
        >>> from helpers.family import member
        >>> member("THUDM/CogVideoX1.5-5B").frame_rule, member("cogvideox-2b").dtype
        ('16N+1', 'float16')
        >>> member("CogVideoX-7b")
        Traceback (most recent call last):
        ...
        ValueError: 'CogVideoX-7b' is no CogVideoX model the kit knows: CogVideoX-2b, CogVideoX-5b, CogVideoX-5b-I2V, CogVideoX1.5-5B, CogVideoX1.5-5B-I2V
    """
    key = name_or_id.lower().rstrip("/").split("/")[-1]
    found = next((m for m in FAMILY if m.name.lower() == key), None)
    if found is None:
        raise ValueError(f"{name_or_id!r} is no CogVideoX model the kit knows: {', '.join(BY_NAME)}")
    return found


def member_of(transformer_config) -> Member:
    """The member whose design ``transformer_config`` (a ``CogVideoXTransformer3DModel`` config) has.

    A temporal patch (``patch_size_t``) is 1.5; sine-cosine positions (no rotary) the 2b; twice the
    latent channels in is image to video. Size is not looked at: the kit's scaled-down models follow
    the rules of the member they copy (CogVideoX-nano: the 5b).

    Example:
        >>> from types import SimpleNamespace
        >>> from helpers.family import member_of
        >>> config = SimpleNamespace(patch_size_t=2, use_rotary_positional_embeddings=True, in_channels=32, out_channels=16)
        >>> member_of(config).name
        'CogVideoX1.5-5B-I2V'
    """
    get = transformer_config.get if isinstance(transformer_config, dict) else lambda k: getattr(transformer_config, k, None)
    image = get("in_channels") == 2 * get("out_channels")
    if get("patch_size_t"):
        return BY_NAME["CogVideoX1.5-5B-I2V" if image else "CogVideoX1.5-5B"]
    if not get("use_rotary_positional_embeddings"):
        return BY_NAME["CogVideoX-2b"]
    return BY_NAME["CogVideoX-5b-I2V" if image else "CogVideoX-5b"]
