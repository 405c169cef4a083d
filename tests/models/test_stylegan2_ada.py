"""StyleGAN2-ADA (NVlabs stylegan2-ada-pytorch): the official pickles' tensors, config round trips, ONNX parity."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ganstudio.checkpoints import load_state_dict_strictly
from ganstudio.errors import CheckpointError
from ganstudio.export import export_network
from ganstudio.models import stylegan2_ada as sg2
from ganstudio.nvlabs_pickle import read_network_pickle
from ganstudio.runtime import OnnxNetwork

TOLERANCE = 1e-4
SEEDS = (3, 11)


def load_fixture(directory):
    record = read_network_pickle(directory / "network-snapshot-000000.pkl").generator
    config = sg2.infer_config(record.state_dict, init_kwargs=record.init_kwargs)
    generator = sg2.build(config)
    load_state_dict_strictly(generator, record.state_dict, arch=sg2.SPEC.arch)
    return generator.eval(), config


@pytest.fixture(scope="module")
def unconditional(conformance_dir):
    directory = conformance_dir / "stylegan" / "stylegan2_ada_nvlabs"
    return directory, *load_fixture(directory)


@pytest.fixture(scope="module")
def conditional(conformance_dir):
    directory = conformance_dir / "stylegan" / "stylegan2_ada_nvlabs_cond"
    return directory, *load_fixture(directory)


def max_diff(actual: torch.Tensor | np.ndarray, expected: np.ndarray) -> float:
    actual = actual.detach().numpy() if isinstance(actual, torch.Tensor) else actual
    assert actual.shape == expected.shape
    return float(np.abs(actual - expected).max())


def test_config_comes_from_the_pickles_init_kwargs(unconditional, conditional):
    for _, generator, config in (unconditional, conditional):
        assert (config.z_dim, config.w_dim, config.img_resolution, config.mapping_layers) == (64, 64, 32, 2)
        assert (config.channel_base, config.channel_max, config.num_fp16_res, config.conv_clamp) == (1024, 64, 0, None)
        assert generator.num_ws == sg2.num_ws(config) == 8
    assert (unconditional[2].c_dim, conditional[2].c_dim) == (0, 3)


def test_seeds_become_the_official_z(unconditional):
    directory, _, config = unconditional
    z = np.concatenate([sg2.z_from_seed(seed, config.z_dim) for seed in SEEDS])
    assert z.dtype == np.float64
    assert np.array_equal(z, np.load(directory / "z.npy"))


@pytest.mark.parametrize("psi", ["1.0", "0.7"])
def test_unconditional_ws_and_images_match_the_official_ones(unconditional, psi):
    directory, generator, config = unconditional
    z = torch.from_numpy(np.load(directory / "z.npy"))
    c = torch.from_numpy(sg2.class_labels(None, config.c_dim, batch=2))
    assert max_diff(generator.mapping.w_avg, np.load(directory / "w_avg.npy")) == 0
    with torch.no_grad():
        ws = generator.mapping(z, c, truncation_psi=float(psi))
        # generate.py: one seed per call
        images = torch.cat([generator(z[i:i + 1], c[i:i + 1], truncation_psi=float(psi), noise_mode="const") for i in range(2)])
    assert max_diff(ws, np.load(directory / f"ws_psi{psi}.npy")) <= TOLERANCE
    assert max_diff(images, np.load(directory / f"expected_psi{psi}.npy")) <= TOLERANCE


@pytest.mark.parametrize("class_index, psi", [(1, "1.0"), (1, "0.7"), (0, "1.0"), (2, "1.0")])
def test_class_conditional_ws_and_images_match_the_official_ones(conditional, class_index, psi):
    directory, generator, config = conditional
    z = torch.from_numpy(np.load(directory / "z.npy"))
    c = torch.from_numpy(sg2.class_labels(class_index, config.c_dim, batch=2))
    tag = f"class{class_index}_psi{psi}"
    with torch.no_grad():
        ws = generator.mapping(z, c, truncation_psi=float(psi))
        images = torch.cat([generator(z[i:i + 1], c[i:i + 1], truncation_psi=float(psi)) for i in range(2)])
    assert max_diff(ws, np.load(directory / f"ws_{tag}.npy")) <= TOLERANCE
    assert max_diff(images, np.load(directory / f"expected_{tag}.npy")) <= TOLERANCE


def test_style_mixing_matches_style_mixing_py(unconditional):
    directory, generator, config = unconditional
    # style_mixing.py: randn(z_dim) per seed, one mapping batch, its own truncation, then a row/col swap
    z = torch.from_numpy(np.stack([np.random.RandomState(seed).randn(config.z_dim) for seed in SEEDS]))
    with torch.no_grad():
        all_w = generator.mapping(z, None).numpy()
    all_w = sg2.truncate_ws(all_w, generator.mapping.w_avg.numpy(), 1.0)
    ws = sg2.mix_styles(all_w[0], all_w[1], col_styles=[0, 1, 2, 3])[np.newaxis]
    assert max_diff(ws, np.load(directory / "ws_stylemix_3-11.npy")) <= TOLERANCE
    with torch.no_grad():
        image = generator.synthesis(torch.from_numpy(ws), noise_mode="const")
    assert max_diff(image, np.load(directory / "expected_stylemix_3-11.npy")) <= TOLERANCE


def test_truncation_psi_as_a_tensor_and_truncation_cutoff(unconditional):
    directory, generator, _ = unconditional
    z = torch.from_numpy(np.load(directory / "z.npy"))
    with torch.no_grad():
        plain = generator.mapping(z, None)
        truncated = generator.mapping(z, None, truncation_psi=0.7)
        assert torch.equal(generator.mapping(z, None, truncation_psi=torch.tensor(0.7)), truncated)
        assert torch.equal(generator.mapping(z, None, truncation_psi=torch.tensor(1.0)), plain)
        cut = generator.mapping(z, None, truncation_psi=0.7, truncation_cutoff=3)
    assert torch.equal(cut[:, :3], truncated[:, :3]) and torch.equal(cut[:, 3:], plain[:, 3:])


def test_noise_modes(unconditional):
    _, generator, config = unconditional
    ws = torch.randn(1, generator.num_ws, config.w_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        const = generator.synthesis(ws)  # the scripts' default
        assert torch.equal(const, generator.synthesis(ws, noise_mode="const"))
        assert not torch.equal(const, generator.synthesis(ws, noise_mode="none"))
        assert not torch.equal(const, generator.synthesis(ws, noise_mode="random"))
        with pytest.raises(ValueError, match="noise_mode"):
            generator.synthesis(ws, noise_mode="fixed")


def test_noise_weights_give_each_mode_exactly_and_mix_them_per_sample(unconditional):
    _, generator, config = unconditional
    ws = torch.randn(2, generator.num_ws, config.w_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for mode in ("const", "none"):
            weights = torch.from_numpy(sg2.noise_weights(mode, 2))
            assert torch.equal(generator.synthesis(ws, weights), generator.synthesis(ws, noise_mode=mode))
        torch.manual_seed(5)
        official_random = generator.synthesis(ws[:1], noise_mode="random")
        torch.manual_seed(5)
        assert torch.equal(generator.synthesis(ws[:1], torch.from_numpy(sg2.noise_weights("random", 1))), official_random)
        # one sample with the stored noise, the other without: each as its mode gives it (up to batch rounding)
        mixed = generator.synthesis(ws, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
        torch.testing.assert_close(mixed[0], generator.synthesis(ws, noise_mode="const")[0], atol=1e-5, rtol=0)
        torch.testing.assert_close(mixed[1], generator.synthesis(ws, noise_mode="none")[1], atol=1e-5, rtol=0)
        assert not torch.allclose(mixed[1], generator.synthesis(ws, noise_mode="const")[1], atol=1e-3)


# ----------------------------------------------------------------------------- configs the fixtures do not have

TINY = sg2.Config(z_dim=16, w_dim=16, img_resolution=32, mapping_layers=2, channel_base=256, channel_max=16)
VARIANTS = {
    "64px-deep-mapping-fp16-clamp": dataclasses.replace(TINY, img_resolution=64, mapping_layers=5, num_fp16_res=2, conv_clamp=256),
    "16px-5-classes-own-widths": dataclasses.replace(TINY, img_resolution=16, c_dim=5, embed_features=8, layer_features=24),
    "32px-resnet-grey-fp32": dataclasses.replace(TINY, architecture="resnet", img_channels=1, channel_base=512,
                                                 num_fp16_res=0, conv_clamp=None),
    "32px-orig-wide": dataclasses.replace(TINY, architecture="orig", channel_base=1024, channel_max=48, z_dim=8),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_state_dict_round_trips_to_the_same_config(name):
    config = VARIANTS[name]
    torch.manual_seed(0)
    state_dict = sg2.build(config).state_dict()
    assert sg2.matches(state_dict)
    # the pickle path: init_kwargs give every value
    assert sg2.infer_config(state_dict, init_kwargs=sg2.init_kwargs(config)) == config
    # shapes alone cannot show num_fp16_res and conv_clamp: train.py's defaults (4, 256)
    inferred = sg2.infer_config(sg2.normalize_keys(state_dict))
    assert inferred == dataclasses.replace(config, num_fp16_res=4, conv_clamp=256)
    load_state_dict_strictly(sg2.build(inferred), state_dict, arch=sg2.SPEC.arch)


@pytest.mark.parametrize("config", [
    sg2.Config(),  # ffhq.pkl: 1024 px, 8 mapping layers
    sg2.Config(img_resolution=32, c_dim=10, mapping_layers=2),  # cifar10.pkl, class-conditional
    sg2.Config(img_resolution=256, mapping_layers=2, channel_base=16384),  # train.py --cfg=auto at 256 px
], ids=["ffhq-1024", "cifar10-32", "auto-256"])
def test_released_configs_are_read_back_from_their_shapes(config):
    with torch.device("meta"):  # shapes only, no memory
        generator = sg2.build(config)
    inferred = sg2.infer_config(generator.state_dict())
    if config.img_resolution == 32:
        # every width is channel_max at 32 px, so any channel_base >= 16384 builds this network:
        # the shapes give the smallest (the pickle's init_kwargs give the one it was trained with)
        config = dataclasses.replace(config, channel_base=16384)
    assert inferred == config
    assert generator.num_ws == sg2.num_ws(config)


def test_flat_init_kwargs_of_the_stylegan3_repositorys_copy():
    kwargs = {"z_dim": 16, "w_dim": 16, "mapping_kwargs": {"num_layers": 2}, "channel_base": 256, "channel_max": 16,
              "fused_modconv_default": "inference_only", "c_dim": 0, "img_resolution": 32, "img_channels": 3}
    # networks_stylegan2.py defaults num_fp16_res=4, conv_clamp=256 when the kwargs do not say
    assert sg2.config_from_init_kwargs(kwargs) == TINY


def test_refuses_init_kwargs_it_does_not_implement():
    kwargs = sg2.init_kwargs(TINY)
    kwargs["mapping_kwargs"]["activation"] = "relu"
    with pytest.raises(CheckpointError, match="activation"):
        sg2.config_from_init_kwargs(kwargs)
    state_dict = sg2.build(TINY).state_dict()
    with pytest.raises(CheckpointError, match="img_resolution"):
        sg2.infer_config(state_dict, init_kwargs={**sg2.init_kwargs(TINY), "img_resolution": 64})


def test_conv_clamp_bounds_every_layer_output():
    config = dataclasses.replace(TINY, conv_clamp=0.5)
    torch.manual_seed(0)
    generator = sg2.build(config).eval()
    peaks = []
    for module in generator.synthesis.modules():
        if isinstance(module, sg2.SynthesisLayer | sg2.ToRGBLayer):
            module.register_forward_hook(lambda _m, _i, output: peaks.append(float(output.abs().max())))
    ws = torch.randn(2, generator.num_ws, config.w_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        clamped = generator.synthesis(ws)
        assert max(peaks) <= 0.5
        unclamped = sg2.build(dataclasses.replace(config, conv_clamp=None)).eval()
        unclamped.load_state_dict(generator.state_dict())
        assert not torch.allclose(clamped, unclamped.synthesis(ws))


def test_onnx_export_of_mapping_and_synthesis(tmp_path):
    config = dataclasses.replace(TINY, c_dim=3, conv_clamp=256)
    torch.manual_seed(0)
    generator = sg2.build(config).eval()
    with torch.no_grad():  # values the official init leaves at 0, so that forgetting them would show
        generator.mapping.w_avg.normal_()
        for name, parameter in generator.named_parameters():
            if name.endswith(("noise_strength", ".bias")):
                parameter.normal_(0, 0.2)
    for name, network in sg2.inference_networks(generator).items():
        path = export_network(network, sg2.example_inputs(config, name, batch=2), tmp_path / f"{name}.onnx", dynamic_size=False)
        session = OnnxNetwork(path, "cpu")
        for batch in (1, 2):
            inputs = sg2.example_inputs(config, name, batch=batch)
            with torch.no_grad():
                expected = network(*inputs.values()).numpy()
            assert max_diff(session(*(t.numpy() for t in inputs.values())), expected) <= 1e-3


def test_an_unconditional_mapping_exports_with_the_same_three_inputs(tmp_path):
    torch.manual_seed(0)
    generator = sg2.build(TINY).eval()
    inputs = sg2.example_inputs(TINY, "mapping", batch=2)
    assert inputs["c"].shape == (2, 0)
    session = OnnxNetwork(export_network(generator.mapping, inputs, tmp_path / "mapping.onnx", dynamic_size=False), "cpu")
    assert session.input_names == ["z", "c", "truncation_psi"]
    with torch.no_grad():
        expected = generator.mapping(*inputs.values()).numpy()
    assert max_diff(session(*(t.numpy() for t in inputs.values())), expected) <= 1e-3
