"""What the GPU benchmark scripts share: run one measuring child process and collect its RESULT lines."""

from __future__ import annotations

import json
import subprocess


def run_child(command: list[str], timeout: int, env: dict | None = None) -> tuple[list[dict], str]:
    """The rows a child printed as ``RESULT {json}`` lines, and why it stopped if it stopped early.

    A child prints one line per measurement as soon as it has it, so a timeout or a crash keeps
    what was measured before; the caller fills the missing rows with the failure.
    """
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        stdout, failure = done.stdout, f"exit {done.returncode}: {done.stderr[-400:]}"
    except subprocess.TimeoutExpired as e:
        tail = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        stdout, failure = e.stdout or "", f"over {timeout} s; last output: {tail[-300:]}"
    if isinstance(stdout, bytes):
        stdout = stdout.decode()
    return [json.loads(line[7:]) for line in stdout.splitlines() if line.startswith("RESULT ")], failure
