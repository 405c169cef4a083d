"""CycleGAN ResNet generator: conformance with the official-format fixture, config inference, key normalisation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ganstudio.checkpoints import flatten_state_dict, read_checkpoint
from ganstudio.errors import CheckpointError
from ganstudio.models import cyclegan_resnet as arch
from ganstudio.models import patchgan, pix2pix_unet
from ganstudio.registry import load_network

FOLDER = "cyclegan_resnet9"


def load_like_registry(state_dict):
    """The registry's sequence: normalize_keys -> infer_config -> build -> strict load -> eval."""
    return load_network(arch, state_dict)


def read_fixture(conformance_dir, folder=FOLDER, name="latest_net_G.pth"):
    return flatten_state_dict(read_checkpoint(conformance_dir / folder / name))


def tiny_state_dict(config, seed=0):
    torch.manual_seed(seed)
    model = arch.build(config)
    for tensor in model.state_dict().values():
        if tensor.is_floating_point():
            tensor.copy_(torch.randn_like(tensor) * 0.1)
    return model.state_dict()


def test_fixture_output_matches_official_eval_output(conformance_dir):
    folder = conformance_dir / FOLDER
    model, _ = load_like_registry(read_fixture(conformance_dir))
    with torch.no_grad():
        output = model(torch.from_numpy(np.load(folder / "input.npy"))).numpy()
    expected = np.load(folder / "expected.npy")
    assert output.shape == expected.shape
    assert np.abs(output - expected).max() <= 1e-4


def test_fixture_output_is_the_same_in_train_mode(conformance_dir):
    # The official test.py runs train mode unless --eval: InstanceNorm without statistics makes it irrelevant.
    folder = conformance_dir / FOLDER
    model, _ = load_like_registry(read_fixture(conformance_dir))
    model.train()
    with torch.no_grad():
        output = model(torch.from_numpy(np.load(folder / "input.npy"))).numpy()
    assert np.abs(output - np.load(folder / "expected.npy")).max() <= 1e-4


def test_infer_config_on_fixture_equals_official_constructor_args(conformance_dir):
    args = json.loads((conformance_dir / FOLDER / "meta.json").read_text())["args"]
    config = arch.infer_config(arch.normalize_keys(read_fixture(conformance_dir)))
    assert config == arch.Config(
        input_nc=args["input_nc"],
        output_nc=args["output_nc"],
        ngf=args["ngf"],
        n_blocks=args["n_blocks"],
        norm=args["norm"],
        use_dropout=args["use_dropout"],
        padding_type=args["padding_type"],
    )


def test_normalize_keys_drops_the_fixture_stale_instance_norm_stats(conformance_dir):
    raw = read_fixture(conformance_dir)
    normalized = arch.normalize_keys(raw)
    dropped = set(raw) - set(normalized)
    assert len(dropped) == 46
    assert all(key.endswith((".running_mean", ".running_var")) for key in dropped)
    assert set(normalized) == set(arch.build(arch.infer_config(normalized)).state_dict())


@pytest.mark.parametrize(
    "config",
    [
        arch.Config(ngf=4, n_blocks=6),
        arch.Config(ngf=4, n_blocks=9, norm="batch"),
        arch.Config(ngf=4, n_blocks=2, use_dropout=True),
        arch.Config(ngf=4, n_blocks=2, norm="batch", use_dropout=True),
        arch.Config(ngf=4, n_blocks=2, padding_type="zero"),
        arch.Config(ngf=4, n_blocks=2, padding_type="zero", use_dropout=True),
        arch.Config(input_nc=1, output_nc=2, ngf=3, n_blocks=1, norm="none"),
        arch.Config(ngf=4, n_blocks=0),
    ],
    ids=str,
)
def test_tiny_config_round_trips_through_its_state_dict(config):
    model, inferred = load_like_registry(tiny_state_dict(config))
    assert inferred == config
    with torch.no_grad():
        output = model(arch.example_inputs(config, size=32)["input"])
    assert output.shape == (1, config.output_nc, 32, 32)


def test_replicate_padding_is_read_as_reflect_since_keys_cannot_tell_them_apart():
    config = arch.Config(ngf=4, n_blocks=2, padding_type="replicate")
    assert arch.infer_config(tiny_state_dict(config)) == arch.Config(ngf=4, n_blocks=2, padding_type="reflect")


def test_normalize_keys_strips_module_prefix_and_is_idempotent():
    state_dict = tiny_state_dict(arch.Config(ngf=4, n_blocks=2))
    wrapped = {f"module.{key}": value for key, value in state_dict.items()}
    once = arch.normalize_keys(wrapped)
    assert set(once) == set(state_dict)
    twice = arch.normalize_keys(once)
    assert set(twice) == set(once) and all(twice[key] is once[key] for key in once)


def test_normalize_keys_drops_stale_instance_norm_stats_but_keeps_batch_norm_stats():
    instance = dict(tiny_state_dict(arch.Config(ngf=4, n_blocks=1)))
    for layer in ("model.2", "model.10.conv_block.2", "model.10.conv_block.6"):
        instance[f"{layer}.running_mean"] = torch.zeros(4)
        instance[f"{layer}.running_var"] = torch.ones(4)
        instance[f"{layer}.num_batches_tracked"] = torch.tensor(3)
    assert set(arch.normalize_keys(instance)) == set(arch.build(arch.Config(ngf=4, n_blocks=1)).state_dict())

    batch = tiny_state_dict(arch.Config(ngf=4, n_blocks=1, norm="batch"))
    normalized = arch.normalize_keys(batch)
    assert set(normalized) == set(batch)
    assert "model.10.conv_block.2.running_var" in normalized


def test_normalize_keys_completes_batch_norm_files_from_before_pytorch_0_4():
    config = arch.Config(ngf=4, n_blocks=1, norm="batch")
    old = {k: v for k, v in tiny_state_dict(config).items() if not k.endswith("num_batches_tracked")}
    model, inferred = load_like_registry(old)
    assert inferred == config
    assert int(model.model[2].num_batches_tracked) == 0


def test_matches_own_keys_and_not_other_architectures(conformance_dir):
    assert arch.matches(arch.normalize_keys(read_fixture(conformance_dir)))
    assert arch.matches(tiny_state_dict(arch.Config(ngf=4, n_blocks=2, norm="batch", padding_type="zero")))
    assert not arch.matches(read_fixture(conformance_dir, "pix2pix_unet256"))
    assert not arch.matches(read_fixture(conformance_dir, "dcgan64", "netG_epoch_24.pth"))
    assert not arch.matches(arch.normalize_keys(read_fixture(conformance_dir, "fast_style", "mosaic.pth")))
    assert not arch.matches(pix2pix_unet.build(pix2pix_unet.Config(ngf=2, num_downs=5)).state_dict())
    assert not arch.matches(patchgan.build(patchgan.Config(ndf=4)).state_dict())


def test_another_architecture_is_refused_with_checkpoint_error(conformance_dir):
    with pytest.raises(CheckpointError, match="first 7x7 conv"):
        arch.infer_config(arch.normalize_keys(read_fixture(conformance_dir, "pix2pix_unet256")))


def test_changed_shape_is_refused_with_checkpoint_error():
    state_dict = dict(tiny_state_dict(arch.Config(ngf=4, n_blocks=2)))
    state_dict["model.10.conv_block.5.weight"] = torch.zeros(16, 16, 5, 5)
    with pytest.raises(CheckpointError, match="model.10.conv_block.5.weight"):
        load_like_registry(state_dict)


def test_block_with_unknown_layout_is_refused_with_checkpoint_error():
    state_dict = dict(tiny_state_dict(arch.Config(ngf=4, n_blocks=2)))
    state_dict["model.11.conv_block.7.weight"] = state_dict.pop("model.11.conv_block.5.weight")
    with pytest.raises(CheckpointError, match="block convs"):
        arch.infer_config(state_dict)
