"""Where the kit's committed results are at run time, in a checkout and in a pip or Colab install alike.

The benchmark scripts write their results to ``media/`` in the repository, the one committed copy.
A built wheel (``pip install``, the notebooks' Colab install) ships the JSON files the helpers read
as package data: pyproject.toml maps the data-only packages ``helpers.media`` and
``helpers.media.benchmarks`` onto ``media/`` and ``media/benchmarks/``, so those files land in
``helpers/media/`` of the install, under the same relative paths.

The files are found by path, first the installed copy (``helpers/media/``), then the checkout's
``media/`` beside the package, never by importing ``helpers.media``: in an editable install
(``pip install -e .``, what scripts/setup.sh does) helpers is imported from the checkout, and
setuptools' editable finder cannot import a mapped folder without an ``__init__.py`` (and
``media/`` should hold none); an editable install made before the mapping existed has no such
package at all. Either way ``media/`` is beside the package there.

Example:
    >>> from helpers.results import load_results
    >>> "baseline" in {r["recipe"] for r in load_results("benchmarks/speed.json")["results"]}
    True
"""

import json
from importlib import resources
from pathlib import Path


def results_file(relative: str):
    """Where ``media/<relative>`` is here (a path-like :class:`~importlib.resources.abc.Traversable`), or ``None``.

    Example:
        >>> from helpers.results import results_file
        >>> results_file("notebook_times_workshop.json").name
        'notebook_times_workshop.json'
        >>> results_file("benchmarks/no-such-results.json") is None
        True
    """
    for root in (resources.files(__package__) / "media", Path(__file__).resolve().parents[1] / "media"):
        found = root.joinpath(*relative.split("/"))
        if found.is_file():
            return found
    return None


def load_results(relative: str) -> dict | None:
    """The committed results file ``media/<relative>`` read as JSON; ``None`` where it is not shipped.

    Example:
        >>> from helpers.results import load_results
        >>> "RANDOM weights" in load_results("benchmarks/memory.json")["note"]
        True
        >>> load_results("benchmarks/no-such-results.json") is None
        True
    """
    found = results_file(relative)
    return json.loads(found.read_text()) if found is not None else None
