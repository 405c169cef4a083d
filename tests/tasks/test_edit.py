"""edit_attributes (StarGAN v1) and edit_domain / domain_grid (StarGAN v2)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from support import save_tiny_checkpoint

from ganstudio.errors import GanStudioError, WrongTaskError
from ganstudio.tasks.edit import (
    attribute_vector,
    domain_grid,
    edit_attributes,
    edit_domain,
)


@pytest.fixture
def stargan(registry, tmp_path):
    return registry.load(str(save_tiny_checkpoint("stargan", tmp_path / "200000-G.ckpt", conv_dim=8, c_dim=5, repeat_num=2)))


@pytest.fixture
def stargan_v2(registry, tmp_path):
    from ganstudio.models import stargan_v2

    fields = {f.name for f in dataclasses.fields(stargan_v2.Config)}
    overrides = {"img_size": 32, "style_dim": 8, "latent_dim": 4, "num_domains": 3, "max_conv_dim": 16}
    if "dim_in" in fields:
        overrides["dim_in"] = 8
    torch.manual_seed(0)
    nets = stargan_v2.build(dataclasses.replace(stargan_v2.Config(), **overrides))
    state = {name: getattr(nets, name).state_dict() for name in ("generator", "mapping_network", "style_encoder")}
    torch.save(state, tmp_path / "100000_nets_ema.ckpt")
    return registry.load(str(tmp_path / "100000_nets_ema.ckpt"))


def test_celeba_attribute_names_and_indices_build_the_same_vector(stargan):
    assert stargan.labels == ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
    by_name = attribute_vector(stargan, {"Blond_Hair": 1, "Male": 1})
    by_index = attribute_vector(stargan, {1: 1, "3": 1})
    assert by_name.tolist() == by_index.tolist() == [[0, 1, 0, 1, 0]]


def test_unknown_attribute_lists_the_model_attributes(stargan):
    with pytest.raises(GanStudioError, match="Black_Hair, Blond_Hair"):
        attribute_vector(stargan, {"Bald": 1})
    with pytest.raises(GanStudioError, match="out of range"):
        attribute_vector(stargan, {7: 1})


def test_different_targets_give_different_edits_at_the_input_size(stargan, chelsea):
    blond = edit_attributes(stargan, chelsea, attributes={"Blond_Hair": 1})
    black = edit_attributes(stargan, chelsea, attributes={"Black_Hair": 1})
    assert blond.size == chelsea.size
    assert not np.array_equal(np.asarray(blond), np.asarray(black))


def test_stargan_v1_model_is_refused_for_domain_editing(stargan, chelsea):
    with pytest.raises(WrongTaskError, match="needs a model that edits by domains"):
        edit_domain(stargan, chelsea, domain=0, seed=1).image


def test_latent_guided_edit_is_reproducible_by_seed(stargan_v2, chelsea):
    first = np.asarray(edit_domain(stargan_v2, chelsea, domain=1, seed=4).image)
    assert np.array_equal(first, np.asarray(edit_domain(stargan_v2, chelsea, domain=1, seed=4).image))
    assert not np.array_equal(first, np.asarray(edit_domain(stargan_v2, chelsea, domain=1, seed=5).image))


def test_reference_guided_edit_uses_the_reference(stargan_v2, chelsea):
    from PIL import Image
    from skimage import data

    coffee = Image.fromarray(data.coffee())
    with_coffee = np.asarray(edit_domain(stargan_v2, chelsea, domain="domain2", reference=coffee).image)
    with_cat = np.asarray(edit_domain(stargan_v2, chelsea, domain=2, reference=chelsea).image)
    assert with_coffee.shape == (300, 451, 3)
    assert not np.array_equal(with_coffee, with_cat)


def test_domain_grid_has_one_image_per_domain(stargan_v2, chelsea):
    assert len(domain_grid(stargan_v2, chelsea, seed=3)) == 3
    with pytest.raises(GanStudioError, match="domain0, domain1, domain2"):
        edit_domain(stargan_v2, chelsea, domain="zebra", seed=1).image


def test_a_latent_guided_edit_returns_the_seed_it_drew(stargan_v2, chelsea):
    drawn = edit_domain(stargan_v2, chelsea, domain=1)
    assert drawn.seed is not None
    again = edit_domain(stargan_v2, chelsea, domain=1, seed=drawn.seed)
    assert again.seed == drawn.seed and np.array_equal(np.asarray(again.image), np.asarray(drawn.image))
    assert edit_domain(stargan_v2, chelsea, domain=1, reference=chelsea).seed is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e30])
def test_attribute_values_are_finite_and_bounded(stargan, chelsea, value):
    with pytest.raises(GanStudioError, match="must be a number from -10 to 10"):
        edit_attributes(stargan, chelsea, attributes={0: value})
