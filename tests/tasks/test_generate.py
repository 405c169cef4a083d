"""generate and interpolate: seeds reproduce images, labels pick classes, bounds are explained."""

from __future__ import annotations

import numpy as np
import pytest
from support import save_tiny_checkpoint

from ganstudio.errors import GanStudioError, WrongTaskError
from ganstudio.tasks.generate import generate
from ganstudio.tasks.interpolate import interpolate


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


# -- StyleGAN: the style pipeline ----------------------------------------------------------------------------------


def test_a_stylegan_seed_gives_the_same_image_alone_and_in_a_batch(sg2):
    batch = generate(sg2, seed=20, num_images=3)
    alone = generate(sg2, seed=22)
    assert batch.seeds == [20, 21, 22]
    assert np.abs(_pixels(batch.images[2]) - _pixels(alone.images[0])).max() <= 1
    assert not np.array_equal(_pixels(batch.images[0]), _pixels(batch.images[1]))
    assert batch.images[0].size == (32, 32)


def test_psi_zero_gives_every_seed_the_average_image(sg2):
    average = generate(sg2, seed=1, num_images=3, truncation_psi=0.0).images
    assert all(np.array_equal(_pixels(image), _pixels(average[0])) for image in average)
    assert not np.array_equal(_pixels(generate(sg2, seed=1).images[0]), _pixels(average[0]))


def test_truncation_cutoff_leaves_the_later_ws_alone(sg2):
    ws_count = sg2.info.options["num_ws"]
    plain, full = generate(sg2, seed=4).images[0], generate(sg2, seed=4, truncation_psi=0.5).images[0]
    assert np.array_equal(_pixels(generate(sg2, seed=4, truncation_psi=0.5, truncation_cutoff=ws_count).images[0]),
                          _pixels(full))
    partial = _pixels(generate(sg2, seed=4, truncation_psi=0.5, truncation_cutoff=2).images[0])
    assert not np.array_equal(partial, _pixels(full)) and not np.array_equal(partial, _pixels(plain))
    with pytest.raises(GanStudioError, match="cutoff must be 1 to"):
        generate(sg2, seed=4, truncation_psi=0.5, truncation_cutoff=ws_count + 1)


def test_noise_modes_stored_is_repeatable_fresh_is_not_and_none_differs(sg2):
    const = [_pixels(generate(sg2, seed=2, noise_mode="const").images[0]) for _ in range(2)]
    fresh = [_pixels(generate(sg2, seed=2, noise_mode="random").images[0]) for _ in range(2)]
    none = _pixels(generate(sg2, seed=2, noise_mode="none").images[0])
    assert np.array_equal(const[0], const[1]) and not np.array_equal(fresh[0], fresh[1])
    assert not np.array_equal(none, const[0])
    with pytest.raises(GanStudioError, match="noise mode"):
        generate(sg2, seed=2, noise_mode="loud")


def test_a_class_conditional_stylegan_needs_a_class_and_uses_it(sg2_classes):
    with pytest.raises(GanStudioError, match="choose a label"):
        generate(sg2_classes, seed=3)
    images = [_pixels(generate(sg2_classes, seed=3, label=c).images[0]) for c in (0, 1, 2)]
    assert not np.array_equal(images[0], images[1]) and not np.array_equal(images[1], images[2])
    assert np.array_equal(images[1], _pixels(generate(sg2_classes, seed=3, label="1").images[0]))


def test_translate_and_rotate_move_a_stylegan3_image_and_are_refused_elsewhere(sg2, sg3):
    still = _pixels(generate(sg3, seed=5).images[0])
    assert np.array_equal(_pixels(generate(sg3, seed=5, translate=(0.0, 0.0), rotate=0.0).images[0]), still)
    assert not np.array_equal(_pixels(generate(sg3, seed=5, translate=(0.2, 0.0)).images[0]), still)
    assert not np.array_equal(_pixels(generate(sg3, seed=5, rotate=30.0).images[0]), still)
    assert sg3.info.options["noise_modes"] == []  # no noise inputs: every mode is the same image
    assert np.array_equal(_pixels(generate(sg3, seed=5, noise_mode="random").images[0]), still)
    with pytest.raises(WrongTaskError, match="input transform"):
        generate(sg2, seed=5, rotate=30.0)


def test_a_rosinality_train_py_file_truncates_towards_the_seeds_own_mean(rosinality):
    assert rosinality.info.options["truncation_mean"] == 4096
    plain = _pixels(generate(rosinality, seed=6).images[0])
    truncated = generate(rosinality, seed=6, num_images=2, truncation_psi=0.5).images
    assert not np.array_equal(_pixels(truncated[0]), plain)
    assert np.abs(_pixels(truncated[1]) - _pixels(generate(rosinality, seed=7, truncation_psi=0.5).images[0])).max() <= 1


def test_dcgan_and_stylegan_options_do_not_cross(dcgan, sg2):
    with pytest.raises(WrongTaskError, match="no mapping network"):
        generate(dcgan, seed=1, truncation_psi=0.7)
    with pytest.raises(WrongTaskError, match="no mapping network"):
        generate(dcgan, seed=1, noise_mode="none")
    with pytest.raises(WrongTaskError, match="truncation_psi"):
        generate(sg2, seed=1, truncation=1.5)
    with pytest.raises(GanStudioError, match="truncation psi must be between"):
        generate(sg2, seed=1, truncation_psi=5.0)


@pytest.mark.parametrize("space, mode", [("z", "slerp"), ("w", "lerp"), ("w", "slerp")])
def test_stylegan_walks_end_at_the_generated_images(sg2, space, mode):
    result = interpolate(sg2, seeds=(3, 9), steps=4, mode=mode, space=space, truncation_psi=0.7)
    assert result.space == space and len(result.frames) == 4
    for frame, seed in ((result.frames[0], 3), (result.frames[-1], 9)):
        assert np.abs(_pixels(frame) - _pixels(generate(sg2, seed=seed, truncation_psi=0.7).images[0])).max() <= 1


def test_w_and_z_walks_take_different_paths_and_w_needs_a_mapping(sg2, dcgan):
    in_z = interpolate(sg2, seeds=(3, 9), steps=3, mode="lerp", space="z").frames[1]
    in_w = interpolate(sg2, seeds=(3, 9), steps=3, mode="lerp", space="w").frames[1]
    assert not np.array_equal(_pixels(in_z), _pixels(in_w))
    with pytest.raises(WrongTaskError, match="walks in z only"):
        interpolate(dcgan, seeds=(1, 2), steps=3, space="w")


def test_a_train_py_walk_moves_between_the_two_seeds_means(rosinality):
    result = interpolate(rosinality, seeds=(1, 2), steps=3, mode="lerp", truncation_psi=0.5)
    for frame, seed in ((result.frames[0], 1), (result.frames[-1], 2)):
        assert np.abs(_pixels(frame) - _pixels(generate(rosinality, seed=seed, truncation_psi=0.5).images[0])).max() <= 1


def test_an_onnx_export_gives_the_same_images_with_every_option(style_registry, sg2, sg3):
    from ganstudio.serving import load_model

    cases = ((sg2, {"truncation_psi": 0.6, "truncation_cutoff": 4, "noise_mode": "none"}),
             (sg3, {"truncation_psi": 0.8, "translate": (0.1, -0.2), "rotate": 20.0}))
    for torch_model, options in cases:
        onnx_model = load_model(style_registry, torch_model.entry, backend="onnx")
        assert onnx_model.backend == "onnx" and onnx_model.info.options == torch_model.info.options
        for first, second in zip(generate(onnx_model, seed=5, num_images=2, **options).images,
                                 generate(torch_model, seed=5, num_images=2, **options).images, strict=True):
            assert np.abs(_pixels(first) - _pixels(second)).max() <= 1
    onnx_sg2 = load_model(style_registry, sg2.entry, backend="onnx")
    fresh = [_pixels(generate(onnx_sg2, seed=5, noise_mode="random").images[0]) for _ in range(2)]
    assert not np.array_equal(*fresh)  # the exported graph draws its own noise
