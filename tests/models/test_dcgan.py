"""DCGAN generator: conformance with the official-format fixture (eval and train mode), layouts, key handling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganstudio.checkpoints import (
    flatten_state_dict,
    load_state_dict_strictly,
    read_checkpoint,
)
from ganstudio.errors import CheckpointError
from ganstudio.models import cgan, fast_style
from ganstudio.models import dcgan as arch
from ganstudio.registry import load_network

FOLDER = "dcgan64"

TINY_CONFIGS = [
    arch.Config(nz=8, ngf=4, nc=3, n_layers=5),  # the official 64x64 layout, narrow
    arch.Config(nz=16, ngf=2, nc=1, n_layers=4),  # 32x32 grey (MNIST padded to 32)
    arch.Config(nz=4, ngf=4, nc=3, n_layers=3),  # 16x16
]


def load_like_registry(state_dict):
    """The registry's sequence: normalize_keys -> infer_config -> build -> strict load -> eval."""
    return load_network(arch, state_dict)


def read_fixture(conformance_dir, folder=FOLDER, name="netG_epoch_24.pth"):
    return flatten_state_dict(read_checkpoint(conformance_dir / folder / name))


def tiny_state_dict(config, seed=0):
    torch.manual_seed(seed)
    model = arch.build(config)
    model.apply(arch.weights_init)
    return model.state_dict()


def test_fixture_output_matches_official_eval_output(conformance_dir):
    folder = conformance_dir / FOLDER
    model, _ = load_like_registry(read_fixture(conformance_dir))
    with torch.no_grad():
        output = model(torch.from_numpy(np.load(folder / "input.npy"))).numpy()
    expected = np.load(folder / "expected.npy")
    assert output.shape == expected.shape == (4, 3, 64, 64)
    assert np.abs(output - expected).max() <= 1e-4


def test_fixture_train_mode_matches_official_batch_statistics_output(conformance_dir):
    # The official script only ever samples in train mode: BatchNorm with the statistics of the 4 z's.
    folder = conformance_dir / FOLDER
    model, _ = load_like_registry(read_fixture(conformance_dir))
    model.train()
    with torch.no_grad():
        output = model(torch.from_numpy(np.load(folder / "input.npy"))).numpy()
    assert np.abs(output - np.load(folder / "expected_train.npy")).max() <= 1e-4


def test_infer_config_on_fixture_equals_official_constructor_args(conformance_dir):
    args = json.loads((conformance_dir / FOLDER / "meta.json").read_text())["args"]
    config = arch.infer_config(arch.normalize_keys(read_fixture(conformance_dir)))
    assert config == arch.Config(nz=args["nz"], ngf=args["ngf"], nc=args["nc"], n_layers=5)
    assert arch.output_size(config) == args["imageSize"]


def test_official_64x64_layout_keeps_the_official_key_indices(conformance_dir):
    official_keys = set(read_fixture(conformance_dir))
    assert set(arch.build(arch.Config(ngf=16)).state_dict()) == official_keys
    conv_keys = [f"main.{i}.weight" for i in (0, 3, 6, 9, 12)]
    assert all(key in official_keys for key in conv_keys)


def test_default_config_is_the_official_64x64_rgb_generator():
    config = arch.Config()
    assert (config.nz, config.ngf, config.nc) == (100, 64, 3)
    assert arch.output_size(config) == arch.describe(config).preprocessing["fixed_size"] == 64


@pytest.mark.parametrize("config", TINY_CONFIGS, ids=lambda c: f"nz{c.nz}-ngf{c.ngf}-nc{c.nc}-L{c.n_layers}")
def test_tiny_config_round_trips_through_its_state_dict(config):
    state_dict = tiny_state_dict(config)
    assert arch.matches(arch.normalize_keys(state_dict))
    model, inferred = load_like_registry(state_dict)
    assert inferred == config
    side = arch.output_size(config)
    with torch.no_grad():
        output = model(torch.randn(2, config.nz, 1, 1))
    assert output.shape == (2, config.nc, side, side)
    assert output.abs().max() <= 1.0


def test_four_layers_make_32x32_images():
    config = arch.Config(nz=8, ngf=4, nc=1, n_layers=4)
    model = arch.build(config).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 8, 1, 1)).shape == (1, 1, 32, 32)
    assert arch.output_size(config) == arch.describe(config).preprocessing["fixed_size"] == 32


def test_latent_of_shape_n_nz_gives_the_same_images_as_n_nz_1_1():
    torch.manual_seed(1)
    model = arch.build(TINY_CONFIGS[0]).eval()
    z = torch.randn(3, TINY_CONFIGS[0].nz)
    with torch.no_grad():
        assert torch.equal(model(z), model(z[:, :, None, None]))


def test_eval_samples_do_not_depend_on_the_rest_of_the_batch():
    torch.manual_seed(2)
    model = arch.build(TINY_CONFIGS[1]).eval()
    z = torch.randn(4, TINY_CONFIGS[1].nz, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(z)[:1], model(z[:1]))


def test_example_inputs_run_through_the_generator():
    config = TINY_CONFIGS[1]
    inputs = arch.example_inputs(config, batch=2)
    assert list(inputs) == ["z"]
    with torch.no_grad():
        assert arch.build(config).eval()(*inputs.values()).shape == (2, 1, 32, 32)


def test_normalize_keys_strips_module_prefix_and_is_idempotent():
    state_dict = tiny_state_dict(TINY_CONFIGS[0])
    wrapped = {f"module.{key}": value for key, value in state_dict.items()}
    compiled = {f"_orig_mod.{key}": value for key, value in state_dict.items()}
    normalized = arch.normalize_keys(wrapped)
    assert list(normalized) == list(state_dict)
    assert list(arch.normalize_keys(compiled)) == list(state_dict)
    assert arch.normalize_keys(normalized) == normalized


def test_file_without_num_batches_tracked_loads_like_pytorch_loader_does(conformance_dir):
    # Files written with PyTorch < 0.4 have no num_batches_tracked; torch's loader fills in 0.
    old = {k: v for k, v in read_fixture(conformance_dir).items() if not k.endswith("num_batches_tracked")}
    normalized = arch.normalize_keys(old)
    assert normalized["main.1.num_batches_tracked"].item() == 0
    assert arch.normalize_keys(normalized).keys() == normalized.keys()
    model, _ = load_like_registry(old)
    folder = conformance_dir / FOLDER
    with torch.no_grad():
        output = model(torch.from_numpy(np.load(folder / "input.npy"))).numpy()
    assert np.abs(output - np.load(folder / "expected.npy")).max() <= 1e-4


def test_matches_own_keys_and_not_other_architectures(conformance_dir):
    assert arch.matches(arch.normalize_keys(read_fixture(conformance_dir)))
    # StarGAN's generator also has main.<i> keys with norm statistics at main.1.
    assert not arch.matches(read_fixture(conformance_dir, "stargan_v1", "200000-G.ckpt"))
    assert not arch.matches(read_fixture(conformance_dir, "cyclegan_resnet9", "latest_net_G.pth"))
    assert not arch.matches(fast_style.build(fast_style.Config(channels=4)).state_dict())
    assert not arch.matches(cgan.build(cgan.Config(ngf=4)).state_dict())
    assert not arch.matches(arch.build_discriminator(TINY_CONFIGS[0], ndf=4).state_dict())


def test_infer_config_rejects_another_architecture():
    with pytest.raises(CheckpointError, match="main.0.weight"):
        arch.infer_config(fast_style.build(fast_style.Config(channels=4)).state_dict())


def test_infer_config_rejects_widths_that_do_not_halve():
    state_dict = dict(tiny_state_dict(TINY_CONFIGS[0]))
    state_dict["main.0.weight"] = torch.zeros(8, 20, 4, 4)  # ngf*8 would be 32
    with pytest.raises(CheckpointError, match="output channels"):
        arch.infer_config(state_dict)


def test_strict_load_rejects_a_changed_shape():
    config = TINY_CONFIGS[0]
    state_dict = dict(tiny_state_dict(config))
    state_dict["main.4.weight"] = torch.ones(5)
    with pytest.raises(CheckpointError, match="main.4.weight"):
        load_state_dict_strictly(arch.build(config), state_dict, arch=arch.SPEC.arch)


@pytest.mark.parametrize("config", TINY_CONFIGS[:2], ids=["64x64", "32x32"])
def test_discriminator_scores_generated_images(config):
    torch.manual_seed(3)
    generator = arch.build(config).eval()
    discriminator = arch.build_discriminator(config, ndf=4).eval()
    with torch.no_grad():
        scores = discriminator(generator(torch.randn(3, config.nz, 1, 1)))
    assert scores.shape == (3,)
    assert ((scores > 0) & (scores < 1)).all()


def test_discriminator_state_dict_gives_back_its_ndf():
    discriminator = arch.build_discriminator(arch.Config(), ndf=8)
    state_dict = arch.normalize_keys({f"module.{k}": v for k, v in discriminator.state_dict().items()})
    assert arch.infer_ndf(state_dict) == 8
    # The official netD has the Sigmoid-ended Sequential: conv, LeakyReLU, (conv, BN, LeakyReLU) x 3, conv, Sigmoid.
    assert "main.2.weight" in state_dict and "main.11.weight" in state_dict
    with pytest.raises(CheckpointError):
        arch.infer_ndf({})
