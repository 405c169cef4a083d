"""StyleGAN3 T and R (NVlabs stylegan3): the official pickles' tensors and transforms, filter design, round trips, ONNX."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from ganstudio.checkpoints import load_state_dict_strictly
from ganstudio.errors import CheckpointError
from ganstudio.export import export_network
from ganstudio.models import stylegan3 as sg3
from ganstudio.nvlabs_pickle import read_network_pickle
from ganstudio.runtime import OnnxNetwork

TOLERANCE = 1e-4
SEEDS = (3, 11)
# gen_images.py --translate/--rotate of each fixture's expected_transforms_seed3_psi1.0.npy, in order
TRANSFORMS = {
    "stylegan3_nvlabs": [((0.25, -0.1), 0.0), ((0.0, 0.0), 30.0), ((0.3, 0.2), -45.0)],
    "stylegan3_nvlabs_r": [((0.25, -0.1), 0.0), ((0.0, 0.0), 30.0)],
}


@pytest.fixture(scope="module", params=sorted(TRANSFORMS))
def loaded(request, conformance_dir):
    directory = conformance_dir / "stylegan" / request.param
    record = read_network_pickle(directory / "network-snapshot-000000.pkl").generator
    config = sg3.infer_config(record.state_dict, init_kwargs=record.init_kwargs)
    generator = sg3.build(config)
    designed = generator.state_dict()
    load_state_dict_strictly(generator, record.state_dict, arch=sg3.SPEC.arch)
    return request.param, directory, record, designed, generator.eval(), config


def max_diff(actual, expected: np.ndarray) -> float:
    actual = actual.detach().numpy() if isinstance(actual, torch.Tensor) else np.asarray(actual)
    assert actual.shape == expected.shape
    return float(np.abs(actual - expected).max())


def test_config_from_init_kwargs_and_from_shapes_agree(loaded):
    name, _, record, _, generator, config = loaded
    assert sg3.infer_config(record.state_dict) == config
    assert (config.img_resolution, config.channel_base, config.channel_max, config.num_layers) == (32, 2048, 64, 14)
    assert (config.conv_kernel, config.use_radial_filters) == ((1, True) if name.endswith("_r") else (3, False))
    assert generator.num_ws == sg3.num_ws(config) == 16
    assert record.variant == ("stylegan3-r" if name.endswith("_r") else "stylegan3-t")


def test_filters_are_designed_as_the_official_code_designs_them(loaded):
    _, _, record, designed, _, _ = loaded
    filters = [key for key in record.state_dict if key.endswith(("up_filter", "down_filter"))]
    assert len(filters) == 28  # up and down for L0..L13; the ToRGB layer has none
    for key in filters:
        torch.testing.assert_close(designed[key], record.state_dict[key], atol=1e-7, rtol=0)


@pytest.mark.parametrize("psi", ["1.0", "0.7"])
def test_ws_and_images_match_gen_images_py(loaded, psi):
    _, directory, _, _, generator, config = loaded
    z = np.concatenate([sg3.z_from_seed(seed, config.z_dim) for seed in SEEDS])
    assert np.array_equal(z, np.load(directory / "z.npy"))
    z = torch.from_numpy(z)
    c = torch.from_numpy(sg3.class_labels(None, config.c_dim, batch=2))
    with torch.no_grad():
        ws = generator.mapping(z, c, truncation_psi=float(psi))
        images = torch.cat([generator(z[i:i + 1], c[i:i + 1], truncation_psi=float(psi)) for i in range(2)])
    assert max_diff(generator.mapping.w_avg, np.load(directory / "w_avg.npy")) == 0
    assert max_diff(ws, np.load(directory / f"ws_psi{psi}.npy")) <= TOLERANCE
    assert max_diff(images, np.load(directory / f"expected_psi{psi}.npy")) <= TOLERANCE


def test_translate_and_rotate_as_gen_images_py(loaded):
    name, directory, _, _, generator, _ = loaded
    z = torch.from_numpy(np.load(directory / "z.npy"))[:1]
    expected = np.load(directory / "expected_transforms_seed3_psi1.0.npy")
    assert expected.shape[0] == len(TRANSFORMS[name])
    with torch.no_grad():
        ws = generator.mapping(z, None)
        for index, (translate, rotate) in enumerate(TRANSFORMS[name]):
            transform = torch.from_numpy(sg3.input_transform(translate, rotate))
            assert max_diff(generator.synthesis(ws, transform)[0], expected[index]) <= TOLERANCE
        # no transform: the stored buffer, the identity gen_images.py writes by default
        assert torch.equal(generator.synthesis.input.transform, torch.from_numpy(sg3.input_transform()))


def test_make_transform_is_gen_images_pys():
    m = sg3.make_transform((0.3, 0.2), -45.0)
    c, s = np.cos(np.radians(-45.0)), np.sin(np.radians(-45.0))
    np.testing.assert_allclose(m, [[c, s, 0.3], [-s, c, 0.2], [0, 0, 1]])
    np.testing.assert_allclose(sg3.input_transform((0.3, 0.2), -45.0) @ m, np.eye(3), atol=1e-6)


# ----------------------------------------------------------------------------- configs the fixtures do not have

TINY = sg3.Config(z_dim=16, w_dim=16, img_resolution=16, channel_base=256, channel_max=16, num_layers=6)
VARIANTS = {
    "R-64px": dataclasses.replace(TINY, img_resolution=64, conv_kernel=1, use_radial_filters=True, channel_base=1024,
                                  channel_max=32, num_layers=14),
    "T-16px-classes-deep-mapping": dataclasses.replace(TINY, c_dim=4, mapping_layers=4),
    "T-32px-grey-widths-vary": dataclasses.replace(TINY, img_resolution=32, img_channels=1, channel_base=512, channel_max=32),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_state_dict_round_trips_to_the_same_config(name):
    config = VARIANTS[name]
    torch.manual_seed(0)
    state_dict = sg3.build(config).state_dict()
    assert sg3.matches(state_dict)
    assert sg3.infer_config(sg3.normalize_keys(state_dict)) == config
    assert sg3.infer_config(state_dict, init_kwargs=sg3.init_kwargs(config)) == config
    load_state_dict_strictly(sg3.build(config), state_dict, arch=sg3.SPEC.arch)


@pytest.mark.parametrize("config", [
    sg3.Config(),  # stylegan3-t-ffhq-1024x1024.pkl
    sg3.Config(img_resolution=512, channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True),  # -r-afhqv2-512
    sg3.Config(img_resolution=256, channel_base=16384),  # -t-ffhqu-256x256
], ids=["T-1024", "R-512", "T-256"])
def test_released_configs_are_read_back_from_their_shapes(config):
    with torch.device("meta"):  # shapes only, no memory
        state_dict = sg3.build(config).state_dict()
    assert sg3.infer_config(state_dict) == config


def test_other_hyper_parameters_need_the_pickles_init_kwargs():
    config = dataclasses.replace(TINY, margin_size=6, first_cutoff=3)
    state_dict = sg3.build(config).state_dict()
    with pytest.raises(CheckpointError, match="init_kwargs"):
        sg3.infer_config(state_dict)
    assert sg3.infer_config(state_dict, init_kwargs=sg3.init_kwargs(config)) == config
    with pytest.raises(CheckpointError, match="does not implement"):
        sg3.config_from_init_kwargs({**sg3.init_kwargs(config), "use_fancy_filters": True})


def test_noise_mode_changes_nothing_and_batches_match_single_samples():
    torch.manual_seed(0)
    generator = sg3.build(TINY).eval()
    ws = torch.randn(2, sg3.num_ws(TINY), TINY.w_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        batch = generator.synthesis(ws)
        assert torch.equal(batch, generator.synthesis(ws, noise_mode="random"))
        single = torch.cat([generator.synthesis(ws[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(batch, single, atol=1e-5, rtol=1e-5)


def test_onnx_export_of_mapping_and_synthesis_with_its_transform(tmp_path):
    config = dataclasses.replace(TINY, c_dim=3)
    torch.manual_seed(0)
    generator = sg3.build(config).eval()
    with torch.no_grad():  # trained-like values where the official init leaves constants
        generator.mapping.w_avg.normal_()
        for name, tensor in generator.state_dict().items():
            if name.endswith("magnitude_ema"):
                tensor.fill_(0.7)
            if name.endswith(".bias") and "input.affine" not in name:
                tensor.normal_(0, 0.2)
    for name, network in sg3.inference_networks(generator).items():
        path = export_network(network, sg3.example_inputs(config, name, batch=2), tmp_path / f"{name}.onnx", dynamic_size=False)
        session = OnnxNetwork(path, "cpu")
        for batch in (1, 2):
            inputs = sg3.example_inputs(config, name, batch=batch)
            with torch.no_grad():
                expected = network(*inputs.values()).numpy()
            assert max_diff(session(*(t.numpy() for t in inputs.values())), expected) <= 1e-3
        if name == "synthesis":  # the transform is an input of the graph, not a constant baked in
            inputs = sg3.example_inputs(config, name, batch=1)
            inputs["transform"] = torch.from_numpy(sg3.input_transform((0.0, 0.0), 30.0))
            with torch.no_grad():
                expected = network(*inputs.values()).numpy()
            assert max_diff(session(*(t.numpy() for t in inputs.values())), expected) <= 1e-3
