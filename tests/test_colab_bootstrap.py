"""The notebooks' first cell: in Colab it installs the kit; elsewhere it installs nothing.

Colab is stood in for by a ``google.colab`` module; the kit comes from a local clone of this
repository (``COGVIDEOX_KIT_SOURCE``), installed into a fresh virtual environment that sees
this environment's packages (as Colab's own torch and friends are already there).
"""

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRST_CELL = nbformat.read(ROOT / "notebooks" / "00_setup.ipynb", as_version=4).cells[1].source

RUNNER = textwrap.dedent(
    """
    import sys, types
    if sys.argv[1] == "colab":
        sys.modules["google.colab"] = types.ModuleType("google.colab")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    if sys.argv[1] == "local":
        shell.register_magic_function(lambda line: print("PIP CALLED", line), "line", "pip")
    shell.run_cell(open(sys.argv[2]).read()).raise_error()
    import helpers
    print("HELPERS FROM", helpers.__file__)
    """
)


def run_first_cell(python, mode, tmp_path, **env):
    (tmp_path / "cell.py").write_text(FIRST_CELL)
    (tmp_path / "runner.py").write_text(RUNNER)
    return subprocess.run(
        [python, "runner.py", mode, "cell.py"], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, **env}, timeout=600,
    )


def test_outside_colab_the_first_cell_installs_nothing_and_reports(tmp_path):
    done = run_first_cell(sys.executable, "local", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "PIP CALLED" not in done.stdout
    assert "torch" in done.stdout and "model: CogVideoX-nano" in done.stdout


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the repository's git history to clone")
def test_in_colab_the_first_cell_installs_the_kit_from_its_repository(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", f"file://{ROOT}", str(clone)], check=True)
    venv = tmp_path / "colab-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # Colab's preinstalled packages: this environment's, minus the kit itself.
    Path(site, "colab_preinstalled.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "content"
    work.mkdir()
    done = run_first_cell(python, "colab", work, COGVIDEOX_KIT_SOURCE=f"git+file://{clone}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"HELPERS FROM {site}/helpers/__init__.py" in done.stdout
    # CogVideoX-nano's weights came with the package: the notebooks have a model that draws captions.
    assert f"folder: {site}/helpers/models/cogvideox-nano" in done.stdout
    # ... and its image-to-video twin, complete (every weight file checked, the task read from its configs).
    check = ("import helpers; from helpers.image_video import check_task; folder = helpers.nano.nano_model_path('image'); "
             "helpers.loading.check_model_folder(folder); check_task(folder, 'image'); print(folder)")
    found = subprocess.run([python, "-c", check], cwd=work, capture_output=True, text=True)
    assert found.stdout.strip() == f"{site}/helpers/models/cogvideox-nano-i2v", found.stderr[-2000:]
    torch_files = subprocess.run([python, "-c", "import torch; print(torch.__file__)"], capture_output=True, text=True).stdout
    assert torch_files.startswith(sysconfig.get_paths()["purelib"]), "the bootstrap replaced the installed torch"
