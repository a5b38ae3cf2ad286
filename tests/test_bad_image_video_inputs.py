"""Bad image and video inputs (image- and video-to-video): each refused with what to give instead, nothing written."""

import numpy as np
import pytest
from PIL import Image

from helpers.image_video import InputError, fit_image, fit_video


@pytest.mark.parametrize("image, message", [
    (np.full((48, 72, 3), np.nan, np.float32), "NaN or infinite"),
    (np.full((48, 72, 3), 200.0, np.float32), "float pixels must be in 0..1"),
    (np.full((48, 72, 3), 300, np.int32), "give uint8 pixels in 0..255"),
    (np.zeros((2, 48, 72, 3), np.uint8), "height x width"),
    (np.zeros((48, 72, 5), np.uint8), "height x width"),
    (np.zeros((48, 72, 3), bool), "holds bool"),
    ("not a picture".encode(), "a file path, a PIL image or an array"),
    (Image.new("RGB", (0, 10)), "the image is empty"),
])
def test_bad_image_arrays_and_objects_are_refused(image, message, tmp_path):
    before = sorted(tmp_path.iterdir())
    with pytest.raises(InputError, match=message):
        fit_image(image, 48, 72)
    assert sorted(tmp_path.iterdir()) == before


def test_good_arrays_still_fit():
    for image in (np.ones((48, 72, 3), np.float32), np.zeros((48, 72), np.uint8), np.zeros((48, 72, 1), np.uint8),
                  np.zeros((48, 72, 4), np.uint8)):
        picture, _ = fit_image(image, 48, 72)
        assert picture.size == (72, 48) and picture.mode == "RGB"
    assert np.asarray(fit_image(np.ones((48, 72, 3), np.float32), 48, 72)[0]).min() == 255


def test_a_file_that_is_not_a_video_and_a_short_clip_are_refused(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("not a video")
    with pytest.raises(InputError, match="cannot be read as a video"):
        fit_video(fake, 9, 48, 72)
    with pytest.raises(InputError, match="no video at"):
        fit_video(tmp_path / "missing.mp4", 9, 48, 72)
    assert fake.read_text() == "not a video"
