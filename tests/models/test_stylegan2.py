"""rosinality/stylegan2-pytorch: train.py and convert_weight.py files, the official tensors, round trips, ONNX parity."""

from __future__ import annotations

import fractions

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.checkpoints import (
    flatten_state_dict,
    load_state_dict_strictly,
    read_checkpoint,
)
from ganstudio.errors import UnsafeCheckpointError
from ganstudio.export import export_network
from ganstudio.models import stylegan2 as sg2
from ganstudio.runtime import OnnxNetwork

TOLERANCE = 1e-4
FILES = ["converted.pt", "checkpoint.pt"]


@pytest.fixture(scope="module")
def folder(conformance_dir):
    return conformance_dir / "stylegan" / "stylegan2_rosinality"


@pytest.fixture(scope="module", params=FILES)
def loaded(request, folder):
    raw = read_checkpoint(folder / request.param)  # torch.load(weights_only=True), Namespace allowed
    state_dict = sg2.normalize_keys(flatten_state_dict(raw))
    config = sg2.infer_config(state_dict)
    generator = sg2.build(config)
    load_state_dict_strictly(generator, state_dict, arch=sg2.SPEC.arch)
    return request.param, raw, generator.eval(), config


def max_diff(actual, expected: np.ndarray) -> float:
    actual = actual.detach().numpy() if isinstance(actual, torch.Tensor) else np.asarray(actual)
    assert actual.shape == expected.shape
    return float(np.abs(actual - expected).max())


def test_both_files_load_g_ema_with_widths_from_the_shapes(loaded, folder):
    name, raw, generator, config = loaded
    assert (config.size, config.style_dim, config.n_mlp, config.channels) == (32, 64, 4, (64, 64, 48, 32))
    assert config.latent_avg == (name == "converted.pt")
    assert all(torch.equal(generator.state_dict()[key], value) for key, value in raw["g_ema"].items())
    if name == "checkpoint.pt":
        assert set(raw) == {"g", "d", "g_ema", "g_optim", "d_optim", "args", "ada_aug_p"}
        assert raw["args"].latent == 64  # the argparse.Namespace, read as data
    else:
        assert max_diff(generator.latent_avg, np.load(folder / "latent_avg.npy")) == 0


def test_only_argparse_namespace_is_allowed_beyond_tensors(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(1)}, "extra": fractions.Fraction(1, 3)}, path)
    with pytest.raises(UnsafeCheckpointError):
        read_checkpoint(path)


def test_seeds_become_torchs_cpu_normals_without_torch(folder):
    z = np.load(folder / "z.npy")
    assert max_diff(np.concatenate([sg2.z_from_seed(seed, 64) for seed in (3, 11)]), z) <= 5e-7
    for seed, shapes in [(0, [(1, 8), (3, 3), (1, 5)]), (7, [(4096, 64), (1, 100), (2, 512)])]:
        torch.manual_seed(seed)
        replay = sg2.TorchCPURandom(seed)
        for shape in shapes:  # consecutive calls continue the same stream
            assert max_diff(replay.randn(*shape), torch.randn(*shape).numpy()) <= 5e-7


def test_mapping_truncation_style_mixing_match_the_official_forward(loaded, folder):
    _, _, generator, _ = loaded
    z = torch.from_numpy(np.load(folder / "z.npy"))
    latent_avg = torch.from_numpy(np.load(folder / "latent_avg.npy"))
    mapping, synthesis = sg2.inference_networks(generator).values()
    with torch.no_grad():
        assert max_diff(mapping(z)[:, 0], np.load(folder / "w.npy")) <= TOLERANCE
        # the official forward, one sample per call ...
        official = torch.cat([generator([z[i:i + 1]], randomize_noise=False)[0] for i in range(2)])
        assert max_diff(official, np.load(folder / "expected_trunc1.0.npy")) <= TOLERANCE
        mixed = generator([z[0:1], z[1:2]], inject_index=3, randomize_noise=False)[0]
        assert max_diff(mixed, np.load(folder / "expected_mix.npy")) <= TOLERANCE
        # ... and the entry points, both samples as one batch
        assert max_diff(synthesis(mapping(z, 0.7, latent_avg)), np.load(folder / "expected_trunc0.7.npy")) <= TOLERANCE
        ws = sg2.mix_latents(mapping(z[0:1], 0.7, latent_avg), mapping(z[1:2], 0.7, latent_avg), inject_index=3)
        assert max_diff(synthesis(ws), np.load(folder / "expected_mix_trunc0.7.npy")) <= TOLERANCE


@pytest.fixture(scope="module")
def train_py_checkpoint(folder):
    """checkpoint.pt alone: generate.py's own paths apply to train.py files (no latent_avg)."""
    state_dict = sg2.normalize_keys(flatten_state_dict(read_checkpoint(folder / "checkpoint.pt")))
    generator = sg2.build(sg2.infer_config(state_dict))
    load_state_dict_strictly(generator, state_dict, arch=sg2.SPEC.arch)
    return generator.eval()


def test_generate_py_order_for_a_file_without_latent_avg(train_py_checkpoint, folder):
    generator = train_py_checkpoint
    mean_z, z = sg2.generate_py_latents(3, 64)  # mean_latent(4096) draws first, then z
    assert max_diff(z, np.load(folder / "z_generate_py_seed3_trunc0.7.npy")) <= 5e-7
    mapping, synthesis = sg2.inference_networks(generator).values()
    with torch.no_grad():
        mean_latent = sg2.mean_latent_like_generate_py(generator, mean_z)
        assert max_diff(mean_latent, np.load(folder / "mean_latent_generate_py_seed3.npy")) <= TOLERANCE
        image = synthesis(mapping(torch.from_numpy(z), 0.7, mean_latent))
        with pytest.raises(ValueError, match="truncation_latent"):
            mapping(torch.from_numpy(z), 0.7)  # no latent_avg in a train.py file
    assert max_diff(image, np.load(folder / "expected_generate_py_seed3_trunc0.7.npy")) <= TOLERANCE


def test_generate_py_with_fresh_noise_drawn_in_its_order(train_py_checkpoint, folder):
    """generate.py's default (randomize_noise=True) after torch.manual_seed(3): z, then each layer's noise."""
    torch.manual_seed(3)
    with torch.no_grad():
        image = train_py_checkpoint([torch.randn(1, 64)])[0][0]
    # save_image(normalize=True, range=(-1, 1)): clamp, (x + 1) / 2, * 255 + 0.5, truncated
    pixels = ((image.clamp(-1, 1) + 1) / 2 * 255 + 0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    expected = np.asarray(Image.open(folder / "expected_generate_py_seed3_random_noise.png").convert("RGB"))
    assert np.abs(pixels.astype(int) - expected.astype(int)).max() <= 1


def test_latent_avg_truncation_tensor_psi_and_noise_modes(folder):
    state_dict = sg2.normalize_keys(flatten_state_dict(read_checkpoint(folder / "converted.pt")))
    generator = sg2.build(sg2.infer_config(state_dict))
    load_state_dict_strictly(generator, state_dict, arch=sg2.SPEC.arch)
    mapping, synthesis = sg2.inference_networks(generator.eval()).values()
    z = torch.from_numpy(np.load(folder / "z.npy"))[:1]
    with torch.no_grad():
        truncated = mapping(z, 0.7)  # convert_weight.py's latent_avg by default
        assert torch.equal(truncated, mapping(z, 0.7, generator.latent_avg))
        torch.testing.assert_close(mapping(z, torch.tensor(0.7)), truncated)
        const = synthesis(truncated)
        assert not torch.equal(const, synthesis(truncated, noise_mode="none"))
        assert not torch.equal(const, synthesis(truncated, noise_mode="random"))
        # the (N, 2) noise weights an exported graph takes give each mode's image exactly
        for mode in ("const", "none"):
            assert torch.equal(synthesis(truncated, torch.from_numpy(sg2.noise_weights(mode, 1))),
                               synthesis(truncated, noise_mode=mode))
        torch.manual_seed(5)
        official_random = generator([truncated[:, 0]], input_is_latent=True)[0]  # randomize_noise=True
        torch.manual_seed(5)
        assert torch.equal(synthesis(truncated, torch.from_numpy(sg2.noise_weights("random", 1))), official_random)


# ----------------------------------------------------------------------------- configs the fixture does not have

VARIANTS = {
    "64px-official-widths-cm1": sg2.Config(size=64, style_dim=32, n_mlp=2, channel_multiplier=1),
    "128px-narrow-3-mlp": sg2.Config(size=128, style_dim=16, n_mlp=3, channels=(32, 32, 24, 16, 16, 8)),
    "16px-8-mlp-latent-avg": sg2.Config(size=16, style_dim=8, n_mlp=8, channels=(16, 12, 8), latent_avg=True),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_state_dict_round_trips_to_the_same_config(name):
    config = VARIANTS[name]
    torch.manual_seed(0)
    state_dict = sg2.build(config).state_dict()
    assert sg2.matches(state_dict)
    inferred = sg2.infer_config(sg2.normalize_keys(state_dict))
    assert inferred == config
    load_state_dict_strictly(sg2.build(inferred), state_dict, arch=sg2.SPEC.arch)
    # the same weights inside a train.py-style file: g_ema is the one kept
    flat = flatten_state_dict({"g": {k: v + 1 for k, v in state_dict.items()}, "g_ema": state_dict})
    assert all(torch.equal(sg2.normalize_keys(flat)[key], state_dict[key]) for key in state_dict)


@pytest.mark.parametrize("size, multiplier", [(256, 1), (512, 2), (1024, 2)])
def test_released_sizes_are_read_back_from_their_shapes(size, multiplier):
    config = sg2.Config(size=size, style_dim=512, n_mlp=8, channel_multiplier=multiplier, latent_avg=True)
    with torch.device("meta"):  # shapes only, no memory
        state_dict = sg2.build(config).state_dict()
    assert sg2.infer_config(state_dict) == config
    assert sg2.n_latent(config) == {256: 14, 512: 16, 1024: 18}[size]


def test_onnx_export_of_mapping_and_synthesis(tmp_path):
    config = sg2.Config(size=32, style_dim=16, n_mlp=2, channels=(16, 16, 12, 8))
    torch.manual_seed(0)
    generator = sg2.build(config).eval()
    with torch.no_grad():  # values the official init leaves at 0, so that forgetting them would show
        for name, parameter in generator.named_parameters():
            if name.endswith(("noise.weight", "activate.bias")):
                parameter.normal_(0, 0.2)
    for name, network in sg2.inference_networks(generator).items():
        path = export_network(network, sg2.example_inputs(config, name, batch=2), tmp_path / f"{name}.onnx", dynamic_size=False)
        session = OnnxNetwork(path, "cpu")
        for batch in (1, 2):
            inputs = sg2.example_inputs(config, name, batch=batch)
            with torch.no_grad():
                expected = network(*inputs.values()).numpy()
            assert max_diff(session(*(t.numpy() for t in inputs.values())), expected) <= 1e-3
