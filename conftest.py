"""pytest settings for the whole repository (tests/ and the notebooks run by nbval).

Notebooks under test use CogVideoX-nano (the kit's trained tiny model). Unit tests share one
temporary outputs folder for the session. nbval runs every notebook alone, as Colab opens it:
its kernel starts in a fresh empty working folder, with its own outputs folder that does not
exist yet and its own empty caches (the kit's, the hub's, torch.compile's), so nothing one
notebook leaves can help or hurt the next. Kernels inherit os.environ when nbval starts them.
"""

import os
import sys
import tempfile
from pathlib import Path

# The tooling in scripts/ (eval_nano, train_nano, ...) is imported by tests as plain modules, as the scripts import one another.
sys.path.insert(0, str(Path(__file__).resolve().parent / "scripts"))

os.environ["COGVIDEOX_MODEL"] = "nano"
os.environ["COGVIDEOX_OUTPUTS"] = tempfile.mkdtemp(prefix="cogvideox-test-outputs-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

_NOTEBOOKS_ROOT: list[Path] = []  # one parent folder per session, made on the first notebook
_ALONE = pytest.StashKey[Path]()  # on a notebook: its working folder, once its kernel is set up


def notebook_alone(notebook: str) -> tuple[Path, dict[str, str]]:
    """A fresh working folder for ``notebook``'s kernel and the settings it starts with.

    The outputs and cache folders are named, not made: the notebook (through ``helpers``) must
    create what it needs, as on a fresh Colab machine. They all lie under one session folder,
    ``<tmp>/cogvideox-notebooks-*/<notebook>/``, left for a look at the videos afterwards.
    """
    if not _NOTEBOOKS_ROOT:
        _NOTEBOOKS_ROOT.append(Path(tempfile.mkdtemp(prefix="cogvideox-notebooks-")))
    root = Path(tempfile.mkdtemp(prefix=f"{Path(notebook).stem}-", dir=_NOTEBOOKS_ROOT[0]))
    work = root / "content"  # Colab's working folder, with no checkout of the kit in it
    work.mkdir()
    return work, {
        "COGVIDEOX_OUTPUTS": str(root / "outputs"),
        "COGVIDEOX_KIT_CACHE": str(root / "kit-cache"),  # where the random "small" model is built
        "HF_HOME": str(root / "huggingface"),
        "HF_HUB_CACHE": str(root / "huggingface" / "hub"),
        "TORCHINDUCTOR_CACHE_DIR": str(root / "torchinductor"),  # 07 sets its own, under its outputs
    }


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    """Before nbval starts a notebook's kernel (its first cell's setup), give it a world of its own.

    The test process's own settings are put back once the kernel has started, so unit tests
    keep the session-wide outputs folder.
    """
    try:
        import nbval.plugin as nbval_plugin
    except ImportError:  # nbval not installed: no notebooks to run
        return (yield)
    notebook = item.parent
    if not isinstance(notebook, nbval_plugin.IPyNbFile) or notebook.stash.get(_ALONE, None) is not None:
        return (yield)
    work, settings = notebook_alone(notebook.path.name)
    notebook.stash[_ALONE] = work
    item.user_properties.append(("notebook_folder", str(work.parent)))
    before = {key: os.environ.get(key) for key in settings}
    started_by_nbval = nbval_plugin.RunningKernel

    def kernel_in_fresh_folder(kernel_name, cwd=None, **kwargs):
        return started_by_nbval(kernel_name, cwd=str(work), **kwargs)

    os.environ.update(settings)
    nbval_plugin.RunningKernel = kernel_in_fresh_folder
    try:
        return (yield)
    finally:
        nbval_plugin.RunningKernel = started_by_nbval
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

