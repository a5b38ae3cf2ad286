"""The kit's packaging and its README promises."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def pyproject_requirements():
    text = (ROOT / "pyproject.toml").read_text()
    deps = re.search(r"^dependencies = \[(.*?)^\]", text, re.M | re.S).group(1)
    test = re.search(r"^test = \[(.*?)^\]", text, re.M | re.S).group(1)
    return set(re.findall(r'"([^"]+)"', deps + test))


def test_environment_yml_lists_the_same_packages_as_pyproject():
    pip_section = (ROOT / "environment.yml").read_text().split("- pip:", 1)[1]
    listed = {line for line in re.findall(r"^\s+- (\S+)$", pip_section, re.M) if line != "-e"}
    assert listed == pyproject_requirements()


def test_the_lower_bounds_are_the_ones_the_kit_checks_and_python_311():
    from helpers.environment import MINIMUM_VERSIONS

    bounds = dict(r.split(">=") for r in pyproject_requirements() if ">=" in r)
    assert {name: bounds[name] for name in MINIMUM_VERSIONS} == MINIMUM_VERSIONS
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text()  # diffusers 0.42.1 needs it
    assert "python>=3.11" in (ROOT / "environment.yml").read_text()


def test_readme_first_code_block_is_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```\w*\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert len(commands) == 2
    assert commands[1] in (ROOT / ".ci" / "run").read_text()


def test_notebooks_are_clean_and_in_step_with_their_sources():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert "widgets" not in nb.metadata, f"{path.name} carries widget state"
        for cell in nb.cells:
            if cell.cell_type == "code" and "# NBVAL_CHECK_OUTPUT" not in cell.source:
                assert not cell.outputs, f"{path.name} has outputs in a cell nbval does not check"
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert '"google.colab" in sys.modules' in code[0].source
        assert "parameters" in code[1].metadata.get("tags", []), f"{path.name}: the second code cell is the parameters cell"
    sync = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_notebooks.py"), "--check"], capture_output=True, text=True)
    assert sync.returncode == 0, sync.stdout + sync.stderr


def test_a_quoted_figure_is_refreshed_from_its_file():
    import json

    import sync_notebooks  # scripts/sync_notebooks.py (conftest.py finds scripts/)

    offload = next(r for r in json.loads((ROOT / "media" / "benchmarks" / "memory.json").read_text())["results"]
                   if r["recipe"] == "model_cpu_offload+vae_tiling")
    spec = "memory:recipe=model_cpu_offload+vae_tiling:peak_host_rss_gib:.1f"
    stale = f"needs <!-- fig {spec} -->99.9<!-- /fig --> GiB of host RAM"
    assert sync_notebooks.fill_figures(stale) == stale.replace("99.9", f"{offload['peak_host_rss_gib']:.1f}")
    quantization = json.loads((ROOT / "media" / "benchmarks" / "quantization.json").read_text())["results"]
    peaks = [r["peak_vram_gib"] for r in quantization if r["scheme"] != "bf16" and r.get("peak_vram_gib") is not None]
    assert sync_notebooks.figure("quantization:scheme!=bf16:peak_vram_gib:.2f:max") == f"{max(peaks):.2f}"
    with pytest.raises(SystemExit, match="no row of media/benchmarks/memory.json gives peak_vram_gib"):
        sync_notebooks.figure("memory:recipe=no_such_recipe:peak_vram_gib:.0f")
    for where in ("recipe", "reciep!=all_on_gpu"):  # not key=value; a key no row has (!= would match every row)
        with pytest.raises(SystemExit, match="must be key=value or key!=value with a key of media/benchmarks/memory"):
            sync_notebooks.figure(f"memory:{where}:peak_vram_gib:.0f")
    unclosed = f"<!-- fig {spec} -->1 GiB and <!-- fig {spec} -->2<!-- /fig --> GiB"  # the second must survive
    with pytest.raises(SystemExit, match="has no <!-- /fig -->"):
        sync_notebooks.fill_figures(unclosed)


def test_measured_memory_figures_in_the_notebooks_are_quoted_from_their_files():
    """The lessons' "about 24 GiB", "13 GiB of VRAM and 21 GiB of host RAM" and "20 GiB of weights" (memory.json's
    and quantization.json's measurements) are quoted through markers, in the notebooks' prose, their "where it runs"
    lines and the README."""
    texts = {"README.md": (ROOT / "README.md").read_text()}
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        prose = [c.source for c in nb.cells[1:] if c.cell_type == "markdown"]
        texts[path.name] = "\n".join([nb.metadata["kit"]["hardware"], *prose])
    typed = re.compile(r"about (13|20|24|34) GiB|\b(13|21) GiB of (VRAM|host RAM)|\b20 GiB of (bf16 )?weights")
    for name, text in texts.items():
        bare = re.sub(r"<!-- fig \S+ -->.*?<!-- /fig -->", "", text)
        assert not typed.search(bare), f"{name} types a measured figure instead of quoting it: {typed.search(bare)[0]}"
    assert "<!-- fig memory:recipe=model_cpu_offload+vae_tiling:peak_vram_gib:.0f -->13<!-- /fig -->" in texts["README.md"]


def test_repository_url_is_defined_once():
    url = re.search(r'^Repository\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    sources = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in {".py", ".sh", ".toml", ".yml", ".md"}
               and ".venv" not in p.parts and "outputs" not in p.parts]
    defined = [p.relative_to(ROOT) for p in sources if url in p.read_text(errors="ignore")]
    assert defined == [Path("pyproject.toml")]


# What the notebooks read of the committed results, run by an installed kit; prints where they came from.
READS_RESULTS = textwrap.dedent(
    """
    from types import SimpleNamespace
    import helpers
    from helpers import planner, workshop
    from helpers.results import results_file
    print("HELPERS", helpers.__file__)
    print("SPEED", results_file("benchmarks/speed.json"))
    assert planner.benchmark_results("speed.json") is not None
    assert "RANDOM weights" in planner.benchmark_results("memory.json")["note"]
    said = workshop.estimate("00_setup.ipynb")
    assert "this notebook took" in said and "not measured yet" not in said, said
    h100 = SimpleNamespace(cuda=True, vram_total_gib=79.2, host_ram_total_gib=200, compute_capability="9.0")
    recipe, why = planner.choose_recipe(h100, helpers.choose_model("THUDM/CogVideoX-5b"), "fastest")
    assert "compile" in recipe, (recipe, why)  # the speed steps measured on a GPU were found
    print("RECIPE", recipe)
    """
)


@pytest.fixture(scope="module")
def kit_source(tmp_path_factory):
    """The working tree's packaging inputs, copied away from the checkout (builds write build/ there)."""
    source = tmp_path_factory.mktemp("kit") / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("helpers", "media"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return source


def run_reads_results(python, tmp_path, **env):
    """READS_RESULTS in a folder with no checkout in it; COGVIDEOX_* settings of this shell left out."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COGVIDEOX_") and k != "PYTHONPATH"}
    done = subprocess.run([python, "-c", READS_RESULTS], cwd=elsewhere, capture_output=True, text=True,
                          env={**clean, **env}, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return dict(line.split(" ", 1) for line in done.stdout.splitlines() if line.startswith(("HELPERS ", "SPEED ", "RECIPE ")))


def test_a_built_wheel_ships_the_results_the_helpers_read(kit_source, tmp_path):
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheels, kit_source],
                   check=True, capture_output=True)
    wheel = next(wheels.glob("cogvideox_notebook_kit-*.whl"))
    # only the results files the helpers read: no raw runs, charts or videos
    names = subprocess.run([sys.executable, "-m", "zipfile", "-l", wheel], capture_output=True, text=True, check=True).stdout
    shipped = set(re.findall(r"^(helpers/media/\S+)", names, re.M))
    assert shipped == {"helpers/media/notebook_times_workshop.json", "helpers/media/nano_lora_eval.json"} | {
        f"helpers/media/benchmarks/{p.name}" for p in (ROOT / "media" / "benchmarks").glob("*.json")}
    for colour in ("orange", "purple"):  # 10_lora's LoRAs load offline from an install too
        assert f"helpers/models/cogvideox-nano-lora/{colour}/pytorch_lora_weights.safetensors" in names
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", site, wheel], check=True, capture_output=True)
    assert not (site / "media").exists()
    # this environment's packages, but the kit from the wheel (PYTHONPATH comes before the editable install)
    seen = run_reads_results(sys.executable, tmp_path, PYTHONPATH=str(site))
    assert seen["HELPERS"] == str(site / "helpers" / "__init__.py")
    assert seen["SPEED"] == str(site / "helpers" / "media" / "benchmarks" / "speed.json")
    assert "compile" in seen["RECIPE"]


def test_an_editable_install_reads_the_results_from_its_checkout(kit_source, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # this environment's packages (a path, so its own editable install of the kit is not loaded)
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", "--python", python, "install",
                    "--no-deps", "--no-build-isolation", "--no-index", "-e", kit_source], check=True, capture_output=True)
    seen = run_reads_results(python, tmp_path)
    assert seen["HELPERS"] == str(kit_source / "helpers" / "__init__.py")
    assert seen["SPEED"] == str(kit_source / "media" / "benchmarks" / "speed.json")


def test_each_exercise_has_an_answer_a_solution_and_a_committed_solved_check():
    """An exercise's check cell is compared by nbval with its committed output, which must say the
    solution solves it: a refreshed output that says "not yet" would let a broken solution pass."""
    with_exercises = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        checks = [i for i, c in enumerate(cells) if c.cell_type == "code" and "helpers.check_exercise(" in c.source]
        with_exercises += [path.name] if checks else []
        for i in checks:
            assert "# NBVAL_CHECK_OUTPUT" in cells[i].source, f"{path.name} cell {i}: nbval must compare the check"
            said = "".join(o.get("text", "") for o in cells[i].outputs)
            assert "\nsolved\n" in said and "not yet" not in said, f"{path.name} cell {i}: committed check is {said!r}"
            assert str(ROOT) not in said, f"{path.name} cell {i}: a checked output holds this checkout's path"
            assert cells[i - 1].source.startswith("# A solution, used only while"), f"{path.name} cell {i - 1}"
            assert " = None  # your answer" in cells[i - 2].source or "# your code" in cells[i - 2].source
    assert len(with_exercises) >= 5, with_exercises


def test_check_exercise_says_not_yet_when_a_condition_fails(capsys):
    import helpers

    assert helpers.check_exercise("fits", fits_12_gib=False, fastest=True) is False
    assert "✗ fits 12 gib" in capsys.readouterr().out
    assert helpers.check_exercise("fits", fits_12_gib=True) is True
    with pytest.raises(ValueError, match="at least one condition"):
        helpers.check_exercise("nothing to check")
