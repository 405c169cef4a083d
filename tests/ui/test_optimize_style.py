"""The Style transfer tab's Optimise mode through its API: a background run shows its image, stops, explains.

The studio's VGG-19 is a random-weight file in torchvision's layout, cut after relu2_2 (no real weights exist
offline), and the images are 32 px: a run of a few steps takes a second.
"""

from __future__ import annotations

import time

from gradio_client import handle_file

from ui.results import app_error, assert_not_blank, open_result

RUN_TIMEOUT_S = 120
SHALLOW = {"style_layers": ["relu1_1", "relu2_1"], "content_layer": "relu2_2"}


def start(client, sample_paths, *, steps=6, every=2, **changes) -> tuple[str, str]:
    """Start a run as the Start button does; (run id, progress text)."""
    options = {"steps": steps, "every": every, "side": 32, "optimizer": "lbfgs", "init": "content", "pooling": "max",
               "content_weight": 1.0, "style_weight": 1e6, "tv_weight": 0.0, "seed": 0, **SHALLOW, **changes}
    run_id, progress, *_ = client.predict(handle_file(sample_paths["cat"]), handle_file(sample_paths["hubble"]),
                                          **options, api_name="/optimize_style")
    return run_id, progress


def watch(client, run_id, until: tuple[str, ...] = ("**Done**", "**Cancelled**", "**Failed**")):
    """Poll as the tab's timer does until the progress text shows one of ``until``; (image, progress, info)."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        image, progress, info, *_ = client.predict(run_id, api_name="/optimize_style_status")
        if any(word in progress for word in until):
            return image, progress, info
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} did not get to {until} in {RUN_TIMEOUT_S} s: {progress}")


def test_a_run_returns_at_once_then_shows_its_image_and_losses_until_it_is_done(client, sample_paths):
    started = time.perf_counter()
    run_id, progress = start(client, sample_paths)
    assert time.perf_counter() - started < 30 and run_id
    assert any(word in progress for word in ("Queued", "Starting", "Running"))
    image, progress, info = watch(client, run_id)
    assert "**Done** · step 6/6" in progress and "Losses: content" in progress and "style" in progress, progress
    picture = open_result(image)
    assert max(picture.size) == 32
    assert_not_blank(picture)
    assert "step 6/6" in info and "seed 0" in info


def test_cancel_stops_the_run_and_keeps_its_last_image(client, sample_paths):
    run_id, _ = start(client, sample_paths, steps=2000, every=1, side=128)  # half a second a step: minutes in all
    watch(client, run_id, until=("**Running** · step",))
    progress = client.predict(run_id, api_name="/optimize_style_cancel")
    assert "Running" in progress or "Cancelled" in progress
    image, progress, _ = watch(client, run_id)
    assert "**Cancelled**" in progress and "the image is the last one" in progress and "/2000" in progress
    assert max(open_result(image).size) == 128


def test_a_layer_beyond_the_vgg_file_fails_the_run_with_the_layers_it_has(client, sample_paths):
    run_id, _ = start(client, sample_paths, style_layers=["relu1_1", "relu5_1"])
    _, progress, _ = watch(client, run_id)
    assert "**Failed**" in progress and "no layer 'relu5_1'" in progress and "relu2_2" in progress


def test_missing_images_and_bad_options_are_refused_before_a_run_starts(client, sample_paths):
    options = {"steps": 6, "every": 2, "side": 32, "optimizer": "lbfgs", "init": "content", "pooling": "max",
               "content_weight": 1.0, "style_weight": 0.0, "tv_weight": 0.0, "seed": 0, **SHALLOW}
    assert "content image and a style image" in app_error(client, content=handle_file(sample_paths["cat"]), style=None,
                                                          **{**options, "style_weight": 1e6}, api_name="/optimize_style")
    message = app_error(client, content=handle_file(sample_paths["cat"]), style=handle_file(sample_paths["hubble"]),
                        **{**options, "content_weight": 0.0}, api_name="/optimize_style")
    assert "every loss weight is 0" in message


def test_without_vgg_the_mode_says_where_to_put_which_file(tmp_path, monkeypatch):
    from ganstudio.registry import Registry
    from ganstudio.ui.optimize_style import vgg_note

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    note = vgg_note(Registry(user_dir=tmp_path / "user"))
    assert "No VGG-19 weights here" in note
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth") in note
    assert str(tmp_path / "user" / "vgg19") in note and "vgg_normalised.pth" in note
