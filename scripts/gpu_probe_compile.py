"""Does torch.compile build and run on this GPU, plain and after torchao int8 weight-only, with and without
the kit's hardware emulation (COGVIDEOX_EMULATE)? A one-minute check before a GPU rehearsal's compile cells.

    python scripts/gpu_probe_compile.py            # each case in its own process; one line per case

Each case prints ``ok`` or the error's last line and the library frame it came from.
"""

from __future__ import annotations

import os
import subprocess
import sys

CASES = [(profile, quantize) for profile in ("", "t4", "24gb") for quantize in ("", "int8")]


def probe() -> str:
    """Compile a Linear+GELU in bf16 on the GPU (int8 weight-only first if PROBE_QUANTIZE is set); say how it went.

    Example:
        >>> probe().startswith(("ok", "error", "no CUDA"))  # doctest: +SKIP
        True
    """
    import traceback

    import torch

    import helpers  # noqa: F401  (applies COGVIDEOX_EMULATE)

    if not torch.cuda.is_available():
        return "no CUDA GPU"
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.GELU()).cuda().to(torch.bfloat16)
    if os.environ.get("PROBE_QUANTIZE"):
        from torchao.quantization import Int8WeightOnlyConfig, quantize_

        quantize_(model, Int8WeightOnlyConfig())
    try:
        torch.compile(model)(torch.randn(8, 64, device="cuda", dtype=torch.bfloat16))
        return f"ok (capability seen by the notebook: {torch.cuda.get_device_capability()})"
    except Exception as error:  # the probe reports any failure, whatever library raised it
        frames = [f for f in traceback.extract_tb(error.__traceback__) if "site-packages" in f.filename]
        where = f" at {frames[-1].filename.split('site-packages/')[-1]}:{frames[-1].lineno}" if frames else ""
        text = str(error).strip()
        traced = text.split("from user code:")[-1].strip().splitlines()[0] if "from user code:" in text else ""
        return f"error{where}: {text.splitlines()[0][:300]}" + (f" (tracing {traced.strip()})" if traced else "")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(probe())
        return
    for profile, quantize in CASES:
        env = {**os.environ, "COGVIDEOX_EMULATE": profile, "PROBE_QUANTIZE": quantize, "TORCHDYNAMO_VERBOSE": "1"}
        done = subprocess.run([sys.executable, __file__, "--one"], env=env, capture_output=True, text=True, timeout=300)
        lines = (done.stdout or done.stderr).strip().splitlines() or ["(no output)"]
        print(f"{profile or 'no emulation':12} {quantize or 'bf16':5} {lines[-1]}", flush=True)


if __name__ == "__main__":
    main()
