"""Read NVlabs network pickles (StyleGAN2-ADA, StyleGAN3) without running them.

``training_loop.py`` of NVlabs/stylegan2-ada-pytorch and NVlabs/stylegan3 writes its snapshots
(``network-snapshot-<kimg>.pkl``, and NVIDIA's released ``ffhq.pkl``, ``stylegan3-t-*.pkl``, ...)
with a plain ``pickle.dump`` of ``{G, D, G_ema, augment_pipe, training_set_kwargs}``. Every network
in it is a ``torch_utils.persistence`` object: ``REDUCE(_reconstruct_persistent_obj, (meta,))`` with
``meta = {type: "class", version, module_src, class_name, state}``, where ``module_src`` is the
whole source text of the Python module that defined the class and ``state`` the ``nn.Module``
``__dict__``. The official loader **executes** ``module_src``; opening such a file with ``pickle``
runs code written by whoever made the file.

This reader never does. A restricted ``pickle.Unpickler`` resolves exactly these globals, each to
a local handler, and refuses every other one (``UnsafeCheckpointError`` naming it):

- ``torch_utils.persistence._reconstruct_persistent_obj``: a ``PersistentRecord`` (class name,
  ``module_src`` kept as text and never run, state). Only the classes NVlabs' networks, training
  and augmentation modules define are accepted.
- ``torch._utils._rebuild_tensor_v2``, ``torch._utils._rebuild_parameter``,
  ``torch.storage._load_from_bytes``: tensors, read from the legacy ``torch.save`` archive each
  storage is pickled as (parsed here by hand; its inner pickles may only name ``torch.*Storage``).
- ``collections.OrderedDict``; ``dnnlib.util.EasyDict`` (read as a plain dict).
- ``numpy.dtype``, ``numpy.ndarray`` and ``numpy.core.multiarray.scalar`` / ``_reconstruct`` in
  both spellings (``numpy.core`` from NumPy 1, ``numpy._core`` from NumPy 2), numeric dtypes only:
  the numpy attributes the modules keep (``weight_gain``, StyleGAN3's ``in_size``).
- ``numpy.core.numeric._frombuffer`` (both spellings): how NumPy pickles an array at protocol 5,
  the default of Python 3.14. Not in the files released so far; the same data as ``_reconstruct``.
- ``_codecs.encode`` (latin-1 only) and ``builtins.set`` / ``frozenset``: how protocols 2 and 3
  store ``bytes`` and sets (protocol 4 has opcodes for both). A file written by Python 3.7
  (protocol 3) names ``builtins.set`` for every module's ``_non_persistent_buffers_set``.

Protocols 2 to 5 read alike (GLOBAL or STACK_GLOBAL, BINPUT or MEMOIZE). Nothing from
``torch_utils`` or ``dnnlib`` is imported, and torch only to hand the tensors back.

Result: for ``G_ema`` (the network the official scripts sample from) and, when present, ``D`` and
``G``, a flat state dict (walk ``_parameters``, ``_buffers`` minus ``_non_persistent_buffers_set``,
``_modules``, joining names with ``.``, as ``nn.Module.state_dict`` does), the constructor's
``init_args`` / ``init_kwargs``, the class name, and which architecture it is (``arch``:
``stylegan2_ada`` or ``stylegan3``; ``variant``: ``stylegan2-ada``, ``stylegan2`` (the StyleGAN3
repository's copy), ``stylegan3-t`` or ``stylegan3-r``).
"""

from __future__ import annotations

import _compat_pickle
import collections
import io
import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from ganstudio.errors import CheckpointError, UnsafeCheckpointError

if TYPE_CHECKING:
    import torch

# Every class decorated with @persistence.persistent_class in NVlabs/stylegan2-ada-pytorch
# (training/networks.py, training/augment.py) and NVlabs/stylegan3 (training/networks_stylegan2.py,
# training/networks_stylegan3.py, training/augment.py).
KNOWN_CLASSES = frozenset({
    "Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer", "SynthesisInput",
    "ToRGBLayer", "FullyConnectedLayer", "Conv2dLayer", "Discriminator", "DiscriminatorBlock",
    "DiscriminatorEpilogue", "MinibatchStdLayer", "AugmentPipe",
})
PERSISTENCE_VERSION = 6  # torch_utils/persistence.py `_version` in both repositories
NETWORK_NAMES = ("G_ema", "G", "D")

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "FloatStorage": ("float32", np.float32), "DoubleStorage": ("float64", np.float64),
    "HalfStorage": ("float16", np.float16), "BFloat16Storage": ("bfloat16", np.uint16),
    "LongStorage": ("int64", np.int64), "IntStorage": ("int32", np.int32), "ShortStorage": ("int16", np.int16),
    "CharStorage": ("int8", np.int8), "ByteStorage": ("uint8", np.uint8), "BoolStorage": ("bool", np.bool_),
}
# Plain numeric NumPy dtypes only: an object dtype would let an array hold arbitrary objects.
_NUMPY_DTYPE = re.compile(r"^([<>=|]?)([biufc]\d{1,2}|\?|b1)$")


# ----------------------------------------------------------------------------- what the reader returns


@dataclass
class PersistentRecord:
    """One ``torch_utils.persistence`` object as stored: its class and its ``__dict__``; ``module_src`` is never run."""

    class_name: str
    module_src: str
    version: int
    state: dict

    def __setstate__(self, state):
        raise UnsafeCheckpointError("the pickle tries to overwrite a torch_utils.persistence record after building it.")


@dataclass(frozen=True)
class PickledTensor:
    """A tensor read from the pickle, as a NumPy array until it is handed out (bfloat16 kept as uint16 bits)."""

    array: np.ndarray
    dtype: str
    is_parameter: bool = False

    def __setstate__(self, state):
        raise UnsafeCheckpointError("the pickle tries to overwrite a tensor after building it.")

    def to_torch(self) -> torch.Tensor:
        import torch

        tensor = torch.from_numpy(np.array(self.array, order="C", copy=True))  # ascontiguousarray would make 0-d 1-d
        return tensor.view(torch.bfloat16) if self.dtype == "bfloat16" else tensor


@dataclass(frozen=True)
class NetworkRecord:
    """One network of the pickle: its weights and the arguments it was constructed with."""

    name: str  # "G_ema", "G" or "D"
    class_name: str
    arch: str | None  # "stylegan2_ada" or "stylegan3" for a generator, None otherwise
    variant: str | None  # "stylegan2-ada", "stylegan2", "stylegan3-t", "stylegan3-r"
    init_args: tuple
    init_kwargs: dict
    state_dict: dict[str, torch.Tensor]
    module_src: str = field(repr=False, default="")


@dataclass(frozen=True)
class NetworkPickle:
    """The networks of an NVlabs snapshot pickle (``G_ema`` always; ``G``, ``D`` when stored) and its other keys."""

    networks: dict[str, NetworkRecord]
    training_set_kwargs: dict | None
    keys: tuple[str, ...]

    @property
    def generator(self) -> NetworkRecord:
        return self.networks["G_ema"]


# ----------------------------------------------------------------------------- stand-ins for the allowed globals


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: the same items, as a plain dict (no attribute access)."""


class _NumpyDType:
    """Stand-in for ``numpy.dtype(spec, align, copy)``; its BUILD state may only set the byte order."""

    def __init__(self, spec=None, align=False, copy=False):
        match = _NUMPY_DTYPE.match(spec) if isinstance(spec, str) else None
        if match is None:
            raise UnsafeCheckpointError(f"the pickle asks for a NumPy dtype {spec!r}; only plain numeric dtypes are read.")
        self.dtype = np.dtype(spec)

    def __setstate__(self, state):
        # numpy.dtype.__reduce__ state: (version, byteorder, subarray, names, fields, elsize, alignment, flags)
        if not isinstance(state, tuple) or len(state) < 5 or any(part is not None for part in state[2:5]):
            raise UnsafeCheckpointError("the pickle builds a structured or sub-array NumPy dtype; only plain numeric dtypes are read.")
        if state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


class _NumpyArrayType:
    """Stand-in for the ``numpy.ndarray`` class: only usable as the first argument of ``_reconstruct``."""

    def __init__(self, *args, **kwargs):
        raise UnsafeCheckpointError("the pickle calls numpy.ndarray directly; NumPy arrays are only read as NumPy pickles them.")


class _NumpyArray:
    """Stand-in for ``numpy.core.multiarray._reconstruct(ndarray, shape, typecode)``, filled by its BUILD state."""

    array: np.ndarray | None = None

    def __setstate__(self, state):
        # ndarray.__reduce__ state: (version, shape, dtype, is_fortran, rawdata)
        if not isinstance(state, tuple) or len(state) != 5:
            raise CheckpointError("a NumPy array in the pickle has an unreadable state.")
        _, shape, dtype, is_fortran, raw = state
        self.array = _array_from_bytes(raw, dtype, shape, "F" if is_fortran else "C")


def _array_from_bytes(raw, dtype, shape, order: str) -> np.ndarray:
    if not isinstance(dtype, _NumpyDType) or not isinstance(raw, bytes | bytearray):
        raise UnsafeCheckpointError("a NumPy array in the pickle is not plain numeric data.")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise CheckpointError(f"a NumPy array in the pickle has an invalid shape {shape!r}.")
    count = int(np.prod(shape, dtype=np.int64))
    if count * dtype.dtype.itemsize != len(raw):
        raise CheckpointError("a NumPy array in the pickle holds fewer or more bytes than its shape needs.")
    return np.frombuffer(bytes(raw), dtype=dtype.dtype).reshape(shape, order=order).copy()


def _numpy_reconstruct(subtype, shape, typecode):
    if subtype is not _NumpyArrayType:
        raise UnsafeCheckpointError("the pickle rebuilds a NumPy array of another class than numpy.ndarray.")
    return _NumpyArray()


def _numpy_frombuffer(buffer, dtype, shape, order):
    holder = _NumpyArray()
    holder.array = _array_from_bytes(bytes(buffer) if isinstance(buffer, bytearray) else buffer, dtype, shape,
                                     "F" if order == "F" else "C")
    return holder


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, _NumpyDType) or not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise UnsafeCheckpointError("a NumPy scalar in the pickle is not plain numeric data.")
    return np.frombuffer(data, dtype=dtype.dtype)[0]


@dataclass(frozen=True)
class _Storage:
    array: np.ndarray  # 1-D, the storage's elements
    dtype: str

    def __setstate__(self, state):
        raise UnsafeCheckpointError("the pickle tries to overwrite a tensor storage after building it.")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """A strided view of the storage, copied; bounds are checked because ``as_strided`` does not check them."""
    if not isinstance(storage, _Storage):
        raise UnsafeCheckpointError("a tensor in the pickle is built from something other than a stored tensor storage.")
    ints = (isinstance(storage_offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)
            and len(size) == len(stride) and all(isinstance(n, int) and n >= 0 for n in size + stride))
    if not ints or storage_offset < 0:
        raise CheckpointError("a tensor in the pickle has an invalid size, stride or offset.")
    if 0 in size:
        return PickledTensor(np.zeros(size, dtype=storage.array.dtype), storage.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True))
    if last >= storage.array.size:
        raise CheckpointError("a tensor in the pickle reaches beyond its storage; the file is damaged.")
    itemsize = storage.array.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(storage.array[storage_offset:], shape=size,
                                           strides=tuple(s * itemsize for s in stride), writeable=False)
    return PickledTensor(np.array(view, copy=True), storage.dtype)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    if not isinstance(data, PickledTensor):
        raise UnsafeCheckpointError("a parameter in the pickle is built from something other than a tensor.")
    return PickledTensor(data.array, data.dtype, is_parameter=True)


def _reconstruct_persistent_obj(meta):
    """Record a persistence object. ``module_src`` stays text: running it is what this reader exists to avoid."""
    if not isinstance(meta, Mapping):
        raise CheckpointError("a torch_utils.persistence record in the pickle is not a dict.")
    class_name = meta.get("class_name")
    if meta.get("type") != "class" or class_name not in KNOWN_CLASSES:
        raise UnsafeCheckpointError(
            f"the pickle holds a torch_utils.persistence record of class {class_name!r}, which is none of the "
            f"StyleGAN2-ADA / StyleGAN3 classes this app reads ({', '.join(sorted(KNOWN_CLASSES))}). Its code was not run."
        )
    if meta.get("version") != PERSISTENCE_VERSION:
        raise CheckpointError(
            f"the pickle's {class_name} was written by torch_utils.persistence version {meta.get('version')!r}; "
            f"this app reads version {PERSISTENCE_VERSION} (stylegan2-ada-pytorch and stylegan3)."
        )
    state, source = meta.get("state"), meta.get("module_src")
    if not isinstance(state, Mapping) or not isinstance(source, str):
        raise CheckpointError(f"the pickle's {class_name} record has no state or no module source.")
    return PersistentRecord(class_name=class_name, module_src=source, version=PERSISTENCE_VERSION, state=dict(state))


def _load_from_bytes(data):
    """``torch.storage._load_from_bytes``: a legacy (non-zip) ``torch.save`` archive of one storage, parsed by hand."""
    if not isinstance(data, bytes):
        raise UnsafeCheckpointError("a tensor storage in the pickle is not stored as bytes.")
    stream = io.BytesIO(data)
    try:
        magic, protocol, sys_info = (_StorageUnpickler(stream).load() for _ in range(3))
        reference = _StorageUnpickler(stream).load()
        keys = _StorageUnpickler(stream).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise CheckpointError(f"a tensor storage in the pickle is not a readable torch archive ({exc}).") from exc
    if magic != _LEGACY_MAGIC or protocol != _LEGACY_PROTOCOL:
        raise CheckpointError("a tensor storage in the pickle is not a legacy torch.save archive.")
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise CheckpointError("a tensor storage in the pickle was written on a big-endian machine; this app reads little-endian files.")
    if not isinstance(reference, _StorageReference) or keys != [reference.key]:
        raise CheckpointError("a tensor storage in the pickle does not hold exactly one storage.")
    numel = int.from_bytes(stream.read(8), "little", signed=True)
    dtype = np.dtype(reference.numpy_dtype).newbyteorder("<")
    raw = stream.read(numel * dtype.itemsize) if numel >= 0 else b""
    if numel != reference.numel or len(raw) != numel * dtype.itemsize:
        raise CheckpointError("a tensor storage in the pickle is truncated; copy or download the file again.")
    return _Storage(np.frombuffer(raw, dtype=dtype), reference.dtype)


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass(frozen=True)
class _StorageReference:
    key: str
    dtype: str
    numpy_dtype: type
    numel: int


class _StorageUnpickler(pickle.Unpickler):
    """The inner pickles of a storage archive: plain values, ``torch.<Type>Storage`` names and one storage reference."""

    def find_class(self, module, name):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeCheckpointError(
            f"a tensor storage in the pickle asks for the global '{module}.{name}'; only torch.<Type>Storage names are read."
        )

    def persistent_load(self, pid):
        # legacy torch.save: ('storage', storage_type, key, location, numel, view_metadata)
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and isinstance(pid[1], _StorageType)
                and isinstance(pid[2], str) and isinstance(pid[4], int) and pid[5] is None):
            raise CheckpointError("a tensor storage in the pickle has an unreadable storage reference.")
        dtype, numpy_dtype = _STORAGE_DTYPES[pid[1].name]
        return _StorageReference(key=pid[2], dtype=dtype, numpy_dtype=numpy_dtype, numel=pid[4])


def _codecs_encode(text, encoding="utf-8", errors="strict"):
    # protocol 2 writes bytes b as _codecs.encode(b.decode("latin1"), "latin1"): a pure conversion
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
        raise UnsafeCheckpointError("the pickle calls _codecs.encode other than to store bytes (latin-1).")
    return text.encode("latin1")


def _make_set(items=()):
    return set(_hashable_items(items))


def _make_frozenset(items=()):
    return frozenset(_hashable_items(items))


def _hashable_items(items):
    if not isinstance(items, list | tuple):
        raise UnsafeCheckpointError("the pickle builds a set from something other than a list.")
    return items


_HANDLERS = {
    ("_codecs", "encode"): _codecs_encode,
    ("builtins", "set"): _make_set,
    ("builtins", "frozenset"): _make_frozenset,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("numpy", "dtype"): _NumpyDType,
    ("numpy", "ndarray"): _NumpyArrayType,
}
for _core in ("numpy.core", "numpy._core"):  # NumPy 1 and NumPy 2 spell the module differently
    _HANDLERS[(f"{_core}.multiarray", "scalar")] = _numpy_scalar
    _HANDLERS[(f"{_core}.multiarray", "_reconstruct")] = _numpy_reconstruct
    _HANDLERS[(f"{_core}.numeric", "_frombuffer")] = _numpy_frombuffer
ALLOWED_GLOBALS = frozenset(f"{module}.{name}" for module, name in _HANDLERS)


class NVlabsUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves only ``ALLOWED_GLOBALS``, each to a local handler that runs no stored code."""

    def find_class(self, module, name):
        # Python 3 writes protocols 0-2 with Python 2 names (__builtin__.set), as pickle's own find_class maps back.
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        handler = _HANDLERS.get((module, name))
        if handler is None and module.startswith("dnnlib.tflib"):
            raise UnsafeCheckpointError(
                f"the pickle holds a TensorFlow-era StyleGAN network ('{module}.{name}'), which this app does not "
                "read. Convert it to a PyTorch pickle with stylegan2-ada-pytorch's legacy.py, or to a .pt file "
                "with rosinality's convert_weight.py, in an environment you trust."
            )
        if handler is None:
            raise UnsafeCheckpointError(
                f"the pickle asks for the global '{module}.{name}', which would run code or build arbitrary objects "
                "when loaded, so it was refused. An NVlabs network pickle only holds torch_utils.persistence records, "
                "tensors, NumPy values and EasyDicts. If you trust its author, load it with the official code and "
                "save G_ema's state_dict() with torch.save or safetensors."
            )
        return handler

    def persistent_load(self, pid):
        raise UnsafeCheckpointError("the pickle refers to persistent objects, which NVlabs network pickles never do.")


# ----------------------------------------------------------------------------- reading


def load_pickle_safely(file: str | os.PathLike | BinaryIO) -> object:
    """Unpickle with ``NVlabsUnpickler``: persistence objects become ``PersistentRecord``, tensors ``PickledTensor``.

    Raises:
        UnsafeCheckpointError: the pickle asks for any other global, or for an unknown persistent class.
        CheckpointError: the file is missing, damaged, or not a pickle.
    """
    if isinstance(file, str | os.PathLike):
        path = Path(file)
        if not path.is_file():
            raise CheckpointError(f"network pickle '{path}' does not exist or is not a file.")
        with path.open("rb") as handle:
            return load_pickle_safely(handle)
    try:
        return _resolve(NVlabsUnpickler(file).load(), {})
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, RecursionError) as exc:
        raise CheckpointError(
            f"the file is not a readable network pickle ({type(exc).__name__}: {exc}). It may be truncated: copy or download it again."
        ) from exc


def _resolve(obj, seen: dict):
    """Replace the NumPy stand-ins by real NumPy values, in place where containers are mutable."""
    if isinstance(obj, _NumpyArray):
        if obj.array is None:
            raise CheckpointError("a NumPy array in the pickle was never filled in.")
        return obj.array
    if isinstance(obj, _NumpyDType):
        return obj.dtype
    if isinstance(obj, str | bytes | int | float | bool | type(None) | np.generic | PickledTensor):
        return obj
    if id(obj) in seen:
        return seen[id(obj)]
    seen[id(obj)] = obj
    if isinstance(obj, dict):
        for key in list(obj):
            obj[key] = _resolve(obj[key], seen)
    elif isinstance(obj, list):
        obj[:] = [_resolve(item, seen) for item in obj]
    elif isinstance(obj, tuple):
        seen[id(obj)] = resolved = tuple(_resolve(item, seen) for item in obj)
        return resolved
    elif isinstance(obj, set | frozenset):
        return type(obj)(_resolve(item, seen) for item in obj)
    elif isinstance(obj, PersistentRecord):
        obj.state = _resolve(obj.state, seen)
    return obj


def read_network_pickle(file: str | os.PathLike | BinaryIO, *, networks: tuple[str, ...] = ("G_ema", "D")) -> NetworkPickle:
    """Read an NVlabs snapshot pickle's networks (``G_ema`` and, when stored, the others asked for) without running it.

    Raises:
        UnsafeCheckpointError: the pickle would run code or build objects no NVlabs snapshot holds.
        CheckpointError: the file is damaged, or has no ``G_ema`` network.
    """
    name = str(file) if isinstance(file, str | os.PathLike) else "the network pickle"
    try:
        snapshot = load_pickle_safely(file)
    except CheckpointError as exc:
        raise type(exc)(f"'{name}': {exc}") from exc
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("G_ema"), PersistentRecord):
        found = ", ".join(map(str, snapshot)) if isinstance(snapshot, dict) else type(snapshot).__name__
        raise CheckpointError(
            f"'{name}' is not an NVlabs network snapshot: expected a dict with a 'G_ema' network "
            f"(as training_loop.py writes), found {found}."
        )
    records = {}
    for key in dict.fromkeys(("G_ema", *networks)):
        record = snapshot.get(key)
        if isinstance(record, PersistentRecord):
            records[key] = network_record(key, record)
    kwargs = snapshot.get("training_set_kwargs")
    return NetworkPickle(networks=records, training_set_kwargs=dict(kwargs) if isinstance(kwargs, dict) else None,
                         keys=tuple(map(str, snapshot)))


def network_record(name: str, record: PersistentRecord) -> NetworkRecord:
    """Weights, constructor arguments and architecture of one persistence record."""
    state_dict = {key: tensor.to_torch() for key, tensor in walk_state_dict(record).items()}
    init_kwargs, init_args = record.state.get("_init_kwargs") or {}, record.state.get("_init_args") or ()
    if not isinstance(init_kwargs, Mapping) or not isinstance(init_args, list | tuple):
        raise CheckpointError(f"the pickle's {name} has unreadable constructor arguments.")
    init_kwargs, init_args = _plain(dict(init_kwargs)), _plain(tuple(init_args))
    arch, variant = identify(record.class_name, state_dict, init_kwargs)
    return NetworkRecord(name=name, class_name=record.class_name, arch=arch, variant=variant, init_args=init_args,
                         init_kwargs=init_kwargs, state_dict=state_dict, module_src=record.module_src)


def walk_state_dict(record: PersistentRecord, prefix: str = "") -> dict[str, PickledTensor]:
    """The record's ``state_dict()``: parameters, persistent buffers, then child modules, in ``nn.Module`` order."""
    state = record.state
    result: dict[str, PickledTensor] = {}
    non_persistent = state.get("_non_persistent_buffers_set") or set()
    groups = {group: state.get(group) or {} for group in ("_parameters", "_buffers", "_modules")}
    if not all(isinstance(value, Mapping) for value in groups.values()) or not isinstance(non_persistent, set | frozenset):
        raise CheckpointError(f"the pickle's {record.class_name} at '{prefix}' is not laid out as an nn.Module.")
    for group in ("_parameters", "_buffers"):
        for key, tensor in groups[group].items():
            if tensor is None or (group == "_buffers" and key in non_persistent):
                continue
            if not isinstance(tensor, PickledTensor):
                raise CheckpointError(f"'{prefix}{key}' in the pickle's {record.class_name} is not a tensor.")
            result[prefix + key] = tensor
    for key, child in groups["_modules"].items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise CheckpointError(f"sub-module '{prefix}{key}' of the pickle's {record.class_name} is not a network record.")
        result.update(walk_state_dict(child, f"{prefix}{key}."))
    return result


def identify(class_name: str, state_dict: Mapping[str, object], init_kwargs: Mapping[str, object]) -> tuple[str | None, str | None]:
    """``(arch, variant)`` of a generator record from its keys and init kwargs; ``(None, None)`` for other classes."""
    if class_name != "Generator":
        return None, None
    if "synthesis.input.freqs" in state_dict:
        radial = bool(init_kwargs.get("use_radial_filters", False)) or any(
            key.endswith(".down_filter") and getattr(value, "ndim", 1) == 2 for key, value in state_dict.items())
        return "stylegan3", "stylegan3-r" if radial else "stylegan3-t"
    if "synthesis.b4.const" in state_dict:
        # stylegan2-ada-pytorch nests the synthesis kwargs; the StyleGAN3 repository's copy passes them flat
        return "stylegan2_ada", "stylegan2-ada" if "synthesis_kwargs" in init_kwargs else "stylegan2"
    return None, None


def _plain(value):
    """EasyDicts as plain dicts, NumPy scalars as Python numbers, recursively (init kwargs are small)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    return value
