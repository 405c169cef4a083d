"""Style transfer tab through its API: a style image, the 26 built-in styles, strength, colours and size."""

from __future__ import annotations

from gradio_client import handle_file
from PIL import Image

from ui.results import app_error, assert_not_blank, gallery_images, open_result


def test_arbitrary_style_from_an_image_at_the_output_size(client, sample_paths):
    result, info = client.predict("magenta-arbitrary", handle_file(sample_paths["cat"]), handle_file(sample_paths["hubble"]),
                                  0, 1.0, False, 128, api_name="/stylize")
    picture = open_result(result)
    # the network works within 128 px; the result comes back at the cat's own size (every image-to-image task)
    assert picture.size == Image.open(sample_paths["cat"]).size
    assert_not_blank(picture)
    assert "ONNX Runtime" in info


def test_built_in_styles_differ_and_colours_can_be_kept(client, sample_paths):
    content = handle_file(sample_paths["cat"])
    style_3 = open_result(client.predict("magenta-26-styles", content, None, 3, 1.0, False, 128, api_name="/stylize")[0])
    style_11 = open_result(client.predict("magenta-26-styles", content, None, 11, 1.0, False, 128, api_name="/stylize")[0])
    kept = open_result(client.predict("magenta-26-styles", content, None, 11, 1.0, True, 128, api_name="/stylize")[0])
    assert style_3.tobytes() != style_11.tobytes() != kept.tobytes()


def test_style_gallery_shows_every_built_in_style(client):
    previews = gallery_images(client.predict("magenta-26-styles", api_name="/style_previews"))
    captions = [caption for _, caption in previews]
    assert len(captions) == 26 and captions[0] == "0 · pastel gouache" and captions[16] == "16 · swirling strokes"


def test_arbitrary_model_without_a_style_image_asks_for_one(client, sample_paths):
    message = app_error(client, model_name="magenta-arbitrary", content=handle_file(sample_paths["cat"]), style=None,
                        style_index=0, alpha=1.0, preserve_color=False, max_side=128, api_name="/stylize")
    assert "give a style image" in message
