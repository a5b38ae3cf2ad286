"""Image-to-video and video-to-video: the right checkpoint, inputs checked with their fixes, inputs recorded."""

import json

import numpy as np
import pytest
import torch

import helpers
from helpers.image_video import (InputError, check_size, check_strength, checkpoint_task, example_inputs, fit_image,
                                 fit_video, input_record)
from helpers.small_model import small_model_path


def test_the_small_image_model_is_built_like_cogvideox_5b_i2v():
    folder = small_model_path(task="image")
    transformer = json.loads((folder / "transformer" / "config.json").read_text())
    vae = json.loads((folder / "vae" / "config.json").read_text())
    assert transformer["in_channels"] == 2 * vae["latent_channels"]
    assert transformer["use_learned_positional_embeddings"] and transformer["use_rotary_positional_embeddings"]
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == "CogVideoXImageToVideoPipeline"


@pytest.mark.parametrize("model, task, wanted", [("nano", "image", "CogVideoX-5b-I2V"), ("small", "image", "CogVideoX-5b-I2V"),
                                                  ("small-i2v", "video", "THUDM/CogVideoX-5b"),
                                                  ("small-i2v", "text", "THUDM/CogVideoX-5b")])
def test_a_checkpoint_for_another_task_is_refused_before_loading_with_the_right_one_named(model, task, wanted, monkeypatch):
    import diffusers

    loaded = []
    for name in ("CogVideoXPipeline", "CogVideoXImageToVideoPipeline", "CogVideoXVideoToVideoPipeline"):
        monkeypatch.setattr(getattr(diffusers, name), "from_pretrained", lambda *a, **k: loaded.append(a))
    with pytest.raises(InputError, match=wanted):
        helpers.load_pipeline(model, task=task)
    assert not loaded  # no weight was read


def test_each_task_loads_its_pipeline():
    assert checkpoint_task(small_model_path(task="image")) == "image"
    assert type(helpers.load_pipeline("small-i2v", task="image")).__name__ == "CogVideoXImageToVideoPipeline"
    assert type(helpers.load_pipeline("nano", task="video")).__name__ == "CogVideoXVideoToVideoPipeline"


def test_image_to_video_starts_from_the_picture_and_records_it(tmp_path):
    pipe = helpers.load_pipeline("small-i2v", task="image")
    pipe.set_progress_bar_config(disable=True)
    image, _ = example_inputs()
    picture, note = fit_image(image, 48, 72)
    assert picture.size == (72, 48) and "720x480" in note
    request = dict(prompt="a red circle", num_frames=9, height=48, width=72, num_inference_steps=2)
    video = pipe(image=picture, **request, output_type="np").frames[0]
    assert video.shape == (9, 48, 72, 3)
    path = helpers.save_video(video, request, pipe=pipe, folder=tmp_path, inputs={"image": input_record(image)})
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["inputs"]["image"]["path"] == str(image.absolute())
    assert len(sidecar["inputs"]["image"]["sha256"]) == 64
    assert len(helpers.read_video(path)[0]) == 9


def test_a_size_the_image_model_never_learned_is_refused_with_the_size_it_takes():
    pipe = helpers.load_pipeline("small-i2v", task="image")
    check_size(pipe, 48, 72)
    with pytest.raises(InputError, match="height=48, width=72"):
        check_size(pipe, 96, 144)


def test_check_request_knows_the_one_size_and_length_of_learned_position_embeddings():
    pipe = helpers.load_pipeline("small-i2v", task="image")
    request = dict(prompt="a red circle", num_frames=9, height=48, width=72, num_inference_steps=2, guidance_scale=6)
    assert helpers.check_request(pipe, **request) == []
    with pytest.raises(helpers.RequestError, match="height=48, width=72"):
        helpers.check_request(pipe, **{**request, "height": 96, "width": 144})
    (warning,) = [w for w in helpers.check_request(pipe, **{**request, "num_frames": 17}) if "sine-cosine" in w]
    assert "Use 9 and keep the frames you need" in warning
    # a model with rotary embeddings only (the nano-i2v, like CogVideoX-5b) takes other lengths without that warning
    nano_i2v = helpers.load_pipeline("nano-i2v", task="image")
    assert not any("sine-cosine" in w for w in helpers.check_request(nano_i2v, **{**request, "num_frames": 17}))


def test_pictures_are_covered_and_centre_cropped_never_stretched():
    from PIL import Image

    tall = Image.new("RGB", (100, 300), "white")
    tall.paste((255, 0, 0), (0, 140, 100, 160))  # a red band across the middle
    fitted, note = fit_image(tall, 48, 72)
    assert fitted.size == (72, 48) and "cropped" in note
    assert np.asarray(fitted)[24, 36, 1] < 100  # the middle band is still there


def test_unreadable_or_missing_pictures_get_their_fix(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    with pytest.raises(InputError, match="PNG or JPEG"):
        fit_image(broken, 48, 72)
    with pytest.raises(InputError, match="check the path"):
        fit_image(tmp_path / "missing.png", 48, 72)


@pytest.mark.parametrize("strength", [0, -0.1, 1.01, "high"])
def test_strength_outside_zero_to_one_is_refused(strength):
    with pytest.raises(InputError, match=r"outside \(0, 1\]"):
        check_strength(strength)


def test_a_clip_shorter_than_asked_names_the_frame_counts_it_can_give():
    _, clip = example_inputs()
    assert len(fit_video(clip, 9, 48, 72)) == 9
    with pytest.raises(InputError, match="has 9 frames and 17 were asked for: ask for 9 or fewer"):
        fit_video(clip, 17, 48, 72)


def test_video_to_video_keeps_the_motion_and_takes_the_prompts_colour():
    pipe = helpers.load_pipeline("nano", task="video")
    pipe.set_progress_bar_config(disable=True)
    frames = fit_video(example_inputs()[1], 9, 48, 72)
    out = pipe(video=frames, prompt="a blue circle moving to the right on a dark background", strength=0.6,
               num_inference_steps=25, generator=torch.Generator().manual_seed(0), output_type="np").frames[0]
    assert out.shape == (9, 48, 72, 3)
    judged = helpers.nano.judge(out)
    assert (judged.colour, judged.motion) == ("blue", "right")
    assert helpers.nano.judge(np.stack([np.asarray(f) for f in frames]) / 255).colour == "red"
