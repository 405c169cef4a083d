"""Shared fixtures: the official-format conformance files and small sample images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE_DIR = Path(os.environ.get("GANSTUDIO_CONFORMANCE", REPO_ROOT.parent / "shared" / "conformance"))


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """``../shared/conformance``: official-format checkpoints with inputs and expected outputs."""
    if not CONFORMANCE_DIR.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"conformance fixtures missing at {CONFORMANCE_DIR}")
        pytest.skip(f"conformance fixtures not found at {CONFORMANCE_DIR} (set GANSTUDIO_CONFORMANCE)")
    return CONFORMANCE_DIR


@pytest.fixture
def registry(tmp_path):
    """The bundled models plus an empty user folder of this test's own."""
    from ganstudio.registry import Registry

    return Registry(user_dir=tmp_path / "user")


def save_tiny_checkpoint(arch: str, path: Path, *, seed: int = 0, **overrides) -> Path:
    """Build a small model of ``arch`` with random weights and save its state dict as the official code would."""
    import dataclasses

    import torch

    from ganstudio.models import get_architecture

    module = get_architecture(arch)
    torch.manual_seed(seed)
    network = module.build(dataclasses.replace(module.Config(), **overrides))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(network.state_dict(), path)
    return path


@pytest.fixture
def tiny_dcgan(tmp_path) -> Path:
    """A 3-channel DCGAN generator (nz=8, ngf=4) saved as ``netG_epoch_0.pth``."""
    return save_tiny_checkpoint("dcgan", tmp_path / "dcgan" / "netG_epoch_0.pth", nz=8, ngf=4)


@pytest.fixture(scope="session")
def chelsea():
    """skimage's cat photo (451x300), a real RGB image."""
    from PIL import Image
    from skimage import data

    return Image.fromarray(data.chelsea())
