"""Translate tab through its API: both CycleGAN directions, sketches, and the bad-input corpus."""

from __future__ import annotations

import pytest
from gradio_client import handle_file

from ganstudio.ui.examples import example
from ui.results import app_error, assert_not_blank, open_result


def test_two_way_cyclegan_translates_each_way_at_the_input_size(client, sample_paths):
    source = open_result(sample_paths["cat"])
    results = {}
    for direction in ("AtoB", "BtoA"):
        before, after, download, info = client.predict("tiny-cyclegan", handle_file(sample_paths["cat"]), direction,
                                                       api_name="/translate")
        results[direction] = open_result(download)
        assert results[direction].size == source.size
        assert min(open_result(before).size) >= 256  # small inputs are shown enlarged
        assert_not_blank(results[direction])
        assert direction in info
    assert results["AtoB"].tobytes() != results["BtoA"].tobytes()


def test_one_way_model_refuses_the_other_direction(client, sample_paths):
    message = app_error(client, model_name="tiny-sketch2digit", image=handle_file(sample_paths["cat"]),
                        direction="BtoA", api_name="/translate")
    assert "translates only AtoB" in message


def test_sketch_from_the_sketchpad_is_translated(client):
    sketch = {"background": None, "layers": [], "composite": handle_file(example("sketch-7")), "id": None}
    before, after, download, info = client.predict("tiny-sketch2digit", sketch, "AtoB", api_name="/translate_sketch")
    assert open_result(download).size == (256, 256)  # back at the canvas size
    assert_not_blank(open_result(after))


def test_empty_sketchpad_asks_for_a_drawing(client, tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("RGBA", (256, 256), (0, 0, 0, 0)).save(blank)
    sketch = {"background": None, "layers": [], "composite": handle_file(str(blank)), "id": None}
    message = app_error(client, model_name="tiny-sketch2digit", sketch=sketch, direction="AtoB", api_name="/translate_sketch")
    assert "sketchpad is empty" in message


@pytest.mark.parametrize("kind", ["logo_rgba", "camera_16bit"])
def test_transparent_and_16_bit_images_are_converted(client, sample_paths, kind):
    download = client.predict("tiny-cyclegan", handle_file(sample_paths[kind]), "AtoB", api_name="/translate")[2]
    assert_not_blank(open_result(download))


@pytest.mark.parametrize(("kind", "expected"), [
    ("not_an_image", "'notes.png' is not an image this app can read"),
    ("huge", "over the limit of 64 MP"),
])
def test_bad_input_gives_a_readable_message_and_the_app_keeps_serving(client, sample_paths, kind, expected):
    message = app_error(client, model_name="tiny-cyclegan", image=handle_file(sample_paths[kind]), direction="AtoB",
                        api_name="/translate")
    assert expected in message
    download = client.predict("tiny-cyclegan", handle_file(sample_paths["cat"]), "AtoB", api_name="/translate")[2]
    assert_not_blank(open_result(download))


def test_the_emoji_sketch_models_first_example_comes_back_coloured(client, studio_registry):
    # The shipped emoji-sketch2color (weights/), on the first drawing the Translate tab offers it: a held-out
    # OpenMoji line drawing, grey. The result must be colour, not a grey copy: measured by HSV saturation.
    from ganstudio.errors import ModelNotFoundError
    from ganstudio.ui.examples import model_examples

    try:
        entry = studio_registry.get("emoji-sketch2color")
    except ModelNotFoundError:
        pytest.skip("emoji-sketch2color is not in weights/manifest.json")
    drawing = model_examples(entry)[0]
    sketch = {"background": None, "layers": [], "composite": handle_file(drawing), "id": None}
    before, after, download, info = client.predict("emoji-sketch2color", sketch, "AtoB", api_name="/translate_sketch")
    result = open_result(download)
    assert result.size == open_result(drawing).size

    def saturation(picture) -> float:
        import numpy as np

        return float(np.asarray(picture.convert("HSV"))[..., 1].mean() / 255)

    assert saturation(open_result(drawing)) < 0.01
    assert saturation(result) > 0.08
