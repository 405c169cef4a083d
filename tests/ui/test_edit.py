"""StarGAN tab through its API: attribute combinations (v1), reference- and latent-guided domains and the grid (v2)."""

from __future__ import annotations

from gradio_client import handle_file

from ui.results import app_error, assert_not_blank, gallery_images, open_result


def test_attribute_combinations_give_different_edits(client, sample_paths):
    image = handle_file(sample_paths["astronaut"])
    red = client.predict("tiny-stargan", image, ["red"], api_name="/edit_attributes")
    red_slanted = client.predict("tiny-stargan", image, ["red", "slanted"], api_name="/edit_attributes")
    assert open_result(red[2]).tobytes() != open_result(red_slanted[2]).tobytes()
    assert open_result(red[2]).size == open_result(sample_paths["astronaut"]).size
    assert "red, slanted" in red_slanted[3]


def test_domain_from_a_seed_and_from_a_reference(client, sample_paths):
    image, reference = handle_file(sample_paths["cat"]), handle_file(sample_paths["hubble"])
    by_seed = client.predict("tiny-stargan-v2", image, "green", "seed", None, 3, api_name="/edit_domain")
    by_reference = client.predict("tiny-stargan-v2", image, "green", "reference", reference, 3, api_name="/edit_domain")
    assert_not_blank(open_result(by_seed[2]))
    assert open_result(by_seed[2]).tobytes() != open_result(by_reference[2]).tobytes()
    assert "seed 3" in by_seed[3] and "reference image" in by_reference[3]


def test_grid_shows_the_source_in_every_domain(client, sample_paths):
    gallery, info = client.predict("tiny-stargan-v2", handle_file(sample_paths["cat"]), "seed", None, 5,
                                   api_name="/domain_grid")
    assert [caption for _, caption in gallery_images(gallery)] == ["source", "red", "green", "blue"]


def test_reference_guidance_without_a_reference_asks_for_one(client, sample_paths):
    message = app_error(client, model_name="tiny-stargan-v2", image=handle_file(sample_paths["cat"]), domain="red",
                        guidance="reference", reference=None, seed=1, api_name="/edit_domain")
    assert "give a reference image" in message


def test_v1_model_is_refused_for_domains_with_the_reason(client, sample_paths):
    message = app_error(client, model_name="tiny-stargan", image=handle_file(sample_paths["cat"]), domain="red",
                        guidance="seed", reference=None, seed=1, api_name="/edit_domain")
    assert "needs a model that edits by domains" in message


def test_every_example_gives_its_model_a_picture_it_was_made_for():
    from ganstudio.registry import Registry
    from ganstudio.ui.examples import model_examples

    registry = Registry()
    for name in registry.names("edit") + registry.names("translate"):
        entry = registry.get(name)
        examples = model_examples(entry)
        assert examples, f"{name} has no example input"
        photos = [path for path in examples if "digit" not in path and "sketch" not in path]
        digit_model = (registry.info(entry).native_size or 1024) <= 32
        assert not (digit_model and photos), f"{name} is a 32 px digit model given photos {photos}"
