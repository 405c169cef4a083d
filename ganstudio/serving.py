"""Load a model on the backend and precision a person chose: PyTorch as it is, ONNX Runtime through a cached
export, and int8 through a cached quantised copy of that export.

This sits above both the registry (which loads what a manifest entry names) and the exporter
(which turns a loaded PyTorch model into ONNX files), so neither needs the other: the CLI and the
UI load models here.

Caches, in the user folder (``<user dir>/onnx``): ``<name>/`` holds the ONNX export of a PyTorch model and
``<name>-int8/`` the int8 networks beside it, each with a ``model.json`` that records what it was made from
(the weights' files, and for int8 the quantisation recipe), so a file made from other weights or by
another recipe is made again instead of reused.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ganstudio.errors import BackendError, ModelNotFoundError
from ganstudio.files import trim_to_budget, write_text_atomically
from ganstudio.manifest import ModelEntry
from ganstudio.quantize import RECIPE, Fidelity, is_quantized, quantize_network
from ganstudio.registry import (
    LoadedModel,
    Registry,
    load_onnx_model,
    read_model_json,
    resolve_source,
    safe_name,
)
from ganstudio.runtime import Device, Precision, PrecisionSupport, precision_support

_EXPORT_LOCKS: dict[str, threading.Lock] = {}
_EXPORT_LOCKS_GUARD = threading.Lock()


class Calibration(Protocol):
    """How an int8 model is calibrated and checked: ``ganstudio.tasks.calibrate.TaskCalibration`` runs the tasks."""

    def record(self, model: LoadedModel) -> Mapping[str, Sequence[Mapping[str, np.ndarray]]]:
        """Each network's inputs (by input name) while the float model does its task on calibration samples."""

    def compare(self, reference: LoadedModel, candidate: LoadedModel) -> Fidelity:
        """The candidate's images against the reference's on samples calibration did not see."""


def load_model(registry: Registry, spec: str | os.PathLike | ModelEntry, *, backend: str = "auto",
               device: Device = "auto", precision: Precision = "fp32", calibration: Calibration | None = None) -> LoadedModel:
    """A model from the registry on ``backend`` ("auto": its own format, "torch", "onnx") in ``precision``.

    A PyTorch model asked for with "onnx" is exported once into the user folder's ONNX cache
    (``<user dir>/onnx/<name>``) and reused while its weights are unchanged; the cache is kept within the
    policy's ``export_budget_bytes`` (least recently used exports first). "int8" runs with ONNX Runtime
    on the CPU (also when ``backend`` is "auto"): the float ONNX networks are quantised once, calibrated with
    ``calibration``, into ``<user dir>/onnx/<name>-int8``, and reused. "fp16"/"bf16" autocast PyTorch, or
    (fp16) convert the ONNX graph on a GPU.

    Raises:
        BackendError: the backend cannot run the model, or the precision does not run natively here (the
            message says why and what to use); int8 asked for the first time without ``calibration``.
        ModelNotFoundError, CheckpointError: as ``Registry.load``.
    """
    entry = registry.resolve(spec)
    chosen = backend if backend != "auto" else ("onnx" if entry.format == "onnx" or precision == "int8" else "torch")
    if precision == "int8" and device == "auto":
        device = "cpu"  # int8 is the CPU's fast path; a GPU runs fp16
    support = check_precision(precision, backend=chosen, device=device)
    if not support.usable:
        raise BackendError(f"{precision} is not available for '{entry.name}' here: {support.note}")
    if chosen == "onnx" and entry.format != "onnx":
        entry = onnx_entry_for(registry, entry)
    if precision == "int8":
        entry = int8_entry_for(registry, entry, calibration=calibration)
    return registry.load(entry, backend=chosen, device=device, precision=precision)


def check_precision(precision: str, *, backend: str, device: Device = "auto") -> PrecisionSupport:
    """``precision_support`` on the device ``backend`` would use for ``device`` here."""
    if precision == "fp32":
        return precision_support(precision, backend=backend, device="cpu")
    if backend == "torch":
        from ganstudio.runtime import torch_device

        place = torch_device(device)
    else:
        from ganstudio.runtime import onnx_providers

        place = "cuda" if onnx_providers(device)[0] == "CUDAExecutionProvider" else "cpu"
    return precision_support(precision, backend=backend, device=place)


def onnx_entry_for(registry: Registry, entry: ModelEntry) -> ModelEntry:
    """The ONNX export of a PyTorch entry, made once (one export at a time per model) and then read from the cache."""
    from ganstudio.export import EXPORTER_VERSION, export_onnx

    target = registry.user_dir / "onnx" / safe_name(entry.name)
    fingerprint = f"{source_fingerprint(entry)}|exporter {EXPORTER_VERSION}"
    with _cache_lock(target):
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


def int8_entry_for(registry: Registry, entry: ModelEntry, *, calibration: Calibration | None) -> ModelEntry:
    """The int8 version of an ONNX entry: made once (calibrated through ``calibration``), then read from the cache.

    A network that is already integer (a published int8 file) is used as it is; when every network is,
    the entry itself is the int8 model. The new entry's ``metrics["int8"]`` holds the recipe, how many
    inputs calibrated each network, and the measured ``fidelity`` against fp32 on held-out samples.

    Raises:
        BackendError: the cache is missing or stale and there is no ``calibration`` to make it.
    """
    sources = {role: resolve_source(source, entry.base_dir) for role, source in entry.files.items()}
    integer = {role for role, path in sources.items() if is_quantized(path)}
    if integer == set(sources):
        return entry
    base_name = entry.name.removesuffix("-onnx")
    target = registry.user_dir / "onnx" / f"{safe_name(base_name)}-int8"
    fingerprint = f"{source_fingerprint(entry)}|{RECIPE}"
    with _cache_lock(target):
        manifest_file = target / "model.json"
        if manifest_file.is_file():
            cached = read_model_json(manifest_file)
            if cached.source == fingerprint and all((target / path).is_file() for path in cached.files.values()):
                return cached
        if calibration is None:
            raise BackendError(f"'{base_name}' has no int8 version yet, and making one needs calibration inputs: "
                               "load it through the CLI or the app, which run its task on sample pictures.")
        reference = registry.load(entry, backend="onnx", device="cpu")
        feeds = calibration.record(reference)
        files = {}
        for role, path in sources.items():
            if role in integer:
                files[role] = str(path)  # published int8: used as it is
                continue
            if not feeds.get(role):
                raise BackendError(f"the '{role}' network of '{base_name}' got no input during calibration; run it in fp32.")
            quantize_network(path, target / f"{role}.onnx", feeds[role])
            files[role] = f"{role}.onnx"
        candidate = entry.with_updates(name=f"{base_name}-int8", files=files, base_dir=str(target))
        fidelity = calibration.compare(reference, load_onnx_model(candidate, device="cpu", precision="int8"))
        metrics = {**entry.metrics, "int8": {"recipe": RECIPE, "fidelity": fidelity.to_json(),
                                             "calibration_inputs": {role: len(feeds.get(role, ())) for role in files}}}
        made = candidate.with_updates(source=fingerprint, metrics=metrics,
                                      description=f"int8 ({RECIPE}) of {base_name}: {fidelity.describe()}.")
        write_text_atomically(manifest_file, json.dumps(made.to_json(), indent=1))
        return read_model_json(manifest_file)


def int8_fidelity(model: LoadedModel) -> Fidelity | None:
    """What quantising cost a loaded int8 model, as measured when it was made (None when not measured)."""
    measured = model.entry.metrics.get("int8", {}).get("fidelity")
    return Fidelity.from_json(measured) if measured else None


def _cache_lock(target: Path) -> threading.Lock:
    with _EXPORT_LOCKS_GUARD:
        return _EXPORT_LOCKS.setdefault(str(target), threading.Lock())


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
