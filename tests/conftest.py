"""Shared fixtures: the official-format conformance files and small sample images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import CONFORMANCE_DIR, REPO_ROOT, save_tiny_checkpoint  # noqa: F401 - re-exported for older imports


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
