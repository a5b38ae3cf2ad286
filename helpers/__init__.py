"""Helpers shared by the CogVideoX notebook kit: environment, models, checks, recipes,
measuring, showing and saving videos.

Example:
    >>> import helpers
    >>> pipe = helpers.load_pipeline("small")  # doctest: +SKIP
"""

import importlib as _importlib
import importlib.util as _importlib_util
import logging as _logging
import os as _os
import types as _types
import warnings as _warnings

# Before anything touches CUDA: let PyTorch's allocator grow segments instead of caching fixed
# blocks, so that memory freed between a pipeline's stages can be reused. Without it a 24 GB card
# ran out with 13 GiB allocated and 9 GiB reserved but unusable. Your own setting wins.
_os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

from .checks import RequestError, check_request, frames_returned, latent_frames, model_defaults
from .exercises import check_exercise
from .environment import apply_emulation, environment_report, in_colab
from .loading import (
    COGVIDEOX_5B,
    ModelLoadError,
    check_model_folder,
    choose_model,
    download_model,
    load_pipeline,
    show_environment,
)
from .low_ram import load_pipeline_for
from .measure import Measurement, generate_and_measure, measure, measurements_table
from .recipes import apply_recipe
from .saving import outputs_dir, save_video
from .small_model import build_small_model, small_model_path
from .video import frame_strip, read_video, show_video, side_by_side

# Notices that are harmless here and only confuse learners: torchao's optional GPU kernels on a
# machine that cannot load them, torch's pytree notice about torchao's enums, and diffusers'
# note about torchao tensor classes. Everything else these loggers say still shows.
_HARMLESS = ("Failed to load", "is now natively supported by torch.compile", "Unable to import `torchao` Tensor")


apply_emulation()  # COGVIDEOX_EMULATE=t4|24gb shapes a big CUDA GPU before any model loads

# peft's warning on a second named adapter ("Already found a `peft_config` attribute ... multiple adapters"):
# several named LoRAs in one pipeline is what 10_lora teaches.
_warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")

for _name in ("torchao", "torch.utils._pytree", "diffusers.quantizers.torchao.torchao_quantizer"):
    _logging.getLogger(_name).addFilter(lambda record: not any(text in record.getMessage() for text in _HARMLESS))

def __getattr__(name: str):
    """``helpers.planner`` and the package's other modules, imported when first used: ``import helpers`` loads only
    what the re-exported calls need.

    Example:
        >>> import helpers
        >>> helpers.planner.predict("all_on_gpu").recipe
        'all_on_gpu'
    """
    if _importlib_util.find_spec(f"{__name__}.{name}") is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _importlib.import_module(f"{__name__}.{name}")  # a module that exists: what it imports may still fail


__all__ = sorted(name for name, value in globals().items()  # what the imports above re-export
                 if not name.startswith("_") and not isinstance(value, _types.ModuleType))
