"""Every bad input is refused before compute, with a message naming the fix.

Requests raise :class:`helpers.RequestError`, settings a ``ValueError`` naming the allowed values,
command lines exit 2 through ``parser.error``; valid inputs still pass.
"""

import doctest
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import helpers
from helpers import RequestError, check_request
from helpers.checks import _least_steps, _least_strength, check_seed
from helpers.workshop import workshop_mode

import eval_nano  # scripts/eval_nano.py: the nano's evaluation is tooling (conftest.py finds scripts/)
import plan  # scripts/plan.py: the planner's command line

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def plain_settings(monkeypatch):
    """No workshop mode and no step override from the caller's shell."""
    monkeypatch.delenv("COGVIDEOX_WORKSHOP", raising=False)
    monkeypatch.delenv("COGVIDEOX_STEPS", raising=False)


@pytest.fixture(scope="module")
def nano_pipe():
    return helpers.load_pipeline("nano")


@pytest.fixture(scope="module")
def video_pipe():
    pipe = helpers.load_pipeline("nano", task="video")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def request(**overrides):
    base = dict(prompt="a red circle moving right on a dark background", num_frames=9, height=48, width=72,
                num_inference_steps=25, guidance_scale=6.0)
    return {**base, **overrides}


# 1. Non-finite numbers, in every numeric field.

@pytest.mark.parametrize("field, value, message", [
    ("guidance_scale", math.inf, r"guidance_scale=inf: must be a finite number of at least 1"),
    ("guidance_scale", -math.inf, r"guidance_scale=-inf: must be a finite number of at least 1"),
    ("guidance_scale", math.nan, r"guidance_scale=nan: must be a finite number of at least 1"),
    ("guidance_scale", np.float32("nan"), r"guidance_scale=nan: must be a finite number of at least 1"),
    ("num_frames", math.inf, r"num_frames=inf: must be a whole number of at least 1"),
    ("num_frames", math.nan, r"num_frames=nan: must be a whole number of at least 1"),
    ("height", math.inf, r"height=inf: must be a positive multiple of 8 .*Use 48"),
    ("width", math.nan, r"width=nan: must be a positive multiple of 8 .*Use 72"),
    ("num_inference_steps", math.inf, r"num_inference_steps=inf: must be a whole number of at least 1"),
    ("num_inference_steps", math.nan, r"num_inference_steps=nan: must be a whole number of at least 1"),
    ("strength", math.nan, r"strength=nan: must be a finite number in \(0, 1\]"),
    ("strength", math.inf, r"strength=inf: must be a finite number in \(0, 1\]"),
    ("fps", math.nan, r"fps=nan: must be a finite number"),
    ("eta", -math.inf, r"eta=-inf: must be a finite number"),
])
def test_non_finite_numbers_are_refused(nano_pipe, field, value, message):
    with pytest.raises(RequestError, match=message):
        check_request(nano_pipe, **request(**{field: value}))


@pytest.mark.parametrize("guidance", [6.0, 6, 1, np.float32(6.0), np.float64(7.5)])
def test_finite_guidance_still_passes(nano_pipe, guidance):
    assert check_request(nano_pipe, **request(guidance_scale=guidance)) == []


def test_guidance_below_one_keeps_its_message(nano_pipe):
    with pytest.raises(RequestError, match=r"guidance_scale=0.5: must be at least 1 \(1 turns"):
        check_request(nano_pipe, **request(guidance_scale=0.5))


# 2. Wrong types and seeds torch cannot take.

@pytest.mark.parametrize("field, value, message", [
    ("guidance_scale", "6", r"guidance_scale='6': must be a number \(a float such as 6.0\), not str"),
    ("guidance_scale", None, r"guidance_scale=None: must be a number .*not NoneType"),
    ("guidance_scale", True, r"guidance_scale=True: must be a number .*not bool"),
    ("num_frames", "9", r"num_frames='9': must be a whole number"),
    ("num_frames", True, r"num_frames=True: must be a whole number"),
    ("height", "48", r"height='48': must be a positive multiple of 8"),
    ("num_inference_steps", "25", r"num_inference_steps='25': must be a whole number"),
    ("strength", "0.5", r"strength='0.5': must be a finite number in \(0, 1\], not str"),
    ("negative_prompt", 5, r"negative_prompt must be a string or None, got int"),
])
def test_wrong_types_are_refused_with_the_type_expected(nano_pipe, field, value, message):
    with pytest.raises(RequestError, match=message):
        check_request(nano_pipe, **request(**{field: value}))


@pytest.mark.parametrize("seed, message", [
    ("42", r"seed='42': must be a whole number \(an int such as 42\), not str"),
    (1.5, r"seed=1.5: must be a whole number .*not float"),
    (True, r"seed=True: must be a whole number .*not bool"),
    (-1, r"seed=-1: must be from 0 to 2\*\*64 - 1 \(18446744073709551615\)"),
    (2**64, r"seed=18446744073709551616: must be from 0 to 2\*\*64 - 1"),
])
def test_seeds_torch_cannot_take_are_refused(seed, message):
    with pytest.raises(RequestError, match=message):
        check_seed(seed)


@pytest.mark.parametrize("seed", [0, 42, 2**64 - 1])
def test_seeds_in_range_pass_and_work_in_torch(seed):
    import torch

    assert torch.Generator().manual_seed(check_seed(seed)).initial_seed() == seed


# 3. More steps than the scheduler was trained with.

def test_steps_above_the_schedulers_timesteps_are_refused(nano_pipe):
    assert nano_pipe.scheduler.config.num_train_timesteps == 1000
    with pytest.raises(RequestError, match=r"num_inference_steps=1001: more than the 1000 timesteps .*Use at most 1000"):
        check_request(nano_pipe, **request(num_inference_steps=1001))
    assert check_request(nano_pipe, **request(num_inference_steps=1000)) == []


def test_a_step_override_above_the_timesteps_is_named(nano_pipe, monkeypatch):
    monkeypatch.setenv("COGVIDEOX_STEPS", "5000")
    with pytest.raises(RequestError, match=r"num_inference_steps=5000: .*COGVIDEOX_STEPS='5000' is set: lower it"):
        check_request(nano_pipe, **helpers.model_defaults(nano_pipe))


# 4. Video-to-video strength.

@pytest.mark.parametrize("strength, steps, message", [
    (0.01, 25, r"strength=0.01 with num_inference_steps=25 runs no denoising step .*"
               r"Use strength >= 0.04 \(1/25\) for 25 steps, or at least 100 steps at strength 0.01"),
    (0.4, 2, r"Use strength >= 0.5 \(1/2\) for 2 steps, or at least 3 steps at strength 0.4"),
    (0.02, 49, r"Use strength >= 0.021 \(1/49\) for 49 steps, or at least 50 steps"),
])
def test_strength_too_small_for_any_step_is_refused_with_the_least(video_pipe, strength, steps, message):
    with pytest.raises(RequestError, match=message):
        check_request(video_pipe, **request(strength=strength, num_inference_steps=steps))


@pytest.mark.parametrize("strength", [0, -0.5, 1.5])
def test_strength_outside_zero_one_is_refused(video_pipe, strength):
    with pytest.raises(RequestError, match=rf"strength {strength} is outside \(0, 1\]"):
        check_request(video_pipe, **request(strength=strength))


def test_the_least_strength_and_steps_named_are_enough():
    for steps in range(1, 1001):  # every step count the scheduler takes
        least = _least_strength(steps)
        assert int(steps * least) >= 1 and (least == 0.001 or int(steps * round(least - 0.001, 3)) == 0), steps
        assert int(_least_steps(least) * least) >= 1 and _least_steps(least) <= steps, steps


def test_the_least_strength_named_runs_and_valid_strengths_pass(video_pipe):
    assert check_request(video_pipe, **request(strength=0.8)) == []
    assert check_request(video_pipe, **request(strength=0.5, num_inference_steps=2)) == []
    frames = [Image.new("RGB", (72, 48), (200, 30, 30)) for _ in range(9)]
    video = video_pipe(video=frames, prompt="a red circle", strength=0.5, num_inference_steps=2,
                       height=48, width=72, output_type="np").frames[0]
    assert video.shape[1:] == (48, 72, 3) and np.isfinite(video).all()


# 5. Settings read from the environment.

@pytest.mark.parametrize("value", ["2", "on please", "y", "enabled", "-1"])
def test_workshop_values_that_are_not_yes_or_no_are_refused(monkeypatch, value):
    monkeypatch.setenv("COGVIDEOX_WORKSHOP", value)
    with pytest.raises(ValueError, match=rf"COGVIDEOX_WORKSHOP='{value}' is not a yes/no setting: "
                                         r"set 1, true, yes or on for workshop mode, or 0, false, no or off"):
        workshop_mode()


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), ("YES", True), ("on", True), (" On ", True),
                                       ("0", False), ("false", False), ("No", False), ("OFF", False), ("", False)])
def test_workshop_yes_and_no_values_are_read(monkeypatch, value, on):
    monkeypatch.setenv("COGVIDEOX_WORKSHOP", value)
    assert workshop_mode() is on


def test_workshop_unset_is_off():
    assert workshop_mode() is False


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "two", "²", "٣"])
def test_step_overrides_that_are_not_positive_whole_numbers_are_refused(nano_pipe, monkeypatch, value):
    monkeypatch.setenv("COGVIDEOX_STEPS", value)
    with pytest.raises(ValueError, match=r"COGVIDEOX_STEPS=.* is not a step count: set a whole number of at least 1"):
        helpers.model_defaults(nano_pipe)


def test_a_positive_step_override_is_used(nano_pipe, monkeypatch):
    monkeypatch.setenv("COGVIDEOX_STEPS", " 3 ")
    assert helpers.model_defaults(nano_pipe)["num_inference_steps"] == 3


def refused(main, argv, capsys) -> str:
    """What a command line printed when it refused ``argv`` (exit code 2, argparse's way)."""
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    return capsys.readouterr().err


# 6. The planner's command line.

@pytest.mark.parametrize("argv, message", [
    (["--frames", "0"], r"--frames 0: must be at least 1"),
    (["--frames", "-8"], r"--frames -8: must be at least 1"),
    (["--height", "0"], r"--height=0: must be a positive multiple of 16 .*Use 16, or 480"),
    (["--width", "700"], r"--width=700: must be a positive multiple of 16 .*Use 704, or 720"),
    (["--batch", "0"], r"--batch 0: must be at least 1"),
    (["--gpus", "0"], r"--gpus 0: must be at least 1 \(GPUs to split one video across\)"),
    (["--vram-gib", "-5", "--ram-gib", "12"], r"--vram-gib -5.0: must be a finite number of GiB, 0 or more"),
    (["--vram-gib", "15", "--ram-gib", "nan"], r"--ram-gib nan: must be a finite number of GiB"),
    (["--vram-gib", "inf", "--ram-gib", "12"], r"--vram-gib inf: must be a finite number of GiB"),
    (["--compute-capability", "sm75"], r"--compute-capability 'sm75': must look like 7.5"),
    (["--compute-capability", "7"], r"--compute-capability '7': must look like 7.5"),
    (["--model", "CogVideoX1.5-5B", "--frames", "0"], r"--frames 0: must be at least 1 \(81 is CogVideoX1.5-5B's; "
                                                      r"16N\+1 counts such as 49 or 33\)"),
    (["--model", "CogVideoX-7b"], r"--model: invalid choice: 'CogVideoX-7b' \(choose from .*CogVideoX-2b"),
])
def test_planner_command_line_refuses_bad_numbers(capsys, argv, message):
    err = refused(plan.main, argv, capsys)
    assert err.startswith("usage: python scripts/plan.py")
    assert re.search(message, err), err


def test_planner_command_line_accepts_a_t4(capsys):
    assert plan.main(["--vram-gib", "15", "--ram-gib", "12.7", "--compute-capability", "7.5",
                      "--frames", "17", "--height", "480", "--width", "720", "--batch", "1"]) == 0
    assert "recommended recipe:" in capsys.readouterr().out


def test_the_planner_command_line_runs_from_any_folder_without_warnings(tmp_path):
    """``python scripts/plan.py`` as the README has it, started from elsewhere: it finds the installed helpers."""
    done = subprocess.run([sys.executable, "-W", "error", str(ROOT / "scripts" / "plan.py"), "--vram-gib", "24",
                           "--ram-gib", "32"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "recommended recipe: low_ram_staged" in done.stdout


def test_the_planner_command_lines_examples_hold():
    assert doctest.testmod(plan).failed == 0


# 7. The nano's command line.

@pytest.mark.parametrize("argv, message", [
    (["--limit", "0"], r"--limit 0: must be at least 1"),
    (["--limit", "-2"], r"--limit -2: must be at least 1"),
    (["--steps", "0"], r"--steps 0: must be from 1 to 1000 \(25 is the default\)"),
    (["--steps", "1001"], r"--steps 1001: must be from 1 to 1000"),
    (["--guidance", "nan"], r"--guidance nan: must be a finite number of at least 1"),
    (["--guidance", "0.5"], r"--guidance 0.5: must be a finite number of at least 1 \(1 turns guidance off; 6 is"),
])
def test_nano_evaluate_refuses_bad_numbers(capsys, argv, message):
    err = refused(eval_nano.main, ["evaluate", *argv], capsys)
    assert err.startswith("usage: python scripts/eval_nano.py evaluate")
    assert re.search(message, err), err


def test_nano_evaluate_accepts_a_limit(monkeypatch, capsys):
    seen = {}

    def fake_evaluate(scenes, steps, guidance):
        seen.update(scenes=len(scenes), steps=steps, guidance=guidance)
        return dict(rows=[], colour_accuracy=1.0, motion_accuracy=1.0, clips=len(scenes), seconds_per_clip=0.0)

    monkeypatch.setattr(eval_nano, "evaluate", fake_evaluate)
    assert eval_nano.main(["evaluate", "--limit", "1", "--steps", "1", "--guidance", "1"]) == 0
    assert seen == dict(scenes=1, steps=1, guidance=1.0)


def test_the_kits_generators_refuse_a_bad_seed_before_anything_runs(monkeypatch):
    import helpers
    from helpers.checks import RequestError
    from helpers.explorer import Params, generate
    from helpers.image_video import chain_clips

    def never(*args, **kwargs):
        raise AssertionError("loaded or generated before the seed was checked")

    with monkeypatch.context() as m:
        m.setattr(helpers.low_ram, "model_folder", never)
        with pytest.raises(RequestError, match="seed=-1: must be from 0 to 2"):
            helpers.low_ram.generate_low_ram("nano", seed=-1)
    with pytest.raises(RequestError, match="seed=2\\*\\*64|seed=18446744073709551616"):
        chain_clips(never, None, ["a", "b"], seed=2**64 - 1)  # the second clip's seed is out of range
    pipe = helpers.load_pipeline("nano")
    with pytest.raises(RequestError, match="must be a whole number"):
        generate(pipe, Params(seed="42"), save=False)


def test_a_request_that_cannot_fit_a_cpus_ram_is_refused_before_compute():
    pipe = helpers.load_pipeline("nano")
    request = dict(helpers.model_defaults(pipe), height=4800, width=7200)
    with pytest.raises(RequestError, match=r"need at least about \d+ GiB of RAM on a CPU .* is available"):
        check_request(pipe, **request)
    assert helpers.checks.cpu_memory_gib(9, 48, 72) < 0.2  # the model's own size fits


def test_a_request_that_cannot_finish_on_a_cpu_is_refused_before_compute_and_saves_nothing(
        nano_pipe, monkeypatch, tmp_path):
    from helpers.explorer import Params, generate

    monkeypatch.setenv("COGVIDEOX_OUTPUTS", str(tmp_path / "videos"))
    monkeypatch.setattr(nano_pipe.transformer, "forward", lambda *a, **k: pytest.fail("computed before the check"))
    with pytest.raises(RequestError, match=r"10001 frames at 48x72 with 50 steps would take about [\d,]+ minutes "
                                           r"on a CPU .* the limit is 60\. .*COGVIDEOX_MAX_CPU_MINUTES"):
        generate(nano_pipe, Params(frames=10001, steps=50))
    assert not (tmp_path / "videos").exists() or not any((tmp_path / "videos").iterdir())
    request = dict(helpers.model_defaults(nano_pipe), num_frames=10001)
    assert helpers.checks.cpu_minutes(nano_pipe, 10001, 48, 72, 50) > 600
    assert helpers.checks.cpu_minutes(nano_pipe, 9, 48, 72, 50) < 1  # the model's own request: seconds
    monkeypatch.setenv("COGVIDEOX_MAX_CPU_MINUTES", "1e9")
    check_request(nano_pipe, **request)  # allowed when asked for: warned only
    for value in ("soon", "-5", "nan"):
        monkeypatch.setenv("COGVIDEOX_MAX_CPU_MINUTES", value)
        with pytest.raises(RequestError, match="COGVIDEOX_MAX_CPU_MINUTES=.* is not a number of minutes"):
            check_request(nano_pipe, **request)


def test_the_cpu_time_fit_follows_the_measured_steps():
    import json

    record = json.loads((ROOT / "media" / "benchmarks" / "cpu_memory.json").read_text())
    for row in record["results"]:
        assert abs(row["fitted_step_s"] - row["step_s"]) < 0.25 * row["step_s"] + 1


def transformer_calls(pipe) -> list:
    """A list that grows by one each time ``pipe``'s transformer runs (to show nothing ran)."""
    calls = []
    pipe.transformer.register_forward_pre_hook(lambda *a: calls.append(1))
    return calls


@pytest.mark.parametrize("bad", [dict(num_inference_steps=0), dict(num_inference_steps=2.5), dict(height=50),
                                 dict(num_frames=-3), dict(guidance_scale=float("nan"))])
def test_generate_and_measure_refuses_a_bad_request_before_its_warm_up(bad):
    pipe = helpers.load_pipeline("nano")
    calls = transformer_calls(pipe)
    request = {**helpers.model_defaults(pipe), "num_inference_steps": 2}
    with pytest.raises(RequestError):
        helpers.generate_and_measure(pipe, {**request, **bad}, "bad")
    assert calls == []


def test_a_sweep_with_one_bad_cell_runs_none_of_them():
    from helpers.explorer import Params, sweep

    pipe = helpers.load_pipeline("nano")
    calls = transformer_calls(pipe)
    for rows in (("steps", [2, 0]), ("guidance", [6.0, float("nan")]), ("frames", [9, 0])):
        with pytest.raises(RequestError):
            sweep(pipe, Params(steps=2), rows=rows)
    assert calls == []


def test_half_steps_of_one_step_keeps_one():
    from helpers.recipes import apply_speed

    assert apply_speed(helpers.load_pipeline("nano"), "half_steps", steps=1) == {"num_inference_steps": 1}


@pytest.mark.parametrize("name,value", [("COGVIDEOX_STEPS", "abc"), ("COGVIDEOX_STEPS", "-3"),
                                        ("COGVIDEOX_LORA_STEPS", "1.5"), ("COGVIDEOX_LORA_STEPS", "0")])
def test_the_first_cell_refuses_a_step_setting_that_is_not_a_count(monkeypatch, capsys, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}='{re.escape(value)}' is not a step count: set a whole number"):
        helpers.show_environment()
    assert capsys.readouterr().out == ""  # refused before the report: nothing else printed


def test_a_quantization_before_after_refuses_a_bad_step_count_before_loading():
    from helpers.quantization import before_after_setup

    with pytest.raises(RequestError):
        before_after_setup("nano", steps=-1)


@pytest.mark.parametrize("recipe,fix", [
    ("taylorseer@0", "at least 1, e.g. taylorseer@5"),
    ("taylorseer@2.5", "at least 1"),
    ("first_block_cache@abc", "a number above 0, e.g. first_block_cache@0.1"),
    ("first_block_cache@nan", "a number above 0"),
    ("magcache@-1", "a number above 0"),
    ("pab@0.3", "pab takes no value; write pab alone"),
    ("compile@fastest", "not a torch.compile mode"),
])
def test_a_recipe_value_that_means_nothing_is_refused_before_any_step_applies(recipe, fix):
    from helpers.recipes import apply_speed

    pipe = helpers.load_pipeline("nano")
    before = {type(p).__name__ for p in pipe.transformer.attn_processors.values()}
    with pytest.raises(ValueError, match=re.escape(fix)):
        apply_speed(pipe, "fused_qkv+" + recipe)  # fused_qkv would apply first: it must not have
    assert {type(p).__name__ for p in pipe.transformer.attn_processors.values()} == before


def test_a_recipe_that_is_not_a_string_is_refused_with_an_example():
    with pytest.raises(ValueError, match="give a string of steps joined by '\\+', e.g. 'model_cpu_offload\\+vae_tiling'"):
        helpers.apply_recipe(helpers.load_pipeline("nano"), None)


def test_a_dtype_given_by_name_loads_in_that_dtype_and_a_wrong_name_is_refused():
    import torch

    assert helpers.load_pipeline("nano", torch_dtype="bfloat16").transformer.dtype == torch.bfloat16
    with pytest.raises(ValueError, match="give torch.bfloat16"):
        helpers.load_pipeline("nano", torch_dtype="bfloat")


@pytest.mark.parametrize("component,edit", [
    ("tokenizer/tokenizer.json", lambda text: "{}"),
    ("transformer/config.json", lambda text: text.replace('"num_layers": 6', '"num_layers": "two"')),
])
def test_a_model_folder_with_a_broken_config_is_refused_naming_the_folder(tmp_path, component, edit):
    import shutil

    from helpers.nano import nano_model_path

    folder = tmp_path / "nano"
    shutil.copytree(nano_model_path(), folder)
    (folder / component).write_text(edit((folder / component).read_text()))
    with pytest.raises(helpers.ModelLoadError, match=f"Loading {re.escape(str(folder))} failed"):
        helpers.load_pipeline(folder)
