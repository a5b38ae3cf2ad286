"""What this machine has: library versions, GPU, memory, disk, and advice for CogVideoX.

Example:
    >>> import helpers
    >>> report = helpers.environment_report()
    >>> report.cuda
    False
"""

import functools
import os
import platform
import shutil
import signal
import sys
import threading
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import psutil
import torch

GIB = 1024**3

#: Libraries whose versions the report shows (distribution names).
LIBRARIES = ("torch", "diffusers", "transformers", "accelerate", "torchao", "optimum-quanto")

#: Disk the CogVideoX-5b download needs (the hub repository's safetensors, ~21 GB, plus room).
DISK_NEEDED_FOR_5B_GIB = 25
#: Below this much host RAM, loading the 5b in one go can crash the kernel (free Colab: 12.7 GB).
LOW_HOST_RAM_GIB = 16

#: The one setting that makes a big CUDA GPU behave like a smaller one (see :func:`emulated_profile`).
EMULATE_ENV = "COGVIDEOX_EMULATE"


@dataclass(frozen=True)
class Profile:
    """A GPU the kit can emulate on a bigger CUDA GPU: what the kit's checks then see."""

    label: str
    vram_gib: float
    host_ram_gib: float
    compute_capability: tuple[int, int]
    #: SDPA kernels the real chip has for bf16 and for fp16/fp32 (``torch.nn.attention.SDPBackend`` names).
    bf16_attention: tuple[str, ...]
    half_attention: tuple[str, ...]


#: ``COGVIDEOX_EMULATE`` values. A T4 (compute capability 7.5) has neither flash attention nor
#: cuDNN attention, and its memory-efficient kernel takes fp16 and fp32 but not bf16.
PROFILES = {
    "t4": Profile("Tesla T4 (free Colab)", 15.0, 12.7, (7, 5), ("MATH",), ("EFFICIENT_ATTENTION", "MATH")),
    "24gb": Profile("24 GB GPU (RTX 4090-like)", 24.0, 32.0, (8, 9),
                    ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH"), ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "MATH")),
}


def emulated_profile() -> Profile | None:
    """The GPU profile ``COGVIDEOX_EMULATE`` names (``t4``, ``24gb``), or ``None`` when unset.

    Unset, empty, ``none`` or ``off`` mean the GPU as it is; any other value is refused with the
    choices, so a typo never runs silently on the wrong hardware.

    Example:
        >>> import os
        >>> from helpers.environment import emulated_profile
        >>> os.environ["COGVIDEOX_EMULATE"] = "t4"; emulated_profile().compute_capability
        (7, 5)
        >>> os.environ["COGVIDEOX_EMULATE"] = "T5"; emulated_profile()
        Traceback (most recent call last):
        ...
        ValueError: COGVIDEOX_EMULATE='T5' is not a profile the kit knows: use t4, 24gb, or leave it unset for the GPU as it is.
        >>> del os.environ["COGVIDEOX_EMULATE"]; emulated_profile() is None
        True
    """
    value = os.environ.get(EMULATE_ENV, "").strip().lower()
    if value in ("", "none", "off"):
        return None
    if value not in PROFILES:
        raise ValueError(f"{EMULATE_ENV}={os.environ[EMULATE_ENV]!r} is not a profile the kit knows: use "
                         f"{', '.join(PROFILES)}, or leave it unset for the GPU as it is.")
    return PROFILES[value]


_EMULATION_APPLIED: list[str] = []


def apply_emulation() -> str | None:
    """Make this process's CUDA GPU look and behave like ``COGVIDEOX_EMULATE``'s profile; return what was done.

    Called by ``import helpers``, so every notebook kernel started with the setting is shaped before
    any model loads. On the real GPU it:

    - caps PyTorch's allocator so that the card holds the profile's VRAM, CUDA context included
      (``torch.cuda.set_per_process_memory_fraction``), and reports that total;
    - reports the profile's name and compute capability to every check (bf16 and fp8 support,
      ``torch.cuda.get_device_capability``, ``get_device_properties``, ``mem_get_info``), except to
      torch.compile and Triton, which build kernels for the real chip;
    - limits ``F.scaled_dot_product_attention`` to the kernels that chip has (a T4 computes bf16
      attention with the math kernel, which holds the whole score matrix);
    - ends the process when its resident host memory passes the profile's host RAM, as Colab ends
      a kernel that fills its RAM.

    It does not make the GPU slower: times under a profile are the real GPU's. Without a CUDA GPU
    it does nothing (``None``). Safe to call more than once.

    Example:
        >>> from helpers.environment import apply_emulation
        >>> apply_emulation() is None  # no profile set, or no CUDA GPU
        True
    """
    profile = emulated_profile()
    if profile is None or not torch.cuda.is_available():
        return None
    if not _EMULATION_APPLIED:  # once per process
        _EMULATION_APPLIED.append(_shape_cuda(profile))
        _watch_host_ram(profile.host_ram_gib)
    return _EMULATION_APPLIED[0]


def _shape_cuda(profile: Profile) -> str:
    import types

    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    real = torch.cuda.get_device_properties(0)
    free, total = torch.cuda.mem_get_info(0)
    # The driver's share, outside PyTorch's allocator. Where other processes share the card (the rehearsal
    # runs several profiles on one GPU), it cannot be told from theirs: the caller measures it alone and says it.
    shared = os.environ.get("COGVIDEOX_CUDA_CONTEXT_GIB")
    context = int(float(shared) * GIB) if shared else total - free - torch.cuda.memory_reserved(0)
    cap = int(profile.vram_gib * GIB)
    torch.cuda.set_per_process_memory_fraction(max(cap - context, 0) / total, 0)
    label = f"{profile.label}, emulated on {real.name}"
    shown = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if not k.startswith("_")})
    shown.name, shown.total_memory = label, cap
    shown.major, shown.minor = profile.compute_capability
    bf16 = profile.compute_capability >= (8, 0)
    for name, value in (("get_device_properties", shown), ("get_device_capability", profile.compute_capability),
                        ("get_device_name", label)):
        setattr(torch.cuda, name, shown_to_all_but_compiler(getattr(torch.cuda, name), lambda device=None, v=value: v))
    torch.cuda.is_bf16_supported = lambda including_emulation=True: bf16 or including_emulation
    torch.cuda.mem_get_info = lambda device=None: (max(cap - context - torch.cuda.memory_reserved(0), 0), cap)

    sdpa = F.scaled_dot_product_attention

    @functools.wraps(sdpa)
    def scaled_dot_product_attention(query, *args, **kwargs):
        names = profile.bf16_attention if query.dtype == torch.bfloat16 else profile.half_attention
        with sdpa_kernel([getattr(SDPBackend, name) for name in names]):
            return sdpa(query, *args, **kwargs)

    F.scaled_dot_product_attention = scaled_dot_product_attention
    return (f"emulating {profile.label}: {profile.vram_gib:g} GiB VRAM, {profile.host_ram_gib:g} GiB host RAM, "
            f"compute capability {'.'.join(map(str, profile.compute_capability))}, bf16 attention kernels "
            f"{'/'.join(profile.bf16_attention).lower()} (speed is the real GPU's)")


#: Modules that build GPU kernels for the chip they run on: they must see the real one.
COMPILER_MODULES = ("torch._inductor", "torch._dynamo", "torch.utils._triton", "triton")


def shown_to_all_but_compiler(real, emulated):
    """``emulated`` for every caller except torch.compile's and Triton's code, which gets ``real``:
    they build kernels for the chip that runs them (kernels built for an emulated T4 or RTX 4090
    do not load on an H200: "no kernel image is available for execution on the device").

    Example:
        >>> from helpers.environment import shown_to_all_but_compiler
        >>> capability = shown_to_all_but_compiler(lambda: (9, 0), lambda: (7, 5))
        >>> capability()
        (7, 5)
        >>> eval("capability()", {"__name__": "torch._inductor.utils", "capability": capability})
        (9, 0)
        >>> ask = eval("lambda: capability()", {"__name__": "torch.cuda", "capability": capability})
        >>> eval("ask()", {"__name__": "torch._inductor.utils", "ask": ask})  # through torch.cuda
        (9, 0)
    """

    @functools.wraps(real)
    def shown(*args, **kwargs):
        frame = sys._getframe(1)
        # torch.cuda's own functions call one another (get_device_capability asks get_device_properties),
        # through these wrappers: the caller that counts is the first one outside torch.cuda and this module.
        while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(("torch.cuda", __name__)):
            frame = frame.f_back
        caller = frame.f_globals.get("__name__", "")
        return (real if caller.startswith(COMPILER_MODULES) else emulated)(*args, **kwargs)

    return shown


def _watch_host_ram(limit_gib: float, interval: float = 0.05) -> None:
    """End this process, as Colab does, once its resident memory passes ``limit_gib``."""
    process = psutil.Process()

    def watch() -> None:
        while True:
            rss = process.memory_info().rss
            if rss > limit_gib * GIB:
                print(f"\nhost RAM {rss / GIB:.1f} GiB > {limit_gib:g} GiB: the emulated machine's kernel dies here "
                      "(Colab restarts the runtime).", file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
            threading.Event().wait(interval)

    threading.Thread(target=watch, name="host-ram-watchdog", daemon=True).start()


def in_colab() -> bool:
    """True inside Google Colab.

    Example:
        >>> from helpers import in_colab
        >>> in_colab()
        False
    """
    return "google.colab" in sys.modules


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


def cpu_description() -> str:
    """This machine's CPU: cores, model and the widest vector instructions PyTorch's CPU kernels use
    (AVX2, AVX512: a CPU without AVX-512 runs the nano's notebooks about twice as slowly).

    Example:
        >>> from helpers.environment import cpu_description
        >>> cpu_description()  # doctest: +SKIP
        '2 cores, AMD EPYC, AVX2'
    """
    model = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").exists():  # Linux: platform.processor() is often empty or just the architecture
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    return f"{os.cpu_count()} cores, {model}, {torch.backends.cpu.get_cpu_capability()}"


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
    cpu: str = ""
    gpu_name: str | None = None
    gpu_count: int = 0
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
    emulated: str | None = None
    advice: list[str] = field(default_factory=list)

    @property
    def device(self) -> str:
        """``"cuda"`` when a CUDA GPU is usable, else ``"cpu"``."""
        return "cuda" if self.cuda else "cpu"

    def __str__(self) -> str:
        def gib(x: float | None) -> str:
            return "-" if x is None else f"{x:.1f} GiB"

        rows = [(name, version or "not installed") for name, version in self.versions.items()]
        rows += [
            ("platform", self.platform),
            ("CPU", self.cpu),
            ("notebook host", "Colab" if self.colab else "Kaggle" if self.kaggle else "local"),
            ("GPU", (self.gpu_name or "none (CPU only)") + (f" (x{self.gpu_count})" if self.gpu_count > 1 else "")),
        ]
        if self.emulated:
            rows.append(("emulation", self.emulated))
        if self.cuda:
            rows += [
                ("CUDA allocator", os.environ.get("PYTORCH_CUDA_ALLOC_CONF") or "default"),
                ("compute capability", self.compute_capability or "-"),
                ("native bf16", "yes" if self.bf16_native else "no"),
                ("VRAM total / free", f"{gib(self.vram_total_gib)} / {gib(self.vram_free_gib)}"),
            ]
        rows += [
            ("host RAM total / available", f"{gib(self.host_ram_total_gib)} / {gib(self.host_ram_available_gib)}"),
            ("hub cache", self.hub_cache),
            ("free disk at hub cache", gib(self.disk_free_gib)),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value}" for name, value in rows]
        lines += [f"advice: {line}" for line in self.advice]
        return "\n".join(lines)


#: The oldest versions the kit runs with: pyproject.toml's lower bounds (tests/test_packaging.py checks they agree).
MINIMUM_VERSIONS = {"diffusers": "0.42.1", "torch": "2.6", "transformers": "5.0", "torchao": "0.16"}


def version_problems(versions: dict[str, str | None], notes: bool = True) -> list[str]:
    """Known-bad library versions for this kit, each with what to do; with ``notes``, also known pitfalls.

    ``versions`` is :func:`library_versions`'s. Without ``notes`` only what stops the kit from
    working is listed (the environment report shows those).

    Example:
        >>> from helpers.environment import version_problems
        >>> for line in version_problems({"diffusers": "0.29.2", "torch": "2.3.1"}):
        ...     print(line)
        diffusers 0.29.2 has no CogVideoX pipelines: pip install -U "diffusers>=0.42.1"
        torch 2.3.1 is older than the kit supports (2.6): pip install -U "torch>=2.6"
        >>> print(version_problems({"diffusers": "0.42.1", "optimum-quanto": "0.2.7"})[0])  # doctest: +ELLIPSIS
        diffusers 0.42.1 deprecates QuantoConfig (removal in 1.0) and optimum-quanto 0.2.7 is its last release...
        >>> print(version_problems({"torchao": "0.18.0"})[0])  # doctest: +ELLIPSIS
        torchao 0.18.0 has no int8_weight_only: ... use quantize_(model, Int8WeightOnlyConfig()).
        >>> version_problems({"torchao": "0.14.1"})  # it still has int8_weight_only, but is too old for the kit
        ['torchao 0.14.1 is older than the kit supports (0.16): pip install -U "torchao>=0.16"']
    """
    from packaging.version import Version  # not one of the kit's own requirements: asked for only here

    def at_least(name: str, version: str) -> bool | None:
        have = versions.get(name)
        return None if have is None else Version(have) >= Version(version)

    problems = []
    for name, least in MINIMUM_VERSIONS.items():
        if at_least(name, least) is False:
            pipelines = name == "diffusers" and not at_least(name, "0.30")
            why = "has no CogVideoX pipelines" if pipelines else f"is older than the kit supports ({least})"
            problems.append(f"{name} {versions[name]} {why}: pip install -U \"{name}>={least}\"")
    if notes and at_least("diffusers", "0.42") and versions.get("optimum-quanto"):
        problems.append(
            f"diffusers {versions['diffusers']} deprecates QuantoConfig (removal in 1.0) and optimum-quanto "
            f"{versions['optimum-quanto']} is its last release: prefer torchao (03_quantization_torchao).")
    if notes and at_least("torchao", "0.15"):  # torchao 0.15 removed the function-style configs (pytorch/ao#3308)
        problems.append(
            f"torchao {versions['torchao']} has no int8_weight_only: blog posts' `from torchao.quantization import "
            "int8_weight_only` fails with ImportError; use quantize_(model, Int8WeightOnlyConfig()).")
    return problems


def needs_fp32_attention(report=None) -> bool:
    """True on a CUDA GPU of compute capability below 8.0 (a T4): bf16 attention would run on the math kernel.

    ``report``: an :func:`helpers.environment_report` (or anything with ``cuda`` and
    ``compute_capability``); by default this machine's GPU, as PyTorch reports it (and as
    ``COGVIDEOX_EMULATE=t4`` makes it report).

    Example:
        >>> from types import SimpleNamespace
        >>> from helpers.environment import needs_fp32_attention
        >>> needs_fp32_attention(SimpleNamespace(cuda=True, compute_capability="7.5"))
        True
        >>> needs_fp32_attention(SimpleNamespace(cuda=True, compute_capability="8.9"))
        False
        >>> needs_fp32_attention(SimpleNamespace(cuda=False, compute_capability=None))
        False
    """
    if report is None:
        return torch.cuda.is_available() and torch.cuda.get_device_capability() < (8, 0)
    if not getattr(report, "cuda", False) or not report.compute_capability:
        return False
    return tuple(int(x) for x in report.compute_capability.split(".")) < (8, 0)


def compile_problem(dtype) -> str | None:
    """Why ``torch.compile`` would not compile a model of ``dtype`` on this machine's GPU, or ``None``.

    On a GPU without native bf16 (compute capability below 8.0: a T4), Triton builds no bf16
    kernels, and torch.compile leaves every bf16 graph uncompiled ("does not support bfloat16
    compilation natively, skipping"): compiling costs its time and changes nothing, and with
    torchao's quantized weights dynamo can even fail while it falls back. ``COGVIDEOX_EMULATE=t4``
    makes an emulated T4 answer the same.

    Example:
        >>> import torch
        >>> from helpers.environment import compile_problem
        >>> compile_problem(torch.bfloat16) is None  # no CUDA GPU here: compiling for the CPU works
        True
    """
    if dtype != torch.bfloat16 or not torch.cuda.is_available() or torch.cuda.is_bf16_supported(including_emulation=False):
        return None
    major, minor = torch.cuda.get_device_capability()
    return (f"torch.compile leaves bf16 graphs uncompiled on this GPU (compute capability {major}.{minor}: Triton "
            "has no native bf16 below 8.0), so compiling would only cost time. Run the model eager here; compiling "
            "pays off on a GPU of compute capability 8.0 or newer (A100, L4, RTX 30xx/40xx, H100).")


def _advice(r: EnvironmentReport) -> list[str]:
    advice = version_problems(r.versions, notes=False)
    if not r.cuda:
        advice.append("no GPU: the notebooks will use CogVideoX-nano, the kit's tiny trained model (CogVideoX-5b needs a CUDA GPU).")
    elif not r.bf16_native:
        advice.append(
            f"{r.gpu_name} has no native bf16 (compute capability {r.compute_capability} < 8.0) and no fused bf16 "
            "attention kernel: the kit keeps CogVideoX-5b's weights in bf16 (fp16 gives black or NaN frames) and "
            "computes its attention in fp32 (helpers.attention; bf16 attention on PyTorch's math kernel holds the "
            "whole score matrix). helpers.planner.recommend_model(report) says which model and recipe fit here; "
            "CogVideoX-nano runs everywhere.")
    if r.cuda and r.vram_total_gib is not None and r.vram_total_gib < 24:
        advice.append(
            f"{r.vram_total_gib:.0f} GiB VRAM: CogVideoX-5b needs an offloading recipe; helpers.planner picks "
            "the one that fits (01_basic_inference uses its choice; helpers.planner.recommend(vram_gib, ram_gib) names it)."
        )
    if r.host_ram_total_gib < LOW_HOST_RAM_GIB:
        advice.append(
            f"{r.host_ram_total_gib:.1f} GiB host RAM: use the low-RAM recipe for CogVideoX-5b "
            "(load one component at a time); loading everything at once can crash the kernel.")
    if r.disk_free_gib < DISK_NEEDED_FOR_5B_GIB:
        advice.append(
            f"{r.disk_free_gib:.0f} GiB free disk at {r.hub_cache} (< {DISK_NEEDED_FOR_5B_GIB} GiB): "
            "the CogVideoX-5b download will not fit; free space or set HF_HOME to a bigger disk.")
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
    vm = psutil.virtual_memory()
    cache = hub_cache_dir()
    emulation = apply_emulation()
    profile = emulated_profile() if emulation else None
    r = EnvironmentReport(
        versions=library_versions(),
        platform=f"{platform.system()} {platform.machine()}",
        cpu=cpu_description(),
        cuda=torch.cuda.is_available(),
        host_ram_total_gib=profile.host_ram_gib if profile else vm.total / GIB,
        host_ram_available_gib=min(vm.available / GIB, profile.host_ram_gib) if profile else vm.available / GIB,
        hub_cache=str(cache),
        disk_free_gib=free_disk_bytes(cache) / GIB,
        colab=in_colab(),
        kaggle="KAGGLE_KERNEL_RUN_TYPE" in os.environ,
        emulated=emulation,
    )
    if emulated_profile() and not emulation:
        r.emulated = f"{EMULATE_ENV} is ignored: it shapes a CUDA GPU, and this machine has none"
    if r.cuda:
        props = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info(0)
        r.gpu_name, r.gpu_count = props.name, torch.cuda.device_count()
        r.compute_capability = f"{props.major}.{props.minor}"
        r.bf16_native = props.major >= 8
        r.vram_total_gib, r.vram_free_gib = total / GIB, free / GIB
    r.advice = _advice(r)
    return r
