"""The NVlabs network-pickle reader: reads the official snapshots, runs nothing stored in a file."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import sys

import numpy as np
import pytest
import torch
from support import Persistent, official_names

from ganstudio.errors import CheckpointError, UnsafeCheckpointError
from ganstudio.nvlabs_pickle import (
    EasyDict,
    PersistentRecord,
    PickledTensor,
    identify,
    load_pickle_safely,
    read_network_pickle,
)

PICKLE_FOLDERS = ["stylegan2_ada_nvlabs", "stylegan2_ada_nvlabs_cond", "stylegan3_nvlabs", "stylegan3_nvlabs_r"]
VARIANTS = {"stylegan2-ada": ("stylegan2_ada", "stylegan2-ada"), "stylegan3-t": ("stylegan3", "stylegan3-t"),
            "stylegan3-r": ("stylegan3", "stylegan3-r")}
SNAPSHOT = "network-snapshot-000000.pkl"


def _official_modules_loaded() -> list[str]:
    return [name for name in sys.modules if name.split(".")[0] in ("torch_utils", "dnnlib")]


@pytest.mark.parametrize("folder", PICKLE_FOLDERS)
def test_reads_the_official_snapshot_without_its_code(conformance_dir, folder):
    directory = conformance_dir / "stylegan" / folder
    meta = json.loads((directory / "meta.json").read_text())
    snapshot = read_network_pickle(directory / SNAPSHOT)

    generator = snapshot.generator
    expected = meta["checkpoint"]["G_ema_state_dict_keys"]
    assert list(generator.state_dict) == list(expected)
    assert {key: list(t.shape) for key, t in generator.state_dict.items()} == expected
    assert all(t.dtype == torch.float32 for t in generator.state_dict.values())
    assert np.array_equal(generator.state_dict["mapping.w_avg"].numpy(), np.load(directory / "w_avg.npy"))
    assert generator.init_kwargs == meta["args"]
    assert (generator.class_name, generator.arch, generator.variant) == ("Generator", *VARIANTS[meta["arch"]])
    assert "class Generator" in generator.module_src  # kept as text

    assert snapshot.networks["D"].class_name == "Discriminator"
    assert len(snapshot.networks["D"].state_dict) == meta["checkpoint"]["n_tensors"]["D"]
    assert snapshot.keys == tuple(meta["verification"]["top_level_keys"])
    assert snapshot.training_set_kwargs["resolution"] == 32
    assert _official_modules_loaded() == []


def test_refuses_a_pickle_that_calls_os_system(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    for protocol in (0, 2, 4, 5):
        data = pickle.dumps({"G_ema": Payload()}, protocol=protocol)
        with pytest.raises(UnsafeCheckpointError, match=r"'(posix|nt|os)\.system'"):
            read_network_pickle(io.BytesIO(data))
        assert not marker.exists()


def test_refuses_builtins_that_run_code(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return eval, (f"open({str(marker)!r}, 'w')",)

    with pytest.raises(UnsafeCheckpointError, match="'builtins.eval'"):
        load_pickle_safely(io.BytesIO(pickle.dumps(Payload(), protocol=2)))
    assert not marker.exists()


# ----------------------------------------------------------------------------- writing NVlabs-style pickles


def as_official(obj, names):
    """What the reader returned, turned back into the objects NVlabs pickles (tensors, parameters, EasyDicts)."""
    if isinstance(obj, PersistentRecord):
        meta = {"type": "class", "version": obj.version, "module_src": obj.module_src, "class_name": obj.class_name,
                "state": as_official(obj.state, names)}
        return Persistent(names.reconstruct, meta)
    if isinstance(obj, PickledTensor):
        tensor = torch.from_numpy(obj.array.copy())
        return torch.nn.Parameter(tensor, requires_grad=False) if obj.is_parameter else tensor
    if isinstance(obj, EasyDict):
        return names.EasyDict({key: as_official(value, names) for key, value in obj.items()})
    if isinstance(obj, dict):
        return type(obj)((key, as_official(value, names)) for key, value in obj.items())
    if isinstance(obj, list | tuple | set):
        return type(obj)(as_official(item, names) for item in obj)
    return obj


def repickle(path, protocol: int) -> bytes:
    snapshot = load_pickle_safely(path)
    with official_names() as names:
        return pickle.dumps(as_official(snapshot, names), protocol=protocol)


@pytest.fixture(scope="module")
def sg3_r(conformance_dir):
    """StyleGAN3-R: the smallest snapshot, and one whose layers keep NumPy arrays (in_size, out_size)."""
    path = conformance_dir / "stylegan" / "stylegan3_nvlabs_r" / SNAPSHOT
    return path, read_network_pickle(path)


def _same_networks(left, right):
    assert left.networks.keys() == right.networks.keys()
    for name, network in left.networks.items():
        other = right.networks[name]
        assert (network.class_name, network.arch, network.variant, network.init_kwargs) == \
            (other.class_name, other.arch, other.variant, other.init_kwargs)
        assert list(network.state_dict) == list(other.state_dict)
        assert all(torch.equal(network.state_dict[key], other.state_dict[key]) for key in network.state_dict)


@pytest.mark.parametrize("protocol", [2, 3, 5])
def test_reads_the_same_snapshot_written_with_other_protocols(sg3_r, protocol):
    path, original = sg3_r
    data = repickle(path, protocol)
    assert data[1] == protocol
    if protocol < 4:
        assert b"c__builtin__\nset\n" in data or b"cbuiltins\nset\n" in data  # sets as a global call
    if protocol == 5:
        assert b"_frombuffer" in data  # NumPy's protocol-5 array layout
    _same_networks(read_network_pickle(io.BytesIO(data)), original)
    assert _official_modules_loaded() == []


def test_reads_numpy_1_and_numpy_2_module_names(sg3_r):
    path, original = sg3_r
    numpy2 = repickle(path, 2)
    assert numpy2.count(b"cnumpy._core.multiarray\n") == 2  # scalar and _reconstruct, each named once
    numpy1 = numpy2.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    for data in (numpy1, numpy2):
        _same_networks(read_network_pickle(io.BytesIO(data)), original)
    # the NumPy attributes come back as NumPy values, whatever the spelling
    layer = load_pickle_safely(io.BytesIO(numpy1))["G_ema"].state["_modules"]["synthesis"].state["_modules"]["L0_36_64"]
    assert isinstance(layer.state["in_size"], np.ndarray) and layer.state["in_size"].tolist() == [36, 36]
    assert isinstance(layer.state["in_cutoff"], np.float64)


def _record_pickle(class_name: str, module_src: str, protocol: int = 4) -> bytes:
    with official_names() as names:
        state = {"training": False, "_parameters": {}, "_buffers": collections.OrderedDict(),
                 "_non_persistent_buffers_set": set(), "_modules": {}, "_init_args": (), "_init_kwargs": names.EasyDict()}
        meta = {"type": "class", "version": 6, "module_src": module_src, "class_name": class_name, "state": state}
        return pickle.dumps({"G_ema": Persistent(names.reconstruct, meta)}, protocol=protocol)


def test_module_src_of_a_known_class_is_kept_as_text_never_run(tmp_path):
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('pwned')\nclass Generator: pass\n"
    for protocol in (2, 5):
        snapshot = read_network_pickle(io.BytesIO(_record_pickle("Generator", source, protocol)))
        assert snapshot.generator.module_src == source
        assert snapshot.generator.state_dict == {}
        assert not marker.exists()


def test_refuses_a_persistence_record_of_an_unknown_class(tmp_path):
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('pwned')\nclass Backdoor: pass\n"
    with pytest.raises(UnsafeCheckpointError, match="'Backdoor'"):
        read_network_pickle(io.BytesIO(_record_pickle("Backdoor", source)))
    assert not marker.exists()


def test_refuses_a_tensor_that_reads_beyond_its_storage():
    class OutOfBounds:
        def __reduce__(self):
            storage = torch.zeros(4)._typed_storage()
            return torch._utils._rebuild_tensor_v2, (storage, 2, (100,), (1,), False, collections.OrderedDict())

    with pytest.raises(CheckpointError, match="beyond its storage"):
        load_pickle_safely(io.BytesIO(pickle.dumps(OutOfBounds(), protocol=4)))


def test_refuses_an_object_dtype_numpy_array():
    data = pickle.dumps(np.array([1, "a"], dtype=object), protocol=4)
    with pytest.raises(UnsafeCheckpointError, match="dtype"):
        load_pickle_safely(io.BytesIO(data))


def test_a_truncated_file_is_a_checkpoint_error_not_a_crash(sg3_r):
    path, _ = sg3_r
    with pytest.raises(CheckpointError, match="truncated|not a readable"):
        read_network_pickle(io.BytesIO(path.read_bytes()[: 200_000]))


def test_a_pickle_without_g_ema_says_what_it_expected():
    with pytest.raises(CheckpointError, match="'G_ema'"):
        read_network_pickle(io.BytesIO(pickle.dumps({"weights": [1, 2]}, protocol=4)))


def test_a_tensorflow_era_pickle_is_named_as_such():
    data = b"\x80\x02cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01."
    with pytest.raises(UnsafeCheckpointError, match="TensorFlow-era"):
        load_pickle_safely(io.BytesIO(data))


def test_the_stylegan3_repositorys_stylegan2_is_told_apart_by_its_flat_kwargs():
    keys = {"synthesis.b4.const": None}
    assert identify("Generator", keys, {"synthesis_kwargs": {}}) == ("stylegan2_ada", "stylegan2-ada")
    assert identify("Generator", keys, {"channel_base": 32768}) == ("stylegan2_ada", "stylegan2")
    assert identify("Discriminator", keys, {}) == (None, None)


def test_a_record_cannot_be_rewritten_after_it_is_built():
    class Tampered(Persistent):
        def __reduce__(self):  # REDUCE, then BUILD with a state that would rename the class
            return self.reconstruct, (self.meta,), {"class_name": "Backdoor"}

    with official_names() as names:
        meta = {"type": "class", "version": 6, "module_src": "", "class_name": "Generator", "state": {}}
        data = pickle.dumps({"G_ema": Tampered(names.reconstruct, meta)}, protocol=4)
    with pytest.raises(UnsafeCheckpointError, match="overwrite"):
        read_network_pickle(io.BytesIO(data))
