"""The kit's packaging and its README promises."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat

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


def test_repository_url_is_defined_once():
    url = re.search(r'^Repository\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    sources = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in {".py", ".sh", ".toml", ".yml", ".md"}
               and ".venv" not in p.parts and "outputs" not in p.parts]
    defined = [p.relative_to(ROOT) for p in sources if url in p.read_text(errors="ignore")]
    assert defined == [Path("pyproject.toml")]
