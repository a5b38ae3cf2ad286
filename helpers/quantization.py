"""Quantization schemes by name (torchao and optimum-quanto), what each needs, and what it stores.

The libraries do the work (``torchao.quantization.quantize_``, ``optimum.quanto.quantize`` and
``freeze``); this module names the schemes the notebooks and ``scripts/bench_quantization.py``
compare, refuses a scheme the hardware cannot run with a message that says what to use instead,
and counts the bytes a quantized model really stores.

Example:
    >>> import torch
    >>> from helpers.quantization import quantize_model, weight_gib
    >>> model = torch.nn.Sequential(torch.nn.Linear(256, 256))
    >>> before = weight_gib(model)
    >>> quantize_model(model, "torchao_int8_weight_only")
    >>> round(before / weight_gib(model), 1)  # fp32 -> int8 plus one scale per output channel
    3.9
"""

import functools
import timeit
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checks import check_request, model_defaults
from .environment import GIB, cpu_description, environment_report


@dataclass(frozen=True)
class Scheme:
    """One way to quantize: the library, its name for the scheme, and the hardware it needs."""

    library: str  # "torchao", "quanto" or "" (no quantization)
    config: str = ""  # torchao's config class (in torchao.quantization) or Quanto's weight type (in optimum.quanto)
    needs_fp8: bool = False  # needs a GPU with fp8 matrix units (compute capability 8.9+)


#: What each stores and computes with: bf16 (fp32 on CPU); int8 weights widened to bf16 at each matmul (torchao int8
#: weight-only, quanto qint8); int8 matmuls, activations quantized on the fly (torchao int8 dynamic); fp8 (e4m3)
#: weights and matmuls (torchao fp8 dynamic); fp8 (e4m3) weights widened to bf16 at each matmul (quanto qfloat8).
SCHEMES: dict[str, Scheme] = {
    "bf16": Scheme(""),
    "torchao_int8_weight_only": Scheme("torchao", "Int8WeightOnlyConfig"),
    "torchao_int8_dynamic": Scheme("torchao", "Int8DynamicActivationInt8WeightConfig"),
    "torchao_fp8_dynamic": Scheme("torchao", "Float8DynamicActivationFloat8WeightConfig", True),
    "quanto_qint8": Scheme("quanto", "qint8"),
    "quanto_qfloat8": Scheme("quanto", "qfloat8"),
}


class QuantizationError(RuntimeError):
    """A scheme this machine cannot run, or a name the kit does not know; the message says what to do."""


#: int8 dynamic on a CPU: refused where an int8 matmul takes this many times an fp32 one (:func:`int8_matmul_slowdown`).
SLOW_INT8_MATMUL = 4.0


def check_scheme(scheme: str, device: str = "cpu") -> Scheme:
    """The scheme called ``scheme``, or a :class:`QuantizationError` saying why it cannot run on ``device``, or
    why it would run many times slower than unquantized there: int8 dynamic on a CPU whose int8 matmul is slow.

    Example:
        >>> from helpers.quantization import check_scheme
        >>> check_scheme("quanto_qint8").library
        'quanto'
        >>> check_scheme("torchao_fp8_dynamic", "cpu")
        Traceback (most recent call last):
        ...
        helpers.quantization.QuantizationError: torchao_fp8_dynamic computes in fp8, which needs a CUDA GPU of compute capability 8.9 or newer (L4, RTX 40xx, H100); this machine has no CUDA GPU. Use torchao_int8_weight_only for the same memory saving on any hardware.
    """
    found = _runs_on(scheme, device)
    if scheme == "torchao_int8_dynamic" and device == "cpu" and (slowdown := int8_matmul_slowdown()) > SLOW_INT8_MATMUL:
        raise QuantizationError(
            f"{scheme} runs its matmuls in int8, and on this CPU ({cpu_description()}) an int8 matmul "
            f"(torch._int_mm) measured {slowdown:.0f}x as long as the same one in fp32, so a video would take many "
            "times longer than unquantized. Use torchao_int8_weight_only for the same memory saving, or a CUDA GPU.")
    return found


@functools.cache
def int8_matmul_slowdown() -> float:
    """How many times as long an int8 matmul (``torch._int_mm``, what int8 dynamic computes with) takes on this
    CPU as the same matmul in fp32: measured once per process (a fraction of a second), the best of three each.

    Example:
        >>> from helpers.quantization import int8_matmul_slowdown
        >>> int8_matmul_slowdown() > 0
        True
    """
    a = torch.randint(-127, 128, (256, 512), dtype=torch.int8)
    b = torch.randint(-127, 128, (512, 512), dtype=torch.int8)
    af, bf = a.float(), b.float()
    best = lambda matmul: min(timeit.repeat(matmul, number=1, repeat=3))  # noqa: E731
    return best(lambda: torch._int_mm(a, b)) / best(lambda: af @ bf)


def _runs_on(scheme: str, device: str) -> Scheme:
    """The scheme called ``scheme`` if ``device`` has what it computes with, else a :class:`QuantizationError`."""
    if scheme not in SCHEMES:
        raise QuantizationError(f"unknown scheme {scheme!r}; the kit knows {', '.join(SCHEMES)}")
    found = SCHEMES[scheme]
    if not found.needs_fp8:
        return found
    if device != "cuda" or not torch.cuda.is_available():
        have = "this machine has no CUDA GPU"
    elif (capability := torch.cuda.get_device_capability()) < (8, 9):
        have = f"this GPU, {torch.cuda.get_device_name()}, has compute capability {capability[0]}.{capability[1]}"
    else:
        return found
    raise QuantizationError(f"{scheme} computes in fp8, which needs a CUDA GPU of compute capability 8.9 or newer "
                            f"(L4, RTX 40xx, H100); {have}. Use torchao_int8_weight_only for the same memory saving "
                            "on any hardware.")


def quantize_model(model, scheme: str, device: str = "cpu") -> None:
    """Quantize ``model``'s linear layers in place with ``scheme`` (one of :data:`SCHEMES`).

    torchao: ``quantize_(model, <Config>())``. Quanto: ``quantize(model, weights=...)`` then
    ``freeze(model)``, which replaces the full-precision weights by the quantized ones.

    Example:
        >>> import torch
        >>> from helpers.quantization import quantize_model
        >>> model = torch.nn.Sequential(torch.nn.Linear(64, 64))
        >>> quantize_model(model, "quanto_qint8")
        >>> type(model[0].weight).__name__
        'WeightQBytesTensor'
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"quantize_model takes one component, such as pipe.transformer or pipe.text_encoder, not a "
                         f"{type(model).__name__}.")
    from .lora import quantized_types

    if already := quantized_types(model):
        raise ValueError(f"this {type(model).__name__} is quantized already ({', '.join(sorted(already))}): quantizing "
                         "it again fails (torchao) or quantizes the quantized weights (Quanto). Load it afresh to try "
                         "another scheme.")
    found = _runs_on(scheme, device)  # quantizing works where the scheme's matmuls do, however slow (check_scheme)
    if found.library == "torchao":
        from torchao import quantization as ao

        config = getattr(ao, found.config)()
        if found.needs_fp8 and any(isinstance(m, torch.nn.Linear) and m.weight.shape == (128, 128)
                                   for m in model.modules()):
            # torchao 0.18 takes a per-tensor-scaled 128x128 weight for a 128x128 block-scaled one and fails
            # ("input_tensor must be 1x128 scaled"): small models (CogVideoX-nano) get per-row scales
            config = ao.Float8DynamicActivationFloat8WeightConfig(granularity=ao.PerRow())
        # int8 matmuls (torch._int_mm) need more than 16 input rows. CogVideoX's timestep-conditioning layers
        # (``time_embedding``, each block's ``norm1``/``norm2`` and ``norm_out``) see one row per CFG branch: under
        # torch.compile they fail with "self.size(0) needs to be greater than 16", so int8 dynamic leaves them in
        # bf16 (14% of the transformer's linear weights).
        int8_matmul_fits = lambda module, name: isinstance(module, torch.nn.Linear) and not any(  # noqa: E731
            part in name for part in ("norm", "time_embedding"))
        ao.quantize_(model, config, filter_fn=int8_matmul_fits if scheme == "torchao_int8_dynamic" else None)
    elif found.library == "quanto":
        from optimum import quanto

        quanto.quantize(model, weights=getattr(quanto, found.config))
        quanto.freeze(model)


def stored_bytes(tensor) -> int:
    """Bytes ``tensor`` stores; quantized tensors (torchao, Quanto) count their int8/fp8 data and scales.

    Example:
        >>> import torch
        >>> from helpers.quantization import stored_bytes
        >>> stored_bytes(torch.zeros(10, dtype=torch.bfloat16))
        20
    """
    if hasattr(tensor, "__tensor_flatten__"):
        return sum(stored_bytes(getattr(tensor, name)) for name in tensor.__tensor_flatten__()[0])
    return tensor.numel() * tensor.element_size()


def weight_gib(module) -> float:
    """GiB of weights ``module`` stores (parameters and buffers), counted as :func:`stored_bytes`.

    Example:
        >>> import torch
        >>> from helpers.quantization import weight_gib
        >>> weight_gib(torch.nn.Linear(1024, 1024, bias=False)) * 2**30 == 1024 * 1024 * 4
        True
    """
    return sum(stored_bytes(t) for t in [*module.parameters(), *module.buffers()]) / GIB


def psnr_db(reference, other) -> float:
    """Peak signal-to-noise ratio in dB of ``other`` against ``reference`` (arrays of pixels in 0..1).

    Above ~40 dB the difference is invisible; ~30 dB shows on close inspection; below ~20 dB
    it is another picture. Identical inputs give ``inf``.

    Example:
        >>> import numpy as np
        >>> from helpers.quantization import psnr_db
        >>> round(psnr_db(np.zeros(4), np.full(4, 0.1)), 1)
        20.0
    """
    mse = float(np.mean((np.asarray(reference, dtype=np.float64) - np.asarray(other, dtype=np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


@dataclass
class BeforeAfter:
    """What a quantization notebook compares on this machine: the model's folder, the request and
    the one memory recipe every run (unquantized and quantized) uses."""

    folder: Path
    request: dict
    recipe: str
    five_b: bool
    is_nano: bool

    @property
    def size(self) -> dict:
        """The request's frames, size and guidance: what :mod:`helpers.planner` predicts memory for."""
        return {k: self.request[k] for k in ("num_frames", "height", "width", "guidance_scale")}


def before_after_setup(model=None, steps: int | None = None, report=None) -> BeforeAfter:
    """Choose the model, request and memory recipe of a quantization before/after, loading no weights.

    CogVideoX-5b gets the first recipe :func:`helpers.planner.fits_here` predicts to fit this GPU and
    host RAM with it unquantized (the biggest of the runs): everything on the GPU with the VAE tiled,
    else model CPU offload with the VAE tiled. Where neither fits (a T4: offload needs more host RAM
    than its 12.7 GiB, and the weights alone fill its GPU), it prints what each would need and
    CogVideoX-nano takes the 5b's place, so that every call of the lesson still runs. The kit's models
    run everything on the device there is.

    Example:
        >>> from helpers.quantization import before_after_setup
        >>> setup = before_after_setup("nano", steps=2)  # doctest: +ELLIPSIS
        model: CogVideoX-nano ...
          folder: ...
        the before/after recipe: everything on the CPU
        >>> setup.recipe, setup.is_nano, setup.request["num_inference_steps"]
        ('all_on_gpu', True, 2)
    """
    from .loading import choose_model
    from .low_ram import config_only_pipeline
    from .planner import fits_here

    report = report or environment_report()
    cuda = torch.cuda.is_available()
    choice = choose_model(model)
    configs = config_only_pipeline(model)  # no weights yet
    folder, request = Path(configs.config._name_or_path), model_defaults(configs)
    request["num_inference_steps"] = steps or request["num_inference_steps"]
    check_request(configs, **request)  # a bad step count is refused here, before any weights load
    setup = BeforeAfter(folder, request, "all_on_gpu", not choice.kit_model, choice.kit_model == "nano")
    if setup.five_b:
        setup.recipe = next((r for r in ("all_on_gpu+vae_tiling", "model_cpu_offload+vae_tiling")
                             if cuda and fits_here(f"the before/after with {r}", r, report, **setup.size)), None)
        if setup.recipe is None:
            print("CogVideoX-5b: neither recipe fits this machine for this request (02_memory_optimizations' "
                  "planner section shows what fits where). This notebook goes on with CogVideoX-nano: the same "
                  "calls, the same weight savings; \"Measured on a GPU\" has the 5b's numbers.")
            return before_after_setup("nano", steps, report)
    print("the before/after recipe:", setup.recipe if cuda else "everything on the CPU")
    return setup
