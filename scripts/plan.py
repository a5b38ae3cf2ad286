"""Which memory recipe fits a machine: helpers.planner's predictions for every recipe, on the command line.

For this machine, or another one and another request (a notebook calls ``helpers.planner.recommend`` instead):

    python scripts/plan.py
    python scripts/plan.py --vram-gib 24 --ram-gib 32                          # an RTX 4090-like card
    python scripts/plan.py --vram-gib 15 --ram-gib 12.7 --compute-capability 7.5  # a free Colab T4
    python scripts/plan.py --model CogVideoX-2b --gpus 2
"""

import argparse
import math
import re
import sys

from helpers.architecture import TRANSFORMER_5B, VAE_5B
from helpers.checks import RequestError, check_dimension
from helpers.environment import environment_report
from helpers.family import BY_NAME, member
from helpers.planner import (FIVE_B, RECIPES, TEXT_TO_VIDEO_MEMBERS, attention_here, fastest_parallel, predict,
                             recommend, recommend_model)


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, through ``parser.error`` (exit 2, the fix in the message), a request the planner cannot predict."""
    m = member(args.model)
    for name, default in (("frames", m.num_frames), ("height", m.height), ("width", m.width)):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.frames < 1:
        parser.error(f"--frames {args.frames}: must be at least 1 ({m.num_frames} is {m.name}'s; {m.frame_rule} counts "
                     f"such as {m.frame_step * 3 + 1} or {m.frame_step * 2 + 1}).")
    vae, patch = 2 ** (len(VAE_5B["block_out_channels"]) - 1), TRANSFORMER_5B["patch_size"]  # as diffusers computes them
    for name in ("height", "width"):
        try:
            check_dimension(name, getattr(args, name), vae * patch, getattr(m, name),
                            f"CogVideoX-5b's {vae}x VAE downscaling times patch size {patch}")
        except RequestError as e:
            parser.error(f"--{e}")
    if args.batch < 1:
        parser.error(f"--batch {args.batch}: must be at least 1 (videos generated together).")
    if args.gpus is not None and args.gpus < 1:
        parser.error(f"--gpus {args.gpus}: must be at least 1 (GPUs to split one video across); leave it out for "
                     "this machine's.")
    for name, value in (("vram_gib", args.vram_gib), ("ram_gib", args.ram_gib)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            parser.error(f"--{name.replace('_', '-')} {value}: must be a finite number of GiB, 0 or more "
                         "(e.g. 15 for a T4); leave it out for this machine's.")
    if args.compute_capability is not None and not re.fullmatch(r"\d{1,2}\.\d", args.compute_capability):
        parser.error(f"--compute-capability {args.compute_capability!r}: must look like 7.5 (a T4), 8.0 (an A100) "
                     "or 9.0 (an H100); leave it out for this machine's GPU.")


def main(argv: list[str] | None = None) -> int:
    """Print every recipe's predicted peaks for the request on the machine asked about, and the recommendation;
    exit 0 when a recipe fits, 1 when none does (2 for a request refused with its fix).

    Example:
        >>> main(["--vram-gib", "15", "--ram-gib", "12.7", "--compute-capability", "7.5"])  # doctest: +ELLIPSIS
        CogVideoX-5b, 49x480x720, batch 1, on 15 GiB VRAM and 12.7 GiB host RAM, compute capability 7.5 (attention in fp32...
        ...
        recommended recipe: low_ram_staged predicted_peak_vram_gib=13.70 predicted_peak_host_rss_gib=...
        0
    """
    parser = argparse.ArgumentParser(prog="python scripts/plan.py", description=__doc__.splitlines()[0])
    parser.add_argument("--vram-gib", type=float, help="GPU memory (default: this machine's)")
    parser.add_argument("--ram-gib", type=float, help="host RAM (default: this machine's)")
    parser.add_argument("--model", choices=BY_NAME, default=FIVE_B, help="the family member to plan for")
    for name in ("frames", "height", "width"):
        parser.add_argument(f"--{name}", type=int, help="default: the model's own (49x480x720 for CogVideoX-5b)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--compute-capability", help="e.g. 7.5 for a T4 (default: this machine's GPU, else 8.0)")
    parser.add_argument("--gpus", type=int, help="GPUs to split one video across (default: this machine's, else 1)")
    args = parser.parse_args(argv)
    _check_args(parser, args)
    if None in (args.vram_gib, args.ram_gib, args.compute_capability):  # another machine's: one GPU unless --gpus
        report = environment_report()
        args.gpus = args.gpus if args.gpus is not None else max(report.gpu_count, 1)
        args.vram_gib = args.vram_gib if args.vram_gib is not None else (report.vram_total_gib or 0.0)
        args.ram_gib = args.ram_gib if args.ram_gib is not None else report.host_ram_total_gib
        args.compute_capability = args.compute_capability or report.compute_capability or "8.0"
    gpu = argparse.Namespace(cuda=True, compute_capability=args.compute_capability, vram_total_gib=args.vram_gib,
                             host_ram_total_gib=args.ram_gib, gpu_count=args.gpus or 1)
    request = dict(num_frames=args.frames, height=args.height, width=args.width, batch=args.batch, model=args.model,
                   attention=attention_here(gpu, args.model))
    print(f"{args.model}, {args.frames}x{args.height}x{args.width}, batch {args.batch}, "
          f"on {args.vram_gib:g} GiB VRAM and {args.ram_gib:g} GiB host RAM, compute capability {args.compute_capability}"
          + (" (attention in fp32: no fused bf16 kernel)" if request["attention"] == "fp32" else ""))
    for r in RECIPES:
        p = predict(r, **request)
        print(f"  {r:40} VRAM {p.peak_vram_gib:5.1f} GiB  RAM {p.peak_host_rss_gib:5.1f} GiB  "
              f"speed x{p.relative_speed:.2f}  {'fits' if p.fits(args.vram_gib, args.ram_gib) else '-'}")
    best, why = recommend(args.vram_gib, args.ram_gib, **request)
    print(f"recommended: {why}")
    if best:
        print(f"recommended recipe: {best.recipe} predicted_peak_vram_gib={best.peak_vram_gib:.2f} "
              f"predicted_peak_host_rss_gib={best.peak_host_rss_gib:.2f}")
        if parallel := fastest_parallel(gpu):  # a split keeps the whole pipeline on each GPU, whatever the above
            print(parallel)
    elif args.model in TEXT_TO_VIDEO_MEMBERS and args.vram_gib > 0:
        name, other, _ = recommend_model(gpu, batch=args.batch)
        if other:
            print(f"{name} fits here instead: {other.recipe} (MODEL = '{member(name).hub_id}'; "
                  f"python scripts/plan.py --model {name})")
    return 0 if best else 1


if __name__ == "__main__":
    sys.exit(main())
