"""AdaIN style transfer: conformance with the official-format fixture, AdaIN maths on unequal sizes, key handling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganstudio.checkpoints import (
    flatten_state_dict,
    load_state_dict_strictly,
    read_checkpoint,
)
from ganstudio.errors import CheckpointError
from ganstudio.models import adain as arch
from ganstudio.registry import load_network

FOLDER = "adain"
FILES = {"vgg": "vgg_normalised.pth", "decoder": "decoder.pth"}


def merge_like_registry(files):
    """The registry merges the files of a container model with each file's role as prefix."""
    return {f"{role}.{key}": value for role, state_dict in files.items() for key, value in state_dict.items()}


def load_like_registry(state_dict):
    """The registry's sequence: normalize_keys -> infer_config -> build -> strict load -> eval."""
    return load_network(arch, state_dict)


@pytest.fixture(scope="module")
def raw_files(conformance_dir):
    return {role: flatten_state_dict(read_checkpoint(conformance_dir / FOLDER / name)) for role, name in FILES.items()}


@pytest.fixture(scope="module")
def official(raw_files):
    model, _ = load_like_registry(merge_like_registry(raw_files))
    return model


def reference_style_transfer(vgg, decoder, content, style, alpha, *, unbiased=True):
    """test.py's style_transfer written out with functional ops on the raw files' tensors, in float64.

    Independent of the module under test: the encoder (normalised VGG-19 up to relu4_1), the official
    calc_mean_std (eps 1e-5 added to the variance) and AdaIN, the feature-space blend, the decoder.
    """
    vgg = {key: value.double() for key, value in vgg.items()}
    decoder = {key: value.double() for key, value in decoder.items()}

    def conv(x, weights, index):
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), weights[f"{index}.weight"], weights[f"{index}.bias"])

    def encode(x):
        x = F.conv2d(x.double(), vgg["0.weight"], vgg["0.bias"])
        for stage in ((2, 5), (9, 12), (16, 19, 22, 25)):
            for index in stage:
                x = F.relu(conv(x, vgg, index))
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        return F.relu(conv(x, vgg, 29))  # relu4_1

    def decode(x):
        for stage in ((1,), (5, 8, 11, 14), (18, 21), (25,)):
            if stage != (1,):
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            for index in stage:
                x = F.relu(conv(x, decoder, index))
        return conv(x, decoder, 28)

    def mean_std(feat):
        n, c = feat.shape[:2]
        flat = feat.reshape(n, c, -1)
        count = flat.shape[2]
        mean = flat.mean(dim=2)
        var = ((flat - mean[:, :, None]) ** 2).sum(dim=2) / (count - 1 if unbiased else count)
        return mean.reshape(n, c, 1, 1), (var + 1e-5).sqrt().reshape(n, c, 1, 1)

    content_f, style_f = encode(content), encode(style)
    content_mean, content_std = mean_std(content_f)
    style_mean, style_std = mean_std(style_f)
    feat = (content_f - content_mean) / content_std * style_std + style_mean
    return decode(alpha * feat + (1 - alpha) * content_f).float()


@pytest.mark.parametrize("alpha", ["1.0", "0.5"])
def test_fixture_output_matches_official_output(official, conformance_dir, alpha):
    folder = conformance_dir / FOLDER
    content = torch.from_numpy(np.load(folder / "content.npy"))
    style = torch.from_numpy(np.load(folder / "style.npy"))
    with torch.no_grad():
        output = official(content, style, torch.tensor(float(alpha))).numpy()
    expected = np.load(folder / f"expected_alpha{alpha}.npy")
    assert output.shape == expected.shape == (1, 3, 128, 128)
    assert np.abs(output - expected).max() <= 1e-4


def test_alpha_may_be_a_float_a_0d_tensor_or_a_1_element_tensor(official):
    torch.manual_seed(0)
    content, style = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        as_float = official(content, style, 0.3)
        torch.testing.assert_close(official(content, style, torch.tensor(0.3)), as_float)
        torch.testing.assert_close(official(content, style, torch.tensor([0.3])), as_float)


def test_per_sample_alpha_equals_separate_runs(official):
    torch.manual_seed(1)
    content, style = torch.rand(2, 3, 24, 24), torch.rand(2, 3, 32, 24)
    with torch.no_grad():
        both = official(content, style, torch.tensor([0.2, 0.9]))
        # a batch of 2 and a batch of 1 may take different convolution kernels: float32 noise of ~1e-5,
        # so the bound is the conformance tolerance (a wrong per-sample alpha is off by ~1e-1)
        torch.testing.assert_close(both[:1], official(content[:1], style[:1], 0.2), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(both[1:], official(content[1:], style[1:], 0.9), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_content_and_style_of_different_sizes_follow_the_official_maths(official, raw_files, alpha):
    # The fixture pair has equal sizes, where the N/(N-1) factor of the unbiased variance cancels out.
    # Here relu4_1 has 9x7 positions for the content and 3x3 for the style, so it does not.
    torch.manual_seed(2)
    content, style = torch.rand(1, 3, 70, 52), torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        output = official(content, style, torch.tensor(alpha))
    expected = reference_style_transfer(raw_files["vgg"], raw_files["decoder"], content, style, alpha)
    biased = reference_style_transfer(raw_files["vgg"], raw_files["decoder"], content, style, alpha, unbiased=False)
    assert output.shape == expected.shape == (1, 3, 72, 56)
    assert (output - expected).abs().max() <= 1e-4
    assert (biased - expected).abs().max() > 1e-3  # the check can tell the two variances apart


def test_alpha_zero_reconstructs_the_content_whatever_the_style(official):
    torch.manual_seed(3)
    content = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        reconstruction = official.decoder(official.vgg(content))
        torch.testing.assert_close(official(content, torch.rand(1, 3, 48, 16), 0.0), reconstruction)
        torch.testing.assert_close(official(content, torch.rand(1, 3, 16, 16), 0.0), reconstruction)


@pytest.mark.parametrize("height, width", [(9, 9), (17, 30), (100, 64)])
def test_output_side_is_the_input_side_rounded_up_to_a_multiple_of_8(official, height, width):
    with torch.no_grad():
        output = official(torch.rand(1, 3, height, width), torch.rand(1, 3, 16, 16), 1.0)
    assert tuple(output.shape[2:]) == arch.output_shape(height, width)
    assert arch.output_shape(100, 64) == (104, 64)


def test_infer_config_on_fixture_has_nothing_to_read(raw_files, conformance_dir):
    args = json.loads((conformance_dir / FOLDER / "meta.json").read_text())["args"]
    assert not {"vgg", "decoder", "ngf", "channels"} & set(args)  # only test-time options, no widths
    assert arch.infer_config(arch.normalize_keys(merge_like_registry(raw_files))) == arch.Config()


def test_normalize_keys_drops_the_vgg_layers_after_relu4_1(raw_files):
    merged = merge_like_registry(raw_files)
    normalized = arch.normalize_keys(merged)
    dropped = set(merged) - set(normalized)
    assert dropped == {f"vgg.{i}.{p}" for i in (32, 35, 38, 42, 45, 48, 51) for p in ("weight", "bias")}
    assert sum(key.startswith("vgg.") for key in normalized) == 20  # 10 convs up to relu4_1
    assert sum(key.startswith("decoder.") for key in normalized) == 18
    assert arch.normalize_keys(normalized) == normalized


def test_normalize_keys_strips_module_prefixes_anywhere(raw_files):
    merged = merge_like_registry(raw_files)
    expected = arch.normalize_keys(merged)
    inside = {key.replace(".", ".module.", 1): value for key, value in merged.items()}  # vgg.module.0.weight
    outside = {f"module.{key}": value for key, value in merged.items()}
    assert arch.normalize_keys(inside).keys() == expected.keys()
    assert arch.normalize_keys(outside).keys() == expected.keys()


def test_an_encoder_file_cut_at_relu4_1_loads_too(raw_files):
    files = dict(raw_files)
    files["vgg"] = {key: value for key, value in files["vgg"].items() if int(key.split(".")[0]) < 31}
    load_like_registry(merge_like_registry(files))


def test_built_model_round_trips_through_its_state_dict():
    torch.manual_seed(4)
    model, config = load_like_registry(arch.build(arch.Config()).state_dict())
    assert config == arch.Config()
    assert arch.matches(model.state_dict())


def test_networks_exposes_style_transfer_that_takes_the_example_inputs():
    model = arch.build(arch.Config()).eval()
    entry_points = arch.inference_networks(model)
    assert list(entry_points) == ["style_transfer"]
    inputs = arch.example_inputs(arch.Config(), "style_transfer", batch=2, size=24)
    assert list(inputs) == ["content", "style", "alpha"]
    assert inputs["alpha"].dtype == torch.float32 and inputs["alpha"].shape == (1,)
    with torch.no_grad():
        assert entry_points["style_transfer"](*inputs.values()).shape == (2, 3, 24, 24)
    with pytest.raises(ValueError, match="style_transfer"):
        arch.example_inputs(arch.Config(), "G")


def test_matches_own_keys_and_not_other_architectures(raw_files, conformance_dir):
    assert arch.matches(arch.normalize_keys(merge_like_registry(raw_files)))
    for folder, name in [
        ("fast_style", "mosaic.pth"),
        ("dcgan64", "netG_epoch_24.pth"),
        ("stargan_v2_afhq", "100000_nets_ema.ckpt"),
    ]:
        assert not arch.matches(flatten_state_dict(read_checkpoint(conformance_dir / folder / name)))
    assert not arch.matches(raw_files["vgg"])  # one file alone, without the role prefixes


def test_infer_config_rejects_a_model_without_its_decoder(raw_files):
    state_dict = arch.normalize_keys(merge_like_registry({"vgg": raw_files["vgg"]}))
    with pytest.raises(CheckpointError, match="decoder"):
        arch.infer_config(state_dict)


def test_infer_config_rejects_a_changed_shape(raw_files):
    state_dict = arch.normalize_keys(merge_like_registry(raw_files))
    state_dict["decoder.14.weight"] = torch.zeros(64, 256, 3, 3)
    with pytest.raises(CheckpointError, match="decoder.14.weight"):
        arch.infer_config(state_dict)


def test_strict_load_rejects_an_unexpected_key(raw_files):
    state_dict = arch.normalize_keys(merge_like_registry(raw_files))
    state_dict["decoder.30.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match="decoder.30.weight"):
        load_state_dict_strictly(arch.build(arch.Config()), state_dict, arch=arch.SPEC.arch)
