"""generate and interpolate: seeds reproduce images, labels pick classes, bounds are explained."""

from __future__ import annotations

import numpy as np
import pytest
from support import save_tiny_checkpoint

from ganstudio.errors import GanStudioError, WrongTaskError
from ganstudio.tasks.generate import generate
from ganstudio.tasks.interpolate import interpolate


@pytest.fixture
def dcgan(registry, tiny_dcgan):
    return registry.load(str(tiny_dcgan))


@pytest.fixture
def cgan(registry, tmp_path):
    return registry.load(str(save_tiny_checkpoint("cgan", tmp_path / "cgan.pth", nz=8, ngf=4, num_classes=3, embed_dim=4)))


def _pixels(image):
    return np.asarray(image, dtype=np.int16)


def test_each_image_is_reproduced_by_its_own_seed(dcgan):
    batch = generate(dcgan, seed=100, num_images=4)
    assert batch.seeds == [100, 101, 102, 103]
    again = generate(dcgan, seed=102)
    assert np.array_equal(_pixels(batch.images[2]), _pixels(again.images[0]))
    assert not np.array_equal(_pixels(batch.images[0]), _pixels(batch.images[1]))


def test_without_a_seed_a_random_one_is_chosen_and_returned(dcgan):
    result = generate(dcgan, num_images=2)
    assert len(result.seeds) == 2 and result.seeds[1] == result.seeds[0] + 1
    assert np.array_equal(_pixels(generate(dcgan, seed=result.seeds[0]).images[0]), _pixels(result.images[0]))


def test_image_size_and_mode_follow_the_generator(dcgan):
    image = generate(dcgan, seed=0).images[0]
    assert image.size == (64, 64) and image.mode == "RGB"


def test_count_out_of_range_is_refused(dcgan):
    with pytest.raises(GanStudioError, match="1 to 64"):
        generate(dcgan, num_images=0)


def test_conditional_model_needs_a_label_and_uses_it(cgan):
    with pytest.raises(GanStudioError, match="choose a label"):
        generate(cgan, seed=1)
    first = generate(cgan, seed=1, label=0)
    by_name = generate(cgan, seed=1, label="0")
    other = generate(cgan, seed=1, label=2)
    assert first.label == 0 and other.label == 2
    assert np.array_equal(_pixels(first.images[0]), _pixels(by_name.images[0]))
    assert not np.array_equal(_pixels(first.images[0]), _pixels(other.images[0]))
    with pytest.raises(GanStudioError, match="out of range"):
        generate(cgan, seed=1, label=3)


def test_unconditional_model_refuses_a_label(dcgan):
    with pytest.raises(WrongTaskError, match="unconditional"):
        generate(dcgan, seed=1, label=3)


def test_truncation_changes_the_latent_and_is_reproducible(dcgan):
    plain = generate(dcgan, seed=5).images[0]
    truncated = generate(dcgan, seed=5, truncation=0.5).images[0]
    assert not np.array_equal(_pixels(plain), _pixels(truncated))
    assert np.array_equal(_pixels(truncated), _pixels(generate(dcgan, seed=5, truncation=0.5).images[0]))


@pytest.mark.parametrize("mode", ["lerp", "slerp"])
def test_interpolation_ends_are_the_generated_images_of_the_two_seeds(dcgan, mode):
    result = interpolate(dcgan, seeds=(3, 9), steps=5, mode=mode)
    assert len(result.frames) == 5
    assert np.abs(_pixels(result.frames[0]) - _pixels(generate(dcgan, seed=3).images[0])).max() <= 1
    assert np.abs(_pixels(result.frames[-1]) - _pixels(generate(dcgan, seed=9).images[0])).max() <= 1


def test_interpolation_bounds_are_explained(dcgan):
    with pytest.raises(GanStudioError, match="steps must be"):
        interpolate(dcgan, seeds=(1, 2), steps=1)
    with pytest.raises(GanStudioError, match="lerp"):
        interpolate(dcgan, seeds=(1, 2), steps=3, mode="cubic")


# -- latent codes (InfoGAN) ----------------------------------------------------------------------

@pytest.fixture
def infogan_model(registry, tmp_path):
    import torch

    path = save_tiny_checkpoint("infogan", tmp_path / "netG.pth", nz=6, fc_dim=16, ngf=4, base=8)
    state = torch.load(path, weights_only=True)
    state["tconv4.weight"] *= 200  # untrained, every output sits near grey: spread it so that images differ
    torch.save(state, path)
    return registry.load(str(path))


def test_codes_come_from_the_seed_and_are_returned(infogan_model):
    result = generate(infogan_model, seed=7, num_images=3)
    assert [set(codes) for codes in result.codes] == [{"cat", "c1", "c2"}] * 3
    assert all(0 <= codes["cat"] <= 9 and -1 <= codes["c1"] <= 1 for codes in result.codes)
    assert generate(infogan_model, seed=8).codes[0] == result.codes[1]


def test_a_code_given_keeps_the_seeds_noise_and_the_other_codes(infogan_model):
    drawn = generate(infogan_model, seed=3).codes[0]
    same = generate(infogan_model, seed=3, codes={"cat": drawn["cat"]})
    assert np.array_equal(_pixels(same.images[0]), _pixels(generate(infogan_model, seed=3).images[0]))
    other = generate(infogan_model, seed=3, codes={"cat": (drawn["cat"] + 1) % 10, "c1": 1.5})
    assert other.codes[0] == {**drawn, "cat": (drawn["cat"] + 1) % 10, "c1": 1.5}
    assert not np.array_equal(_pixels(other.images[0]), _pixels(same.images[0]))


def test_fixed_codes_apply_to_every_image_and_the_seeds_still_vary_the_noise(infogan_model):
    result = generate(infogan_model, seed=0, num_images=2, codes={"cat": 4.0, "c1": -0.5, "c2": 0.25})
    assert result.codes == [{"cat": 4, "c1": -0.5, "c2": 0.25}] * 2
    assert not np.array_equal(_pixels(result.images[0]), _pixels(result.images[1]))


@pytest.mark.parametrize("codes, message", [
    ({"hue": 1}, "no code 'hue'. Its codes: cat \\(0..9\\), c1 \\(-1..1\\), c2"),
    ({"cat": 10}, "whole number from 0 to 9"),
    ({"cat": 2.5}, "whole number from 0 to 9"),
    ({"c1": 2.5}, "between -2 and 2"),
    ({"c2": float("nan")}, "must be a number"),
    ({"c1": "big"}, "must be a number"),
])
def test_bad_codes_are_explained(infogan_model, codes, message):
    with pytest.raises(GanStudioError, match=message):
        generate(infogan_model, seed=0, codes=codes)


def test_codes_for_a_model_without_them_are_refused(dcgan):
    with pytest.raises(WrongTaskError, match="no latent codes"):
        generate(dcgan, seed=0, codes={"cat": 1})


def test_interpolation_carries_the_codes_and_ends_on_each_seeds_image(infogan_model):
    frames = interpolate(infogan_model, seeds=(1, 2), steps=4, mode="lerp").frames
    assert np.array_equal(_pixels(frames[0]), _pixels(generate(infogan_model, seed=1).images[0]))
    assert np.array_equal(_pixels(frames[-1]), _pixels(generate(infogan_model, seed=2).images[0]))
    held = interpolate(infogan_model, seeds=(1, 2), steps=3, codes={"cat": 0}).frames
    assert np.array_equal(_pixels(held[0]), _pixels(generate(infogan_model, seed=1, codes={"cat": 0}).images[0]))
