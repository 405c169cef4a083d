"""StyleGAN models at tiny configs, in the official file formats, loaded through the registry once per module."""

from __future__ import annotations

import pytest
from support import save_tiny_checkpoint, tiny_stylegan_pickle


@pytest.fixture(scope="module")
def style_registry(tmp_path_factory):
    from ganstudio.registry import Registry

    return Registry(user_dir=tmp_path_factory.mktemp("user"))


@pytest.fixture(scope="module")
def sg2(style_registry, tmp_path_factory):
    """StyleGAN2-ADA, 32 px, unconditional: an NVlabs snapshot pickle."""
    folder = tmp_path_factory.mktemp("sg2")
    return style_registry.load(str(tiny_stylegan_pickle(folder / "network-snapshot-000000.pkl")))


@pytest.fixture(scope="module")
def sg2_classes(style_registry, tmp_path_factory):
    """StyleGAN2-ADA, 32 px, three classes."""
    folder = tmp_path_factory.mktemp("sg2c")
    return style_registry.load(str(tiny_stylegan_pickle(folder / "network-snapshot-000000.pkl", c_dim=3, seed=1)))


@pytest.fixture(scope="module")
def sg3(style_registry, tmp_path_factory):
    """StyleGAN3-T, 16 px."""
    folder = tmp_path_factory.mktemp("sg3")
    return style_registry.load(str(tiny_stylegan_pickle(folder / "network-snapshot-000000.pkl", "stylegan3")))


@pytest.fixture(scope="module")
def rosinality(style_registry, tmp_path_factory):
    """rosinality's generator as a bare g_ema state dict, 32 px, without latent_avg (as train.py files)."""
    path = tmp_path_factory.mktemp("rosinality") / "g_ema.pt"
    save_tiny_checkpoint("stylegan2", path, size=32, style_dim=16, n_mlp=2, channels=(16, 16, 12, 8))
    return style_registry.load(str(path))


@pytest.fixture
def dcgan(registry, tiny_dcgan):
    """A DCGAN generator (the "latent" pipeline), for what the StyleGAN options must not reach."""
    return registry.load(str(tiny_dcgan))
