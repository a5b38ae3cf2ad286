"""One video on several GPUs (or CPU processes) with para-attn: the plumbing around 09_multi_gpu's script.

A notebook is one process, so the lesson's script (para-attn's ``parallelize_pipe``) runs under ``torchrun``:
:func:`run_parallel` checks the request and starts it from the notebook; inside the script, :func:`start` joins
the process group and :func:`finish` generates, measures every rank and writes the result (rank 0).
Every process holds the whole pipeline: what is split is the work, never the weights.

Example:
    >>> from helpers.multi_gpu import check_parallel
    >>> check_parallel("cfg", world_size=2, device_type="cpu", heads=8, guidance_scale=6.0)
"""

import argparse
import contextlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import torch
import torch.distributed as dist

#: para-attn's mesh for each mode (``init_context_parallel_mesh`` arguments, for ``world_size`` processes):
#: ``cfg`` puts the two guidance branches on two processes (more processes split each branch's sequence, Ulysses;
#: ``cfg_ring``: ring attention); ``ulysses`` and ``ring`` split the sequence across all of them; ``none`` is one
#: process, the reference.
MODES = {
    "none": lambda world_size: None,
    "cfg": lambda world_size: dict(max_batch_dim_size=2),
    "cfg_ring": lambda world_size: dict(max_batch_dim_size=2, max_ring_dim_size=world_size),
    "ulysses": lambda world_size: dict(max_ulysses_dim_size=world_size),
    "ring": lambda world_size: dict(max_ring_dim_size=world_size),
}


#: The request's settings the script takes (``--num_frames 9``...); those not given are the model's defaults.
REQUEST = dict(prompt=str, num_frames=int, height=int, width=int, num_inference_steps=int, guidance_scale=float)


def check_parallel(mode: str, world_size: int, device_type: str, heads: int, guidance_scale: float,
                   lengths: dict[str, int] | None = None, speed: str = "") -> None:
    """Refuse, before any process starts, a split that cannot run; the message names the fix.

    ``lengths`` are what para-attn cuts into equal parts for each process of a sequence split (:func:`split_lengths`):
    the text tokens, the latent rows and the patches of a latent frame. CogVideoX's 226 text tokens split in two at
    most, so a sequence never splits more than two ways (``cfg`` on 4 processes: two ways per guidance branch).

    Example:
        >>> lengths = {"text tokens": 226, "latent rows": 60, "patches per latent frame": 1350}  # 5b, 480x720
        >>> check_parallel("ulysses", world_size=4, device_type="cpu", heads=48, guidance_scale=6.0, lengths=lengths)
        Traceback (most recent call last):
        ...
        ValueError: mode 'ulysses' on 4 processes splits the sequence 4 ways, but para-attn cuts each part of it into equal pieces, and 226 text tokens and 1350 patches per latent frame do not divide by 4. Here the sequence splits 2 ways at most: 'ulysses' on 2 processes, 'cfg' on 4.
        >>> check_parallel("ring", world_size=2, device_type="cpu", heads=8, guidance_scale=6.0)
        Traceback (most recent call last):
        ...
        ValueError: mode 'ring': para-attn's ring attention runs on CUDA GPUs only. On CPU processes use 'cfg' or 'ulysses'.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one the kit knows: use one of {', '.join(MODES)}.")
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"{world_size!r} processes: give a whole number of at least 1 (one process per GPU).")
    if (mode == "none") != (world_size == 1):
        raise ValueError(f"mode {mode!r} with {world_size} processes: 'none' is one process; "
                         "'cfg', 'ulysses' and 'ring' need two or more.")
    if mode.endswith("ring") and device_type != "cuda":
        raise ValueError(f"mode {mode!r}: para-attn's ring attention runs on CUDA GPUs only. "
                         "On CPU processes use 'cfg' or 'ulysses'.")
    if device_type == "cuda" and world_size > torch.cuda.device_count():
        raise ValueError(f"{world_size} processes, but this machine has {torch.cuda.device_count()} CUDA GPU(s): "
                         "one process per GPU, so ask for at most that many.")
    if mode.startswith("cfg") and (guidance_scale <= 1 or world_size % 2):
        raise ValueError(f"mode {mode!r} splits the two guidance branches: it needs guidance_scale > 1 (got "
                         f"{guidance_scale}) and an even number of processes (got {world_size}). Use 'ulysses'.")
    if mode.startswith("cfg") and "fastercache" in speed:
        raise ValueError(f"mode {mode!r} with fastercache: FasterCache skips the unconditional branch by cutting the "
                         f"batch that {mode!r} splits across processes, and the split then fails. Use pab with "
                         f"{mode!r}, or fastercache with 'ulysses'.")
    sequence = world_size // 2 if mode.startswith("cfg") else world_size if mode != "none" else 1
    ulysses = 1 if mode.endswith("ring") else sequence
    if heads % ulysses:
        raise ValueError(f"mode {mode!r} on {world_size} processes gives each {heads}/{ulysses} attention heads: "
                         f"the model's {heads} heads must divide evenly. Use a process count that divides {heads}.")
    uneven = [f"{n} {name}" for name, n in (lengths or {}).items() if n % sequence]
    if uneven:
        most = max(d for d in range(1, sequence) if all(n % d == 0 for n in lengths.values()) and heads % d == 0)
        sequence_modes, cfg_modes = (("'ulysses' or 'ring'", "'cfg' or 'cfg_ring'") if device_type == "cuda"
                                     else ("'ulysses'", "'cfg'"))
        fix = (f"Here the sequence splits {most} ways at most: {sequence_modes} on {most} processes, {cfg_modes} on "
               f"{2 * most}." if most > 1 else "Here the sequence does not split: use 'cfg' on 2 processes.")
        raise ValueError(f"mode {mode!r} on {world_size} processes splits the sequence {sequence} ways, but para-attn "
                         f"cuts each part of it into equal pieces, and {' and '.join(uneven)} do not divide by "
                         f"{sequence}. {fix}")


def split_lengths(model: str | os.PathLike, height: int | None = None, width: int | None = None) -> tuple[int, dict]:
    """The model's attention heads (what Ulysses divides) and the lengths a sequence split cuts into equal parts
    (:func:`check_parallel`), read from its folder's configurations before any weight; ``height`` and ``width``
    default to the model's own.

    Example:
        >>> from helpers.multi_gpu import split_lengths
        >>> split_lengths("nano")  # 48x72: 12x18 latent rows and columns, 2x2 patches
        (8, {'text tokens': 226, 'latent rows': 12, 'patches per latent frame': 54})
    """
    from types import SimpleNamespace

    from .checks import MAX_PROMPT_TOKENS
    from .family import member_of
    from .loading import kit_model_kind, model_folder

    with contextlib.redirect_stdout(io.StringIO()):  # which model it is was said already: once is enough
        folder = model_folder(model)
    config = json.loads((folder / "transformer" / "config.json").read_text())
    scale = 2 ** (len(json.loads((folder / "vae" / "config.json").read_text())["block_out_channels"]) - 1)
    # the model's own size, as helpers.model_defaults gives it: the kit's models in their configuration
    member = member_of(SimpleNamespace(**config))
    own = ((config["sample_height"] * scale, config["sample_width"] * scale) if kit_model_kind(folder)
           else (member.height, member.width))
    rows, columns = (height or own[0]) // scale, (width or own[1]) // scale
    patch = config["patch_size"]
    # the pipeline's text tokens (max_sequence_length), the rows of the latent video, each latent frame's patches
    return config["num_attention_heads"], {"text tokens": MAX_PROMPT_TOKENS, "latent rows": rows,
                                           "patches per latent frame": (rows // patch) * (columns // patch)}


def start(argv: list[str] | None = None) -> tuple[argparse.Namespace, torch.device]:
    """In the torchrun script: join the process group (NCCL on GPUs, gloo on CPUs); the arguments and this rank's
    device. Refuses (on every rank, before loading) what :func:`check_parallel` refuses.

    Example:
        >>> args, device = start()  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(description="one CogVideoX video split across torchrun's processes")
    parser.add_argument("--mode", default="cfg", choices=list(MODES))
    parser.add_argument("--model", default="nano")
    parser.add_argument("--seed", type=int, default=42)
    for name, kind in REQUEST.items():  # unset: the model's defaults (helpers.model_defaults)
        parser.add_argument(f"--{name}", type=kind)
    parser.add_argument("--result", type=Path, required=True, help="JSON file rank 0 writes")
    parser.add_argument("--reference", type=Path, help="frames (.npy) of the one-process run, to compare with")
    parser.add_argument("--speed", default="", help="speed steps applied after the split "
                                                     "(helpers.recipes.apply_speed): compile, pab, compile+pab...")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    guidance = 6.0 if args.guidance_scale is None else args.guidance_scale  # every CogVideoX model's default
    heads, lengths = split_lengths(args.model, args.height, args.width)
    check_parallel(args.mode, dist.get_world_size(), device.type, heads, guidance, lengths, args.speed)
    return args, device


def finish(pipe, args: argparse.Namespace) -> None:
    """In the torchrun script: apply ``args.speed``'s steps, warm up, generate and measure on every rank; rank 0 saves
    the video and writes ``args.result`` (seconds, each rank's peaks, the difference from ``args.reference``).

    A cache on a compiled transformer recompiles while its schedule changes, so that warm-up runs every step.

    Example:
        >>> finish(pipe, args)  # doctest: +SKIP
    """
    import numpy as np

    from .checks import check_request, model_defaults
    from .measure import measure
    from .saving import save_video

    request = {**model_defaults(pipe), **{k: getattr(args, k) for k in REQUEST if getattr(args, k) is not None}}
    check_request(pipe, **request)
    from .recipes import CACHES, apply_speed, parse_recipe

    request.update(apply_speed(pipe, args.speed, steps=request["num_inference_steps"]))
    steps = {name for name, _ in parse_recipe(args.speed)}
    cached_and_compiled = "compile" in steps and bool(steps & set(CACHES))

    def generate(**overrides):
        generator = torch.Generator("cpu").manual_seed(args.seed)
        return pipe(**{**request, **overrides}, generator=generator, output_type="np").frames[0]

    generate(**({} if cached_and_compiled else dict(num_inference_steps=2)))  # warm-up: kernels, communication buffers
    dist.barrier()
    with measure(f"{args.mode} x{dist.get_world_size()}") as m:
        frames = generate()
    ranks = [None] * dist.get_world_size()
    dist.all_gather_object(ranks, vars(m))
    if dist.get_rank() == 0:
        result = dict(mode=args.mode, speed=args.speed, processes=len(ranks), device=str(pipe.device.type),
                      request=request, seconds=m.seconds, ranks=ranks, frames=list(frames.shape))
        if args.reference:
            result["max_abs_difference"] = float(np.abs(frames - np.load(args.reference)).max())
        else:
            np.save(args.result.with_suffix(".npy"), frames)
        recipe = f"para-attn {args.mode} x{len(ranks)}" + (f"+{args.speed}" if args.speed else "")
        result["video"] = str(save_video(frames, request, pipe=pipe, seed=args.seed, measurement=m, recipe=recipe,
                                         name=f"{args.mode}-x{len(ranks)}"))
        args.result.write_text(json.dumps(result, indent=1))
    dist.barrier()  # leave together: gloo aborts a process whose peer has gone while it still talks to it
    dist.destroy_process_group()


def run_parallel(script: str | os.PathLike, mode: str, processes: int, result: str | os.PathLike,
                 model: str = "nano", device_type: str | None = None, timeout: float = 900, **request) -> dict:
    """Check the split here, then run ``script`` under torchrun with ``processes`` processes; rank 0's result.

    ``device_type`` "cuda" gives each process a GPU, "cpu" keeps them all on the CPU (gloo), also where there is
    a GPU; ``None``: the GPUs when there are enough of them. A failure in any process comes back as a
    ``RuntimeError`` with the first exception a process raised.

    Example:
        >>> from helpers.multi_gpu import run_parallel
        >>> run_parallel("parallel_video.py", "cfg", 2, "outputs/cfg.json")["seconds"]  # doctest: +SKIP
        4.2
    """
    device_type = device_type or ("cuda" if torch.cuda.device_count() >= processes else "cpu")
    if importlib.util.find_spec("para_attn") is None:  # the script imports it on every process
        raise ValueError('para-attn is not installed here: pip install "para-attn>=0.3.38" (the kit\'s requirements '
                         "bring it), then restart the kernel.")
    heads, lengths = split_lengths(model, request.get("height"), request.get("width"))
    check_parallel(mode, processes, device_type, heads, request.get("guidance_scale", 6.0), lengths,
                   request.get("speed", ""))
    result = Path(result)
    if result.is_dir() or not result.parent.is_dir():
        raise ValueError(f"result {result}: give a .json file in a folder that exists (create the folder first).")
    from .checks import check_request, model_defaults
    from .low_ram import config_only_pipeline

    with contextlib.redirect_stdout(io.StringIO()):  # the request checked here, before any process loads weights
        configs = config_only_pipeline(model)
    check_request(configs, **{**model_defaults(configs), **{k: v for k, v in request.items() if k != "speed"}})
    partial = result.with_name(result.stem + ".partial.json")  # a failed run leaves the last good result as it was
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               str(script), "--mode", mode, "--model", str(model), "--result", str(partial)]
    command += [item for k, v in request.items() for item in (f"--{k}", str(v))]
    env = {**os.environ, **({"CUDA_VISIBLE_DEVICES": ""} if device_type == "cpu" else {})}
    for leftover in (partial, partial.with_suffix(".npy")):
        leftover.unlink(missing_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode or not partial.exists():
        # the first exception a process raised, without torchrun's "[rank1]:" prefix or its own ChildFailedError
        errors = re.findall(r"^(?:\[rank\d+\]:\s*)?((?!ChildFailed)\w*(?:Error|Exception|Interrupt)\b: .*)$",
                            done.stderr + done.stdout, re.MULTILINE)
        raise RuntimeError(f"torchrun {Path(script).name} ({mode}, {processes} processes) failed: "
                           f"{errors[0] if errors else done.stderr[-2000:]}")
    if partial.with_suffix(".npy").exists():  # a one-process run's frames, the reference of the splits
        partial.with_suffix(".npy").replace(result.with_suffix(".npy"))
    partial.replace(result)
    return json.loads(result.read_text())


def results_table(results: dict[str, dict]) -> str:
    """:func:`run_parallel`'s results as a table: seconds, speed-up against ``none``, each process's peaks, and the
    largest pixel difference from the one-process video (frames in 0..1).

    Example:
        >>> row = dict(processes=2, seconds=2.0, max_abs_difference=1e-6,
        ...            ranks=[dict(peak_vram_gib=None, peak_rss_gib=0.6)] * 2)
        >>> print(results_table({"none": {**row, "processes": 1, "seconds": 3.0}, "cfg": row}))
        split          processes  seconds  speed-up  peak VRAM / process  peak RAM / process  difference
        none                   1     3.00     1.00x                    -            0.60 GiB   reference
        cfg                    2     2.00     1.50x                    -            0.60 GiB     1.0e-06
    """
    base = results.get("none", {}).get("seconds")
    lines = [f"{'split':14} {'processes':>9} {'seconds':>8} {'speed-up':>9} {'peak VRAM / process':>20} "
             f"{'peak RAM / process':>19} {'difference':>11}"]
    for mode, r in results.items():
        vram = max(x["peak_vram_gib"] or 0 for x in r["ranks"])
        ram = max(x["peak_rss_gib"] for x in r["ranks"])
        speedup = f"{base / r['seconds']:.2f}x" if base else "-"
        difference = "reference" if mode == "none" else f"{r.get('max_abs_difference', float('nan')):.1e}"
        lines.append(f"{mode:14} {r['processes']:>9} {r['seconds']:>8.2f} {speedup:>9} "
                     f"{f'{vram:.2f} GiB' if vram else '-':>20} {f'{ram:.2f} GiB':>19} {difference:>11}")
    return "\n".join(lines)
