"""scripts/gpu_rehearsal.py on a CPU: rows from tiny notebooks (status, first error, skips, time limit), and the README table."""

import importlib.util
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_rehearsal", ROOT / "scripts" / "gpu_rehearsal.py")
rehearsal = importlib.util.module_from_spec(spec)
sys.modules["gpu_rehearsal"] = rehearsal
spec.loader.exec_module(rehearsal)


def notebook(tmp_path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_notebook_that_runs_gives_an_ok_row_with_its_skips_and_choices(tmp_path):
    path = notebook(tmp_path, "import os; print(os.environ['COGVIDEOX_STEPS'])",
                    "print('skipped all_on_gpu: needs 34.4 GiB VRAM, this GPU has 24.0')", "recipe = 'model_cpu_offload'")
    row = rehearsal.run_notebook(path, {"COGVIDEOX_STEPS": "2"}, timeout=60)
    assert row["status"] == "ok" and row["error"] is None
    assert row["skipped"] == ["skipped all_on_gpu: needs 34.4 GiB VRAM, this GPU has 24.0"]
    assert row["recipe"] == "model_cpu_offload" and row["peak_host_rss_gib"] > 0
    assert "--- cell 0" in row["text"] and "\n2\n" in row["text"]


def test_a_failing_notebook_names_the_cell_and_the_error(tmp_path):
    row = rehearsal.run_notebook(notebook(tmp_path, "x = 1", "raise MemoryError('CUDA out of memory')", "print('never')"),
                                 {}, timeout=60)
    assert row["status"] == "failed" and row["error"].startswith("cell 1: MemoryError: CUDA out of memory")
    assert "\nnever" not in row["text"]


def test_the_runs_time_limit_stops_a_notebook_and_keeps_what_it_printed(tmp_path):
    path = notebook(tmp_path, "print('first cell done')", "import time; time.sleep(60)")
    row = rehearsal.run_notebook(path, {}, timeout=120, time_left=3)
    assert row["status"] == "timed out" and "cell 1" in row["error"] and row["seconds"] < 30
    assert "first cell done" in row["text"]


def test_the_readme_table_has_a_column_per_profile_and_mode_run():
    row = dict(notebook="01_basic_inference.ipynb", profile="t4", mode="workshop", status="ok", skipped=["skipped x: y"],
               seconds=40.2, peak_vram_gib=14.1, peak_host_rss_gib=9.0, gpu="NVIDIA H200")
    failed = dict(row, notebook="02_memory_optimizations.ipynb", status="kernel died", skipped=[])
    text = rehearsal.table({"rows": [row, failed]})
    assert "| notebook | t4 · workshop |" in text
    assert "| `01_basic_inference` | ok, 1 skipped: 40 s, 14.1 / 9.0 GiB |" in text
    assert "| `02_memory_optimizations` | **kernel died** |" in text


def test_the_committed_results_are_the_scripts_rows():
    record = json.loads((ROOT / "media" / "gpu_rehearsal.json").read_text())
    assert "RANDOM weights" in record["note"]
    for row in record["rows"]:
        assert row["profile"] in rehearsal.PROFILES and row["mode"] in rehearsal.MODES
        assert (ROOT / "notebooks" / row["notebook"]).exists()
        assert (ROOT / "media" / "gpu_rehearsal" / f"{row['profile']}-{row['mode']}" / row["notebook"].replace(".ipynb", ".txt")).exists()


def test_without_a_gpu_the_script_says_what_it_needs(capsys):
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert rehearsal.main(["--profile", "t4"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().out


def test_a_row_from_an_older_version_of_the_notebook_says_so():
    row = dict(notebook="00_setup.ipynb", profile="real", mode="fewsteps", status="ok", skipped=[], seconds=15,
               peak_vram_gib=1.1, peak_host_rss_gib=1.0, gpu="NVIDIA H200")
    current = rehearsal.notebook_version(ROOT / "notebooks" / "00_setup.ipynb")
    assert "older version" not in rehearsal.table({"rows": [dict(row, notebook_version=current)]})
    assert "(an older version of the notebook)" in rehearsal.table({"rows": [dict(row, notebook_version="0" * 40)]})


def test_the_t4_attention_benchmark_says_it_needs_a_gpu():
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has a GPU")
    import subprocess

    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_t4_attention.py"), "--out", "/dev/null"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "needs a CUDA GPU" in run.stdout
