"""Safe checkpoint readers and writers.

Reading never runs code: PyTorch files go through ``torch.load(weights_only=True)``
and safetensors files through ``safetensors``. Before either, a file is looked at:
a Git LFS pointer, a web page or a text file saved under a checkpoint's name is
named for what it is, and a file that would take more than ``MAX_CHECKPOINT_BYTES``
once unpacked is refused before anything is inflated.

Training scripts rarely save a bare state dict: ``{"netG_state_dict": ...,
"optimizerG_state_dict": ..., "epoch": ...}``, ``{"generator": ..., "g_ema": ...}``,
Lightning's ``{"state_dict": {"generator.*": ...}}``. ``read_network_state_dict``
finds the network a known architecture recognises in such a container
(``find_networks`` lists them all); when there are several it says which and how to
pick one (``extract_network``).

NVlabs' network pickles (StyleGAN2-ADA, StyleGAN3: ``network-snapshot-*.pkl``, ``ffhq.pkl``) are
plain pickles, not ``torch.save`` files; they go through ``ganstudio.nvlabs_pickle``, which reads
the networks' tensors and constructor arguments without running anything stored in the file.

Writing is safetensors only, with the architecture and its config in the metadata so
a file describes itself.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ganstudio.errors import CheckpointError, UnsafeCheckpointError
from ganstudio.files import atomic_path
from ganstudio.models.keys import (  # noqa: F401 - the key repairs live with the architectures that need them
    NORM_STATISTICS,
    add_missing_batch_counts,
    drop_unowned_norm_statistics,
    strip_prefixes,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

PYTORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".tar", ".model")
SAFETENSORS_SUFFIX = ".safetensors"
CHECKPOINT_SUFFIXES = (*PYTORCH_SUFFIXES, SAFETENSORS_SUFFIX)

NETWORK_NAMES = ("G_ema", "G", "D")  # what a network pickle's snapshot holds, read by read_checkpoint

# Containers that training scripts commonly wrap a state dict in, unwrapped on reading whatever is inside.
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "params_ema", "params")

# The most memory a checkpoint may take once unpacked. torch.load inflates every entry of a zip checkpoint into
# memory; a 2 MB file whose entry declares 3 GB would otherwise exhaust a public Space.
MAX_CHECKPOINT_BYTES = int(os.environ.get("GANSTUDIO_MAX_CHECKPOINT_BYTES", str(2 * 1024**3)))

_LFS_POINTER = b"version https://git-lfs.github.com/spec/"
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6 (torch.serialization._is_zipfile)
# The legacy torch.save format opens with its magic number pickled as a 10-byte long (LONG1): a plain pickle doesn't.
_LEGACY_TORCH_MAGIC = b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"
_SNIFF_BYTES = 512


@dataclass(frozen=True)
class NetworkWeights:
    """One network read from a file: its flat state dict and, from a network pickle, the keyword arguments
    its constructor was called with (``None`` for a state dict: the shapes are all there is)."""

    state_dict: dict[str, torch.Tensor]
    init_kwargs: dict | None = None


def read_checkpoint(path: str | os.PathLike) -> dict[str, object]:
    """Read a checkpoint file into a (possibly nested) dict of tensors, without running code.

    Raises:
        CheckpointError: the file is missing, truncated, too large once unpacked, or not a checkpoint
            (a Git LFS pointer, a web page, a text file).
        UnsafeCheckpointError: the file is a pickle that would execute code.
    """
    path = Path(path)
    head = _sniff(path)
    if path.suffix == SAFETENSORS_SUFFIX:
        return _read_safetensors(path)
    if is_network_pickle(path, head):
        return {name: record.state_dict for name, record in _read_pickle(path, NETWORK_NAMES).networks.items()}
    return _read_torch(path)


def _sniff(path: Path) -> bytes:
    """The first bytes of a checkpoint, after refusing what is no checkpoint or would unpack too large."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist or is not a file.")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint '{path}' is empty. Copy the file again; the download may have failed.")
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    refuse_non_checkpoint(path, head)
    check_unpacked_size(path, zipped=head.startswith(_ZIP_MAGIC))
    return head


def is_network_pickle(path: str | os.PathLike, head: bytes) -> bool:
    """Whether a file is a plain pickle (NVlabs' network snapshots) rather than a ``torch.save`` or safetensors file.

    A ``.pkl`` name says so; otherwise a pickle stream (protocol 2 or later) that does not open with
    the legacy ``torch.save`` magic number. Either way the file is read by the restricted NVlabs
    reader, which refuses anything but network records and tensors.
    """
    if head.startswith(_ZIP_MAGIC) or Path(path).suffix == SAFETENSORS_SUFFIX:
        return False
    if Path(path).suffix == ".pkl":
        return True
    return head[:1] == b"\x80" and _LEGACY_TORCH_MAGIC not in head[:32]


def _read_pickle(path: Path, networks: tuple[str, ...]):
    from ganstudio.nvlabs_pickle import read_network_pickle

    return read_network_pickle(path, networks=networks)


def read_network(path: str | os.PathLike, *, key: str | None = None) -> NetworkWeights:
    """A checkpoint file's network, and its constructor's arguments when the file stores them.

    A network pickle gives its ``G_ema`` (the network NVlabs' scripts sample from) or the network
    named by ``key`` ("G", "D"), with ``init_kwargs``; any other file gives what
    ``read_network_state_dict`` gives.

    Raises:
        CheckpointError: as ``read_network_state_dict``; a pickle without the network ``key`` names.
        UnsafeCheckpointError: the file would run code or build arbitrary objects when unpickled.
    """
    path = Path(path)
    head = _sniff(path)
    if path.suffix != SAFETENSORS_SUFFIX and is_network_pickle(path, head):
        name = key or "G_ema"
        snapshot = _read_pickle(path, (name,))
        if name not in snapshot.networks:
            raise CheckpointError(f"'{path}' has no network '{name}'. Its keys: {', '.join(snapshot.keys)}.")
        record = snapshot.networks[name]
        return NetworkWeights(record.state_dict, record.init_kwargs)
    return NetworkWeights(read_network_state_dict(path, key=key))


def refuse_non_checkpoint(path: str | os.PathLike, head: bytes) -> None:
    """Name a Git LFS pointer, a web page or a text file for what it is (``head``: the file's first bytes).

    Without this, ``torch.load`` calls them pickles that would run code, which sends people the wrong way.

    Raises:
        CheckpointError: the file is one of those.
    """
    if head.startswith(_LFS_POINTER):
        raise CheckpointError(
            f"'{path}' is a Git LFS pointer, not the weights: the repository was cloned without its large files. "
            "Run `git lfs pull` in that clone (after `git lfs install`), or download the file itself, and open it again."
        )
    text = _as_text(head)
    if text is None:
        return
    start = text.lstrip().lower()
    if start.startswith(("<!doctype html", "<html", "<head", "<?xml")) or "<html" in start:
        raise CheckpointError(
            f"'{path}' is a web page (HTML), not a checkpoint: the download saved a page (a login, error or "
            "preview page) instead of the file. Download the file itself (on Hugging Face: the download button, "
            "a /resolve/ address rather than /blob/) and open it again."
        )
    first_line = text.strip().splitlines()[0][:60] if text.strip() else ""
    raise CheckpointError(
        f"'{path}' is a text file, not a checkpoint (it starts with {first_line!r}). "
        "A checkpoint is binary: the file saved by torch.save or safetensors."
    )


def _as_text(head: bytes) -> str | None:
    """``head`` decoded when it reads as text (UTF-8, no control characters but whitespace), else None.

    Checkpoints never do: a zip starts with PK\\x03\\x04, a legacy torch file with the pickle opcode 0x80,
    a safetensors file with an 8-byte length full of zero bytes.
    """
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # only a multi-byte character cut at the end may fail
            return None
        text = head[: exc.start].decode("utf-8")
    if any(ord(char) < 32 and char not in "\t\n\r\f" for char in text) or "\x7f" in text:
        return None
    return text


def check_unpacked_size(path: str | os.PathLike, *, zipped: bool | None = None, limit: int | None = None) -> int:
    """The bytes a checkpoint takes once unpacked, refused over ``limit`` (``MAX_CHECKPOINT_BYTES``) before loading.

    For a zip checkpoint (``torch.save`` since 1.6) that is the sum of the entries' declared uncompressed sizes,
    read from the zip's directory without inflating anything: torch allocates exactly those sizes. Any other file
    (the legacy format, safetensors) is bounded by its size on disk.

    Raises:
        CheckpointError: the size is over the limit, or the zip directory cannot be read.
    """
    path = Path(path)
    limit = MAX_CHECKPOINT_BYTES if limit is None else limit
    if zipped is None:
        with open(path, "rb") as handle:
            zipped = handle.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC
    if zipped:
        try:
            with zipfile.ZipFile(path) as archive:
                total = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise CheckpointError(
                f"'{path}' could not be read as a PyTorch checkpoint ({_first_line(exc)}). It may be truncated or "
                "damaged: copy or download it again."
            ) from exc
        what = "would unpack to"
    else:
        total = path.stat().st_size
        what = "is"
    if total > limit:
        raise CheckpointError(
            f"'{path}' {what} {_format_bytes(total)}, over this studio's limit of {_format_bytes(limit)} for a "
            "checkpoint, so it was not loaded. A GAN generator rarely takes more than a few hundred MB: check that "
            "this is the file you meant. To allow larger files, set GANSTUDIO_MAX_CHECKPOINT_BYTES."
        )
    return total


def _format_bytes(count: int) -> str:
    if count >= 1024**3:
        return f"{count / 1024**3:.1f} GiB"
    return f"{count / 1024**2:.1f} MiB"


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


# -- finding the network in a training script's container -------------------------------------

# Where training scripts keep a generator, for the examples in messages; any key one or two levels down is searched.
CONTAINER_KEYS = ("netG_state_dict", "generator", "G", "g_ema", "state_dict", "model", "net", "model_state_dict")


@dataclass(frozen=True)
class FoundNetwork:
    """A network in a checkpoint file: where it sits, the architecture that recognises it, and its state dict.

    ``key`` is "" for the whole file, else the dotted path of its container ("netG_state_dict",
    "state_dict.generator"); ``state_dict`` has that prefix removed.
    """

    key: str
    arch: str
    state_dict: dict[str, torch.Tensor]


def state_dict_candidates(state_dict: Mapping[str, torch.Tensor]) -> list[tuple[str, dict[str, torch.Tensor]]]:
    """Every place a network can sit in a flattened checkpoint, as (key, state dict) pairs.

    First the whole file (key ""), then the keys one level down ("netG_state_dict", "generator", "G"), then
    two ("state_dict.generator", a container nested once), each with its prefix removed. ``module.`` and
    ``_orig_mod.`` (DataParallel, torch.compile) are stripped from the keys first, wherever they are.
    """
    stripped = strip_prefixes(state_dict)
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for depth in (1, 2):
        for name, tensor in stripped.items():
            parts = name.split(".")
            if len(parts) > depth:
                groups.setdefault(".".join(parts[:depth]), {})[".".join(parts[depth:])] = tensor
    return [("", dict(state_dict)), *groups.items()]


def find_networks(state_dict: Mapping[str, torch.Tensor]) -> list[FoundNetwork]:
    """The networks that a known architecture recognises in a flattened checkpoint.

    The whole file when an architecture recognises it (a plain state dict, or a multi-network file such as
    StarGAN v2's ``*_nets_ema.ckpt``: it is never split); otherwise every container inside that holds one.
    Networks for a task come before training-only ones (discriminators), which are listed only when there is
    nothing else.
    """
    from ganstudio.models import get_architecture, matching_architectures

    found: list[FoundNetwork] = []
    for key, candidate in state_dict_candidates(state_dict):
        arches = matching_architectures(candidate)
        if arches:
            found.append(FoundNetwork(key, arches[0], candidate))
            if key == "":
                return found
    runnable = [network for network in found if get_architecture(network.arch).SPEC.tasks]
    return runnable or found


def read_network_state_dict(path: str | os.PathLike, *, key: str | None = None) -> dict[str, torch.Tensor]:
    """A checkpoint file's network as a flat state dict, taken out of the training script's container if needed.

    ``key`` picks a container by its dotted path (see ``find_networks``); without it the one network a known
    architecture recognises is taken, and a file where none is recognised comes back whole (flattened), for
    the caller to explain.

    Raises:
        CheckpointError: the file cannot be read; several networks are found and no ``key`` picks one (the
            message names them and how to pick); ``key`` is not in the file.
        UnsafeCheckpointError: the file is a pickle that would execute code.
    """
    flat = flatten_state_dict(read_checkpoint(path))
    if key is not None:
        return _candidate_at(path, flat, key)
    found = find_networks(flat)
    if len(found) <= 1:
        return found[0].state_dict if found else flat
    listed = ", ".join(f"'{network.key}' ({network.arch})" for network in found)
    example = found[0].key
    raise CheckpointError(
        f"'{path}' holds {len(found)} networks: {listed}. Pick one and save it on its own, e.g. "
        f"`python -m ganstudio extract {path} --key {example} --output {example.replace('.', '_')}.safetensors`, "
        "then open that file."
    )


def _candidate_at(path: str | os.PathLike, flat: Mapping[str, torch.Tensor], key: str) -> dict[str, torch.Tensor]:
    candidates = dict(state_dict_candidates(flat))
    if key in candidates and key:
        return candidates[key]
    found = find_networks(flat)
    known = ", ".join(f"'{network.key or '(the whole file)'}' ({network.arch})" for network in found) or "none"
    raise CheckpointError(f"'{path}' has no network under '{key}'. Networks found in it: {known}.")


def extract_network(path: str | os.PathLike, *, key: str, output: str | os.PathLike) -> FoundNetwork:
    """Save the network under ``key`` of a checkpoint as a safetensors file of its own, with its arch and config.

    Raises:
        CheckpointError: ``output`` is not a .safetensors file, ``key`` is not in the file, or no architecture
            recognises what is there.
    """
    import dataclasses

    if Path(output).suffix != SAFETENSORS_SUFFIX:
        raise CheckpointError(f"the extracted network is written as safetensors: name the output '*.safetensors', not '{output}'.")

    from ganstudio.models import get_architecture, matching_architectures

    state_dict = read_network_state_dict(path, key=key)
    arches = matching_architectures(state_dict)
    if not arches:
        first = ", ".join(list(state_dict)[:3])
        raise CheckpointError(f"'{key}' in '{path}' is not a network of a supported architecture (its first keys: {first}).")
    arch = get_architecture(arches[0])
    normalized = arch.normalize_keys(state_dict)
    config = dataclasses.asdict(arch.infer_config(normalized))
    write_safetensors(output, normalized, arch=arch.SPEC.arch, config=config)
    return FoundNetwork(key, arch.SPEC.arch, normalized)


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

    # safetensors refuses shared or strided storage (e.g. broadcast views in old files): own each tensor.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    metadata = {"arch": arch, "config": json.dumps(config, sort_keys=True)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        _sort_metadata_in_header(tmp)


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
