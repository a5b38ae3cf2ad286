"""The kit's main job: execute every notebook headlessly on the default model.

Leaves the executed notebooks in ``outputs/notebooks/``, the videos (mp4 + JSON sidecar each)
in ``outputs/videos/``, and how long each notebook took in ``outputs/notebook_times.json``.
The model is the notebooks' own default: ``$COGVIDEOX_MODEL`` if set, else automatic
(CogVideoX-5b on a CUDA GPU, the small local model otherwise).

Usage:
    python scripts/run_notebooks.py [--outputs DIR] [notebooks/01_basic_inference.ipynb ...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from helpers.environment import cpu_description  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    parser.add_argument("--outputs", type=Path, default=ROOT / "outputs", help="default: outputs/")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may take")
    args = parser.parse_args()

    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    executed, videos = args.outputs / "notebooks", args.outputs / "videos"
    executed.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("COGVIDEOX_OUTPUTS", str(videos.absolute()))
    times, failed = {}, []
    cpu = cpu_description()  # the model and vector width: an AVX2-only CPU takes about twice as long as an AVX-512 one
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        print(f"running {path.name} ...", flush=True)
        start = time.perf_counter()
        try:
            NotebookClient(nb, timeout=args.timeout, resources={"metadata": {"path": str(path.parent)}}).execute()
            status = "ok"
        except CellExecutionError as e:
            failed.append(path.name)
            status = f"FAILED: {str(e).strip().splitlines()[-1]}"
        seconds = time.perf_counter() - start
        nbformat.write(nb, executed / path.name)
        times[path.name] = {"seconds": round(seconds, 1), "cpu": cpu, "status": status}
        print(f"  {status} in {seconds:.0f} s -> {executed / path.name}", flush=True)
    (args.outputs / "notebook_times.json").write_text(json.dumps(times, indent=2) + "\n")
    made = sorted(Path(os.environ["COGVIDEOX_OUTPUTS"]).glob("*.mp4"))
    print(f"{len(made)} videos (mp4 + .json sidecar) in {os.environ['COGVIDEOX_OUTPUTS']}")
    if failed:
        print(f"failed: {', '.join(failed)} (the executed copies show the error)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
