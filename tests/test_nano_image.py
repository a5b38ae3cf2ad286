"""CogVideoX-nano-i2v: image to video that starts from the given picture, then follows the caption."""

import subprocess
import sys
from pathlib import Path

import pytest

import helpers
from helpers import nano
from helpers.image_video import InputError, check_task

import eval_nano  # scripts/eval_nano.py: the nano's evaluation is tooling (conftest.py finds scripts/)

ROOT = Path(__file__).resolve().parents[1]
#: Held-out (first two) and training combinations, one per background.
SCENES = [
    nano.Scene("cyan", "square", "up", "dark"),  # held out
    nano.Scene("green", "triangle", "growing", "grey"),  # held out
    nano.Scene("magenta", "circle", "left", "light"),
    nano.Scene("yellow", "square", "right", "dark"),
]


@pytest.fixture(scope="module")
def i2v_pipe():
    return helpers.load_pipeline("nano-i2v", task="image")


def test_nano_i2v_is_an_image_to_video_checkpoint_in_the_hub_layout(i2v_pipe):
    assert type(i2v_pipe).__name__ == "CogVideoXImageToVideoPipeline"
    assert i2v_pipe.transformer.config.in_channels == 2 * i2v_pipe.vae.config.latent_channels
    assert helpers.choose_model("nano-i2v").kit_model == "nano-i2v"
    folder = nano.nano_model_path("image")
    assert {p.name for p in folder.iterdir()} >= {"model_index.json", "transformer", "vae", "text_encoder", "tokenizer"}


def test_nano_i2v_starts_from_the_picture_and_follows_the_caption(i2v_pipe):
    result = eval_nano.evaluate_image(i2v_pipe, scenes=SCENES)
    misses = [r for r in result["rows"] if not (r["colour_ok"] and r["motion_ok"] and r["start_ok"])]
    assert misses == [], misses
    assert result["image"] is True


def test_the_text_model_given_only_the_caption_starts_anywhere():
    """The same measure on the text-to-video nano: the picture is what puts the object in place."""
    result = eval_nano.evaluate_image(helpers.load_pipeline("nano"), scenes=SCENES)
    assert result["image"] is False
    assert result["start_accuracy"] <= 0.25
    assert result["colour_accuracy"] == 1.0  # it still follows the caption


def test_the_image_pipeline_refuses_the_text_nano_and_names_the_nano_i2v():
    with pytest.raises(InputError, match="'nano-i2v'"):
        check_task(nano.nano_model_path(), "image")
    with pytest.raises(InputError, match="image-to-video checkpoint"):
        check_task(nano.nano_model_path("image"), "video")


def test_training_the_image_variant_needs_the_trained_text_nano(tmp_path):
    done = subprocess.run([sys.executable, ROOT / "scripts" / "train_nano.py", "--task", "image", "--out", tmp_path],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "--init helpers/models/cogvideox-nano" in done.stderr


def test_the_image_stage_trains_on_cpu_into_a_loadable_image_to_video_folder(tmp_path):
    """A smoke run of scripts/train_nano.py --task image: a few steps, one check, a pipeline folder."""
    command = [sys.executable, ROOT / "scripts" / "train_nano.py", "--task", "image", "--init", nano.nano_model_path(),
               "--device", "cpu", "--clips", "16", "--minutes", "0.03", "--batch", "2", "--eval-clips", "1",
               "--no-compile", "--eval-every", "1000", "--out", tmp_path]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"start":' in (tmp_path / "log.jsonl").read_text()
    folder = tmp_path / "cogvideox-nano-i2v"
    check_task(folder, "image")
    assert helpers.loading.kit_model_kind(folder) == "nano-i2v"


@pytest.mark.parametrize("scheme, speed", [("torchao_int8_weight_only", ""), ("quanto_qint8", ""), ("bf16", "pab")])
def test_recipes_quantization_and_caches_apply_unchanged_to_image_to_video(scheme, speed):
    """What 08 says: 02's memory recipes, 03/04's quantization and 07's caches work on the image pipeline too."""
    from helpers.quantization import quantize_model
    from helpers.recipes import apply_speed

    pipe = helpers.load_pipeline("nano-i2v", task="image")
    assert helpers.apply_recipe(pipe, "vae_tiling+vae_slicing") == "vae_tiling+vae_slicing"
    quantize_model(pipe.transformer, scheme)
    if speed:
        apply_speed(pipe, speed)
    result = eval_nano.evaluate_image(pipe, scenes=SCENES[:2])
    assert (result["start_accuracy"], result["colour_accuracy"], result["motion_accuracy"]) == (1.0, 1.0, 1.0), result["rows"]
