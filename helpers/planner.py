"""Which memory recipe fits this machine? Predicted peaks for CogVideoX-5b (and the family's others), before you
wait for an OOM.

Peak VRAM is predicted per stage (encode the prompt, denoise, decode) as the weights resident
on the GPU in that stage plus that stage's working memory:

- weights: counted from CogVideoX-5b's configuration (helpers.architecture, 2 bytes a weight in bf16);
- denoising working memory grows with the tokens the transformer sees: frames, size, the
  batch and the classifier-free-guidance batch of two;
- decoding working memory depends on the decoded area (whole frames, or one tile at a time).

The constants below were measured on an H100 with ``scripts/bench_memory.py``
(``media/benchmarks/memory.json``; random weights, which change neither time nor memory).
Speeds are relative to keeping everything on the GPU. Another member (``model=``, :func:`recommend_model`)
counts its own weights and tokens, with its denoising memory from ``media/benchmarks/family.json``.

Its command line, for another machine or request: ``python scripts/plan.py --vram-gib 15 --ram-gib 12.7``.
"""

from dataclasses import dataclass
from functools import lru_cache

from .architecture import build_components, full_size_transformer_config
from .checks import latent_frames
from .environment import GIB, needs_fp32_attention
from .family import member, member_of


#: Measured constants (H100, bf16, CogVideoX-5b architecture; media/benchmarks/memory.json).
MEASURED = dict(
    # GiB per transformer token per video in the denoising batch (CFG doubles the batch):
    # all_on_gpu at 49x480x720 peaked 2.72 GiB above its resident weights with 2 x 17,776 tokens.
    denoise_gib_per_token=2.72 / (2 * 17776),
    # T5 encoding's working memory above its weights.
    encode_gib=0.51,
    # VAE decode working memory: one 240x360 tile (the default tiles), a 96x160 tile, whole 480x720 frames.
    decode_tile_gib=3.81,
    decode_small_tile_gib=0.83,
    decode_untiled_gib_per_pixel=14.80 / (480 * 720),
    # Layerwise fp8 casting keeps this share of the transformer's bf16 bytes (norms and
    # embeddings stay in bf16, plus one layer cast up at a time).
    fp8_share=0.574,
    # Host RAM: the process itself (Python, torch, CUDA), and how much of the largest component
    # passes through host memory while a component is loaded onto the GPU.
    host_base_gib=1.63,
    host_loading_share=0.85,
    # Group offloading keeps extra host copies of the offloaded weights (pinned ones with streams).
    host_group_extra_share=0.39,
    host_group_streams_extra_share=1.0,
    # fp8 casting happens on the CPU while the bf16 weights are still there.
    host_fp8_share=1.09,
    # Speed relative to all_on_gpu+vae_tiling: its end-to-end seconds (50 steps and the decode)
    # over the recipe's (96.5 / 94.3, 95.1, 107.1, 99.6, 119.2, 200.5, 525.9).
    # lean_offload+vae_small_tiles: 101.2 s. group_offload_low_cpu: group_offload_streams' times its
    # 111.1 s over 128.3 s, measured in one run on an H200 (media/benchmarks/offload_ram.json).
    speed=dict(all_on_gpu_untiled=1.02, all_on_gpu=1.0, layerwise_fp8=1.0, model_cpu_offload=0.90,
               low_ram_staged=0.97, lean_offload=0.95, group_offload_streams=0.81, group_offload_low_cpu=0.70,
               sequential_cpu_offload=0.48, group_offload=0.18),
)

#: The recipes the planner knows, fastest family first. Each name works with helpers.apply_recipe,
#: except low_ram_staged (helpers.low_ram.generate_low_ram).
RECIPES = (
    "all_on_gpu+vae_tiling",
    "layerwise_fp8+all_on_gpu+vae_tiling",
    "model_cpu_offload+vae_tiling",
    "low_ram_staged",
    "lean_offload+vae_small_tiles",
    "group_offload_streams+vae_small_tiles",
    "group_offload_streams+vae_tiling",
    "group_offload_low_cpu+vae_tiling",
    "sequential_cpu_offload+vae_tiling",
    "group_offload+vae_tiling",
    "all_on_gpu",
)


FIVE_B = "CogVideoX-5b"


@lru_cache(maxsize=None)
def weights_gib(model: str = FIVE_B) -> dict[str, float]:
    """A family member's weight memory per component (GiB) in the dtype it runs in, counted from its configuration.

    2 bytes a weight (bf16, or fp16 for the 2b), except the T5 layers transformers keeps in fp32 when it loads T5 in
    fp16 (``T5EncoderModel._keep_in_fp32_modules``: its feed-forward ``wo``), which cost the 2b 1.9 GiB more.

    Example:
        >>> from helpers.planner import weights_gib
        >>> {k: round(v, 2) for k, v in weights_gib().items()}
        {'text_encoder': 8.87, 'transformer': 10.38, 'vae': 0.4}
        >>> round(weights_gib("CogVideoX-2b")["text_encoder"], 2)
        10.75
    """
    half = member(model).dtype == "float16"
    sizes = {}
    for name, module in build_components(model).items():
        fp32 = (getattr(module, "_keep_in_fp32_modules", None) or []) if half else []
        sizes[name] = sum(p.numel() * (4 if any(f".{k}." in n for k in fp32) else 2)
                          for n, p in module.named_parameters()) / GIB
    return sizes


def transformer_tokens(num_frames: int = 49, height: int = 480, width: int = 720, model: str = FIVE_B) -> int:
    """Tokens a family member's full-size transformer attends over: video patches plus 226 text tokens.

    CogVideoX1.5 patches latent frames in pairs (its pipeline pads an odd count by one).

    Example:
        >>> from helpers.planner import transformer_tokens
        >>> transformer_tokens(49, 480, 720), transformer_tokens(81, 768, 1360, model="CogVideoX1.5-5B")
        (17776, 45106)
    """
    patch_t = full_size_transformer_config(model).get("patch_size_t") or 1
    return -(-latent_frames(num_frames) // patch_t) * (height // 16) * (width // 16) + 226


def denoise_gib_per_token(model: str = FIVE_B) -> tuple[float, bool]:
    """Denoising working memory (GiB) per transformer token per video in the batch, and whether it was measured
    for ``model`` (or its text-to-video twin): the 5b's from ``media/benchmarks/memory.json`` (:data:`MEASURED`),
    the others' from ``media/benchmarks/family.json`` (all on the GPU: the peak above the resident weights), else
    the 5b's as an estimate.

    Example:
        >>> from helpers.planner import denoise_gib_per_token
        >>> [round(denoise_gib_per_token(m)[0] * 1e5, 1) for m in ("CogVideoX-5b", "CogVideoX-2b", "CogVideoX1.5-5B")]
        [7.7, 5.2, 7.6]
    """
    twin = model.removesuffix("-I2V")  # an image-to-video model is measured by its text-to-video twin
    if twin == FIVE_B:
        return MEASURED["denoise_gib_per_token"], True
    m = member(twin)
    for row in (benchmark_results("family.json") or {}).get("results", []):
        if row["model"] == twin and row["recipe"] == "all_on_gpu+vae_tiling" and row["num_frames"] == m.num_frames:
            tokens = transformer_tokens(m.num_frames, m.height, m.width, twin)
            return (row["denoise_peak_vram_gib"] - sum(weights_gib(twin).values())) / (2 * tokens), True
    return MEASURED["denoise_gib_per_token"], False


@dataclass
class Prediction:
    """Predicted peaks and speed of one recipe for one request."""

    recipe: str
    peak_vram_gib: float
    peak_host_rss_gib: float
    relative_speed: float

    def fits(self, vram_gib: float, ram_gib: float) -> bool:
        """True when both peaks fit, keeping 5% of VRAM and 10% of host RAM spare."""
        return self.peak_vram_gib <= 0.95 * vram_gib and self.peak_host_rss_gib <= 0.9 * ram_gib


def _videos(batch: int, guidance_scale: float) -> int:
    """Videos in the denoising batch: classifier-free guidance (``guidance_scale > 1``) doubles it."""
    return (2 if guidance_scale > 1 else 1) * batch


def math_attention_gib(num_frames: int = 49, height: int = 480, width: int = 720, batch: int = 1,
                       guidance_scale: float = 6.0, model: str = FIVE_B) -> float:
    """Memory attention's math kernel needs on top of fused kernels: the whole score matrix, twice.

    Where PyTorch has no fused attention kernel for the dtype (bf16 on compute capability below
    8.0, a T4), ``scaled_dot_product_attention`` falls back to its math kernel, which upcasts bf16
    to fp32 (``torch.backends.cuda.allow_fp16_bf16_reduction_math_sdp`` is off by default) and
    holds the scores and their softmax: 2 x 4 bytes x heads x tokens² per video in the batch.
    Counted from ``model``'s configuration, not measured.

    Example:
        >>> from helpers.planner import math_attention_gib
        >>> round(math_attention_gib(49)), round(math_attention_gib(17)), round(math_attention_gib(9), 1)
        (226, 35, 13.1)
    """
    tokens = transformer_tokens(num_frames, height, width, model)
    heads = full_size_transformer_config(model)["num_attention_heads"]
    return 2 * 4 * heads * tokens**2 * _videos(batch, guidance_scale) / GIB


def fp32_attention_gib(num_frames: int = 49, height: int = 480, width: int = 720, batch: int = 1,
                       guidance_scale: float = 6.0, model: str = FIVE_B) -> float:
    """Memory fp32 attention (:class:`helpers.attention.FP32Attention`, a T4) adds to the denoising peak of fused
    bf16 kernels: the share :func:`fp32_attention_share` of its fp32 copies.

    Its copies: the query, key and value cast to fp32 and the fp32 output, for one layer at a time,
    4 x 4 bytes x heads x tokens x head size per video in the batch, counted from ``model``'s configuration.

    Example:
        >>> from helpers.planner import fp32_attention_gib
        >>> round(fp32_attention_gib(49), 2), round(fp32_attention_gib(17), 2)
        (0.2, 0.08)
    """
    return _fp32_copies_gib(num_frames, height, width, batch, guidance_scale, model) * fp32_attention_share()


def _fp32_copies_gib(num_frames: int, height: int, width: int, batch: int, guidance_scale: float, model: str) -> float:
    config = full_size_transformer_config(model)
    heads, dim = config["num_attention_heads"], config["attention_head_dim"]
    return 4 * 4 * heads * transformer_tokens(num_frames, height, width, model) * dim * _videos(batch, guidance_scale) / GIB


@lru_cache(maxsize=None)
def fp32_attention_share() -> float:
    """The share of fp32 attention's copies that showed in the denoising peak, measured: CogVideoX-5b under the T4's
    emulation (``media/benchmarks/family.json``), its low-RAM denoising peak above the resident transformer and VAE
    and bf16's working memory; 1.0 (all of them, counted) where no such row is shipped. The feed-forward's working
    memory peaks apart from attention's, so the copies add only what attention's peak exceeds it by.

    Example:
        >>> from helpers.planner import fp32_attention_share
        >>> round(fp32_attention_share(), 2)
        0.12
    """
    w, m = weights_gib(FIVE_B), member(FIVE_B)
    for row in (benchmark_results("family.json") or {}).get("results", []):
        if (row.get("emulated"), row["model"], row["recipe"]) == ("t4", FIVE_B, "low_ram_staged") and "error" not in row:
            size = (row["num_frames"], m.height, m.width)  # bench_memory's request: the 5b's size, one video, guidance 6
            bf16 = MEASURED["denoise_gib_per_token"] * transformer_tokens(*size) * _videos(1, 6.0)
            above = row["denoise_peak_vram_gib"] - w["transformer"] - w["vae"] - bf16
            return min(max(above, 0.0) / _fp32_copies_gib(*size, 1, 6.0, FIVE_B), 1.0)
    return 1.0


#: How attention is computed: fused bf16 kernels (compute capability 8.0+), fp32 on the
#: memory-efficient kernel (what the kit does on a T4), or bf16 on the math kernel (a T4 left alone).
ATTENTION = {"fused": lambda *request: 0.0, "fp32": fp32_attention_gib, "math": math_attention_gib}


def attention_here(report, model: str = FIVE_B) -> str:
    """How the kit's pipelines compute ``model``'s attention on ``report``'s GPU: "fp32" for a bf16 model on a T4
    (helpers.attention), else "fused" (a T4's memory-efficient kernel takes the 2b's fp16).

    Example:
        >>> from types import SimpleNamespace
        >>> from helpers.planner import attention_here
        >>> t4 = SimpleNamespace(cuda=True, compute_capability="7.5")
        >>> attention_here(t4), attention_here(t4, "CogVideoX-2b")
        ('fp32', 'fused')
        >>> attention_here(SimpleNamespace(cuda=True, compute_capability="9.0"))
        'fused'
    """
    return "fp32" if needs_fp32_attention(report) and member(model).dtype == "bfloat16" else "fused"


def predict(recipe: str, num_frames: int = 49, height: int = 480, width: int = 720, batch: int = 1,
            guidance_scale: float = 6.0, attention: str = "fused", model: str = FIVE_B) -> Prediction:
    """Predict a recipe's peak VRAM, peak host RAM and relative speed for a request to ``model`` (CogVideoX-5b).

    Another member's prediction counts its own weights and tokens, and takes its denoising memory per token from
    ``media/benchmarks/family.json`` (:func:`denoise_gib_per_token`); the other constants, and every relative
    speed, are the 5b's.

    ``attention`` (a key of :data:`ATTENTION`): "fp32" adds :func:`fp32_attention_gib` to the
    denoising stage (a T4 with the kit's :class:`helpers.attention.FP32Attention`), "math" adds
    :func:`math_attention_gib` (bf16 attention on a T4's math kernel).

    Example:
        >>> from helpers.planner import predict
        >>> p = predict("model_cpu_offload+vae_tiling")
        >>> round(p.peak_vram_gib, 1), round(p.peak_host_rss_gib, 1)
        (13.1, 21.3)
        >>> round(predict("low_ram_staged", model="CogVideoX-2b").peak_vram_gib, 1)  # T5, loaded alone, is the peak
        11.3
    """
    m, w = MEASURED, weights_gib(model)
    # ff_chunking was measured to leave every peak where it was: it changes no prediction (no step below looks at it).
    steps = set(recipe.split("+"))
    if "low_ram_staged" in steps:
        steps.add("vae_tiling")  # generate_low_ram always decodes tiled
    fp8 = "layerwise_fp8" in steps
    t5, vae = w["text_encoder"], w["vae"]
    dit = w["transformer"] * m["fp8_share"] if fp8 else w["transformer"]
    tokens = transformer_tokens(num_frames, height, width, model)
    denoise = denoise_gib_per_token(model)[0] * tokens * _videos(batch, guidance_scale)
    if attention not in ATTENTION:
        raise ValueError(f"attention={attention!r}: choose one of {', '.join(ATTENTION)}")
    denoise += ATTENTION[attention](num_frames, height, width, batch, guidance_scale, model)
    # decoding: one tile at a time (small tiles before the default ones), else whole frames; all the batch's
    # videos at once unless sliced
    decode = (m["decode_small_tile_gib"] if "vae_small_tiles" in steps
              else m["decode_tile_gib"] if "vae_tiling" in steps
              else m["decode_untiled_gib_per_pixel"] * height * width) * (1 if "vae_slicing" in steps else batch)

    # Host RAM: the offloading recipes hold every weight there (group offloading extra copies of T5 and the
    # transformer); the others only what passes through while a component loads.
    total, blocks = t5 + dit + vae, 2 * dit / full_size_transformer_config(model)["num_layers"] + vae
    offloaded = m["host_base_gib"] + total
    streams = offloaded + m["host_group_streams_extra_share"] * (t5 + w["transformer"])
    loading = m["host_base_gib"] + (m["host_fp8_share"] * sum(w.values()) if fp8
                                    else m["host_loading_share"] * max(w.values()))  # the largest one loading
    # The weights each family keeps on the GPU while it encodes, denoises and decodes, and its host RAM; a recipe
    # belongs to the first family it names. Group offloading keeps about two of the transformer's blocks there, and
    # the VAE; diffusers' block-level offloading finds no block list directly under T5EncoderModel, so T5 moves to the
    # GPU whole (lean offloading streams it leaf by leaf).
    families = {"low_ram_staged": (t5, dit + vae, vae, loading), "all_on_gpu": (total, total, total, loading),
                "model_cpu_offload": (t5, dit, vae, offloaded), "sequential_cpu_offload": (0.0, 0.0, 0.0, offloaded),
                "lean_offload": (0.0, blocks, vae, streams), "group_offload_streams": (t5, blocks, vae, streams),
                "group_offload_low_cpu": (t5, blocks, vae, offloaded),  # pinned only while a block moves
                "group_offload": (t5, blocks, vae, offloaded + m["host_group_extra_share"] * (t5 + w["transformer"]))}
    family = next((f for f in families if f in steps), None)
    if family is None:
        raise ValueError(f"the planner does not know recipe {recipe!r}: use one of {', '.join(RECIPES)}")
    encode_w, denoise_w, decode_w, host = families[family]
    peak = max(encode_w + m["encode_gib"], denoise_w + denoise, decode_w + decode)  # encoding, denoising, decoding
    if family == "all_on_gpu":  # its speed family
        family = ("layerwise_fp8" if fp8
                  else "all_on_gpu" if steps & {"vae_tiling", "vae_small_tiles"} else "all_on_gpu_untiled")
    return Prediction(recipe, peak, host, m["speed"][family])


def recommend(vram_gib: float, ram_gib: float, allow_fp8: bool = False, **request) -> tuple[Prediction | None, str]:
    """The fastest recipe whose predicted peaks fit, and why; ``None`` when nothing fits.

    fp8 storage changes the numbers the model computes with, so it is only considered with
    ``allow_fp8=True``.

    Example:
        >>> from helpers.planner import recommend
        >>> best, why = recommend(vram_gib=15, ram_gib=12.7)
        >>> best.recipe
        'low_ram_staged'
    """
    if vram_gib <= 0:
        return None, (f"no CUDA GPU: {request.get('model', FIVE_B)} cannot run here; CogVideoX-nano runs on the CPU "
                      "(MODEL = 'nano').")
    predictions = [predict(r, **request) for r in RECIPES if allow_fp8 or "fp8" not in r]
    fitting = [p for p in predictions if p.fits(vram_gib, ram_gib)]
    if not fitting:
        least = min(predictions, key=lambda p: p.peak_vram_gib)
        return None, (f"nothing fits {vram_gib:.1f} GiB VRAM and {ram_gib:.1f} GiB host RAM for this request; the "
                      f"leanest recipe, {least.recipe}, needs {least.peak_vram_gib:.1f} GiB VRAM and "
                      f"{least.peak_host_rss_gib:.1f} GiB RAM. Ask for fewer frames or a smaller size, or use "
                      "CogVideoX-nano (MODEL = 'nano').")
    best = max(fitting, key=lambda p: (p.relative_speed, -RECIPES.index(p.recipe)))
    faster = next((p for p in predictions if p.relative_speed > best.relative_speed), None)  # none of those fits
    return best, (f"{best.recipe}: the fastest recipe that fits ({best.peak_vram_gib:.1f} GiB VRAM of {vram_gib:.1f}, "
                  f"{best.peak_host_rss_gib:.1f} GiB host RAM of {ram_gib:.1f})"
                  + (f"; {faster.recipe} would need {faster.peak_vram_gib:.1f} GiB VRAM and "
                     f"{faster.peak_host_rss_gib:.1f} GiB RAM" if faster else ""))


#: The members :func:`recommend_model` weighs for text to video, in the order it prefers them: the kit's main model,
#: then the smaller 2b (the 1.5 models make another video, 81 frames at 768x1360: ask for them by name).
TEXT_TO_VIDEO_MEMBERS = (FIVE_B, "CogVideoX-2b")


def recommend_model(report, **request) -> tuple[str | None, Prediction | None, str]:
    """The first member of :data:`TEXT_TO_VIDEO_MEMBERS` with a recipe that fits ``report``'s machine at its own
    request (49x480x720; ``request`` overrides), the recipe's prediction, and why; ``(None, None, why)`` when none fits.

    Example:
        >>> from types import SimpleNamespace
        >>> from helpers.planner import recommend_model
        >>> t4 = SimpleNamespace(cuda=True, vram_total_gib=15.0, host_ram_total_gib=12.7, compute_capability="7.5")
        >>> recommend_model(t4)[:2]  # doctest: +ELLIPSIS
        ('CogVideoX-5b', Prediction(recipe='low_ram_staged', peak_vram_gib=13.7...))
        >>> name, best, why = recommend_model(SimpleNamespace(**{**vars(t4), "vram_total_gib": 12.0}))
        >>> print(why)  # doctest: +ELLIPSIS
        CogVideoX-2b, low_ram_staged: the fastest recipe that fits (11.3 GiB VRAM of 12.0, ...; CogVideoX-5b: nothing fits ...
        >>> recommend_model(SimpleNamespace(cuda=False))[2]
        "no CUDA GPU: the CogVideoX models need one; CogVideoX-nano runs on the CPU (MODEL = 'nano')."
    """
    if not getattr(report, "cuda", False):
        return None, None, "no CUDA GPU: the CogVideoX models need one; CogVideoX-nano runs on the CPU (MODEL = 'nano')."
    vram, ram, passed = report.vram_total_gib or 0.0, report.host_ram_total_gib, []
    for name in TEXT_TO_VIDEO_MEMBERS:
        m = member(name)
        best, why = recommend(vram, ram, **{"num_frames": m.num_frames, "height": m.height, "width": m.width,
                                            "attention": attention_here(report, name), **request, "model": name})
        if best:
            return name, best, "; ".join([f"{name}, {why}"] + passed)
        passed.append(f"{name}: {why.split(' Ask')[0]}")
    return None, None, "; ".join(passed)


def choose_recipe(report, choice, recipe: str | None = None, **request) -> tuple[str, str]:
    """The recipe a notebook should use, and why: yours if set, else the planner's for this machine.

    ``report`` is :func:`helpers.environment_report`'s, ``choice`` :func:`helpers.choose_model`'s.
    The kit's tiny models need no planning; CogVideoX-5b on a CUDA GPU gets :func:`recommend`'s
    recipe; without a GPU the seed's recipe stays (its offload step is then skipped).
    ``recipe="leanest"`` asks for the recipe with the least predicted VRAM that fits;
    ``recipe="fastest"`` adds to the fastest memory recipe the fastest speed steps measured on a GPU
    (:func:`fastest_speed`) and, on two GPUs or more, says how to split the video across them (:func:`fastest_parallel`).

    Example:
        >>> import helpers
        >>> from helpers.planner import choose_recipe
        >>> report = helpers.environment_report()
        >>> choose_recipe(report, helpers.choose_model("nano"))[0]  # on a CPU
        'model_cpu_offload+vae_tiling'
        >>> from types import SimpleNamespace
        >>> rtx4090 = SimpleNamespace(cuda=True, vram_total_gib=23.6, host_ram_total_gib=64, compute_capability="8.9")
        >>> five_b = helpers.choose_model("THUDM/CogVideoX-5b")
        >>> choose_recipe(rtx4090, five_b, "fastest")[0], choose_recipe(rtx4090, five_b)[0]
        ('all_on_gpu+vae_tiling+fp8+compile', 'low_ram_staged')
    """
    seed = "model_cpu_offload+vae_tiling"
    goal = recipe if recipe in ("fastest", "leanest") else None
    request.setdefault("model", member_name(choice) or FIVE_B)
    request.setdefault("attention", attention_here(report, request["model"]))
    for key in ("num_frames", "height", "width"):  # the model's own request unless it says otherwise
        request.setdefault(key, getattr(member(request["model"]), key))
    if recipe and not goal:
        return recipe, f"recipe {recipe}: set in the parameters cell"
    if not report.cuda:
        return seed, (f"recipe {seed} (the seed article's): no CUDA GPU, so its offload step will be skipped"
                      + ("; speed and memory recipes are for CUDA GPUs" if goal else ""))
    if choice.kit_model:
        return "all_on_gpu", ("recipe all_on_gpu: the kit's model is tiny, everything fits on the GPU"
                              + ("; speed steps were measured for CogVideoX-5b" if goal == "fastest" else ""))
    vram, ram = report.vram_total_gib or 0.0, report.host_ram_total_gib
    parallel = f"; {split}" if goal == "fastest" and (split := fastest_parallel(report)) else ""
    if goal == "fastest" and request["model"] == FIVE_B and predict("all_on_gpu+vae_tiling", **request).peak_host_rss_gib <= 0.9 * ram:
        # speed steps were measured with everything on the GPU: their own peaks (fp8 halves the
        # transformer) decide whether that fits, not the bf16 prediction
        speed, speed_why = fastest_speed(report, "all_on_gpu+vae_tiling")
        if speed:
            return f"all_on_gpu+vae_tiling+{speed}", f"recipe all_on_gpu+vae_tiling+{speed}: {speed_why}{parallel}"
    best, why = recommend(vram, ram, **request)  # the recipes "leanest" weighs: None when none fits
    if best is None:
        raise RuntimeError(why)
    if goal == "leanest":
        best = min((p for p in (predict(r, **request) for r in RECIPES if "fp8" not in r) if p.fits(vram, ram)),
                   key=lambda p: (round(p.peak_vram_gib, 1), -p.relative_speed))
        return best.recipe, (f"recipe {best.recipe}: the least VRAM of the recipes that fit "
                             f"({best.peak_vram_gib:.1f} GiB predicted of {vram:.1f}; helpers.planner)")
    no_speed = "; no speed step measured on a GPU fits here with everything on the GPU" if goal == "fastest" else ""
    return best.recipe, f"recipe {why} (helpers.planner){no_speed}{parallel}{other_member_note(choice)}"


def member_name(choice) -> str | None:
    """The family member ``choice`` (:func:`helpers.choose_model`'s) is, by its folder's design or its hub id; ``None``
    for the kit's own models and a model the family table does not know.

    Example:
        >>> import helpers
        >>> from helpers.planner import member_name
        >>> member_name(helpers.choose_model("THUDM/CogVideoX-2b")), member_name(helpers.choose_model("nano"))
        ('CogVideoX-2b', None)
    """
    import json
    from pathlib import Path

    if choice.kit_model:
        return None
    config = Path(choice.source) / "transformer" / "config.json"
    try:
        return member_of(json.loads(config.read_text())).name if config.is_file() else member(choice.source).name
    except ValueError:  # a hub id the family table does not know, or an unreadable config
        return None


def other_member_note(choice) -> str:
    """What the planner's figures are for a family member other than the 5b's: its own memory where
    ``media/benchmarks/family.json`` measured it (:func:`denoise_gib_per_token`), the 5b's speeds.

    Example:
        >>> import helpers
        >>> from helpers.planner import other_member_note
        >>> other_member_note(helpers.choose_model("THUDM/CogVideoX-5b")), other_member_note(helpers.choose_model("nano"))
        ('', '')
        >>> other_member_note(helpers.choose_model("THUDM/CogVideoX1.5-5B"))  # doctest: +ELLIPSIS
        "; for CogVideoX1.5-5B: its own weights, and its denoising memory measured on a GPU (media/benchmarks/family.json); ..."
    """
    name = member_name(choice)
    if name in (None, FIVE_B, "CogVideoX-5b-I2V"):
        return ""
    memory = ("its denoising memory measured on a GPU (media/benchmarks/family.json)" if denoise_gib_per_token(name)[1]
              else "the 5b's denoising memory per token (an estimate: media/benchmarks/family.json has no row for it)")
    return f"; for {name}: its own weights, and {memory}; the relative speeds are CogVideoX-5b's"


@dataclass
class Fit:
    """:func:`model_that_fits`'s answer: the model, its recipe, why, and whether it replaced yours."""

    choice: object  # helpers.loading.ModelChoice
    recipe: str
    why: str
    fell_back: bool


def model_that_fits(report, model: str | None = None, recipe: str | None = None, *, whole_gpu: bool = False,
                    task: str = "text", **request) -> Fit:
    """``model`` and the planner's recipe for it here, or the kit's trained model where it cannot run, and why.

    CogVideoX-5b falls back to CogVideoX-nano (``nano-i2v`` for ``task="image"``) where nothing fits it
    here (then ``why`` also names the first smaller frame count that fits), where a notebook whose recipes
    keep the whole model on the GPU (``whole_gpu``) would have to offload it, or where the planner's pick
    is the low-RAM recipe, which the kit has for text to video only (``task`` ``"image"`` or ``"video"``).
    ``recipe`` is yours or a goal (:func:`choose_recipe`); ``request`` (``num_frames``, ``height``,
    ``width``, ``guidance_scale``) is what is planned for: by default the 5b's own frames (text to video:
    17 in workshop mode).

    Example:
        >>> from types import SimpleNamespace
        >>> from helpers.planner import model_that_fits
        >>> rtx4090 = SimpleNamespace(cuda=True, vram_total_gib=23.6, host_ram_total_gib=64, compute_capability="8.9")
        >>> fit = model_that_fits(rtx4090, "THUDM/CogVideoX-5b")
        >>> fit.choice.kit_model, fit.recipe, fit.fell_back
        (None, 'low_ram_staged', False)
        >>> fit = model_that_fits(rtx4090, "THUDM/CogVideoX-5b", whole_gpu=True)
        >>> fit.choice.kit_model, fit.recipe
        ('nano', 'all_on_gpu')
        >>> print(fit.why)  # doctest: +ELLIPSIS
        skipped THUDM/CogVideoX-5b: the planner picks low_ram_staged for it here, ...; using CogVideoX-nano here.
    """
    from .loading import KIT_MODEL_LABELS, choose_model
    from .workshop import shrink

    choice = choose_model(model)
    request.setdefault("model", member_name(choice) or FIVE_B)
    own = member(request["model"]).num_frames
    request.setdefault("num_frames", shrink({"num_frames": own}, None, fixed_frames=task != "text")["num_frames"])
    try:
        chosen, why = choose_recipe(report, choice, recipe, **request)
        if whole_gpu and report.cuda and not chosen.startswith("all_on_gpu"):
            why = f"the planner picks {chosen} for it here, and these recipes keep the whole model on the GPU"
        elif task != "text" and chosen == "low_ram_staged":
            why = "the planner picks the low-host-RAM recipe here, which the kit has for text to video only"
        else:
            return Fit(choice, chosen, why, False)
    except RuntimeError as e:  # nothing fits (a T4 at 49 frames)
        why = str(e).split(" Ask")[0].rstrip(".") + _smaller_request(report, task, **request) + _smaller_member(report, choice, task)
    fallback = choose_model("nano-i2v" if task == "image" else "nano")
    why = f"skipped {choice.source}: {why}; using {KIT_MODEL_LABELS[fallback.kit_model].split(' (')[0]} here."
    return Fit(fallback, choose_recipe(report, fallback, recipe)[0], why, True)


def _smaller_member(report, choice, task: str) -> str:
    """``"; CogVideoX-2b fits here (...)"`` where the 5b does not fit and :func:`recommend_model` finds the 2b does."""
    if task != "text" or member_name(choice) != FIVE_B:
        return ""
    name, best, _ = recommend_model(report)
    if name in (None, FIVE_B):
        return ""
    return (f"; {name} fits here at its own request ({best.recipe}, {best.peak_vram_gib:.1f} GiB VRAM and "
            f"{best.peak_host_rss_gib:.1f} GiB host RAM predicted): MODEL = '{member(name).hub_id}'")


def _smaller_request(report, task: str, **request) -> str:
    """``"; it fits with NUM_FRAMES = 17 (...)"`` for the first smaller 8N+1 count that fits here, else ``""``."""
    for frames in (f for f in (17, 9) if task == "text" and f < request["num_frames"]):
        best, _ = recommend(report.vram_total_gib or 0.0, report.host_ram_total_gib,
                            attention=attention_here(report, request["model"]), **{**request, "num_frames": frames})
        if best:
            return (f"; it fits with NUM_FRAMES = {frames} ({best.recipe}, {best.peak_vram_gib:.1f} GiB VRAM and "
                    f"{best.peak_host_rss_gib:.1f} GiB host RAM predicted)")
    return ""


def quality_measured(row: dict) -> bool:
    """False where a speed row's CogVideoX-nano quality is its parts' (fp8 and another step measured
    apart) or missing: ``scripts/bench_speed.py`` then leaves a ``quality_note`` saying so.

    Example:
        >>> from helpers.planner import quality_measured
        >>> quality_measured({"recipe": "fp8+compile+pab"}), quality_measured({"recipe": "fp8+compile+pab", "quality_note": "parts"})
        (True, False)
    """
    return "quality_note" not in row


def _gpu_runs(steps: str, report) -> bool:
    """Whether ``report``'s GPU runs these speed steps: fp8 from compute capability 8.9, bf16 compile from 8.0."""
    capability = tuple(int(x) for x in (report.compute_capability or "0.0").split("."))
    return ("fp8" not in steps or capability >= (8, 9)) and ("compile" not in steps or capability >= (8, 0))


MAX_CAPTION_LOSS = 5.0  # points of CogVideoX-nano caption score a speed recipe may lose and still keep the video


def fastest_speed(report, memory_recipe: str = "all_on_gpu+vae_tiling", max_caption_loss: float = MAX_CAPTION_LOSS,
                  results: dict | None = None) -> tuple[str, str]:
    """The fastest speed steps measured on a GPU (``media/benchmarks/speed.json``) for this machine, and why.

    Candidates keep the request as asked (no fewer steps), were measured on the 5b architecture
    (not estimated), had their own quality measured (:func:`quality_measured`) and lose at most
    ``max_caption_loss`` points of caption score on CogVideoX-nano, fit this GPU's memory, need no fp8 on a GPU
    without it (compute capability 8.9+) and no compiling where bf16 does not compile (below 8.0), and were
    measured with everything on the GPU, so they apply only to a memory recipe that keeps everything
    there. ``""`` when none applies.

    Example:
        >>> from types import SimpleNamespace
        >>> from helpers.planner import fastest_speed
        >>> h100 = SimpleNamespace(cuda=True, vram_total_gib=79.2, compute_capability="9.0")
        >>> rtx4090 = SimpleNamespace(cuda=True, vram_total_gib=23.6, compute_capability="8.9")
        >>> a100 = SimpleNamespace(cuda=True, vram_total_gib=39.4, compute_capability="8.0")
        >>> fastest_speed(h100)[0], fastest_speed(a100)[0], fastest_speed(rtx4090)[0]  # no fp8 on an A100; PAB's cache needs more than 24 GB
        ('fp8+compile+pab', 'compile+pab', 'fp8+compile')
        >>> fastest_speed(h100, "model_cpu_offload+vae_tiling")[0]
        ''
    """
    record = results or benchmark_results("speed.json")
    if record is None:
        return "", "no speed measurements here (media/benchmarks/speed.json is in the kit's repository)"
    if not memory_recipe.startswith(("all_on_gpu", "layerwise_fp8+all_on_gpu")):
        return "", f"speed steps were measured with everything on the GPU, not with {memory_recipe}"
    rows = record["results"]
    least_caption = next(r for r in rows if r["recipe"] == "baseline").get("caption_score", 100) - max_caption_loss
    fits = [r for r in rows if "end_to_end_s" in r and not r.get("estimated") and "half_steps" not in r["recipe"]
            and quality_measured(r) and min(r.get("caption_score", 0), r.get("fp8_caption_score", 100)) >= least_caption
            and r["peak_vram_gib"] <= 0.95 * (report.vram_total_gib or 0) and _gpu_runs(r["recipe"], report)]
    best = min(fits, key=lambda r: r["end_to_end_s"], default=None)
    if best is None or best["recipe"] == "baseline":
        return "", "no speed step measured faster within the quality bound fits here"
    compiling = f"first run compiles for {best['compile_s']:.0f} s; " if best.get("compile_s") else ""
    return best["recipe"], (f"{best['speedup']:.2f}x bf16 eager end to end on an {best['gpu'].replace('NVIDIA ', '')} "
                            f"(5b architecture, random weights), {compiling}caption score on CogVideoX-nano "
                            f"{best.get('caption_score', '-')}% (media/benchmarks/speed.json)")


def fastest_parallel(report, results: dict | None = None) -> str:
    """On a machine with two GPUs or more, the fastest split of one video across them measured by the kit
    (``media/benchmarks/multi_gpu.json``) and how to launch it; ``""`` with fewer GPUs. A notebook is one process,
    so no recipe string holds it: ``09_multi_gpu`` runs it under torchrun. Every GPU of a split holds the whole
    pipeline (CogVideoX-5b all on the GPU must fit each), and a split's speed steps follow :func:`fastest_speed`'s
    rules (fp8 from compute capability 8.9, compile from 8.0).

    Example:
        >>> from types import SimpleNamespace
        >>> from helpers.planner import fastest_parallel
        >>> rows = {"none x1": dict(mode="none", speed="", processes=1, seconds=95.1),
        ...         "cfg x2": dict(mode="cfg", speed="", processes=2, seconds=51.4, max_abs_difference=0.002),
        ...         "cfg x4": dict(mode="cfg", speed="", processes=4, seconds=30.0, max_abs_difference=0.004)}
        >>> h200s = SimpleNamespace(cuda=True, gpu_count=2, vram_total_gib=139.8, compute_capability="9.0")
        >>> print(fastest_parallel(h200s, dict(gpu="NVIDIA H200", results=rows)))
        with 2 GPUs, the fastest split measured for them is cfg on 2: 51.4 s where one GPU took 95.1 s (1.85x; largest pixel difference from the one-GPU video 2.0e-03; H200, 5b architecture with random weights, media/benchmarks/multi_gpu.json): helpers.multi_gpu.run_parallel(script, "cfg", 2, ...) as in 09_multi_gpu
        >>> fastest_parallel(SimpleNamespace(cuda=True, gpu_count=1), dict(results=rows))
        ''
    """
    gpus = getattr(report, "gpu_count", 0) if report.cuda else 0
    if gpus < 2:
        return ""
    need, vram = predict("all_on_gpu+vae_tiling", attention=attention_here(report)).peak_vram_gib, report.vram_total_gib
    if need > 0.95 * vram:
        return (f"with {gpus} GPUs: every GPU of a split holds the whole pipeline, about {need:.1f} GiB with "
                f"CogVideoX-5b all on the GPU (predicted), more than this GPU's {vram:.1f} GiB: no split runs here")
    record = results or benchmark_results("multi_gpu.json") or {}
    measured = [r for r in record.get("results", {}).values() if "error" not in r and r.get("device") != "cpu"
                and _gpu_runs(r.get("speed", ""), report)]
    one = {r.get("speed", ""): r["seconds"] for r in measured if r.get("mode") == "none"}
    rows = [r for r in measured if 2 <= r["processes"] <= gpus and r.get("speed", "") in one]
    if not rows:
        return (f"with {gpus} GPUs, 09_multi_gpu splits one video across them (not measured on GPUs by the kit yet: "
                "media/benchmarks/multi_gpu.json)")
    best = min(rows, key=lambda r: r["seconds"])
    speed = best.get("speed", "")
    gpu = record.get("gpu", "a GPU").replace("NVIDIA ", "")
    return (f"with {gpus} GPUs, the fastest split measured for them is {best['mode']}"
            f"{' with ' + speed if speed else ''} on {best['processes']}: {best['seconds']:.1f} s where one GPU "
            f"took {one[speed]:.1f} s ({one[speed] / best['seconds']:.2f}x; largest pixel difference from the one-GPU "
            f"video {best.get('max_abs_difference', float('nan')):.1e}; {gpu}, 5b architecture with random weights, "
            f"media/benchmarks/multi_gpu.json): helpers.multi_gpu.run_parallel(script, \"{best['mode']}\", "
            f"{best['processes']}, ...{f', speed={speed!r}' if speed else ''}) as in 09_multi_gpu")


def fits_here(label: str, recipe: str, report, **request) -> bool:
    """Whether CogVideoX-5b with ``recipe`` fits this machine; if not, print why it is skipped and return ``False``.

    The notebooks call it before a section that could run out of memory, so that a smaller GPU
    skips the section with the predicted need (:func:`predict`, from the measured constants)
    instead of dying halfway. Without a CUDA GPU nothing is predicted (the kit's tiny models run).

    Example:
        >>> from types import SimpleNamespace
        >>> from helpers.planner import fits_here
        >>> rtx4090 = SimpleNamespace(cuda=True, vram_total_gib=24.0, host_ram_total_gib=32.0, compute_capability="8.9")
        >>> fits_here("all on the GPU, no tiling", "all_on_gpu", rtx4090)
        skipped all on the GPU, no tiling: it needs about 34.4 GiB of VRAM (predicted by helpers.planner from media/benchmarks/memory.json); this GPU has 24.0 GiB.
        False
        >>> fits_here("model CPU offload", "model_cpu_offload+vae_tiling", rtx4090)
        True
    """
    if not getattr(report, "cuda", False):
        return True
    p = predict(recipe, attention=attention_here(report), **request)
    vram, ram = report.vram_total_gib or 0.0, report.host_ram_total_gib
    if p.fits(vram, ram):
        return True
    short = [(f"about {need:.1f} GiB of {what}", have) for need, what, have, over in (
        (p.peak_vram_gib, "VRAM", f"{vram:.1f} GiB", p.peak_vram_gib > 0.95 * vram),
        (p.peak_host_rss_gib, "host RAM", f"{ram:.1f} GiB of host RAM", p.peak_host_rss_gib > 0.9 * ram)) if over]
    print(f"skipped {label}: it needs {' and '.join(need for need, _ in short)} (predicted by helpers.planner from "
          f"media/benchmarks/memory.json); this {'GPU' if p.peak_vram_gib > 0.95 * vram else 'machine'} has "
          f"{' and '.join(have for _, have in short)}.")
    return False


def benchmark_results(name: str = "memory.json") -> dict | None:
    """A committed GPU results file (``media/benchmarks/<name>``), in a checkout and in a pip or Colab install.

    The results ship with the package (:mod:`helpers.results` says how); ``None`` only for a
    file that is not shipped.

    Example:
        >>> from helpers.planner import benchmark_results
        >>> "RANDOM weights" in benchmark_results()["note"]
        True
        >>> "baseline" in {r["recipe"] for r in benchmark_results("speed.json")["results"]}
        True
        >>> benchmark_results("no-such-results.json") is None
        True
    """
    from .results import load_results

    return load_results(f"benchmarks/{name}")
