"""One CogVideoX-5b video split across GPUs with para-attn -> media/benchmarks/multi_gpu.json and a chart.

No machine of the kit's can download the real weights, so the model is CogVideoX-5b's full-size architecture
with RANDOM weights in the hub layout (helpers.architecture.save_random_5b): weights' values change neither time
nor memory. The script each run starts is 09_multi_gpu's own (its %%writefile cell), under torchrun through
helpers.multi_gpu.run_parallel: one process per GPU, a warm-up (2 steps; every step for a cache on a compiled
transformer, which recompiles while its schedule changes), then one timed call of the request
(49x480x720, 50 steps, guidance 6 unless --steps), decoded; first on one GPU (the reference), then each split on
--gpus GPUs, each video compared with the reference; with --speeds, again for each set of speed steps (compile, a
cache), applied after the split, against one process with the same steps. Rows are keyed "<split> x<gpus>[+<speed>]",
so runs on 2, 4 and 8 GPUs add up in media/benchmarks/multi_gpu.json (chart merges), each with its scaling efficiency
against one GPU and, where the same split ran on two, against two.

    python scripts/bench_multi_gpu.py run --model /tmp/CogVideoX-5b-random --gpus 2 --out results.json  # CUDA GPUs
    python scripts/bench_multi_gpu.py run --model /tmp/CogVideoX-5b-random --gpus 2 --speeds compile pab compile+pab \
        --out speeds.json
    python scripts/bench_multi_gpu.py run --model nano --gpus 2 --out results.json   # a dry run on CPU processes
    python scripts/bench_multi_gpu.py chart results.json                             # (any machine) -> media/
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "media" / "benchmarks" / "multi_gpu.json"
NOTEBOOK = ROOT / "notebooks" / "09_multi_gpu.ipynb"
NOTE = ("CogVideoX-5b's full-size architecture with RANDOM weights (weights' values change neither time nor memory). "
        "seconds: one call on rank 0 after a warm-up (2 steps; every step for a cache on a compiled transformer): "
        "prompt encoding, the steps, decoding (on every process). "
        "peak_vram_gib: each process's torch peak allocation in that call. max_abs_difference: the largest pixel "
        "difference (0..1) from the one-GPU video of the same seed.")


def notebook_script() -> str:
    """The script 09_multi_gpu writes (its ``%%writefile`` cell), without the magic line: one source for both."""
    import nbformat

    cell = next(c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.source.startswith("%%writefile"))
    return cell.source.split("\n", 1)[1] + "\n"


def key(split: str, processes: int, speed: str = "") -> str:
    """A row's name in the results: ``"cfg x2"``, ``"none x1+pab"``."""
    return f"{split} x{processes}" + (f"+{speed}" if speed else "")


def run(model: str, gpus: int, splits: list[str], speeds: list[str], steps: int | None, out: Path) -> None:
    import torch

    sys.path.insert(0, str(ROOT))
    from helpers.multi_gpu import results_table, run_parallel

    device_type = "cuda" if torch.cuda.is_available() else "cpu"
    request = dict(model=model, device_type=device_type, **({"num_inference_steps": steps} if steps else {}))
    record = dict(note=NOTE, model=model, gpu=torch.cuda.get_device_name(0) if device_type == "cuda" else "cpu",
                  torch=torch.__version__, results={})
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "parallel_video.py"
        script.write_text(notebook_script())
        for speed in speeds:  # each split against one process with the same speed steps
            runs = [("none", 1)] + [(split, gpus) for split in splits]
            (Path(tmp) / "none.npy").unlink(missing_ok=True)  # never another speed's reference
            for split, processes in runs:
                name = key(split, processes, speed)
                if split != "none" and "error" in record["results"][key("none", 1, speed)]:
                    record["results"][name] = dict(error="not run: its one-process reference failed")
                    continue
                try:
                    record["results"][name] = run_parallel(
                        script, split, processes, Path(tmp) / f"{split}.json", speed=speed, **request,
                        **({} if split == "none" else {"reference": Path(tmp) / "none.npy"}))
                except (ValueError, RuntimeError) as e:  # recorded, the next split still runs
                    record["results"][name] = dict(error=str(e))
                out.write_text(json.dumps(record, indent=1))
            rows = {split: record["results"][key(split, n, speed)] for split, n in runs}
            print(f"speed steps: {speed or 'none'}")
            print(results_table({split: row for split, row in rows.items() if "error" not in row}))


def chart(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    record = json.loads(path.read_text())
    if RESULTS.exists():  # the rows of runs on other GPU counts stay (this run's reference and rows replace theirs)
        old = json.loads(RESULTS.read_text())
        if (old.get("model"), old.get("gpu")) != (record.get("model"), record.get("gpu")):
            raise SystemExit(f"{RESULTS} holds rows of {old.get('model')} on {old.get('gpu')}; {path} is "
                             f"{record.get('model')} on {record.get('gpu')}: rows measured another way do not "
                             "merge. Move the old file aside first.")
        record["results"] = {**old["results"], **record["results"]}
    rows = {k: v for k, v in record["results"].items() if "error" not in v}
    for name, row in rows.items():
        one = rows.get(key("none", 1, row.get("speed", "")), {}).get("seconds")
        if one:
            row["efficiency"] = one / (row["seconds"] * row["processes"])
        two = rows.get(key(row["mode"], 2, row.get("speed", "")), {}).get("seconds")
        if two and row["processes"] > 2:
            row["efficiency_vs_2"] = 2 * two / (row["seconds"] * row["processes"])
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh(list(rows), [v["seconds"] for v in rows.values()])
    ax.set_xlabel("seconds, end to end (random full-size weights)")
    ax.set_title(f"CogVideoX-5b split across GPUs, {record['gpu']}")
    fig.tight_layout()
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    fig.savefig(RESULTS.with_suffix(".png"), dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--model", required=True, help="a folder (the random 5b) or nano for a dry run")
    r.add_argument("--gpus", type=int, default=2)
    r.add_argument("--splits", nargs="+", help="default: cfg ulysses ring, and cfg_ring on 4 GPUs or more")
    r.add_argument("--speeds", nargs="+", default=[""], help="speed steps after the split, one run of every split "
                   "each (helpers.recipes): '' (none), compile, pab, compile+pab...")
    r.add_argument("--steps", type=int, help="default: the model's (50 for the 5b)")
    r.add_argument("--out", type=Path, required=True)
    c = sub.add_parser("chart")
    c.add_argument("results", type=Path)
    args = parser.parse_args()
    if args.command == "run":
        splits = args.splits or ["cfg", "ulysses", "ring"] + (["cfg_ring"] if args.gpus >= 4 else [])
        run(args.model, args.gpus, splits, args.speeds, args.steps, args.out)
    else:
        chart(args.results)


if __name__ == "__main__":
    main()
