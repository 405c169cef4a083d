"""Checkpoint reading is safe: pickles that run code are refused, damaged files are explained."""

from __future__ import annotations

import pickle

import pytest
import torch

from ganstudio import checkpoints
from ganstudio.errors import CheckpointError, UnsafeCheckpointError


class _RunsCode:
    """Unpickling this calls a function: what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_that_runs_code_is_refused_and_the_code_does_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "latest_net_G.pth"
    torch.save({"model.1.weight": torch.zeros(1), "payload": _RunsCode(marker)}, path)
    # the payload is real: plain pickle would run it
    assert "open" in str(pickle.dumps(_RunsCode(marker)))
    with pytest.raises(UnsafeCheckpointError, match="refused"):
        checkpoints.read_checkpoint(path)
    assert not marker.exists()


def test_whole_pickled_module_is_refused(tmp_path):
    path = tmp_path / "model.pth"
    torch.save(torch.nn.Linear(2, 2), path)
    with pytest.raises(UnsafeCheckpointError):
        checkpoints.read_checkpoint(path)


def test_truncated_file_says_to_copy_it_again(tmp_path):
    path = tmp_path / "netG.pth"
    torch.save({"w": torch.randn(64, 64)}, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="truncated"):
        checkpoints.read_checkpoint(path)


def test_empty_and_missing_files_are_explained(tmp_path):
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        checkpoints.read_checkpoint(tmp_path / "empty.pth")
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoints.read_checkpoint(tmp_path / "absent.pth")


def test_a_saved_tensor_is_not_a_state_dict(tmp_path):
    path = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        checkpoints.read_checkpoint(path)


def test_training_wrapper_dict_is_unwrapped(tmp_path):
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": {"a.weight": torch.ones(2)}, "epoch": 3}, path)
    assert list(checkpoints.read_checkpoint(path)) == ["a.weight"]


def test_nested_dicts_flatten_to_dotted_keys_and_non_tensors_drop():
    nested = {"generator": {"a.weight": torch.ones(1)}, "style_encoder": {"b": torch.zeros(1)}, "epoch": 5}
    assert sorted(checkpoints.flatten_state_dict(nested)) == ["generator.a.weight", "style_encoder.b"]


def test_data_parallel_and_compile_prefixes_are_stripped():
    stripped = checkpoints.strip_prefixes({"module._orig_mod.model.1.weight": 1, "generator.module.x": 2})
    assert stripped == {"model.1.weight": 1, "generator.x": 2}


def test_strict_load_names_the_first_missing_and_unexpected_key():
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    with pytest.raises(CheckpointError, match=r"missing key.*'0\.bias'.*unexpected key.*'0\.gamma'"):
        checkpoints.load_state_dict_strictly(module, {"0.weight": torch.zeros(4, 3, 3, 3), "0.gamma": torch.zeros(1)}, arch="test")


def test_strict_load_names_a_shape_mismatch():
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    state = {"0.weight": torch.zeros(8, 3, 3, 3), "0.bias": torch.zeros(8)}
    with pytest.raises(CheckpointError, match=r"'0\.weight' has shape \(8, 3, 3, 3\), expected \(4, 3, 3, 3\)"):
        checkpoints.load_state_dict_strictly(module, state, arch="test")


def test_safetensors_round_trip_keeps_values_and_metadata_even_for_broadcast_views(tmp_path):
    view = torch.randn(4, 1, 1, 1).expand(4, 4, 3, 3)  # stride-0, as in old official files
    path = tmp_path / "G.safetensors"
    checkpoints.write_safetensors(path, {"w": view, "b": torch.arange(4.0)}, arch="dcgan", config={"nz": 100})
    loaded = checkpoints.read_checkpoint(path)
    assert torch.equal(loaded["w"], view) and torch.equal(loaded["b"], torch.arange(4.0))
    assert checkpoints.read_safetensors_metadata(path) == {"arch": "dcgan", "config": '{"nz": 100}'}
    assert not list(tmp_path.glob("*.tmp"))


def test_the_same_weights_always_give_the_same_bytes(tmp_path):
    """safetensors writes metadata in hash-map order; the header is rewritten with sorted keys, readable as before."""
    import json
    import struct

    state = {"conv.weight": torch.arange(24.0).view(2, 3, 2, 2), "conv.bias": torch.zeros(2)}
    path = tmp_path / "G.safetensors"
    checkpoints.write_safetensors(path, state, arch="stargan", config={"c_dim": 3, "conv_dim": 32})
    raw = path.read_bytes()
    length = struct.unpack("<Q", raw[:8])[0]
    metadata = json.loads(raw[8 : 8 + length])["__metadata__"]
    assert list(metadata) == sorted(metadata) == ["arch", "config"]
    again = tmp_path / "again.safetensors"
    checkpoints.write_safetensors(again, dict(reversed(state.items())), arch="stargan", config={"conv_dim": 32, "c_dim": 3})
    assert again.read_bytes() == raw
    loaded = checkpoints.read_checkpoint(path)
    assert torch.equal(loaded["conv.weight"], state["conv.weight"]) and torch.equal(loaded["conv.bias"], state["conv.bias"])
