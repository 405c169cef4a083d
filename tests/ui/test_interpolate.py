"""Interpolate tab through its API: a strip of frames, a preview animation and the original-size GIF."""

from __future__ import annotations

from PIL import Image

from ganstudio import images
from ui.results import app_error, gallery_images


def test_frames_strip_and_gif_that_plays_forward_and_back(client):
    strip, preview, gif, info = client.predict("tiny-dcgan", 1, 2, 6, "slerp", None, 80, api_name="/interpolate")
    frames = gallery_images(strip)
    assert [caption for _, caption in frames] == ["0/5", "1/5", "2/5", "3/5", "4/5", "5/5"]
    assert all(not images.is_blank(frame) for frame, _ in frames)
    with Image.open(gif) as animation:
        assert animation.size == (32, 32)
        assert animation.n_frames == 6 + 4  # forward 6, back 4 (no repeated ends)
        assert animation.info["duration"] == 80
    with Image.open(preview) as animation:
        assert animation.size == (256, 256) and animation.n_frames == 10
    assert "6 frames, slerp" in info


def test_linear_and_spherical_paths_differ_in_between(client):
    lerp = gallery_images(client.predict("tiny-dcgan", 1, 2, 3, "lerp", None, 100, api_name="/interpolate")[0])
    slerp = gallery_images(client.predict("tiny-dcgan", 1, 2, 3, "slerp", None, 100, api_name="/interpolate")[0])
    assert lerp[0][0].tobytes() == slerp[0][0].tobytes()  # same ends
    assert lerp[1][0].tobytes() != slerp[1][0].tobytes()  # different paths


def test_conditional_model_interpolates_within_a_class(client):
    strip = client.predict("tiny-cgan", 3, 4, 4, "lerp", "1", 100, api_name="/interpolate")[0]
    assert len(gallery_images(strip)) == 4


def test_missing_seed_gives_a_message(client):
    message = app_error(client, model_name="tiny-dcgan", seed_a=None, seed_b=2, steps=4, mode="lerp", label=None,
                        frame_ms=100, api_name="/interpolate")
    assert "give both seeds" in message
