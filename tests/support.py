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
