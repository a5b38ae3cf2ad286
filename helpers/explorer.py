"""The parameter explorer's logic: generate from a parameter record, keep a history, sweep a grid.

Plain functions, tested without widgets; ``06_parameter_explorer``'s ipywidgets panel only
calls them (:func:`panel`).

Example:
    >>> import helpers
    >>> from helpers.explorer import Params, generate
    >>> pipe = helpers.load_pipeline("nano")  # doctest: +SKIP
    >>> run = generate(pipe, Params(prompt="a red circle moving right on a dark background", steps=10))  # doctest: +SKIP
"""

import contextlib
import html
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

from .checks import RequestError, check_request, check_seed, model_defaults
from .loading import kit_model_kind
from .measure import measure
from .nano import judge
from .saving import save_video
from .video import as_frames, frame_strip, strip_grid, video_html

SCHEDULERS = ("DPM", "DDIM")


class Stopped(Exception):
    """A run stopped on request (the panel's Stop button) before it finished; nothing was saved.

    Example:
        >>> from helpers.explorer import Stopped
        >>> str(Stopped(3, 25))
        'stopped at step 3 of 25'
    """

    def __init__(self, step: int, total: int):
        super().__init__(f"stopped at step {step} of {total}")


@dataclass
class Params:
    """One generation's parameters; ``None`` means the model's default."""

    prompt: str | None = None
    negative_prompt: str = ""
    steps: int | None = None
    guidance: float | None = None
    dynamic_cfg: bool = False
    frames: int | None = None
    seed: int = 42
    scheduler: str = "DPM"

    def request(self, pipe) -> dict:
        """The pipeline arguments these parameters ask for, the model's defaults filled in.

        Example:
            >>> from helpers.explorer import Params
            >>> from helpers import load_pipeline
            >>> pipe = load_pipeline("nano")  # doctest: +ELLIPSIS
            model: ...
            >>> Params(steps=5).request(pipe)["num_inference_steps"]
            5
        """
        given = dict(prompt=self.prompt or None, num_inference_steps=self.steps, guidance_scale=self.guidance,
                     num_frames=self.frames)  # None: the model's default
        return {**model_defaults(pipe), **{k: v for k, v in given.items() if v is not None},
                "negative_prompt": self.negative_prompt or None, "use_dynamic_cfg": self.dynamic_cfg}


@dataclass
class Run:
    """A finished generation: its parameters, frames, cost, file and (on CogVideoX-nano) the judge's verdict."""

    params: Params
    video: object
    seconds: float
    peak_vram_gib: float | None
    path: object = None
    verdict: object = None
    notes: list[str] = field(default_factory=list)
    decode_seconds: float | None = None  # from the last denoising step to the frames: the VAE decode

    def label(self) -> str:
        """A short caption for galleries and grids.

        Example:
            >>> from helpers.explorer import Params, Run
            >>> Run(Params(steps=10, guidance=6.0, seed=1), None, 2.0, None).label()
            'seed 1, 10 steps, guidance 6, DPM, 2.0 s'
        """
        p = self.params
        steps = "default steps" if p.steps is None else f"{p.steps} steps"
        guidance = "default guidance" if p.guidance is None else f"guidance {p.guidance:g}"
        return f"seed {p.seed}, {steps}, {guidance}, {p.scheduler}{', dynamic CFG' if p.dynamic_cfg else ''}, {self.seconds:.1f} s"


def set_scheduler(pipe, name: str) -> None:
    """Switch the pipeline's sampler: "DPM" (CogVideoX-5b's default) or "DDIM", keeping its configuration.

    Example:
        >>> from helpers import load_pipeline
        >>> from helpers.explorer import set_scheduler
        >>> pipe = load_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
        >>> set_scheduler(pipe, "DDIM"); type(pipe.scheduler).__name__
        'CogVideoXDDIMScheduler'
    """
    from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler

    if name not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {', '.join(SCHEDULERS)}, got {name!r}")
    cls = CogVideoXDPMScheduler if name == "DPM" else CogVideoXDDIMScheduler
    if not isinstance(pipe.scheduler, cls):
        pipe.scheduler = cls.from_config(pipe.scheduler.config)


def checked_request(pipe, params: Params) -> tuple[dict, list[str]]:
    """``params`` as the pipeline's request, and :func:`helpers.check_request`'s warnings; a bad seed or request raises.

    Example:
        >>> import helpers
        >>> from helpers.explorer import Params, checked_request
        >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
        >>> checked_request(pipe, Params(steps=3))[0]["num_inference_steps"]
        3
    """
    request = params.request(pipe)
    check_seed(params.seed)
    return request, check_request(pipe, **{k: v for k, v in request.items()
                                           if k not in ("negative_prompt", "use_dynamic_cfg")})


def generate(pipe, params: Params, on_step: Callable[[int, int, float], None] | None = None, save: bool = True,
             stop: Callable[[], bool] | None = None, recipe: str | None = None) -> Run:
    """Generate one video from ``params``; ``on_step(step, total, seconds_left)`` after each denoising step.

    The request is checked first (:func:`helpers.check_request` raises or warns before any
    compute); the video is saved with its sidecar (recording ``recipe``) unless ``save=False``.
    When ``stop()`` turns true after a step, :class:`Stopped` is raised there: no decode, nothing
    saved. ``run.video`` is kept as uint8 frames (4x smaller than the pipeline's float32).

    Example:
        >>> import helpers
        >>> from helpers.explorer import Params, generate
        >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
        >>> run = generate(pipe, Params(steps=3), save=False)
        >>> run.video.shape, run.video.dtype
        ((9, 48, 72, 3), dtype('uint8'))
    """
    import numpy as np
    import torch

    request, notes = checked_request(pipe, params)
    set_scheduler(pipe, params.scheduler)
    total, start = request["num_inference_steps"], time.perf_counter()
    last_step = [start]

    def callback(pipeline, i, t, kwargs):
        done, last_step[0] = i + 1, time.perf_counter()
        if on_step is not None:
            on_step(done, total, (last_step[0] - start) / done * (total - done))
        if stop is not None and stop():
            pipeline._interrupt = True  # diffusers' own flag; raising also skips the decode of a half-made video
            raise Stopped(done, total)
        return kwargs

    try:
        with measure("explorer") as m:
            video = pipe(**request, generator=torch.Generator(device="cpu").manual_seed(params.seed),
                         output_type="np", callback_on_step_end=callback).frames[0]
    except Stopped:
        pipe.maybe_free_model_hooks()  # what the pipeline does at its end: offloaded models back to the CPU
        raise
    decode_seconds = time.perf_counter() - last_step[0]
    folder = getattr(pipe, "name_or_path", None)  # a pipeline's config._name_or_path
    verdict = judge(video) if folder and kit_model_kind(folder) == "nano" else None
    path = save_video(video, {**request, "scheduler": params.scheduler}, pipe=pipe, seed=params.seed,
                      recipe=recipe, measurement=m, name="explorer") if save else None
    return Run(params, np.stack(as_frames(video)), m.seconds, m.peak_vram_gib, path=path, verdict=verdict, notes=notes,
               decode_seconds=decode_seconds)


def sweep(pipe, base: Params, rows: tuple[str, list], columns: tuple[str, list] | None = None,
          save: bool = False) -> list[list[Run]]:
    """The same prompt and seed over a grid: ``rows=("guidance", [1, 6])``, ``columns=("steps", [5, 25])``.

    Returns one list of runs per row value. Names are :class:`Params` fields.

    Example:
        >>> import helpers
        >>> from helpers.explorer import Params, sweep
        >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
        >>> grid = sweep(pipe, Params(steps=2), rows=("seed", [1, 2]), columns=("guidance", [1.0, 6.0]))
        >>> [[run.params.seed for run in row] for row in grid]
        [[1, 1], [2, 2]]
    """
    names = {f.name for f in fields(Params)}
    (row_name, row_values), (col_name, col_values) = rows, columns or ("seed", [base.seed])
    for name in (row_name, col_name):  # without columns: "seed", always a field
        if name not in names:
            raise ValueError(f"cannot sweep {name!r}: choose one of {', '.join(sorted(names))}")
    grid = [[replace(base, **{row_name: r, col_name: c}) for c in col_values] for r in row_values]
    for params in (p for row in grid for p in row):  # every cell refused or passed before the first one runs
        with contextlib.redirect_stdout(io.StringIO()):  # its warnings print once, when the cell runs
            checked_request(pipe, params)
    return [[generate(pipe, params, save=save) for params in row] for row in grid]


def grid_image(grid: list[list[Run]], frames: int = 4, height: int = 64):
    """A PNG of a sweep: one frame strip per cell, labelled with its parameters and (nano) the judge's verdict.

    Example:
        >>> import numpy as np
        >>> from helpers.explorer import Params, Run, grid_image
        >>> cell = Run(Params(), np.zeros((9, 48, 72, 3)), 1.0, None)
        >>> grid_image([[cell, cell]]).data[:4]
        b'\\x89PNG'
    """

    def title(run: Run) -> str:
        verdict = "" if run.verdict is None else f"\n{run.verdict.colour or '?'}, {run.verdict.motion or 'no motion'}"
        return run.label().rsplit(",", 1)[0] + verdict

    return strip_grid([[(title(run), run.video) for run in row] for row in grid], frames, height, fontsize=7)


def history_image(history: list[Run], frames: int = 4, height: int = 64):
    """This session's runs as one picture, newest first: a strip and its parameters per run.

    Example:
        >>> import numpy as np
        >>> from helpers.explorer import Params, Run, history_image
        >>> history_image([Run(Params(), np.zeros((9, 48, 72, 3)), 1.0, None)]).data[:4]
        b'\\x89PNG'
    """
    return grid_image([[run] for run in reversed(history)], frames, height)


def failure_message(error: BaseException) -> str:
    """One line for the panel's status: the kit's own messages (ValueError, RequestError, Stopped) as they are.

    Example:
        >>> from helpers.explorer import failure_message
        >>> failure_message(ValueError("steps must be\\n at least 1"))
        'steps must be at least 1'
        >>> failure_message(RuntimeError("CUDA out of memory"))
        'failed: RuntimeError: CUDA out of memory'
    """
    text = " ".join(str(error).split())
    return text if isinstance(error, (ValueError, Stopped)) else f"failed: {type(error).__name__}: {text}"


class Panel:
    """The explorer's ipywidgets panel; every button calls a function above (and works without a browser).

    ``panel.widget`` is what to display. Generate runs :meth:`on_generate` in a background thread
    (``background=False``: in the click itself), so the kernel can still take a Stop click;
    :meth:`wait` waits for it. Failures, warnings and stops show in the status line and notes.

    Example:
        >>> import helpers
        >>> from helpers.explorer import Panel
        >>> pipe = helpers.load_pipeline("nano")  # doctest: +ELLIPSIS
        model: ...
        >>> panel = Panel(pipe, recipe="all_on_gpu")
        >>> panel.steps.value = 2
        >>> run = panel.on_generate(save=False)
        >>> len(panel.history), run.params.steps, panel.status.value[:7]
        (1, 2, 'done in')
    """

    def __init__(self, pipe, recipe: str = "", background: bool = True):
        import ipywidgets as w

        d = model_defaults(pipe)
        self.pipe, self.history, self.recipe_name, self.background = pipe, [], recipe or None, background
        self._stop_requested, self._worker, self._frames_now = False, None, None
        self.prompt = w.Textarea(value=d["prompt"], description="prompt", layout=w.Layout(width="95%"))
        self.negative_prompt = w.Text(value="", description="negative", layout=w.Layout(width="95%"))
        self.steps = w.IntSlider(value=d["num_inference_steps"], min=1, max=100, description="steps")
        self.guidance = w.FloatSlider(value=d["guidance_scale"], min=1.0, max=15.0, step=0.5, description="guidance")
        self.dynamic_cfg = w.Checkbox(value=False, description="dynamic CFG")
        self.frames = w.Dropdown(options=list(range(9, max(49, d["num_frames"]) + 1, 8)), value=d["num_frames"],
                                 description="frames")  # 8N+1 only: what the model was trained on
        self.seed = w.IntText(value=42, description="seed")
        self.random = w.Button(description="random seed")
        self.scheduler = w.ToggleButtons(options=list(SCHEDULERS), description="sampler")
        self.recipe = w.Label(value=f"recipe: {recipe or 'as placed'}")
        self.go = w.Button(description="Generate", button_style="primary")
        self.stop = w.Button(description="Stop", button_style="warning", disabled=True)
        self.progress = w.IntProgress(value=0, min=0, max=1, description="steps")
        self.status, self.notes = w.Label(), w.HTML()
        self.output, self.gallery = w.Output(), w.Output()
        self.random.on_click(self.on_random)
        self.go.on_click(self.on_click)
        self.stop.on_click(self.on_stop)
        self.widget = w.VBox([
            self.prompt, self.negative_prompt,
            w.HBox([self.steps, self.guidance, self.dynamic_cfg]),
            w.HBox([self.frames, self.seed, self.random]),
            w.HBox([self.scheduler, self.recipe]),
            w.HBox([self.go, self.stop, self.progress, self.status]), self.notes,
            self.output, self.gallery,
        ])

    def params(self) -> Params:
        """The panel's current values as a :class:`Params`."""
        return Params(**{f.name: getattr(self, f.name).value for f in fields(Params)})  # a widget per field

    def on_random(self, _=None) -> int:
        """A new random seed in the seed box."""
        import random

        self.seed.value = random.randrange(2**31)
        return self.seed.value

    def on_stop(self, _=None) -> None:
        """What Stop does: the running generation stops after its current step, saving nothing."""
        self._stop_requested = True
        self.status.value = "stopping after this step..."

    def on_click(self, _=None) -> None:
        """What Generate does: :meth:`on_generate`, any failure shown in the status line (not the log console)."""
        if self._worker is not None and self._worker.is_alive():
            return
        if not self.background:
            return self._generate_reporting()
        import threading

        self._worker = threading.Thread(target=self._generate_reporting, daemon=True)
        self._worker.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a Generate started in the background to finish."""
        if self._worker is not None:
            self._worker.join(timeout)

    def _generate_reporting(self) -> None:
        try:
            self.on_generate()
        except Exception as e:  # the panel is where its user looks: say it there in one line
            self.status.value = failure_message(e)

    def _on_step(self, done: int, total: int, seconds_left: float) -> None:
        self.progress.max, self.progress.value = total, done
        last = self.history[-1] if self.history else None  # its decode time holds for as many frames
        known = last is not None and last.params.frames == self._frames_now
        decode = f" + about {last.decode_seconds:.0f} s decode" if known else " + decode"
        self.status.value = f"step {done}/{total}, about {seconds_left:.0f} s left{decode}"

    def on_generate(self, save: bool = True) -> Run:
        """Generate with the panel's values; show the video, its cost, warnings and the session's history.

        Raises what :func:`generate` raises (:class:`Stopped` after a Stop); :meth:`on_click` shows it.
        """
        self._stop_requested, self.go.disabled, self.stop.disabled = False, True, False
        self.status.value, self.notes.value, self.progress.value = "starting...", "", 0
        try:
            if not self.prompt.value.strip():
                raise RequestError("The prompt box is empty: type what the video should show.")
            params = self.params()
            self._frames_now = params.frames
            run = generate(self.pipe, params, on_step=self._on_step, save=save,
                           stop=lambda: self._stop_requested, recipe=self.recipe_name)
        finally:
            self.go.disabled, self.stop.disabled = False, True
        self.history.append(run)
        vram = "" if run.peak_vram_gib is None else f", peak VRAM {run.peak_vram_gib:.1f} GiB"
        warned = f", {len(run.notes)} warning(s) below" if run.notes else ""
        saved = f", saved {run.path.name}" if run.path else ""
        self.status.value = f"done in {run.seconds:.1f} s{vram}{saved}{warned}"
        self.notes.value = "<br>".join(f"warning: {html.escape(note)}" for note in run.notes)
        self._show(run)
        return run

    def _show(self, run: Run) -> None:
        from IPython.display import HTML, Image

        png = io.BytesIO()
        frame_strip(run.video).save(png, format="PNG")
        self.output.outputs = ()  # set, not `with output:`, which needs the kernel's own thread
        self.output.append_display_data(HTML(video_html(run.video)))
        self.output.append_display_data(Image(data=png.getvalue()))
        if run.verdict is not None:
            self.output.append_stdout(f"judged: {run.verdict}\n")
        self.gallery.outputs = ()
        self.gallery.append_display_data(history_image(self.history))
