"""Workshop mode: one setting (``COGVIDEOX_WORKSHOP=1``) that makes every notebook fit a workshop slot.

In workshop mode the model's defaults shrink (CogVideoX-5b: 17 frames and 25 steps instead of
49 and 50, CogVideoX-5b-I2V: 25 steps and its 49 frames; CogVideoX-nano: 10 steps, which scored as
well as 25 in ``media/nano_eval.json``; CogVideoX-nano-i2v: 10 steps, see ``media/nano_i2v_eval.json``),
the automatic model stays CogVideoX-nano wherever there is no CUDA GPU, and each notebook's first
cell prints what it took on the kit's measuring machine in this mode.

Example:
    >>> import os
    >>> from helpers.workshop import workshop_mode
    >>> os.environ["COGVIDEOX_WORKSHOP"] = "1"; workshop_mode()
    True
    >>> del os.environ["COGVIDEOX_WORKSHOP"]; workshop_mode()
    False
"""

import os

from .results import load_results

#: What workshop mode asks of each model (8N+1 frames, as the models were trained).
WORKSHOP_DEFAULTS = {
    "5b": {"num_frames": 17, "num_inference_steps": 25},
    "nano": {"num_inference_steps": 10},
    "nano-i2v": {"num_inference_steps": 10},
}


#: The values ``COGVIDEOX_WORKSHOP`` takes (any case); unset counts as off.
ON, OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def workshop_mode() -> bool:
    """True when ``COGVIDEOX_WORKSHOP`` is 1/true/yes/on, False when 0/false/no/off/empty or unset (never edit cells).

    Anything else (``2``, ``y``) is refused rather than quietly read as off.

    Example:
        >>> import os
        >>> from helpers.workshop import workshop_mode
        >>> os.environ["COGVIDEOX_WORKSHOP"] = "On"; workshop_mode()
        True
        >>> os.environ["COGVIDEOX_WORKSHOP"] = "2"; workshop_mode()
        Traceback (most recent call last):
        ...
        ValueError: COGVIDEOX_WORKSHOP='2' is not a yes/no setting: set 1, true, yes or on for workshop mode, or 0, false, no or off (or unset it) for the full sizes.
        >>> del os.environ["COGVIDEOX_WORKSHOP"]
    """
    raw = os.environ.get("COGVIDEOX_WORKSHOP", "")
    value = raw.strip().lower()
    if value in ON or value in OFF:
        return value in ON
    raise ValueError(f"COGVIDEOX_WORKSHOP={raw!r} is not a yes/no setting: set 1, true, yes or on for workshop mode, "
                     "or 0, false, no or off (or unset it) for the full sizes.")


def shrink(defaults: dict, kit_model: str | None, fixed_frames: bool = False) -> dict:
    """The defaults a notebook uses in workshop mode (unchanged outside it).

    A model with learned position embeddings (``fixed_frames``: CogVideoX-5b-I2V) keeps its frame
    count: other counts swap those embeddings for ones it never trained with.

    Example:
        >>> from helpers.workshop import shrink
        >>> import os; os.environ["COGVIDEOX_WORKSHOP"] = "1"
        >>> shrink({"num_frames": 49, "num_inference_steps": 50}, None)
        {'num_frames': 17, 'num_inference_steps': 25}
        >>> shrink({"num_frames": 49, "num_inference_steps": 50}, None, fixed_frames=True)  # CogVideoX-5b-I2V
        {'num_frames': 49, 'num_inference_steps': 25}
        >>> del os.environ["COGVIDEOX_WORKSHOP"]
    """
    if not workshop_mode():
        return defaults
    smaller = WORKSHOP_DEFAULTS.get("5b" if kit_model is None else kit_model, {})
    return {**defaults, **{k: v for k, v in smaller.items() if not (fixed_frames and k == "num_frames")}}


def measured_on(run: dict) -> str:
    """The CPU a ``notebook_times*.json`` entry (written by ``scripts/run_notebooks.py``) was measured on, in words.

    Example:
        >>> from helpers.workshop import measured_on
        >>> measured_on({"seconds": 9.0, "cpu": "2 cores, AMD EPYC, AVX2"})
        'a 2-core CPU (AMD EPYC, AVX2)'
    """
    cores, model = run["cpu"].split(", ", 1)  # helpers.environment.cpu_description(): "N cores, model, vector width"
    return f"a {cores.split()[0]}-core CPU ({model})"


def estimate(notebook: str | None) -> str:
    """What the notebook took in workshop mode on the kit's measuring machine (``media/notebook_times_workshop.json``).

    The times ship with the package, so a pip or Colab install prints them as a checkout does.

    Example:
        >>> from helpers.workshop import estimate
        >>> print(estimate("00_setup.ipynb"))  # doctest: +ELLIPSIS
        workshop mode: ...; this notebook took ... s on a ... CPU...with CogVideoX-nano (...).
        >>> estimate("99_unmeasured.ipynb").endswith("not measured yet.")
        True
    """
    name = notebook if notebook is None or notebook.endswith(".ipynb") else f"{notebook}.ipynb"
    run = (load_results("notebook_times_workshop.json") or {}).get(name)  # None for notebook=None: JSON keys are strings
    sizes = "CogVideoX-5b 17 frames x 25 steps (5b-I2V: 49 frames), CogVideoX-nano 10 steps"
    if run is None:
        return f"workshop mode: {sizes}; this notebook's time in this mode is not measured yet."
    return (f"workshop mode: {sizes}; this notebook took {run['seconds']:.0f} s on {measured_on(run)} "
            "with CogVideoX-nano (CogVideoX-5b on a GPU: minutes per video, see its cost line).")
