"""What a result records about how it was made, so that anyone holding the image can make it again.

Each task puts a recipe on the images it returns (``images.with_recipe``); whoever saves them
(the CLI, the UI) writes it into the PNG, and ``python -m ganstudio info IMAGE`` reads it back.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from ganstudio import __version__
from ganstudio.registry import LoadedModel

RUNTIMES = ("torch", "onnxruntime-gpu", "onnxruntime")


def recipe(model: LoadedModel, task: str, **settings: Any) -> dict:
    """Model (name, architecture, weights hash), task, its settings (those that are set), backend, device and versions."""
    return {
        "app": "GAN Studio",
        "version": __version__,
        "task": task,
        "model": model.name,
        "arch": model.arch,
        "weights": model.fingerprint,
        "backend": model.backend,
        "device": model.device,
        "settings": {name: value for name, value in settings.items() if value is not None},
        "runtime": _runtime_version(model.backend),
    }


def _runtime_version(backend: str) -> str:
    names = ("torch",) if backend == "torch" else ("onnxruntime-gpu", "onnxruntime")
    for name in names:
        try:
            return f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return ""
