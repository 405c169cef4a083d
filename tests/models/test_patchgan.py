"""PatchGAN discriminators: output shapes, config inference round trips, key normalisation (no official fixture)."""

from __future__ import annotations

import pytest
import torch

from ganstudio.checkpoints import flatten_state_dict, read_checkpoint
from ganstudio.errors import CheckpointError
from ganstudio.models import cyclegan_resnet, pix2pix_unet
from ganstudio.models import patchgan as arch
from ganstudio.registry import load_network


def load_like_registry(state_dict):
    """The registry's sequence: normalize_keys -> infer_config -> build -> strict load -> eval."""
    return load_network(arch, state_dict)


def tiny_state_dict(config, seed=0):
    torch.manual_seed(seed)
    model = arch.build(config)
    for key, tensor in model.state_dict().items():
        if key.endswith("running_var"):
            tensor.copy_(torch.rand_like(tensor) + 0.5)
        elif tensor.is_floating_point():
            tensor.copy_(torch.randn_like(tensor) * 0.1)
    return model.state_dict()


def test_basic_discriminator_gives_30x30_logits_for_256_input():
    config = arch.Config(input_nc=6, ndf=4, n_layers=3, norm="batch")
    model, _ = load_like_registry(tiny_state_dict(config))
    with torch.no_grad():
        output = model(arch.example_inputs(config, size=256)["input"])
    assert output.shape == (1, 1, 30, 30)


def test_pixel_discriminator_keeps_the_input_size():
    config = arch.Config(ndf=4, netD="pixel", norm="batch")
    model, _ = load_like_registry(tiny_state_dict(config))
    with torch.no_grad():
        output = model(arch.example_inputs(config, batch=2, size=20)["input"])
    assert output.shape == (2, 1, 20, 20)


@pytest.mark.parametrize(
    "config",
    [
        arch.Config(ndf=4),
        arch.Config(input_nc=6, ndf=4, norm="batch"),
        arch.Config(ndf=4, n_layers=1, norm="none"),
        arch.Config(ndf=4, n_layers=2, norm="instance"),
        arch.Config(ndf=2, n_layers=5, norm="batch"),
        arch.Config(input_nc=6, ndf=4, netD="pixel", norm="batch"),
        arch.Config(ndf=4, netD="pixel", norm="instance"),
        arch.Config(ndf=4, netD="pixel", norm="none"),
    ],
    ids=str,
)
def test_tiny_config_round_trips_through_its_state_dict(config):
    model, inferred = load_like_registry(tiny_state_dict(config))
    assert inferred == config
    with torch.no_grad():
        output = model(arch.example_inputs(config, size=128)["input"])
    # n_layers stride-2 convs halve the side, the two stride-1 4x4 convs (padding 1) take 1 each.
    side = 128 if config.netD == "pixel" else 128 // 2**config.n_layers - 2
    assert output.shape == (1, 1, side, side)


def test_normalize_keys_strips_module_prefix_and_is_idempotent():
    state_dict = tiny_state_dict(arch.Config(ndf=4, norm="batch"))
    wrapped = {f"module.{key}": value for key, value in state_dict.items()}
    once = arch.normalize_keys(wrapped)
    assert set(once) == set(state_dict)
    twice = arch.normalize_keys(once)
    assert set(twice) == set(once) and all(twice[key] is once[key] for key in once)


def test_normalize_keys_drops_stale_instance_norm_stats_but_keeps_batch_norm_stats():
    config = arch.Config(ndf=4, norm="instance")
    stale = dict(tiny_state_dict(config))
    for layer in ("model.3", "model.6", "model.9"):
        stale[f"{layer}.running_mean"] = torch.zeros(1)
        stale[f"{layer}.running_var"] = torch.ones(1)
    assert set(arch.normalize_keys(stale)) == set(arch.build(config).state_dict())

    batch = tiny_state_dict(arch.Config(ndf=4, norm="batch"))
    assert set(arch.normalize_keys(batch)) == set(batch)


def test_normalize_keys_completes_batch_norm_files_from_before_pytorch_0_4():
    config = arch.Config(ndf=4, norm="batch")
    old = {k: v for k, v in tiny_state_dict(config).items() if not k.endswith("num_batches_tracked")}
    _, inferred = load_like_registry(old)
    assert inferred == config


def test_matches_own_keys_and_not_other_architectures(conformance_dir):
    assert arch.matches(tiny_state_dict(arch.Config(ndf=4)))
    assert arch.matches(tiny_state_dict(arch.Config(ndf=4, netD="pixel", norm="batch")))
    for folder, name in [("cyclegan_resnet9", "latest_net_G.pth"), ("pix2pix_unet256", "latest_net_G.pth"),
                         ("dcgan64", "netG_epoch_24.pth"), ("fast_style", "mosaic.pth")]:
        keys = arch.normalize_keys(flatten_state_dict(read_checkpoint(conformance_dir / folder / name)))
        assert not arch.matches(keys), folder
    assert not arch.matches(cyclegan_resnet.build(cyclegan_resnet.Config(ngf=4, n_blocks=0)).state_dict())
    assert not arch.matches(pix2pix_unet.build(pix2pix_unet.Config(ngf=2, num_downs=5)).state_dict())


def test_generators_do_not_take_discriminator_keys():
    keys = tiny_state_dict(arch.Config(ndf=4, norm="batch"))
    assert not cyclegan_resnet.matches(keys)
    assert not pix2pix_unet.matches(keys)


def test_another_architecture_is_refused_with_checkpoint_error(conformance_dir):
    keys = flatten_state_dict(read_checkpoint(conformance_dir / "cyclegan_resnet9" / "latest_net_G.pth"))
    with pytest.raises(CheckpointError, match="not a PatchGAN discriminator"):
        arch.infer_config(arch.normalize_keys(keys))


def test_changed_shape_is_refused_with_checkpoint_error():
    state_dict = dict(tiny_state_dict(arch.Config(ndf=4)))
    state_dict["model.5.weight"] = torch.zeros(16, 8, 3, 3)
    with pytest.raises(CheckpointError, match="model.5.weight"):
        load_like_registry(state_dict)
