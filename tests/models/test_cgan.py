"""Class-conditional DCGAN (our own): config round trips, conditioning, key handling, discriminator."""

from __future__ import annotations

import pytest
import torch

from ganstudio.checkpoints import (
    flatten_state_dict,
    load_state_dict_strictly,
    read_checkpoint,
)
from ganstudio.errors import CheckpointError
from ganstudio.models import cgan as arch
from ganstudio.models import dcgan
from ganstudio.registry import load_network

TINY_CONFIGS = [
    arch.Config(nz=8, ngf=4, nc=1, num_classes=10, embed_dim=10, n_layers=4),  # 32x32 digits
    arch.Config(nz=6, ngf=2, nc=3, num_classes=5, embed_dim=3, n_layers=5),  # 64x64 RGB
    arch.Config(nz=4, ngf=4, nc=1, num_classes=2, embed_dim=16, n_layers=3),  # embed_dim > nz
]


def load_like_registry(state_dict):
    """The registry's sequence: normalize_keys -> infer_config -> build -> strict load -> eval."""
    return load_network(arch, state_dict)


def tiny_state_dict(config, seed=0):
    torch.manual_seed(seed)
    model = arch.build(config)
    model.apply(dcgan.weights_init)
    return model.state_dict()


@pytest.mark.parametrize("config", TINY_CONFIGS, ids=["32x32", "64x64", "wide-embedding"])
def test_tiny_config_round_trips_through_its_state_dict(config):
    model, inferred = load_like_registry(tiny_state_dict(config))
    assert inferred == config
    side = arch.output_size(config)
    labels = torch.arange(3) % config.num_classes
    with torch.no_grad():
        output = model(torch.randn(3, config.nz, 1, 1), labels)
    assert output.shape == (3, config.nc, side, side)
    assert output.abs().max() <= 1.0


def test_default_config_makes_32x32_grey_digits():
    config = arch.Config()
    assert arch.output_size(config) == arch.describe(config).preprocessing["fixed_size"] == 32
    assert arch.describe(arch.Config(n_layers=5)).preprocessing["fixed_size"] == 64
    assert (config.nc, config.num_classes) == (1, 10)


def test_different_labels_give_different_images_for_the_same_z():
    config = TINY_CONFIGS[0]
    model, _ = load_like_registry(tiny_state_dict(config, seed=1))
    torch.manual_seed(2)
    z = torch.randn(1, config.nz, 1, 1).expand(config.num_classes, -1, -1, -1)
    with torch.no_grad():
        images = model(z, torch.arange(config.num_classes))
    # The official init with untouched running statistics gives faint images: compare with their scale.
    scale = images.abs().max()
    assert scale > 0
    for i in range(1, config.num_classes):
        assert (images[i] - images[0]).abs().max() > 0.05 * scale


def test_same_label_and_z_give_the_same_image_whatever_the_batch():
    config = TINY_CONFIGS[0]
    model, _ = load_like_registry(tiny_state_dict(config, seed=1))
    torch.manual_seed(3)
    z = torch.randn(4, config.nz)
    labels = torch.tensor([7, 1, 7, 3])
    with torch.no_grad():
        batch = model(z, labels)
        torch.testing.assert_close(batch[2:3], model(z[2:3], labels[2:3]))
        torch.testing.assert_close(batch, model(z[:, :, None, None], labels))


def test_example_inputs_run_through_the_generator():
    config = TINY_CONFIGS[1]
    inputs = arch.example_inputs(config, batch=2)
    assert list(inputs) == ["z", "labels"]
    assert inputs["labels"].dtype == torch.int64
    with torch.no_grad():
        assert arch.build(config).eval()(*inputs.values()).shape == (2, 3, 64, 64)


def test_normalize_keys_strips_module_prefix_and_is_idempotent():
    state_dict = tiny_state_dict(TINY_CONFIGS[0])
    normalized = arch.normalize_keys({f"module.{key}": value for key, value in state_dict.items()})
    assert list(normalized) == list(state_dict)
    assert arch.normalize_keys(normalized) == normalized


def test_matches_tells_conditional_from_unconditional_dcgan():
    conditional = tiny_state_dict(TINY_CONFIGS[0])
    unconditional = dcgan.build(dcgan.Config(nz=8, ngf=4, nc=1, n_layers=4)).state_dict()
    assert arch.matches(conditional)
    assert not dcgan.matches(conditional)
    assert not arch.matches(unconditional)
    assert dcgan.matches(unconditional)


def test_matches_rejects_other_architectures(conformance_dir):
    stargan = flatten_state_dict(read_checkpoint(conformance_dir / "stargan_v1" / "200000-G.ckpt"))
    assert not arch.matches(stargan)
    discriminator = arch.build_discriminator(TINY_CONFIGS[0], ndf=4).state_dict()
    assert not arch.matches(discriminator)  # has embed.weight, but main is a discriminator trunk


def test_infer_config_rejects_an_unconditional_dcgan():
    unconditional = dcgan.build(dcgan.Config(nz=8, ngf=4, nc=1, n_layers=4)).state_dict()
    with pytest.raises(CheckpointError, match="embed.weight"):
        arch.infer_config(unconditional)


def test_infer_config_rejects_an_embedding_wider_than_the_first_layer_input():
    state_dict = dict(tiny_state_dict(TINY_CONFIGS[0]))
    state_dict["embed.weight"] = torch.zeros(10, 18)  # main.0 takes nz + embed_dim = 18 channels
    with pytest.raises(CheckpointError, match="no room"):
        arch.infer_config(state_dict)


def test_strict_load_rejects_a_changed_shape():
    config = TINY_CONFIGS[0]
    state_dict = dict(tiny_state_dict(config))
    state_dict["main.1.bias"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match="main.1.bias"):
        load_state_dict_strictly(arch.build(config), state_dict, arch=arch.SPEC.arch)


@pytest.mark.parametrize("config", TINY_CONFIGS[:2], ids=["32x32", "64x64"])
def test_projection_discriminator_gives_one_logit_per_image_that_depends_on_the_label(config):
    torch.manual_seed(4)
    generator = arch.build(config).eval()
    discriminator = arch.build_discriminator(config, ndf=4).eval()
    with torch.no_grad():
        images = generator(torch.randn(2, config.nz, 1, 1), torch.tensor([0, 1]))
        logits = discriminator(images, torch.tensor([0, 1]))
        swapped = discriminator(images, torch.tensor([1, 0]))
    assert logits.shape == (2,)
    assert not torch.allclose(logits, swapped)
