"""How long quantizing CogVideoX-5b's transformer takes where its weights are: this machine's CPU and, where there is one, its GPU.

The transformer is CogVideoX-5b's full-size architecture with RANDOM weights in bf16 (weights'
values change neither time nor memory). Each scheme quantizes a freshly built copy in place
(torchao: ``quantize_(transformer, Int8WeightOnlyConfig(), device=...)``; Quanto: ``quantize`` and
``freeze`` on the device the weights were moved to) and is timed from the call to its end. The
rows are merged into ``media/benchmarks/quantize_time.json`` by device and scheme, so the CPU row
(the kit's machine) and a GPU row (the device machine) come from two runs.

    python scripts/bench_quantize_time.py                     # CPU, and the GPU where there is one
    python scripts/bench_quantize_time.py --devices cuda      # the GPU only
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "media" / "benchmarks" / "quantize_time.json"
SCHEMES = ("torchao_int8_weight_only", "quanto_qint8")


def time_one(scheme: str, device: str) -> dict:
    import torch
    from diffusers import CogVideoXTransformer3DModel

    from helpers.architecture import TRANSFORMER_5B
    from helpers.quantization import quantize_model, weight_gib

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cpu"):  # loaded into host RAM first, as from_pretrained does
            transformer = CogVideoXTransformer3DModel(**TRANSFORMER_5B)
    finally:
        torch.set_default_dtype(previous)
    before = weight_gib(transformer)
    start = time.perf_counter()
    if device == "cuda":
        transformer.to("cuda")  # Quanto quantizes where the weights are; torchao's device= moves each layer
    quantize_model(transformer, scheme, device)
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    name = torch.cuda.get_device_name() if device == "cuda" else f"{os.cpu_count()}-core CPU"
    row = dict(scheme=scheme, device=device, device_name=name, torch_threads=torch.get_num_threads(),
               seconds=round(seconds, 1), weights_gib_before=round(before, 2), weights_gib_after=round(weight_gib(transformer), 2))
    del transformer
    gc.collect()
    return row


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    import torch

    from helpers.environment import library_versions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", choices=("cpu", "cuda"),
                        default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--schemes", nargs="+", choices=SCHEMES, default=list(SCHEMES))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if "cuda" in args.devices and not torch.cuda.is_available():
        parser.error("--devices cuda needs a CUDA GPU")
    record = json.loads(args.out.read_text()) if args.out.exists() else {"results": []}
    record["note"] = ("Quantizing CogVideoX-5b's transformer (full-size architecture, RANDOM weights, bf16: values change "
                      "neither time nor memory) in place on the device named, timed from the call to its end (for "
                      "cuda: moving the weights there included). scripts/bench_quantize_time.py")
    for device in args.devices:
        for scheme in args.schemes:
            row = dict(time_one(scheme, device), versions=library_versions())
            print(json.dumps({k: v for k, v in row.items() if k != "versions"}), flush=True)
            record["results"] = [r for r in record["results"] if (r["scheme"], r["device"]) != (scheme, device)] + [row]
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(record, indent=2) + "\n")
            tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
