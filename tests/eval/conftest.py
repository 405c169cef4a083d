"""Fixtures for the evaluation tests: a registry of tiny untrained built-in models, and tiny judges."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

# name -> (arch, tiny config overrides, file roles, manifest extras), shaped like the built-in digit models
TINY_MODELS = {
    "digits-dcgan": ("dcgan", {"nz": 8, "ngf": 4, "nc": 1, "n_layers": 4}, ("G",), {"tasks": ["generate"]}),
    "digits-cgan": ("cgan", {"nz": 8, "ngf": 4, "nc": 1, "num_classes": 10, "embed_dim": 4, "n_layers": 4}, ("G",),
                    {"tasks": ["generate"], "labels": [str(i) for i in range(10)]}),
    "digits-infogan": ("infogan", {"nz": 6, "fc_dim": 16, "ngf": 4, "nc": 1, "base": 8}, ("G",),
                       {"tasks": ["generate"]}),
    "sketch2digit": ("pix2pix_unet", {"num_downs": 5, "ngf": 4}, ("G",),
                     {"tasks": ["translate"], "preprocessing": {"fixed_size": 32}}),
    "digits-cyclegan": ("cyclegan_resnet", {"ngf": 4, "n_blocks": 1}, ("G_A", "G_B"),
                        {"tasks": ["translate"], "preprocessing": {"fixed_size": 32}}),
    "digits-stargan": ("stargan", {"conv_dim": 4, "c_dim": 3, "repeat_num": 1}, ("G",),
                       {"tasks": ["edit"], "labels": ["red", "thick", "slanted"], "preprocessing": {"fixed_size": 32}}),
    "digits-stargan-v2": ("stargan_v2", {"img_size": 32, "style_dim": 8, "latent_dim": 4, "num_domains": 3,
                                         "max_conv_dim": 16, "dim_in": 8}, ("model",),
                          {"tasks": ["edit"], "labels": ["red", "green", "blue"]}),
}


def write_tiny_model(folder: Path, name: str, *, seed: int = 0, labels: list[str] | None = None, **changes) -> dict:
    """Save a tiny random model called ``name`` under ``folder`` as safetensors; return its manifest entry.

    ``labels`` and ``changes`` replace the manifest labels and override the tiny config (e.g.
    ``c_dim=2`` for a StarGAN that does not fit the spec).
    """
    import torch

    from ganstudio.checkpoints import write_safetensors
    from ganstudio.models import get_architecture

    arch_id, overrides, roles, extras = TINY_MODELS[name]
    arch = get_architecture(arch_id)
    config = dataclasses.replace(arch.Config(), **{**overrides, **changes})
    files = {}
    for offset, role in enumerate(roles):
        torch.manual_seed(seed + offset)
        network = arch.build(config)
        path = folder / name / f"{role}.safetensors"
        write_safetensors(path, network.state_dict(), arch=arch_id, config=dataclasses.asdict(config))
        files[role] = f"{name}/{role}.safetensors"
    entry = {"name": name, "arch": arch_id, "format": "safetensors", "files": files, **extras}
    if labels is not None:
        entry["labels"] = labels
    return entry


def write_tiny_registry(folder: Path, names: tuple[str, ...] = tuple(TINY_MODELS), **changes) -> Path:
    """A weights folder with a manifest of tiny random built-in models (``changes`` apply to each config)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [write_tiny_model(folder, name, **changes) for name in names]
    (folder / "manifest.json").write_text(json.dumps({"models": entries}), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory):
    """A registry holding every built-in digit model at a tiny size, untrained."""
    from ganstudio.registry import Registry

    root = tmp_path_factory.mktemp("tiny-registry")
    return Registry(weights_dir=write_tiny_registry(root / "weights"), user_dir=root / "user")


@pytest.fixture
def make_tiny_registry(tmp_path):
    """A factory: a registry holding only the named built-in models (tiny, untrained)."""
    from ganstudio.registry import Registry

    def make(*names: str, **changes):
        return Registry(weights_dir=write_tiny_registry(tmp_path / "weights", names, **changes), user_dir=tmp_path / "user")

    return make


@pytest.fixture(scope="session")
def tiny_judges(tmp_path_factory):
    """Judges trained for a few steps only (so they read digits poorly, but run the same code)."""
    from ganstudio.eval.classifier import ClassifierConfig
    from ganstudio.eval.suite import prepare_judges

    return prepare_judges(
        digit_config=ClassifierConfig(steps=30, copies=0, width=4, feature_dim=16),
        domain_config=ClassifierConfig(kind="domain", steps=5, copies=0, width=4, feature_dim=8),
        cache_dir=str(tmp_path_factory.mktemp("judges")),
    )
