"""CogVideoX-nano: the shipped trained model follows captions it never saw, judged from the pixels."""

import re

import numpy as np
import pytest

import helpers
from helpers import nano

import eval_nano  # scripts/eval_nano.py: the nano's evaluation is tooling (conftest.py finds scripts/)


def test_the_judge_reads_every_rendered_scene_right():
    scenes = nano.all_scenes()
    clips = nano.render(scenes, seed=3).numpy()
    verdicts = [nano.judge(clip) for clip in clips]
    assert [v.colour for v in verdicts] == [s.colour for s in scenes]
    assert [v.motion for v in verdicts] == [s.motion for s in scenes]


def test_the_judge_finds_no_object_in_a_grey_clip():
    assert nano.judge(np.full((9, 48, 72, 3), 0.5)) == nano.Judgement(None, None, 0)


def test_held_out_combinations_leave_every_word_in_training():
    training = [s for s in nano.all_scenes() if not s.held_out]
    assert len(nano.HELD_OUT) == len(set(nano.HELD_OUT)) == 18
    for words, field in ((nano.COLOURS, "colour"), (nano.SHAPES, "shape"), (nano.MOTIONS, "motion")):
        assert {getattr(s, field) for s in training} == set(words)
    assert not any((s.colour, s.shape, s.motion) in nano.HELD_OUT for s in training)


def test_nano_ships_in_fp16_within_25_mb():
    folder = nano.nano_model_path()
    weights = list(folder.rglob("*.safetensors"))
    assert len(weights) == 3
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) <= 25 * 1024**2
    from safetensors import safe_open

    with safe_open(folder / "transformer" / "diffusion_pytorch_model.safetensors", "pt") as f:
        assert f.get_tensor(next(iter(f.keys()))).dtype.__str__() == "torch.float16"


def test_automatic_choice_without_a_gpu_is_nano(monkeypatch):
    monkeypatch.delenv("COGVIDEOX_MODEL", raising=False)
    choice = helpers.choose_model()
    assert choice.kit_model == "nano" and choice.reason == "automatic: no CUDA GPU"
    assert "CogVideoX-nano" in str(choice)


@pytest.fixture(scope="module")
def nano_pipe():
    return helpers.load_pipeline("nano")


def test_nano_loads_offline_with_the_5b_classes_and_its_own_defaults(nano_pipe):
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert type(nano_pipe.transformer).__name__ == "CogVideoXTransformer3DModel"
    assert nano_pipe.transformer.config.use_rotary_positional_embeddings
    assert nano_pipe.scheduler.config.prediction_type == "v_prediction"
    assert nano_pipe.vae_scale_factor_temporal == 4
    defaults = helpers.model_defaults(nano_pipe)
    assert (defaults["height"], defaults["width"], defaults["num_frames"], defaults["num_inference_steps"]) == (48, 72, 9, 25)
    assert helpers.check_request(nano_pipe, **defaults) == []


@pytest.mark.parametrize("frames", [9, 17])
def test_nano_generates_the_frames_asked_for(nano_pipe, frames):
    import torch

    video = nano_pipe("a red circle moving to the left on a dark background", num_frames=frames,
                      num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="np").frames[0]
    assert video.shape == (frames, 48, 72, 3)


FIXED = [
    nano.Scene("red", "circle", "left", "dark"),  # held out
    nano.Scene("yellow", "triangle", "shrinking", "light"),  # held out
    nano.Scene("green", "triangle", "growing", "grey"),  # held out
    nano.Scene("cyan", "square", "up", "dark"),  # held out
    nano.Scene("magenta", "square", "right", "grey"),
    nano.Scene("blue", "circle", "still", "light"),
    nano.Scene("red", "triangle", "down", "light"),
]


def test_fixed_prompts_pass_the_colour_and_motion_checks(nano_pipe):
    result = eval_nano.evaluate(nano_pipe, scenes=FIXED)
    misses = [r["caption"] for r in result["rows"] if not (r["colour_ok"] and r["motion_ok"])]
    assert misses == []


def test_evaluate_command_prints_the_summary_line(capsys):
    assert eval_nano.main(["evaluate", "--limit", "2"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"colour_accuracy=\d\.\d\d motion_accuracy=\d\.\d\d clips=2 seconds_per_clip=\d+\.\d", last), last


@pytest.mark.parametrize("task", ["text", "image"])
def test_the_shipped_models_load_with_plain_diffusers_as_a_hub_repository_does(task):
    import diffusers
    import torch
    from PIL import Image

    from helpers.nano import nano_model_path

    cls = diffusers.CogVideoXPipeline if task == "text" else diffusers.CogVideoXImageToVideoPipeline
    pipe = cls.from_pretrained(nano_model_path(task))  # no dtype, no kit code
    assert {pipe.text_encoder.dtype, pipe.transformer.dtype, pipe.vae.dtype} == {torch.float32}
    extra = {} if task == "text" else {"image": Image.new("RGB", (72, 48), "red")}
    video = pipe(prompt="a red circle moves right", num_frames=9, height=48, width=72, num_inference_steps=2,
                 output_type="np", **extra).frames[0]
    assert video.shape == (9, 48, 72, 3) and np.isfinite(video).all()


def test_training_starts_from_a_pipeline_that_makes_the_nano_s_clips():
    """scripts/train_nano.py builds the untrained nano (the same classes as CogVideoX-5b), whose tokenizer
    knows every caption word; one step of it already gives a clip of the nano's size."""
    import torch
    from diffusers import CogVideoXPipeline

    import train_nano

    parts = train_nano.untrained_components(seed=0)
    pipe = CogVideoXPipeline(**parts)
    unknown = parts["tokenizer"].unk_token_id
    assert unknown not in parts["tokenizer"](" ".join(nano.vocabulary())).input_ids
    clip = pipe("a red circle moving to the left on a dark background", num_frames=nano.FRAMES, height=nano.HEIGHT,
                width=nano.WIDTH, num_inference_steps=1, generator=torch.Generator().manual_seed(0),
                output_type="np").frames[0]
    assert clip.shape == (nano.FRAMES, nano.HEIGHT, nano.WIDTH, 3)
