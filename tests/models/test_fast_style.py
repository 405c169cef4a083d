"""Fast neural style TransformerNet: conformance with the official-format fixture, sizes, key handling."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from ganstudio.checkpoints import (
    flatten_state_dict,
    load_state_dict_strictly,
    read_checkpoint,
)
from ganstudio.errors import CheckpointError
from ganstudio.models import dcgan
from ganstudio.models import fast_style as arch
from ganstudio.registry import load_network

FOLDER = "fast_style"

TINY_CONFIGS = [
    arch.Config(channels=4, n_residual=5),  # the official layout, narrow
    arch.Config(channels=2, n_residual=2),
    arch.Config(channels=8, n_residual=1),
]


def load_like_registry(state_dict):
    """The registry's sequence: normalize_keys -> infer_config -> build -> strict load -> eval."""
    return load_network(arch, state_dict)


def read_fixture(conformance_dir, folder=FOLDER, name="mosaic.pth"):
    return flatten_state_dict(read_checkpoint(conformance_dir / folder / name))


def tiny_state_dict(config, seed=0):
    torch.manual_seed(seed)
    return arch.build(config).state_dict()


def test_fixture_output_matches_official_output_on_the_unit_scale(conformance_dir):
    folder = conformance_dir / FOLDER
    model, _ = load_like_registry(read_fixture(conformance_dir))
    with torch.no_grad():
        output = model(torch.from_numpy(np.load(folder / "input.npy"))).numpy()
    expected = np.load(folder / "expected.npy")
    assert output.shape == expected.shape == (1, 3, 128, 128)
    # Outputs are in 0..255 units: the contract bounds the difference on the 0..1 scale.
    assert np.abs(output / 255 - expected / 255).max() <= 1e-4


def test_infer_config_on_fixture_equals_the_official_fixed_widths(conformance_dir):
    args = json.loads((conformance_dir / FOLDER / "meta.json").read_text())["args"]
    assert args == {}  # TransformerNet() takes no arguments
    config = arch.infer_config(arch.normalize_keys(read_fixture(conformance_dir)))
    assert config == arch.Config() == arch.Config(channels=32, n_residual=5)


def test_normalize_keys_drops_exactly_the_stale_instance_norm_stats_of_the_fixture(conformance_dir):
    raw = read_fixture(conformance_dir)
    normalized = arch.normalize_keys(raw)
    dropped = set(raw) - set(normalized)
    # neural_style.py stylize(): del every key matching this pattern, then a strict load.
    assert dropped == {key for key in raw if re.search(r"in\d+\.running_(mean|var)$", key)}
    assert len(dropped) == 30
    assert arch.normalize_keys(normalized) == normalized


def test_normalize_keys_strips_module_prefix_and_is_idempotent():
    state_dict = tiny_state_dict(TINY_CONFIGS[0])
    wrapped = {f"module.{key}": value for key, value in state_dict.items()}
    wrapped["module.in1.running_mean"] = torch.zeros(4)
    wrapped["module.res2.in1.running_var"] = torch.ones(16)
    normalized = arch.normalize_keys(wrapped)
    assert list(normalized) == list(state_dict)
    assert arch.normalize_keys(normalized) == normalized


@pytest.mark.parametrize("config", TINY_CONFIGS, ids=lambda c: f"ch{c.channels}-res{c.n_residual}")
def test_tiny_config_round_trips_through_its_state_dict(config):
    state_dict = tiny_state_dict(config)
    assert arch.matches(arch.normalize_keys(state_dict))
    model, inferred = load_like_registry(state_dict)
    assert inferred == config
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 24) * 255).shape == (2, 3, 32, 24)


@pytest.mark.parametrize("height, width", [(5, 6), (9, 13), (30, 31), (33, 35)])
def test_sides_not_multiple_of_4_come_out_rounded_up_like_the_official_net(height, width):
    model = arch.build(TINY_CONFIGS[0]).eval()
    with torch.no_grad():
        output = model(torch.rand(1, 3, height, width) * 255)
    assert tuple(output.shape[2:]) == arch.output_shape(height, width)
    assert arch.output_shape(height, width) == (-(-height // 4) * 4, -(-width // 4) * 4)


def test_example_inputs_run_through_the_network():
    config = TINY_CONFIGS[1]
    inputs = arch.example_inputs(config, batch=2, size=16)
    assert list(inputs) == ["image"]
    assert 0 <= inputs["image"].min() and inputs["image"].max() <= 255
    with torch.no_grad():
        assert arch.build(config).eval()(*inputs.values()).shape == (2, 3, 16, 16)


def test_matches_own_keys_and_not_other_architectures(conformance_dir):
    assert arch.matches(arch.normalize_keys(read_fixture(conformance_dir)))
    assert not arch.matches(read_fixture(conformance_dir, "cyclegan_resnet9", "latest_net_G.pth"))
    assert not arch.matches(read_fixture(conformance_dir, "dcgan64", "netG_epoch_24.pth"))
    assert not arch.matches(dcgan.build(dcgan.Config(ngf=4)).state_dict())


def test_infer_config_rejects_another_architecture(conformance_dir):
    with pytest.raises(CheckpointError, match="conv1.conv2d.weight"):
        arch.infer_config(read_fixture(conformance_dir, "dcgan64", "netG_epoch_24.pth"))


def test_infer_config_rejects_a_changed_shape():
    state_dict = dict(tiny_state_dict(TINY_CONFIGS[0]))
    state_dict["res3.conv2.conv2d.weight"] = torch.zeros(16, 16, 5, 5)
    with pytest.raises(CheckpointError, match="res3.conv2.conv2d.weight"):
        arch.infer_config(state_dict)


def test_infer_config_rejects_a_missing_key():
    state_dict = dict(tiny_state_dict(TINY_CONFIGS[0]))
    del state_dict["in4.weight"]
    with pytest.raises(CheckpointError, match="in4.weight"):
        arch.infer_config(state_dict)


def test_strict_load_rejects_stale_statistics_left_in():
    config = TINY_CONFIGS[0]
    state_dict = dict(tiny_state_dict(config))
    state_dict["in1.running_mean"] = torch.zeros(4)
    with pytest.raises(CheckpointError, match="in1.running_mean"):
        load_state_dict_strictly(arch.build(config), state_dict, arch=arch.SPEC.arch)
