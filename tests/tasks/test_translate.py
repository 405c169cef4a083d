"""translate: sizes, directions, and no resampling when the size is already valid."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from support import save_tiny_checkpoint

from ganstudio import images
from ganstudio.errors import GanStudioError
from ganstudio.tasks.translate import directions, translate


@pytest.fixture
def pair(registry, tmp_path):
    folder = tmp_path / "horse2zebra"
    save_tiny_checkpoint("cyclegan_resnet", folder / "latest_net_G_A.pth", ngf=4, n_blocks=2, seed=1)
    save_tiny_checkpoint("cyclegan_resnet", folder / "latest_net_G_B.pth", ngf=4, n_blocks=2, seed=2)
    return registry.load(str(folder))


def test_a_folder_with_both_generators_translates_both_ways(pair, chelsea):
    assert directions(pair) == ["AtoB", "BtoA"]
    forward = translate(pair, chelsea, direction="AtoB")
    backward = translate(pair, chelsea, direction="BtoA")
    assert not np.array_equal(np.asarray(forward), np.asarray(backward))


def test_the_result_has_the_input_size_even_when_it_was_resampled(pair, chelsea):
    assert chelsea.size == (451, 300)
    assert translate(pair, chelsea).size == (451, 300)


def test_a_valid_size_goes_through_without_resampling(pair, chelsea):
    crop = chelsea.crop((0, 0, 256, 200))
    expected = images.array_to_image(pair.network("G_A")(images.image_to_array(crop)), (-1, 1), "truncate")
    assert np.array_equal(np.asarray(translate(pair, crop)), np.asarray(expected))


def test_max_side_caps_the_processing_size_but_not_the_result(pair, chelsea):
    assert translate(pair, chelsea, max_side=64).size == chelsea.size


def test_one_generator_has_no_reverse_direction(registry, tmp_path, chelsea):
    model = registry.load(str(save_tiny_checkpoint("pix2pix_unet", tmp_path / "latest_net_G.pth", ngf=4, num_downs=5)))
    assert directions(model) == ["AtoB"]
    with pytest.raises(GanStudioError, match="translates only AtoB"):
        translate(model, chelsea, direction="BtoA")


def test_unet_input_is_resized_to_a_multiple_of_its_depth(registry, tmp_path):
    model = registry.load(str(save_tiny_checkpoint("pix2pix_unet", tmp_path / "latest_net_G.pth", ngf=4, num_downs=5)))
    assert model.preprocessing["size_multiple"] == 32
    assert translate(model, Image.new("RGB", (50, 70), "white")).size == (50, 70)
