"""Checkpoint reading is safe: pickles that run code are refused, damaged files are explained."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

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


# -- files that are not checkpoints ----------------------------------------------------------------

def test_git_lfs_pointer_is_named_with_the_command_that_fetches_the_weights(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    path.write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 45588424\n"
    )
    with pytest.raises(CheckpointError, match=r"Git LFS pointer, not the weights.*git lfs pull") as caught:
        checkpoints.read_checkpoint(path)
    assert not isinstance(caught.value, UnsafeCheckpointError)


def test_a_web_page_saved_as_pth_is_not_called_a_pickle(tmp_path):
    path = tmp_path / "model.pth"
    path.write_text("\n  <!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>…</body></html>\n")
    with pytest.raises(CheckpointError, match="web page") as caught:
        checkpoints.read_checkpoint(path)
    assert not isinstance(caught.value, UnsafeCheckpointError)


def test_a_text_file_saved_as_pth_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "weights.pth"
    path.write_text("404: Not Found\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match=r"text file, not a checkpoint.*'404: Not Found'") as caught:
        checkpoints.read_checkpoint(path)
    assert not isinstance(caught.value, UnsafeCheckpointError)


def test_binary_checkpoints_are_not_mistaken_for_text(tmp_path):
    zipped, legacy = tmp_path / "zip.pth", tmp_path / "legacy.pth"
    torch.save({"w": torch.ones(2)}, zipped)
    torch.save({"w": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    for path in (zipped, legacy):
        assert torch.equal(checkpoints.read_checkpoint(path)["w"], torch.ones(2))


# -- the unpacked size is bounded before torch.load inflates anything --------------------------------

def _write_zip(path, entries):
    """A zip of (name, data, size, crc, method) entries as given: ``data`` already compressed for method 8 (deflate).

    zipfile cannot take pre-compressed data; this writes the headers itself (no zip64: sizes < 4 GiB).
    """
    import struct

    with open(path, "wb") as handle:
        directory = []
        for name, data, size, crc, method in entries:
            offset = handle.tell()
            encoded = name.encode()
            handle.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), size, len(encoded), 0))
            handle.write(encoded + data)
            directory.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(data), size,
                                         len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
        start = handle.tell()
        handle.write(b"".join(directory))
        handle.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), handle.tell() - start, start, 0))


def _zip_bomb_checkpoint(path, inflated_bytes):
    """A real torch.save checkpoint whose tensor record is replaced by ``inflated_bytes`` of zeros, deflated.

    Deflate packs zeros about 1000:1. Compressing gigabytes would take seconds, so one 64 MiB chunk is
    compressed after a first one (its window is then all zeros) and its bytes repeated: the stream inflates
    to exactly those zeros.
    """
    import io
    import zipfile
    import zlib

    chunk_size = 64 * 2**20
    chunks, rest = divmod(inflated_bytes, chunk_size)
    assert rest == 0 and chunks >= 2
    chunk = bytes(chunk_size)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
    steady = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
    deflated = first + steady * (chunks - 1) + compressor.flush()
    crc = 0
    for _ in range(chunks):
        crc = zlib.crc32(chunk, crc)
    buffer = io.BytesIO()
    torch.save({"main.0.weight": torch.zeros(4)}, buffer)
    entries = []
    with zipfile.ZipFile(buffer) as archive:
        for info in archive.infolist():
            if info.filename.endswith("/data/0"):
                entries.append((info.filename, deflated, inflated_bytes, crc, 8))
            else:
                data = archive.read(info)
                entries.append((info.filename, data, len(data), zlib.crc32(data), 0))
    _write_zip(path, entries)


def test_a_2mb_checkpoint_that_inflates_past_the_cap_is_refused_quickly_without_memory_growth(tmp_path):
    import subprocess
    import sys
    import time
    import zipfile

    path = tmp_path / "bomb.pth"
    _zip_bomb_checkpoint(path, 34 * 64 * 2**20)  # 2.125 GiB > the default cap of 2 GiB
    assert path.stat().st_size < 2.5 * 2**20
    with zipfile.ZipFile(path) as archive:
        assert sum(info.file_size for info in archive.infolist()) > checkpoints.MAX_CHECKPOINT_BYTES == 2 * 1024**3
    started = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"would unpack to 2\.1 GiB, over .* limit of 2\.0 GiB"):
        checkpoints.read_checkpoint(path)
    assert time.perf_counter() - started < 1.0
    # In a fresh process, so the peak memory is this read's alone (ru_maxrss is in KiB on Linux).
    script = (
        "import resource, sys, torch\n"
        "from ganstudio import checkpoints\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    checkpoints.read_checkpoint(sys.argv[1])\n"
        "except checkpoints.CheckpointError:\n"
        "    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    env = {**os.environ, "GANSTUDIO_MAX_CHECKPOINT_BYTES": str(2 * 1024**3)}
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env,
                            cwd=Path(checkpoints.__file__).parents[1], check=True, timeout=120)
    assert int(result.stdout.strip()) < 64 * 1024  # KiB: far below the 2 GiB torch.load would allocate


def test_the_cap_is_set_by_environment_and_a_checkpoint_under_it_loads(tmp_path, monkeypatch):
    path = tmp_path / "bomb.pth"
    _zip_bomb_checkpoint(path, 2 * 64 * 2**20)  # 128 MiB of zeros in ~130 KB
    monkeypatch.setattr(checkpoints, "MAX_CHECKPOINT_BYTES", 100 * 2**20)
    with pytest.raises(CheckpointError, match=r"128\.0 MiB.*100\.0 MiB.*GANSTUDIO_MAX_CHECKPOINT_BYTES"):
        checkpoints.read_checkpoint(path)
    normal = tmp_path / "G.pth"
    torch.save({"w": torch.ones(3)}, normal)
    assert checkpoints.check_unpacked_size(normal) < 2**20
    assert torch.equal(checkpoints.read_checkpoint(normal)["w"], torch.ones(3))


def test_a_legacy_or_safetensors_file_is_bounded_by_its_size_on_disk(tmp_path, monkeypatch):
    legacy = tmp_path / "legacy.pth"
    torch.save({"w": torch.zeros(64, 1024)}, legacy, _use_new_zipfile_serialization=False)  # 256 KiB of floats
    monkeypatch.setattr(checkpoints, "MAX_CHECKPOINT_BYTES", 128 * 1024)
    with pytest.raises(CheckpointError, match=r"is 0\.3 MiB, over .* limit of 0\.1 MiB"):
        checkpoints.read_checkpoint(legacy)


# -- the network inside a training script's container ---------------------------------------------

def _dcgan_generator(seed=0):
    from ganstudio.models import dcgan

    torch.manual_seed(seed)
    return dcgan.build(dcgan.Config(nz=8, ngf=4, n_layers=4)).state_dict()


@pytest.mark.parametrize("key", ["netG_state_dict", "generator", "G", "g_ema", "state_dict", "model", "net", "model_state_dict"])
def test_a_generator_in_a_training_container_is_unwrapped(tmp_path, key):
    from ganstudio.models import dcgan

    generator = _dcgan_generator()
    discriminator = dcgan.build_discriminator(dcgan.Config(nz=8, ngf=4, n_layers=4), ndf=4).state_dict()
    path = tmp_path / "checkpoint.tar"
    # as the PyTorch DCGAN tutorial saves it: networks, optimizer state, counters
    torch.save({key: generator, "netD_state_dict": discriminator, "optimizerG_state_dict": {"state": {}, "param_groups": []},
                "epoch": 5, "loss": 0.25}, path)
    state_dict = checkpoints.read_network_state_dict(path)
    assert state_dict.keys() == generator.keys()
    assert all(torch.equal(state_dict[name], generator[name]) for name in generator)


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "module._orig_mod."])
def test_a_container_nested_once_with_parallel_or_compile_prefixes_is_unwrapped(tmp_path, prefix):
    generator = _dcgan_generator()
    path = tmp_path / "last.ckpt"
    # Lightning: {"state_dict": {"generator.<key>": ...}} (its "state_dict" is unwrapped on reading)
    torch.save({"state_dict": {f"generator.{prefix}{name}": t for name, t in generator.items()}, "epoch": 3}, path)
    # a container in a container, the DataParallel prefix on the outer key
    nested = tmp_path / "nested.pth"
    torch.save({"model": {f"{prefix}netG_state_dict": {f"{prefix}{name}": t for name, t in generator.items()}}}, nested)
    for file, key in ((path, "generator"), (nested, "model.netG_state_dict")):
        found = checkpoints.find_networks(checkpoints.flatten_state_dict(checkpoints.read_checkpoint(file)))
        assert [(network.key, network.arch) for network in found] == [(key, "dcgan")]
        assert checkpoints.read_network_state_dict(file).keys() == generator.keys()


def test_a_plain_state_dict_and_a_multi_network_file_are_taken_whole(tmp_path):
    generator = _dcgan_generator()
    path = tmp_path / "netG_epoch_3.pth"
    torch.save(generator, path)
    assert checkpoints.read_network_state_dict(path).keys() == generator.keys()
    found = checkpoints.find_networks(generator)
    assert [(network.key, network.arch) for network in found] == [("", "dcgan")]


def test_several_generators_are_named_with_how_to_pick_one(tmp_path):
    path = tmp_path / "train.pt"
    torch.save({"generator": _dcgan_generator(0), "g_ema": _dcgan_generator(1), "step": 10}, path)
    with pytest.raises(CheckpointError, match=r"holds 2 networks: 'generator' \(dcgan\), 'g_ema' \(dcgan\).*"
                                              r"python -m ganstudio extract .*--key generator"):
        checkpoints.read_network_state_dict(path)
    picked = checkpoints.read_network_state_dict(path, key="g_ema")
    assert torch.equal(picked["main.0.weight"], _dcgan_generator(1)["main.0.weight"])
    with pytest.raises(CheckpointError, match=r"no network under 'G'.*'generator' \(dcgan\), 'g_ema' \(dcgan\)"):
        checkpoints.read_network_state_dict(path, key="G")


def test_extract_network_writes_a_file_that_loads_on_its_own(tmp_path):
    from ganstudio.registry import Registry

    path = tmp_path / "train.pt"
    torch.save({"generator": _dcgan_generator(0), "g_ema": _dcgan_generator(1)}, path)
    found = checkpoints.extract_network(path, key="g_ema", output=tmp_path / "g_ema.safetensors")
    assert (found.key, found.arch) == ("g_ema", "dcgan")
    metadata = checkpoints.read_safetensors_metadata(tmp_path / "g_ema.safetensors")
    assert metadata["arch"] == "dcgan" and '"nz": 8' in metadata["config"]
    model = Registry(user_dir=tmp_path / "user").load(str(tmp_path / "g_ema.safetensors"))
    assert model.config["nz"] == 8 and torch.equal(
        model.network("G").module.state_dict()["main.0.weight"], _dcgan_generator(1)["main.0.weight"])


def test_a_discriminator_beside_the_generator_does_not_make_it_ambiguous(tmp_path):
    from ganstudio.models import patchgan

    torch.manual_seed(0)
    path = tmp_path / "pix2pix_train.pth"
    discriminator = patchgan.build(patchgan.Config(ndf=4, n_layers=2)).state_dict()
    torch.save({"G": _dcgan_generator(), "D": discriminator}, path)
    assert [n.key for n in checkpoints.find_networks(checkpoints.flatten_state_dict(checkpoints.read_checkpoint(path)))] == ["G"]
    # a discriminator alone is still found (fine-tuning reads one)
    assert [(n.key, n.arch) for n in checkpoints.find_networks({f"D.{k}": v for k, v in discriminator.items()})] == [("D", "patchgan")]
