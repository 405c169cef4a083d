"""ONNX export of any PyTorch model in the registry, with a parity check against PyTorch.

A model exports as a folder: one ``<network>.onnx`` per network (CycleGAN's two
generators, StarGAN v2's generator + mapping network + style encoder, ...) and a
``model.json`` manifest entry that the registry loads as an ONNX model. Each ONNX
file also carries the entry in its metadata, so a lone file still describes itself.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ganstudio.errors import BackendError
from ganstudio.files import atomic_path
from ganstudio.manifest import ModelEntry
from ganstudio.registry import LoadedModel, read_model_json

OPSET = 17
# Recorded with each cached export: an export made by an older exporter is made again. 2: models that take
# one size are traced at that size (1 traced them at 256 px, which such a model then refused to run at 32).
EXPORTER_VERSION = 2
PARITY_TOLERANCE = 1e-3
EXAMPLE_BATCH = 2


def export_onnx(model: LoadedModel, target_dir: str | os.PathLike, *, source: str = "", check: bool = True) -> ModelEntry:
    """Export every network of a PyTorch model to ``target_dir`` and return its ONNX entry.

    Batch is dynamic; height and width are dynamic unless the network takes a fixed size.

    Raises:
        BackendError: the model is not a PyTorch model, or ONNX Runtime disagrees with PyTorch.
    """
    from ganstudio.models import get_architecture
    from ganstudio.models.spec import config_from

    if model.backend != "torch":
        raise BackendError(f"model '{model.name}' is already an ONNX model.")
    arch = get_architecture(model.arch)
    if not arch.SPEC.exports_onnx:
        raise BackendError(f"{arch.SPEC.title} models do not export to ONNX.")
    config = config_from(arch.Config, model.config)
    target = Path(target_dir)
    target.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    parity: dict[str, float] = {}
    fixed_size = model.preprocessing.get("fixed_size")
    fixed = fixed_size is not None
    for name, network in model.networks.items():
        module = network.module.to("cpu")
        # batch 2, so an input whose first axis is not the batch (AdaIN's alpha) stays fixed; a model that takes
        # one size (the 32 px digit models) is traced at that size, as height and width are not left free
        inputs = arch.example_inputs(config, name if arch.SPEC.container else "G", batch=EXAMPLE_BATCH,
                                     size=int(fixed_size) if fixed else None)
        path = target / f"{name}.onnx"
        export_network(module, inputs, path, dynamic_size=not fixed)
        files[name] = path.name
        if check:
            parity[name] = check_parity(module, path, inputs, output_range=model.preprocessing.get("output_range"))
        network.module.to(network.device)
    entry = ModelEntry(
        name=f"{model.name}-onnx" if not model.name.endswith("-onnx") else model.name,
        arch=model.arch, tasks=model.entry.tasks, format="onnx", files=files,
        config=dict(model.config), preprocessing=dict(model.preprocessing), labels=tuple(model.labels),
        info=model.info.to_json(), source=source or model.entry.source or model.name,
        description=f"ONNX export of {model.name}.", metrics={"onnx_parity_max_abs_diff": parity} if parity else {},
    )
    for name in files:
        _write_metadata(target / files[name], entry, network=name)
    (target / "model.json").write_text(json.dumps(entry.to_json(), indent=1), encoding="utf-8")
    return read_model_json(target / "model.json")


def export_network(module, inputs: dict, path: str | os.PathLike, *, dynamic_size: bool = True) -> Path:
    """Export one network traced on ``inputs`` (batch EXAMPLE_BATCH): dynamic batch, and dynamic
    height/width for image inputs and the output when ``dynamic_size``."""
    import torch

    dynamic = {name: _dynamic_axes(tensor, dynamic_size) for name, tensor in inputs.items()}
    dynamic["output"] = {0: "batch", 2: "height", 3: "width"} if dynamic_size else {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, tuple(inputs.values()), str(path), dynamo=False, opset_version=OPSET,
            input_names=list(inputs), output_names=["output"], dynamic_axes=dynamic,
        )
    return Path(path)


def _dynamic_axes(tensor, dynamic_size: bool) -> dict[int, str]:
    axes = {0: "batch"} if tensor.dim() and tensor.shape[0] == EXAMPLE_BATCH else {}
    if tensor.dim() == 4 and tensor.shape[2] > 1 and dynamic_size:
        axes.update({2: "height", 3: "width"})
    return axes


def check_parity(module, path: Path, inputs: dict, *, output_range=None) -> float:
    """Max abs difference between PyTorch and ONNX Runtime on the same inputs, on a unit scale.

    Outputs in 0..255 units (fast neural style) are divided by 255, so the tolerance means the
    same thing for every architecture.

    Raises:
        BackendError: the difference exceeds PARITY_TOLERANCE.
    """
    import torch

    from ganstudio.runtime import OnnxNetwork

    with torch.inference_mode():
        expected = module(*inputs.values()).float().numpy()
    actual = OnnxNetwork(path, "cpu")(*(tensor.numpy() for tensor in inputs.values()))
    unit = 255.0 if output_range and output_range[1] - output_range[0] == 255 else 1.0
    difference = float(np.max(np.abs(expected - actual))) / unit
    if not difference <= PARITY_TOLERANCE:
        raise BackendError(f"ONNX export of '{path.name}' differs from PyTorch by {difference:.2e} (limit {PARITY_TOLERANCE}).")
    return difference


def _write_metadata(path: Path, entry: ModelEntry, *, network: str) -> None:
    import onnx

    proto = onnx.load(str(path))
    description = {**entry.to_json(), "network": network}
    for key in ("files", "name", "source", "metrics"):
        description.pop(key, None)
    prop = proto.metadata_props.add()
    prop.key, prop.value = "ganstudio", json.dumps(description)
    onnx.save(proto, str(path))



def export_archive(entry: ModelEntry) -> Path:
    """One zip of an export's files and its model.json, made once beside them and reused while it is current.

    Its bytes depend only on the files (fixed entry times, sorted names), so handing it out again costs no
    disk anywhere: neither here nor in a web server's content-addressed cache.
    """
    folder = Path(entry.base_dir)
    archive = folder / f"{entry.name}.zip"
    members = sorted({"model.json", *entry.files.values()})
    newest = max((folder / name).stat().st_mtime for name in members)
    if archive.is_file() and archive.stat().st_mtime >= newest:
        return archive
    with atomic_path(archive) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(folder / name, "rb") as source, bundle.open(info, "w") as target:
                while chunk := source.read(1 << 20):
                    target.write(chunk)
    return archive
