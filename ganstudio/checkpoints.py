"""Safe checkpoint readers and writers.

Reading never runs code: PyTorch files go through ``torch.load(weights_only=True)``
and safetensors files through ``safetensors``. Writing is safetensors only, with
the architecture and its config in the metadata so a file describes itself.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import struct
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ganstudio.errors import CheckpointError, UnsafeCheckpointError

if TYPE_CHECKING:
    import torch
    from torch import nn

PYTORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".tar", ".model")
SAFETENSORS_SUFFIX = ".safetensors"
CHECKPOINT_SUFFIXES = (*PYTORCH_SUFFIXES, SAFETENSORS_SUFFIX)

# Containers that training scripts commonly wrap a state dict in.
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "params_ema", "params")


def read_checkpoint(path: str | os.PathLike) -> dict[str, object]:
    """Read a checkpoint file into a (possibly nested) dict of tensors, without running code.

    Raises:
        CheckpointError: the file is missing, truncated, or not a checkpoint.
        UnsafeCheckpointError: the file is a pickle that would execute code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist or is not a file.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint '{path}' is empty. Copy the file again; the download may have failed.")
    if path.suffix == SAFETENSORS_SUFFIX:
        return _read_safetensors(path)
    return _read_torch(path)


def read_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata stored in a safetensors header (empty when there is none)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception as exc:  # safetensors raises its own error types
        raise CheckpointError(f"'{path}' is not a readable safetensors file ({exc}).") from exc


def _read_safetensors(path: Path) -> dict[str, object]:
    from safetensors.torch import load_file

    try:
        return dict(load_file(str(path), device="cpu"))
    except Exception as exc:
        raise CheckpointError(
            f"'{path}' is not a readable safetensors file ({exc}). It may be truncated: copy it again."
        ) from exc


def _read_torch(path: Path) -> dict[str, object]:
    import torch

    try:
        # rosinality's train.py saves its argparse options beside the weights: a Namespace is an
        # attribute bag (unpickling sets its __dict__, runs nothing), the one class allowed beyond tensors.
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses any global it does not know: that is a pickle that builds objects.
        raise UnsafeCheckpointError(
            f"'{path}' is a pickle that would run code or build arbitrary objects when loaded, so it was "
            "refused. Only plain state dicts (tensors in dicts) are loaded. If you trust its author, load it "
            "in Python yourself and save `model.state_dict()` with torch.save or safetensors."
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"'{path}' could not be read as a PyTorch checkpoint ({_first_line(exc)}). "
            "It may be truncated or not a checkpoint at all: copy or download it again."
        ) from exc
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping) and len(obj) <= 8:
                obj = obj[key]
                break
        return dict(obj)
    raise CheckpointError(
        f"'{path}' holds a {type(obj).__name__}, not a state dict. Save `model.state_dict()` instead of the model."
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def flatten_state_dict(obj: Mapping[str, object], prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten nested dicts of tensors into dotted keys (``{"generator": {"a": t}}`` -> ``{"generator.a": t}``).

    Entries that are neither tensors nor dicts (epoch counters, option strings) are dropped.
    """
    import torch

    flat: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, torch.Tensor):
            flat[name] = value
        elif isinstance(value, Mapping):
            flat.update(flatten_state_dict(value, prefix=f"{name}."))
    return flat


def strip_prefixes(state_dict: Mapping[str, torch.Tensor], prefixes: tuple[str, ...] = ("module.", "_orig_mod.")):
    """Remove DataParallel/DDP (``module.``) and ``torch.compile`` (``_orig_mod.``) prefixes wherever they appear."""
    pattern = re.compile(r"(^|\.)(" + "|".join(re.escape(p) for p in prefixes) + ")")
    result = {}
    for key, value in state_dict.items():
        new_key = key
        while True:
            stripped = pattern.sub(r"\1", new_key)
            if stripped == new_key:
                break
            new_key = stripped
        result[new_key] = value
    return result


NORM_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def drop_unowned_norm_statistics(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop norm statistics of layers that have no weight.

    Those belong to an InstanceNorm (affine=False) saved by PyTorch < 0.4, which kept running
    statistics that today's InstanceNorm neither has nor uses; junyanz's
    ``__patch_instance_norm_state_dict`` pops them. A BatchNorm always has its weight, so its
    statistics stay.
    """
    layers_with_weight = {key.rsplit(".", 1)[0] for key in state_dict if key.endswith(".weight")}
    return {
        key: value for key, value in state_dict.items()
        if key.rpartition(".")[2] not in NORM_STATISTICS or key.rpartition(".")[0] in layers_with_weight
    }


def add_missing_batch_counts(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Give every BatchNorm a ``num_batches_tracked`` (0), as torch's own loader does for files from PyTorch < 0.4.

    Without it the strict key check would refuse those files; the count only matters with momentum=None.
    """
    import torch

    result = dict(state_dict)
    for key in state_dict:
        if key.endswith(".running_mean"):
            result.setdefault(key[: -len("running_mean")] + "num_batches_tracked", torch.tensor(0, dtype=torch.long))
    return result


def load_state_dict_strictly(module: nn.Module, state_dict: Mapping[str, torch.Tensor], *, arch: str) -> None:
    """``module.load_state_dict(strict=True)`` with an error that names what was expected.

    Raises:
        CheckpointError: keys are missing or unexpected, or a shape differs.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        parts = [f"the checkpoint does not fit the '{arch}' architecture guessed from its keys"]
        if missing:
            parts.append(f"{len(missing)} missing key(s), first '{missing[0]}'")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), first '{unexpected[0]}'")
        raise CheckpointError("; ".join(parts) + ". Check that the file is the generator of a supported model.")
    for key, tensor in expected.items():
        if tuple(state_dict[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"the checkpoint does not fit the '{arch}' architecture: '{key}' has shape "
                f"{tuple(state_dict[key].shape)}, expected {tuple(tensor.shape)}."
            )
    module.load_state_dict(dict(state_dict), strict=True)


def write_safetensors(path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor], *, arch: str, config: dict) -> None:
    """Write a state dict as safetensors, atomically, with ``{"arch", "config"}`` metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # safetensors refuses shared or strided storage (e.g. broadcast views in old files): own each tensor.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    metadata = {"arch": arch, "config": json.dumps(config, sort_keys=True)}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        _sort_metadata_in_header(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _sort_metadata_in_header(path: str | os.PathLike) -> None:
    """Rewrite a safetensors header with its metadata keys in sorted order, in place.

    safetensors writes the metadata from a hash map, whose order changes from process to process,
    so the same weights would give files that differ as bytes. The header keeps its length (the
    same JSON in another order, padded with spaces as safetensors pads it), so the data stays put.
    """
    with open(path, "r+b") as handle:
        length = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(length))
        header["__metadata__"] = dict(sorted(header.get("__metadata__", {}).items()))
        ordered = {"__metadata__": header.pop("__metadata__"), **header}
        text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(text) <= length:
            handle.seek(8)
            handle.write(text + b" " * (length - len(text)))
