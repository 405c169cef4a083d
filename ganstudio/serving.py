"""Load a model on the backend a person chose: PyTorch as it is, or ONNX Runtime through a cached export.

This sits above both the registry (which loads what a manifest entry names) and the exporter
(which turns a loaded PyTorch model into ONNX files), so neither needs the other: the CLI and the
UI load models here.
"""

from __future__ import annotations

import os
import threading

from ganstudio.errors import ModelNotFoundError
from ganstudio.files import trim_to_budget
from ganstudio.manifest import ModelEntry
from ganstudio.registry import (
    LoadedModel,
    Registry,
    read_model_json,
    resolve_source,
    safe_name,
)
from ganstudio.runtime import Device

_EXPORT_LOCKS: dict[str, threading.Lock] = {}
_EXPORT_LOCKS_GUARD = threading.Lock()


def load_model(registry: Registry, spec: str | os.PathLike | ModelEntry, *, backend: str = "auto",
               device: Device = "auto") -> LoadedModel:
    """A model from the registry on ``backend`` ("auto": its own format, "torch", "onnx").

    A PyTorch model asked for with "onnx" is exported once into the user folder's ONNX cache
    (``<user dir>/onnx/<name>``) and reused while its weights are unchanged; the cache is kept within the
    policy's ``export_budget_bytes`` (least recently used exports first).

    Raises:
        BackendError: the backend cannot run the model.
        ModelNotFoundError, CheckpointError: as ``Registry.load``.
    """
    entry = registry.resolve(spec)
    if backend == "onnx" and entry.format != "onnx":
        entry = onnx_entry_for(registry, entry)
    return registry.load(entry, backend=backend, device=device)


def onnx_entry_for(registry: Registry, entry: ModelEntry) -> ModelEntry:
    """The ONNX export of a PyTorch entry, made once (one export at a time per model) and then read from the cache."""
    from ganstudio.export import export_onnx

    target = registry.user_dir / "onnx" / safe_name(entry.name)
    fingerprint = source_fingerprint(entry)
    with _EXPORT_LOCKS_GUARD:
        lock = _EXPORT_LOCKS.setdefault(str(target), threading.Lock())
    with lock:
        manifest_file = target / "model.json"
        if manifest_file.is_file():
            cached = read_model_json(manifest_file)
            if cached.source == fingerprint:
                os.utime(target)  # recently used: the last to go when the exports are over their budget
                return cached
        torch_model = registry.load(entry, backend="torch", device="cpu")
        exported = export_onnx(torch_model, target, source=fingerprint)
    # one export per model (a new one replaces the old); beyond the budget, the least recently used models' go
    trim_to_budget(target.parent, registry.policy.export_budget_bytes, keep=[target])
    return exported


def source_fingerprint(entry: ModelEntry) -> str:
    """Names, sizes and times of an entry's files: an export made from other weights is not reused."""
    stamps = []
    for role, source in sorted(entry.files.items()):
        try:
            stat = resolve_source(source, entry.base_dir).stat()
            stamps.append(f"{role}:{source}:{stat.st_size}:{int(stat.st_mtime)}")
        except (ModelNotFoundError, OSError):
            stamps.append(f"{role}:{source}")
    return "|".join(stamps)
