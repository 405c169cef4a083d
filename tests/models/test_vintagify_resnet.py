"""vintagify's ResNet generator: the package file loads strictly and matches the package's own ResnetGenerator."""

from __future__ import annotations

import pytest
import torch
from support import load_package_module, package_file

from ganstudio.checkpoints import read_network_state_dict
from ganstudio.errors import CheckpointError
from ganstudio.models import cyclegan_resnet
from ganstudio.models import vintagify_resnet as arch
from ganstudio.registry import load_network

PACKAGE = "vintagify"
WEIGHTS = "resources/G_A2B_epoch33.pth"


@pytest.fixture(scope="module")
def package_state_dict():
    return read_network_state_dict(package_file(PACKAGE, WEIGHTS))


def test_package_file_gives_the_package_config_and_loads_strictly(package_state_dict):
    model, config = load_network(arch, package_state_dict)
    assert config == arch.Config(input_nc=3, output_nc=3, ngf=64, n_blocks=9)
    assert set(model.state_dict()) == set(package_state_dict)
    assert "model.10.block.1.weight" in package_state_dict and "model.26.weight" in package_state_dict


def test_output_matches_the_package_generator(package_state_dict):
    package_generator = load_package_module(PACKAGE, "generator").ResnetGenerator()
    package_generator.load_state_dict(package_state_dict)
    package_generator.eval()
    model, _ = load_network(arch, package_state_dict)
    torch.manual_seed(0)
    image = torch.rand(1, 3, 64, 96) * 2 - 1  # any multiple of 4, not square
    with torch.no_grad():
        expected = package_generator(image)
        assert (model(image) - expected).abs().max() <= 1e-4


def test_neither_resnet_generator_is_taken_for_the_other(package_state_dict):
    assert arch.matches(package_state_dict)
    assert not cyclegan_resnet.matches(cyclegan_resnet.normalize_keys(package_state_dict))
    for norm in ("instance", "batch", "none"):
        junyanz = cyclegan_resnet.build(cyclegan_resnet.Config(ngf=4, n_blocks=2, norm=norm)).state_dict()
        assert not arch.matches(arch.normalize_keys(junyanz))


@pytest.mark.parametrize("n_blocks", [0, 1, 6])
def test_block_count_and_widths_are_read_back(n_blocks):
    config = arch.Config(input_nc=1, output_nc=3, ngf=8, n_blocks=n_blocks)
    torch.manual_seed(n_blocks)
    state_dict = {f"module.{key}": value for key, value in arch.build(config).state_dict().items()}
    model, inferred = load_network(arch, state_dict)
    assert inferred == config
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 16, 20)).shape == (1, 3, 16, 20)


def test_a_missing_block_is_named():
    state_dict = dict(arch.build(arch.Config(ngf=4, n_blocks=3)).state_dict())
    for key in [key for key in state_dict if key.startswith("model.11.")]:
        del state_dict[key]
    with pytest.raises(CheckpointError, match=r"without gaps, found \[10, 12\]"):
        arch.infer_config(state_dict)
