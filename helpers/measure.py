"""Measure wall time, peak GPU memory and peak host RAM of a block of code.

Example:
    >>> from helpers import measure
    >>> with measure("sum") as m:
    ...     total = sum(range(10**6))
    >>> m.seconds > 0
    True
"""

import ctypes
import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import psutil
import torch

from .environment import GIB


@dataclass
class Measurement:
    """What :func:`measure` recorded. Memory in GiB; ``peak_vram_gib`` is ``None`` without CUDA."""

    label: str
    seconds: float = 0.0
    peak_vram_gib: float | None = None
    peak_rss_gib: float = 0.0

    def __str__(self) -> str:
        return measurements_table([self])


def free_memory() -> float:
    """Collect garbage and return cached CUDA blocks to the driver; GiB released on the GPU (0 without one).

    Example:
        >>> from helpers.measure import free_memory
        >>> free_memory() >= 0
        True
    """
    gc.collect()
    if not torch.cuda.is_available():
        return 0.0
    before = torch.cuda.memory_reserved()
    torch.cuda.empty_cache()
    return (before - torch.cuda.memory_reserved()) / GIB


def measurements_table(measurements: list[Measurement]) -> str:
    """Measurements as a small aligned table, one row each (a before/after comparison).

    Example:
        >>> from helpers.measure import Measurement, measurements_table
        >>> print(measurements_table([Measurement("a", 1.5, None, 0.5)]))
        what  seconds  peak VRAM  peak RAM
        a        1.50          -  0.50 GiB
    """
    rows = [("what", "seconds", "peak VRAM", "peak RAM")]
    for m in measurements:
        vram = "-" if m.peak_vram_gib is None else f"{m.peak_vram_gib:.2f} GiB"
        rows.append((m.label, f"{m.seconds:.2f}", vram, f"{m.peak_rss_gib:.2f} GiB"))
    widths = [max(map(len, column)) for column in zip(*rows)]
    return "\n".join("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]) for r in rows)


@contextmanager
def measure(label: str = "run", interval: float = 0.01) -> Iterator[Measurement]:
    """Record wall time, peak CUDA memory (when there is a GPU) and peak host RSS.

    Host RSS is sampled every ``interval`` seconds by a background thread (psutil), so
    very short spikes can be missed; GPU memory is PyTorch's exact peak of allocated bytes.
    Before it starts, garbage is collected and freed heap handed back to the system (glibc keeps
    it otherwise), so the peak counts what is alive, not what an earlier step left behind. The
    record is filled in when the block ends, also when it raises.

    Example:
        >>> from helpers import measure
        >>> with measure("generate") as m:
        ...     video = [0] * 1000
        >>> print(m)  # doctest: +SKIP
        what      seconds  peak VRAM  peak RAM
        generate     0.00          -  0.61 GiB
    """
    record = Measurement(label)
    free_memory()
    # glibc keeps freed memory for reuse, resident: hand it back first. Without glibc (macOS, Windows, musl)
    # there is no libc.so.6 or no malloc_trim in it, and nothing to hand back this way.
    with suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    process = psutil.Process()
    peak = process.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(interval):
            peak = max(peak, process.memory_info().rss)

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        yield record
    finally:
        if cuda:
            torch.cuda.synchronize()
            record.peak_vram_gib = torch.cuda.max_memory_allocated() / GIB
        record.seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        record.peak_rss_gib = max(peak, process.memory_info().rss) / GIB


def generate_and_measure(pipe, request: dict, label: str, seed: int = 0, runs: list[Measurement] | None = None,
                         warm_up: bool = True, **changes):
    """Generate ``request`` (with ``changes``) from ``seed``, measured: ``(frames of the first video, Measurement)``.

    ``warm_up`` first runs one untimed step, so the row measures the generation, not the first call's
    set-up. With ``runs``, the measurement joins that list and the whole table is printed: a before/after
    in one place. The request is checked first (:func:`helpers.check_request`: a bad frame count, size, step
    count or non-finite number is refused with the fix before anything runs). If the GPU runs out of memory,
    one line says so and ``(None, None)`` comes back, so the notebook goes on with its other rows.

    Example:
        >>> import helpers
        >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
        >>> request = dict(prompt="a red circle moving to the left on a dark background", num_frames=9,
        ...                height=48, width=72, num_inference_steps=2)
        >>> runs = []
        >>> video, m = generate_and_measure(pipe, request, "two steps", runs=runs)  # doctest: +ELLIPSIS
        what ...
        two steps ...
        >>> video.shape, runs == [m]
        ((9, 48, 72, 3), True)
    """
    from .checks import check_request, model_defaults

    # refused before any compute (the warm-up included), with the fix; the model's defaults fill what is not asked
    check_request(pipe, **{**model_defaults(pipe), **request, **changes})

    def run(steps: int):
        asked = {**request, **changes, "num_inference_steps": steps}
        return pipe(**asked, output_type="np", generator=torch.Generator(device="cpu").manual_seed(seed)).frames[0]

    try:
        if warm_up:
            run(1)
        with measure(label) as record:
            video = run(changes.get("num_inference_steps", request["num_inference_steps"]))
    except torch.cuda.OutOfMemoryError as error:  # predicted to fit, yet this GPU's allocator ran out
        print(f"skipped {label}: out of memory ({str(error).split('.')[0]}); the other rows go on.")
        return None, None
    if runs is not None:
        runs.append(record)
        print(measurements_table(runs))
    return video, record
