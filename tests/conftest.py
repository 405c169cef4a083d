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
