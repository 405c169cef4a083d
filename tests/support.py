"""Helpers shared by the tests (import them as ``from support import ...``)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE_DIR = Path(os.environ.get("GANSTUDIO_CONFORMANCE", REPO_ROOT.parent / "shared" / "conformance"))


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


def package_file(package: str, inner: str) -> Path:
    """A file shipped inside an installed package, found without importing it; the test is skipped (failed on CI)
    when the package is not installed."""
    import importlib.util

    import pytest

    spec = importlib.util.find_spec(package)
    path = Path(next(iter(spec.submodule_search_locations))) / inner if spec and spec.submodule_search_locations else None
    if path is None or not path.exists():
        message = f"package '{package}' (file {inner}) is not installed: pip install {package.replace('_', '-')}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def load_package_module(package: str, module: str):
    """One module file of an installed package, executed by path: its package's ``__init__`` does not run.

    omniart_eye_generator's ``__init__`` loads its weights with a bare ``torch.load`` (they were saved from CUDA,
    so that fails without a GPU); vintagify's imports torchvision and matplotlib for its inference script.
    """
    import importlib.util

    path = package_file(package, f"{module}.py")
    spec = importlib.util.spec_from_file_location(f"_package_{package}_{module}", path)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def save_random_vgg19(path: Path, *, last_layer: str = "relu3_1", seed: int = 0) -> Path:
    """VGG-19 in torchvision's file layout (``features.<i>.*``), random weights, cut after ``last_layer``.

    No real VGG-19 weights exist offline; a file cut after relu3_1 holds 0.6 M values (2 MB) where the real one
    holds 143 M, and loads as the real one does (``feature_network.load_vgg19`` reads the depth from the file).
    """
    import torch

    from ganstudio.models import vgg19

    torch.manual_seed(seed)
    network = vgg19.build(vgg19.Config(depth=vgg19.LAYERS["torchvision"][last_layer] + 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(network.state_dict(), path)
    return path
