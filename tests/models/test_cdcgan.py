"""One-hot conditional DCGAN: the omniart-eye-generator file loads strictly and matches the package's own Generator."""

from __future__ import annotations

import pytest
import torch
from support import load_package_module, package_file

from ganstudio.checkpoints import read_network_state_dict
from ganstudio.errors import CheckpointError
from ganstudio.models import cdcgan as arch
from ganstudio.models import cgan, dcgan
from ganstudio.registry import load_network

PACKAGE = "omniart_eye_generator"
WEIGHTS = "generator_model_state.pth"


@pytest.fixture(scope="module")
def package_state_dict():
    return read_network_state_dict(package_file(PACKAGE, WEIGHTS))


@pytest.fixture(scope="module")
def package_generator(package_state_dict):
    """The package's own ``Generator`` class with its weights, in eval mode as ``generate_eye`` uses it."""
    generator = load_package_module(PACKAGE, "generator").Generator()
    generator.load_state_dict(package_state_dict)
    return generator.eval()


def test_package_file_gives_the_package_config_and_loads_strictly(package_state_dict):
    model, config = load_network(arch, package_state_dict)
    assert config == arch.Config(nz=100, num_classes=8, ngf=64, nc=3, n_layers=6)
    assert arch.output_size(config) == arch.describe(config).preprocessing["fixed_size"] == 128
    assert set(model.state_dict()) == set(package_state_dict)
    assert arch.matches(arch.normalize_keys(package_state_dict))
    assert not dcgan.matches(package_state_dict) and not cgan.matches(package_state_dict)


def test_output_matches_the_package_generator_for_every_class(package_state_dict, package_generator):
    model, _ = load_network(arch, package_state_dict)
    torch.manual_seed(0)
    noise = torch.randn(16, 100, 1, 1)
    classes = torch.arange(16) % 8
    one_hot = torch.nn.functional.one_hot(classes, 8).float()  # what eye_generator.__make_label builds
    with torch.no_grad():
        expected = package_generator(noise, one_hot)
        by_index = model(noise, classes)
        by_one_hot = model(noise.view(16, 100), one_hot)
    assert expected.shape == (16, 3, 128, 128)
    assert (by_index - expected).abs().max() <= 1e-4
    assert torch.equal(by_index, by_one_hot)


def test_eval_mode_turns_the_dropout_off():
    torch.manual_seed(1)
    model = arch.build(arch.Config(ngf=4, num_classes=3, n_layers=4)).eval()
    assert isinstance(model.main[arch.DROPOUT_INDEX], torch.nn.Dropout)
    noise, labels = torch.randn(2, 100), torch.tensor([0, 2])
    with torch.no_grad():
        assert torch.equal(model(noise, labels), model(noise, labels))


def test_a_plain_dcgan_is_not_taken_for_one():
    state_dict = dcgan.build(dcgan.Config(nz=108, ngf=4, n_layers=6)).state_dict()
    assert not arch.matches(state_dict)
    with pytest.raises(CheckpointError, match=r"main\.0, main\.4, main\.7"):
        arch.infer_config(state_dict)


def test_first_conv_with_100_inputs_or_fewer_is_refused_rather_than_split_by_guess():
    state_dict = arch.build(arch.Config(nz=60, num_classes=10, ngf=4, n_layers=4)).state_dict()
    assert arch.matches(state_dict)
    with pytest.raises(CheckpointError, match="70 input channels"):
        arch.infer_config(state_dict)
