"""Turn failures into what to do next: out-of-memory errors, bad frames, a model folder checked against the hub.

Loading problems themselves are caught where they happen (:mod:`helpers.loading` raises a
:class:`~helpers.loading.ModelLoadError` with the fix); bad requests by :func:`helpers.check_request`.

Example:
    >>> from helpers.diagnose import oom_advice
    >>> print(oom_advice("all_on_gpu+vae_tiling", vram_gib=15, ram_gib=12.7))  # doctest: +ELLIPSIS
    all_on_gpu+vae_tiling needs about 23.5 GiB of GPU memory for this request; this GPU has 15.0 GiB. Next: low_ram_staged...
"""

import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

import psutil
import torch

from .environment import GIB, environment_report
from .measure import free_memory


def oom_advice(recipe: str, vram_gib: float, ram_gib: float, **request) -> str:
    """After an out-of-memory error with ``recipe``: the planner's next recipe that fits, or what to cut.

    ``request`` takes ``num_frames``, ``height`` and ``width`` (CogVideoX-5b's defaults otherwise).

    Example:
        >>> from helpers.diagnose import oom_advice
        >>> print(oom_advice("low_ram_staged", vram_gib=6, ram_gib=12.7))  # doctest: +ELLIPSIS
        low_ram_staged needs about 13.5 GiB of GPU memory for this request; this GPU has 6.0 GiB. Nothing fits 6.0 GiB VRAM...
    """
    from .planner import predict, recommend

    said = (f"{recipe} needs about {predict(recipe, **request).peak_vram_gib:.1f} GiB of GPU memory for this request; "
            f"this GPU has {vram_gib:.1f} GiB.")
    best, why = recommend(vram_gib, ram_gib, **request)
    if best is None:
        shorter, _ = recommend(vram_gib, ram_gib, **{**request, "num_frames": 25})
        cut = (f" With num_frames=25, {shorter.recipe} fits ({shorter.peak_vram_gib:.1f} GiB)." if shorter else "")
        return f"{said} {why[0].upper()}{why[1:]}{cut}"
    how = ("helpers.low_ram.generate_low_ram(folder, ...), which loads each component in turn (do not load the "
           "pipeline first)" if best.recipe == "low_ram_staged"
           else f"helpers.apply_recipe(pipe, {best.recipe!r}) on a freshly loaded pipeline")
    return f"{said} Next: {why}. In a notebook: {how}."


@contextmanager
def catch_oom(recipe: str | None = None, vram_gib: float | None = None, ram_gib: float | None = None,
              **request) -> Iterator[SimpleNamespace]:
    """Run a block; on an out-of-memory error, free what it held and print what to try next.

    It yields what it saw: ``error`` (``None`` when the block finished), ``advice`` and ``freed_gib``.

    The kernel keeps running: no restart, no lost variables. With ``recipe`` (a CogVideoX-5b
    recipe) the advice is the planner's next recipe for ``vram_gib``/``ram_gib`` (this
    machine's by default); without, it says to ask for less. Other errors pass through.

    Example:
        >>> import torch
        >>> from helpers.diagnose import catch_oom
        >>> with catch_oom("all_on_gpu+vae_tiling", vram_gib=15, ram_gib=12.7) as caught:
        ...     raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")  # doctest: +ELLIPSIS
        out of memory: CUDA out of memory. Tried to allocate 2.00 GiB
        all_on_gpu+vae_tiling needs about 23.5 GiB of GPU memory for this request; this GPU has 15.0 GiB. Next: ...
        >>> caught.error
        'CUDA out of memory. Tried to allocate 2.00 GiB'
    """
    caught = SimpleNamespace(error=None, advice="", freed_gib=0.0)
    try:
        yield caught
        return  # the block finished
    except (RuntimeError, MemoryError) as e:  # torch.OutOfMemoryError is a RuntimeError
        # out of memory: CUDA's OutOfMemoryError, MemoryError, or the CPU allocator's "can't allocate memory"
        if not isinstance(e, (torch.OutOfMemoryError, MemoryError)) and "can't allocate memory" not in str(e):
            raise
        caught.error = str(e).splitlines()[0] if str(e) else type(e).__name__
    caught.freed_gib = free_memory()  # the traceback (and the tensors it kept) is gone once the except block ended
    if recipe is None:
        caught.advice = ("Ask for less: fewer frames (8N+1: 25, 17, 9), a smaller size, or one video at a time; "
                         "on a GPU, a leaner recipe (helpers.planner.recommend(vram_gib, ram_gib) names the fastest that fits).")
    else:
        report = environment_report() if vram_gib is None or ram_gib is None else None  # this machine's, if needed
        caught.advice = oom_advice(recipe, (report.vram_total_gib or 0.0) if vram_gib is None else vram_gib,
                                   report.host_ram_total_gib if ram_gib is None else ram_gib, **request)
    print(f"out of memory: {caught.error}\n{caught.advice}")


@contextmanager
def memory_budget(gib: float, device: str = "cpu") -> Iterator[bool]:
    """Let this process take at most ``gib`` more memory on ``device`` inside the block, to reproduce an OOM.

    On the CPU (Linux) it caps the address space (``RLIMIT_AS``) above what the process already maps,
    so a too-large request fails fast with the allocator's error instead of swapping; it yields
    ``False`` where the OS does not enforce it (then nothing is capped). On a CUDA GPU it caps
    PyTorch's allocator above what it holds (``torch.cuda.set_per_process_memory_fraction``; an
    address-space cap would break CUDA, which maps the GPU's memory into it). Either way the old
    limit comes back afterwards.

    Example:
        >>> import torch
        >>> from helpers.diagnose import catch_oom, memory_budget
        >>> with memory_budget(0.5) as enforced, catch_oom() as caught:
        ...     block = torch.ones(2**30)  # 4 GiB  # doctest: +ELLIPSIS
        out of memory: [enforce fail at ...] ... can't allocate memory: you tried to allocate 4294967296 bytes...
        Ask for less: ...
        >>> caught.error is not None or not enforced
        True
    """
    if str(device).startswith("cuda"):
        total = inspect.unwrap(torch.cuda.get_device_properties)(0).total_memory  # the real card's (COGVIDEOX_EMULATE)
        old = torch.cuda.get_per_process_memory_fraction(0)
        new = min(old, (torch.cuda.memory_reserved(0) + gib * GIB) / total)
        set_limit = functools.partial(torch.cuda.set_per_process_memory_fraction, device=0)
    elif psutil.LINUX:
        old = psutil.Process().rlimit(psutil.RLIMIT_AS)
        cap = psutil.Process().memory_info().vms + int(gib * GIB)
        new = (cap if old[1] == psutil.RLIM_INFINITY else min(cap, old[1]), old[1])
        set_limit = functools.partial(psutil.Process().rlimit, psutil.RLIMIT_AS)
    else:  # the OS would not enforce the cap (or, as Windows, has no RLIMIT_AS)
        yield False
        return
    set_limit(new)
    try:
        yield True
    finally:
        set_limit(old)


def check_frames(video) -> list[str]:
    """Problems a generated video shows in its pixels: NaN, black or frozen frames, with the likely cause.

    ``video`` is a pipeline's ``output_type="np"`` frames (F, H, W, 3) in 0..1. An empty list means none found.

    Example:
        >>> import numpy as np
        >>> from helpers.diagnose import check_frames
        >>> check_frames(np.random.default_rng(0).random((9, 8, 8, 3)))
        []
        >>> print(check_frames(np.full((9, 8, 8, 3), np.nan))[0])  # doctest: +ELLIPSIS
        9 of 9 frames contain NaN pixels: the model overflowed. Typically fp16 on CogVideoX-5b...
    """
    import numpy as np

    video = np.asarray(video, dtype=np.float32)
    frames = len(video)
    nan = int(np.isnan(video).reshape(frames, -1).any(axis=1).sum())
    if nan:  # says it all: the frames are not checked for black or frozen
        return [f"{nan} of {frames} frames contain NaN pixels: the model overflowed. Typically fp16 on CogVideoX-5b "
                "(it was trained in bf16): load it with dtype=torch.bfloat16, also on a T4, where the kit computes "
                "attention in fp32 (helpers.load_pipeline does both for you)."]
    clean = np.nan_to_num(video, nan=0.0)  # inf becomes the largest float
    black = int((clean.reshape(frames, -1).max(axis=1) < 0.02).sum())
    problems = [f"{black} of {frames} frames are black: usually NaN or inf in the latents that the decoder clipped "
                "to 0 (an fp16 overflow: load in bf16, as helpers.load_pipeline does on a GPU), else a prompt or "
                "guidance far out of range."] if black else []
    if frames > 1 and black < frames and float(np.abs(np.diff(clean, axis=0)).max()) < 1e-3:
        problems.append("every frame is the same: nothing moves. Try more steps (the model's default), a prompt that "
                        "describes motion, or another seed.")
    return problems


def verify_against_hub(folder, repo_id: str) -> list[str]:
    """Compare a downloaded folder's files with the sizes the hub lists for ``repo_id`` (needs the internet).

    Returns one line per file that is missing or has the wrong size; an empty list means all match.
    Cheap: sizes only, no hashing of multi-GB files. A file the hub does not list is ignored.

    Example:
        >>> from helpers.diagnose import verify_against_hub
        >>> verify_against_hub("~/models/CogVideoX-5b", "THUDM/CogVideoX-5b")  # doctest: +SKIP
        []
    """
    from pathlib import Path

    from .loading import hub_download_files

    folder = Path(folder).expanduser()
    problems = []
    for sibling in hub_download_files(repo_id, timeout=30):
        local = folder / sibling.rfilename
        if not local.exists():
            problems.append(f"{sibling.rfilename}: missing")
        elif sibling.size is not None and local.stat().st_size != sibling.size:
            problems.append(f"{sibling.rfilename}: {local.stat().st_size:,} bytes here, {sibling.size:,} on the hub")
    return problems
