"""Does torch.compile build and run on this GPU, plain and after torchao int8 weight-only, with and without
the kit's hardware emulation (COGVIDEOX_EMULATE)? A one-minute check before a GPU rehearsal's compile cells.

    python scripts/gpu_probe_compile.py            # each case in its own process; one line per case
    python scripts/gpu_probe_compile.py --time-block --out compile_probe.json

Each case prints ``ok`` or the error's last line and the library frame it came from. ``--time-block``
times compiling one full-size CogVideoX-5b transformer block (49x480x720, CFG batch of 2, random
weights) in bf16 and after int8 weight-only, with torchao's inductor settings (``quantize_``'s
default ``set_inductor_config=True``: coordinate-descent tuning for the whole process) and without;
then moves the block to the CPU and back, as model CPU offload does between calls, to see whether
that compiles again. Each case runs alone in its own process (``BLOCK_TIMEOUT`` seconds at most).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CASES = [(profile, quantize) for profile in ("", "t4", "24gb") for quantize in ("", "int8")]
BLOCK_CASES = ("bf16", "int8", "int8-untuned")
BLOCK_TIMEOUT = 240
BLOCK_NOTE = (
    "One full-size CogVideoX-5b transformer block with RANDOM weights (values change neither time nor memory), "
    "49x480x720 (17,550 video and 226 text tokens) with the CFG batch of 2, each case alone in its own process. "
    "compile_s: the first compiled call less a steady one; after_cpu_round_trip_s: the first call after "
    "block.to('cpu').to('cuda'), as model CPU offload moves it between calls (or the error the move raised); "
    "graphs, graphs_after_round_trip: the graphs dynamo had compiled before and after that move. int8: "
    "quantize_(block, Int8WeightOnlyConfig()), which also sets torchao's inductor settings for the process "
    "(coordinate-descent tuning); int8-untuned: Int8WeightOnlyConfig(set_inductor_config=False).")


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


def time_block(case: str) -> dict:
    """Seconds to compile one full-size CogVideoX-5b block for ``case`` (one of :data:`BLOCK_CASES`), a
    compiled call's seconds, and a call's after a round trip to the CPU (model CPU offload's move).

    Example:
        >>> time_block("bf16")["compile_s"] > 0  # doctest: +SKIP
        True
    """
    import time

    import torch
    from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock
    from torch._dynamo.utils import counters

    block = CogVideoXBlock(dim=3072, num_attention_heads=48, attention_head_dim=64, time_embed_dim=512)
    block = block.to("cuda", torch.bfloat16).eval()
    if case.startswith("int8"):
        from torchao.quantization import Int8WeightOnlyConfig, quantize_

        quantize_(block, Int8WeightOnlyConfig(set_inductor_config=case == "int8"))
    tokens, text = 13 * 30 * 45, 226  # 49 frames -> 13 latent frames of 60x90 latents in 2x2 patches
    new = lambda *shape: torch.randn(*shape, device="cuda", dtype=torch.bfloat16)  # noqa: E731
    inputs = (new(2, tokens, 3072), new(2, text, 3072), new(2, 512), (new(tokens, 64), new(tokens, 64)))

    def call() -> float:
        torch.cuda.synchronize()
        began = time.perf_counter()
        with torch.no_grad():
            block(*inputs[:3], image_rotary_emb=inputs[3])
        torch.cuda.synchronize()
        return time.perf_counter() - began

    eager = min(call() for _ in range(2))
    block.compile()
    first = call()
    steady = min(call() for _ in range(3))
    graphs = counters["stats"]["unique_graphs"]
    try:
        block.to("cpu").to("cuda")
        after_move = round(call(), 2)
    except Exception as error:  # the move itself may not work for a quantized tensor: say so, keep the rest
        after_move = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return dict(case=case, eager_call_s=round(eager, 4), compile_s=round(first - steady, 1),
                compiled_call_s=round(steady, 4), graphs=graphs, after_cpu_round_trip_s=after_move,
                graphs_after_round_trip=counters["stats"]["unique_graphs"], gpu=torch.cuda.get_device_name())


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        print(probe())
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--block":
        print(json.dumps(time_block(sys.argv[2])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--time-block":
        out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else "compile_probe.json"
        rows = []
        for case in BLOCK_CASES:
            try:
                done = subprocess.run([sys.executable, __file__, "--block", case], capture_output=True, text=True,
                                      timeout=BLOCK_TIMEOUT)
                lines = done.stdout.strip().splitlines()
                rows.append(json.loads(lines[-1]) if done.returncode == 0 and lines else
                            dict(case=case, error=(done.stderr.strip().splitlines() or ["(no output)"])[-1][:300]))
            except subprocess.TimeoutExpired:
                rows.append(dict(case=case, error=f"not finished within {BLOCK_TIMEOUT} s"))
            print(json.dumps(rows[-1]), flush=True)
            Path(out).write_text(json.dumps(dict(note=BLOCK_NOTE, rows=rows), indent=1))
        return
    for profile, quantize in CASES:
        env = {**os.environ, "COGVIDEOX_EMULATE": profile, "PROBE_QUANTIZE": quantize, "TORCHDYNAMO_VERBOSE": "1"}
        done = subprocess.run([sys.executable, __file__, "--one"], env=env, capture_output=True, text=True, timeout=300)
        lines = (done.stdout or done.stderr).strip().splitlines() or ["(no output)"]
        print(f"{profile or 'no emulation':12} {quantize or 'bf16':5} {lines[-1]}", flush=True)


if __name__ == "__main__":
    main()
