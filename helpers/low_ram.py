"""The low-host-RAM recipe: one component at a time, loaded straight to the GPU, freed after use.

``pipe.enable_model_cpu_offload()`` keeps every weight in host RAM (about 20 GB for
CogVideoX-5b), more than the free Colab tier's 12.7 GB. This recipe never holds more than one
component: it encodes the prompt with T5, frees T5, denoises with the transformer, frees it,
then decodes with the VAE (tiled). Each is loaded with ``device_map`` onto the GPU, so its
weights do not pass through host RAM as a whole.

Example:
    >>> from helpers.low_ram import generate_low_ram
    >>> video = generate_low_ram("THUDM/CogVideoX-5b", prompt="a panda", seed=42)  # doctest: +SKIP
"""

import os
from collections.abc import Callable
from types import SimpleNamespace

import torch

from .checks import check_seed, model_defaults, trim_latent_padding
from .loading import default_dtype, load_pipeline, model_folder
from .measure import free_memory


def config_only_pipeline(model: str | os.PathLike | None = None):
    """The pipeline's tokenizer, scheduler and configs, with no weights loaded (transformer and VAE on
    the meta device): enough for :func:`helpers.model_defaults` and :func:`helpers.check_request`.

    Example:
        >>> from helpers.low_ram import config_only_pipeline
        >>> pipe = config_only_pipeline("nano")  # doctest: +ELLIPSIS
        model: CogVideoX-nano ...
          folder: ...
        >>> pipe.transformer.device.type, pipe.vae_scale_factor_spatial
        ('meta', 4)
    """
    from diffusers import AutoencoderKLCogVideoX, CogVideoXPipeline, CogVideoXTransformer3DModel
    from diffusers.utils import logging as diffusers_logging

    folder = model_folder(model)
    with torch.device("meta"):
        transformer = CogVideoXTransformer3DModel.from_config(CogVideoXTransformer3DModel.load_config(folder, subfolder="transformer"))
        vae = AutoencoderKLCogVideoX.from_config(AutoencoderKLCogVideoX.load_config(folder, subfolder="vae"))
    bar = diffusers_logging.is_progress_bar_enabled()
    diffusers_logging.disable_progress_bar()  # nothing heavy loads: no "Loading components" bar in a notebook
    # a str, so that the pipeline's config holds its folder as a str
    pipe = CogVideoXPipeline.from_pretrained(str(folder), text_encoder=None, transformer=transformer, vae=vae)
    if bar:
        diffusers_logging.enable_progress_bar()
    return pipe


def generate_low_ram(model: str | os.PathLike | None = None, *, seed: int = 42, transformer_int8: bool = False,
                     on_stage: Callable[[str], None] | None = None, **request):
    """Generate a video loading one component at a time; returns float frames (F, H, W, 3).

    ``request`` holds the pipeline arguments (prompt, negative_prompt, num_frames, height, width,
    num_inference_steps, guidance_scale, callback_on_step_end); missing ones default from the model.
    ``on_stage`` is called with "encoded", "denoised" and "decoded" as each stage ends (for measuring).
    ``transformer_int8=True`` loads the transformer int8 weight-only (torchao's
    ``Int8WeightOnlyConfig`` through diffusers' ``TorchAoConfig``: each layer is quantized as it
    loads onto the device), about half its bf16 bytes; the numbers it computes change slightly
    (``media/benchmarks/quantization.json`` has int8 weight-only's quality on CogVideoX-nano).

    Example:
        >>> from helpers.low_ram import generate_low_ram
        >>> video = generate_low_ram("nano", seed=1, num_inference_steps=10)  # doctest: +ELLIPSIS
        model: CogVideoX-nano ...
          folder: ...
        >>> video.shape
        (9, 48, 72, 3)
    """
    from diffusers import AutoencoderKLCogVideoX, CogVideoXPipeline, CogVideoXTransformer3DModel, TorchAoConfig
    from transformers import T5EncoderModel

    from .attention import use_fp32_attention_where_needed

    check_seed(seed)  # before anything loads
    device = "cuda" if torch.cuda.is_available() else "cpu"
    folder = model_folder(model)
    dtype = default_dtype(folder)  # the 2b's fp16, the others' bf16; fp32 on a CPU
    load = dict(dtype=dtype, device_map=device, use_safetensors=True)

    def stage_done(name: str) -> None:  # free what the stage left behind, then tell on_stage
        free_memory()
        if on_stage:
            on_stage(name)

    text_encoder = T5EncoderModel.from_pretrained(folder, subfolder="text_encoder", **load)
    pipe = CogVideoXPipeline.from_pretrained(folder, text_encoder=text_encoder, transformer=None, vae=None, dtype=dtype)
    request = {k: v for k, v in request.items() if v is not None}
    negative = request.pop("negative_prompt", None) or ""
    with torch.no_grad():
        embeds, negative_embeds = pipe.encode_prompt(request.pop("prompt", None) or "", negative, device=device,
                                                     do_classifier_free_guidance=request.get("guidance_scale", 6.0) > 1)
    del pipe.text_encoder, pipe, text_encoder
    stage_done("encoded")

    quantized = {}
    if transformer_int8:
        from torchao.quantization import Int8WeightOnlyConfig

        quantized = dict(quantization_config=TorchAoConfig(Int8WeightOnlyConfig()))
    transformer = CogVideoXTransformer3DModel.from_pretrained(folder, subfolder="transformer", **load, **quantized)
    use_fp32_attention_where_needed(transformer)  # a T4: bf16 attention would hold the whole score matrix
    vae = AutoencoderKLCogVideoX.from_pretrained(folder, subfolder="vae", **load)
    pipe = CogVideoXPipeline.from_pretrained(folder, text_encoder=None, tokenizer=None, transformer=transformer, vae=vae, dtype=dtype)
    pipe.set_progress_bar_config(leave=False)
    request = {**{k: v for k, v in model_defaults(pipe).items() if k != "prompt"}, **request}
    # seeded on the CPU, as every notebook seeds
    latents = pipe(prompt_embeds=embeds, negative_prompt_embeds=negative_embeds, output_type="latent",
                   generator=torch.Generator(device="cpu").manual_seed(seed), **request).frames
    latents = trim_latent_padding(latents, request["num_frames"])  # CogVideoX1.5 pads them; the pipeline's own decode drops it
    del pipe.transformer, transformer
    stage_done("denoised")

    vae.enable_tiling()
    with torch.no_grad():
        frames = pipe.video_processor.postprocess_video(video=pipe.decode_latents(latents), output_type="np")[0]
    del pipe, vae
    stage_done("decoded")
    return frames


class StagedPipeline:
    """The low-RAM recipe behind a pipeline's call: ``pipe(**request, generator=g).frames[0]`` runs
    :func:`generate_low_ram`, which loads each component only while it runs; until then only the configs
    and the tokenizer are loaded, and they answer as a pipeline's do (:func:`helpers.check_request`,
    :func:`helpers.model_defaults`, :func:`helpers.save_video`).

    Example:
        >>> from helpers.low_ram import StagedPipeline
        >>> StagedPipeline("nano").transformer.device.type  # no weights until its call  # doctest: +ELLIPSIS
        model: ...
        'meta'
    """

    def __init__(self, model: str | os.PathLike | None = None) -> None:
        self.model, self.configs = model, config_only_pipeline(model)
        self.dtype = default_dtype(self.configs.config["_name_or_path"])

    def __getattr__(self, name: str):
        return getattr(self.__dict__["configs"], name)

    def __call__(self, *, generator=None, num_videos_per_prompt: int = 1, output_type: str = "np", **request):
        if num_videos_per_prompt != 1 or output_type != "np":
            raise ValueError("the low-RAM recipe makes one video per call, as float frames (output_type='np')")
        seed = generator.initial_seed() if generator is not None else 42
        return SimpleNamespace(frames=[generate_low_ram(self.model, seed=seed, **request)])


def load_pipeline_for(model: str | os.PathLike | None, recipe: str):
    """The pipeline a recipe runs on: for ``"low_ram_staged"`` a :class:`StagedPipeline` (nothing loaded
    yet), else :func:`helpers.load_pipeline`'s.

    Example:
        >>> from helpers.low_ram import load_pipeline_for
        >>> type(load_pipeline_for("nano", "low_ram_staged")).__name__  # doctest: +ELLIPSIS
        model: ...
        'StagedPipeline'
    """
    return StagedPipeline(model) if recipe == "low_ram_staged" else load_pipeline(model)
