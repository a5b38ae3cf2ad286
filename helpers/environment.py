"""What this machine has: library versions, GPU, memory, disk, and advice for CogVideoX.

Example:
    >>> import helpers
    >>> report = helpers.environment_report()
    >>> report.cuda
    False
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

GIB = 1024**3

#: Libraries whose versions the report shows (distribution names).
LIBRARIES = ("torch", "diffusers", "transformers", "accelerate", "torchao", "optimum-quanto")

#: Disk the CogVideoX-5b download needs (the hub repository's safetensors, ~21 GB, plus room).
DISK_NEEDED_FOR_5B_GIB = 25
#: Below this much host RAM, loading the 5b in one go can crash the kernel (free Colab: 12.7 GB).
LOW_HOST_RAM_GIB = 16


def in_colab() -> bool:
    """True inside Google Colab.

    Example:
        >>> from helpers import in_colab
        >>> in_colab()
        False
    """
    return "google.colab" in sys.modules


def in_kaggle() -> bool:
    """True inside a Kaggle notebook.

    Example:
        >>> from helpers.environment import in_kaggle
        >>> in_kaggle()
        False
    """
    return "KAGGLE_KERNEL_RUN_TYPE" in os.environ


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries the kit uses (``None`` where missing).

    Example:
        >>> from helpers.environment import library_versions
        >>> library_versions()["torch"]  # doctest: +SKIP
        '2.13.0+cpu'
    """
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hub_cache_dir() -> Path:
    """Where ``huggingface_hub`` stores downloads (honours ``HF_HOME`` / ``HF_HUB_CACHE``).

    Example:
        >>> from helpers.environment import hub_cache_dir
        >>> hub_cache_dir().name
        'hub'
    """
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def free_disk_bytes(path: str | os.PathLike) -> int:
    """Free bytes on the disk that holds ``path`` (or its nearest existing parent).

    Example:
        >>> from helpers.environment import free_disk_bytes
        >>> free_disk_bytes("/") > 0
        True
    """
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    return shutil.disk_usage(path).free


@dataclass
class EnvironmentReport:
    """The facts :func:`environment_report` gathered, and the advice they lead to."""

    versions: dict[str, str | None]
    platform: str
    cuda: bool
    gpu_name: str | None = None
    compute_capability: str | None = None
    bf16_native: bool | None = None
    vram_total_gib: float | None = None
    vram_free_gib: float | None = None
    host_ram_total_gib: float = 0.0
    host_ram_available_gib: float = 0.0
    hub_cache: str = ""
    disk_free_gib: float = 0.0
    colab: bool = False
    kaggle: bool = False
    advice: list[str] = field(default_factory=list)

    @property
    def device(self) -> str:
        """``"cuda"`` when a CUDA GPU is usable, else ``"cpu"``."""
        return "cuda" if self.cuda else "cpu"

    def rows(self) -> list[tuple[str, str]]:
        """The report as (name, value) rows, in the order they are printed."""

        def gib(x: float | None) -> str:
            return "-" if x is None else f"{x:.1f} GiB"

        rows = [(name, version or "not installed") for name, version in self.versions.items()]
        rows += [
            ("platform", self.platform),
            ("notebook host", "Colab" if self.colab else "Kaggle" if self.kaggle else "local"),
            ("GPU", self.gpu_name or "none (CPU only)"),
        ]
        if self.cuda:
            rows += [
                ("compute capability", self.compute_capability or "-"),
                ("native bf16", "yes" if self.bf16_native else "no"),
                ("VRAM total / free", f"{gib(self.vram_total_gib)} / {gib(self.vram_free_gib)}"),
            ]
        rows += [
            ("host RAM total / available", f"{gib(self.host_ram_total_gib)} / {gib(self.host_ram_available_gib)}"),
            ("hub cache", self.hub_cache),
            ("free disk at hub cache", gib(self.disk_free_gib)),
        ]
        return rows

    def __str__(self) -> str:
        rows = self.rows()
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        lines += [f"advice: {line}" for line in self.advice]
        return "\n".join(lines)


def version_problems(versions: dict[str, str | None], notes: bool = True) -> list[str]:
    """Known-bad library versions for this kit, each with what to do; with ``notes``, also known pitfalls.

    ``versions`` is :func:`library_versions`'s. Without ``notes`` only what stops the kit from
    working is listed (the environment report shows those).

    Example:
        >>> from helpers.environment import version_problems
        >>> for line in version_problems({"diffusers": "0.29.2", "torch": "2.3.1"}):
        ...     print(line)
        diffusers 0.29.2 has no CogVideoX pipelines: pip install -U "diffusers>=0.42"
        torch 2.3.1 is older than the kit supports (2.4): pip install -U torch
        >>> print(version_problems({"diffusers": "0.42.1", "optimum-quanto": "0.2.7"})[0])  # doctest: +ELLIPSIS
        diffusers 0.42.1 deprecates QuantoConfig (removal in 1.0) and optimum-quanto 0.2.7 is its last release...
    """
    from packaging.version import Version

    def at_least(name: str, version: str) -> bool | None:
        have = versions.get(name)
        return None if have is None else Version(have) >= Version(version)

    problems = []
    if at_least("diffusers", "0.30") is False:
        problems.append(f"diffusers {versions['diffusers']} has no CogVideoX pipelines: pip install -U \"diffusers>=0.42\"")
    if at_least("torch", "2.4") is False:
        problems.append(f"torch {versions['torch']} is older than the kit supports (2.4): pip install -U torch")
    if notes and at_least("diffusers", "0.42") and versions.get("optimum-quanto"):
        problems.append(
            f"diffusers {versions['diffusers']} deprecates QuantoConfig (removal in 1.0) and optimum-quanto "
            f"{versions['optimum-quanto']} is its last release: prefer torchao (03_quantization_torchao)."
        )
    if notes and versions.get("torchao") and not _torchao_has("int8_weight_only"):
        problems.append(
            f"torchao {versions['torchao']} has no int8_weight_only: blog posts' `from torchao.quantization import "
            "int8_weight_only` fails with ImportError; use quantize_(model, Int8WeightOnlyConfig())."
        )
    return problems


def _torchao_has(name: str) -> bool:
    """Whether the installed torchao.quantization names ``name`` (read from its source: importing torchao is slow)."""
    import importlib.util

    spec = importlib.util.find_spec("torchao")
    if spec is None or not spec.submodule_search_locations:
        return False
    init = Path(list(spec.submodule_search_locations)[0]) / "quantization" / "__init__.py"
    return init.exists() and name in init.read_text()


def _advice(r: EnvironmentReport) -> list[str]:
    advice = version_problems(r.versions, notes=False)
    if not r.cuda:
        advice.append("no GPU: the notebooks will use CogVideoX-nano, the kit's tiny trained model (CogVideoX-5b needs a CUDA GPU).")
    else:
        if not r.bf16_native:
            advice.append(
                f"{r.gpu_name} has no native bf16 (compute capability {r.compute_capability} < 8.0): "
                "CogVideoX-5b still runs in bf16 (emulated, slower); fp16 gives black or NaN frames."
            )
        if r.vram_total_gib is not None and r.vram_total_gib < 24:
            advice.append(
                f"{r.vram_total_gib:.0f} GiB VRAM: CogVideoX-5b needs model CPU offload and VAE tiling "
                "(the recipe 01_basic_inference uses)."
            )
    if r.host_ram_total_gib < LOW_HOST_RAM_GIB:
        advice.append(
            f"{r.host_ram_total_gib:.1f} GiB host RAM: use the low-RAM recipe for CogVideoX-5b "
            "(load one component at a time); loading everything at once can crash the kernel."
        )
    if r.disk_free_gib < DISK_NEEDED_FOR_5B_GIB:
        advice.append(
            f"{r.disk_free_gib:.0f} GiB free disk at {r.hub_cache} (< {DISK_NEEDED_FOR_5B_GIB} GiB): "
            "the CogVideoX-5b download will not fit; free space or set HF_HOME to a bigger disk."
        )
    return advice


def environment_report() -> EnvironmentReport:
    """Gather versions, GPU, memory and disk facts, plus advice for running CogVideoX.

    Works on CPU-only machines. ``print(report)`` shows a table and the advice.

    Example:
        >>> from helpers import environment_report
        >>> print(environment_report())  # doctest: +SKIP
        python                      3.11.7
        torch                       2.13.0+cpu
        ...
        advice: no GPU: the notebooks will use the small local model ...
    """
    import psutil
    import torch

    vm = psutil.virtual_memory()
    cache = hub_cache_dir()
    r = EnvironmentReport(
        versions=library_versions(),
        platform=f"{platform.system()} {platform.machine()}",
        cuda=torch.cuda.is_available(),
        host_ram_total_gib=vm.total / GIB,
        host_ram_available_gib=vm.available / GIB,
        hub_cache=str(cache),
        disk_free_gib=free_disk_bytes(cache) / GIB,
        colab=in_colab(),
        kaggle=in_kaggle(),
    )
    if r.cuda:
        props = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info(0)
        r.gpu_name = props.name
        r.compute_capability = f"{props.major}.{props.minor}"
        r.bf16_native = props.major >= 8
        r.vram_total_gib, r.vram_free_gib = total / GIB, free / GIB
    r.advice = _advice(r)
    return r


def show_environment(model: str | os.PathLike | None = None, notebook: str | None = None) -> EnvironmentReport:
    """Print the environment report and the model the notebooks will use; return the report.

    The standard last line of every notebook's first cell. ``model`` is chosen as in
    :func:`helpers.choose_model` (argument, else ``$COGVIDEOX_MODEL``, else automatic). In
    workshop mode it also prints what ``notebook`` took in that mode.

    Example:
        >>> import helpers
        >>> report = helpers.show_environment()  # doctest: +SKIP
        python                      3.11.7
        ...
        model: small local model (random weights)  [automatic: no CUDA GPU]
    """
    from .loading import choose_model

    from .workshop import estimate, workshop_mode

    report = environment_report()
    print(report)
    print(f"model: {choose_model(model)}")
    if workshop_mode():
        print(estimate(notebook))
    return report
