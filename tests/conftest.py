import pytest


@pytest.fixture(scope="session")
def small_pipe():
    """The kit's small model, loaded once (fp32, CPU)."""
    import helpers

    return helpers.load_pipeline("small")


@pytest.fixture
def frames():
    """Nine 48x72 frames with a moving bright square, like pipe(..., output_type="np").frames[0]."""
    import numpy as np

    video = np.zeros((9, 48, 72, 3), dtype=np.float32)
    for i in range(9):
        video[i, 10:26, 4 + 6 * i : 20 + 6 * i] = 1.0
    return video
