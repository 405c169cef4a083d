"""Generate tab through its API: seeds per image, labels, crisp previews with original downloads, readable errors."""

from __future__ import annotations

from PIL import Image

from ui.results import app_error, assert_not_blank, gallery_images, open_result


def test_each_image_comes_with_its_seed_and_a_full_resolution_download(client):
    gallery, originals, info, *_ = client.predict("tiny-dcgan", 5, 3, None, 0.0, api_name="/generate")
    shown = gallery_images(gallery)
    assert [caption for _, caption in shown] == ["seed 5", "seed 6", "seed 7"]
    assert [p.rsplit("/", 1)[-1] for p in originals] == [f"tiny-dcgan-seed{s}.png" for s in (5, 6, 7)]
    original = open_result(originals[0])
    assert original.size == (32, 32)
    assert shown[0][0].size == (256, 256)  # enlarged for display, nearest neighbour
    assert shown[0][0].tobytes() == original.resize((256, 256), Image.NEAREST).tobytes()
    assert_not_blank(original)
    assert "tiny-dcgan" in info and "CPU" in info


def test_the_same_seed_gives_the_same_image(client):
    first = client.predict("tiny-dcgan", 123, 1, None, 0.0, api_name="/generate")[1][0]
    again = client.predict("tiny-dcgan", 123, 1, None, 0.0, api_name="/generate")[1][0]
    assert open_result(first).tobytes() == open_result(again).tobytes()


def test_conditional_model_draws_the_chosen_class(client):
    zero = client.predict("tiny-cgan", 9, 1, "0", 0.0, api_name="/generate")[1][0]
    two = client.predict("tiny-cgan", 9, 1, "2", 1.5, api_name="/generate")[1][0]
    assert open_result(zero).tobytes() != open_result(two).tobytes()
    message = app_error(client, model_name="tiny-cgan", seed=9, num_images=1, label=None, truncation=0.0, api_name="/generate")
    assert "choose a label (0, 1, 2)" in message


def test_a_model_of_another_tab_is_refused_with_where_it_belongs(client):
    message = app_error(client, model_name="tiny-stargan", seed=1, num_images=1, label=None, truncation=0.0,
                        api_name="/generate")
    assert "does edit, not generate" in message and "StarGAN tab" in message


def test_an_unknown_model_lists_the_known_ones_and_no_path_is_opened(client):
    message = app_error(client, model_name="/etc/passwd", seed=1, num_images=1, label=None, truncation=0.0,
                        api_name="/generate")
    assert "not in the registry" in message and "tiny-dcgan" in message


def test_dice_gives_a_fresh_seed_in_range(client):
    seeds = {client.predict(api_name="/random_seed") for _ in range(3)}
    assert all(0 <= seed < 2**31 for seed in seeds) and len(seeds) > 1
