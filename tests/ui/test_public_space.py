"""A public studio through the routes strangers use: gradio_client and plain HTTP against a served app.

Each test replays one way found to read the server's files, exhaust its memory or disk, stall it, or
reach another visitor's models and jobs, and checks that it is refused, and that the studio still
answers a normal request afterwards. Visitors are gradio_client Clients: each has a session of its own.
"""

from __future__ import annotations

import json
import os
import struct
import time
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from ui.results import app_error, open_result
from ui.studio import (
    make_public_registry,
    save_tiny_checkpoint,
    serve,
    training_pictures,
)

SERVER_PATH_MARKERS = ("/tmp/", "/root/", "/proc/", "/home/", "/dev/", "/etc/", "gradio/")


def still_serving(client) -> None:
    """A normal request still gets its answer."""
    originals = client.predict("tiny-dcgan", 1, 1, None, 0.0, api_name="/generate")[1]
    assert open_result(originals[0]).size == (32, 32)


def model_names(client) -> set[str]:
    table, _ = client.predict(api_name="/list_models")
    return {row[0] for row in table["data"]}


def assert_no_server_path(message: str) -> None:
    found = [marker for marker in SERVER_PATH_MARKERS if marker in message]
    assert not found, f"the message shows server paths ({found}): {message[:300]}"


def import_error(client, *, files=None, address="", name="probe", overwrite=False) -> str:
    return app_error(client, files=files, address=address, name=name, overwrite=overwrite, api_name="/import_model")


# -- 1. reading the server's files ------------------------------------------------------------------

def test_a_hub_path_with_dots_reads_nothing_outside_the_hub_cache(visitor, unreachable_hub, tmp_path):
    secret = save_tiny_checkpoint("dcgan", tmp_path / "x" / "netG_epoch_1.pth", nz=8, ngf=4, n_layers=4)
    snapshot = next((unreachable_hub / "models--someone--repo" / "snapshots").iterdir())
    address = f"hf://someone/repo/{os.path.relpath(secret.parent, snapshot)}"
    assert "/../" in address
    message = import_error(visitor, address=address, name="stolen")
    assert "may not contain empty, '.' or '..' parts" in message
    assert_no_server_path(message.replace(address, "hf://…"))
    assert "stolen" not in model_names(visitor)
    assert "not in the registry" in app_error(visitor, model_name="stolen", api_name="/export_onnx")
    still_serving(visitor)


def test_the_answer_is_the_same_whether_a_server_file_exists_or_not(visitor):
    answers = [import_error(visitor, address=f"hf://someone/repo/../../../../../../../../etc/{name}").replace(name, "NAME")
               for name in ("hostname", "no-such-file")]
    assert answers[0] == answers[1]


def test_an_uploaded_description_cannot_be_reached_through_a_hub_path_either(public_studio, visitor, unreachable_hub):
    import httpx

    description = {"name": "leak", "arch": "dcgan", "tasks": ["generate"], "format": "onnx",
                   "files": {"G": "/proc/self/environ"}}
    files = {"files": ("model.json", json.dumps(description).encode())}
    uploaded = Path(httpx.post(f"{public_studio[0]}gradio_api/upload", files=files, timeout=30).json()[0])
    snapshot = next((unreachable_hub / "models--someone--repo" / "snapshots").iterdir())
    message = import_error(visitor, address=f"hf://someone/repo/{os.path.relpath(uploaded.parent, snapshot)}", name="leak")
    assert "may not contain empty, '.' or '..' parts" in message
    assert "leak" not in model_names(visitor)


@pytest.mark.parametrize("named", ["/proc/self/environ", "../../../../../../etc/hostname", "/dev/zero"])
def test_a_model_description_in_a_hub_folder_names_only_its_own_files(client, studio_registry, unreachable_hub, named):
    # a private studio fetches hub folders, so a repository's model.json is read: it may name only the files beside it
    snapshot = next((unreachable_hub / "models--someone--repo" / "snapshots").iterdir())
    folder = snapshot / f"evil-{abs(hash(named))}"
    folder.mkdir()
    description = {"name": "leak", "arch": "dcgan", "tasks": ["generate"], "format": "onnx", "files": {"G": named},
                   "config": {"nz": 8, "ngf": 4}}
    (folder / "model.json").write_text(json.dumps(description))
    before = _disk_use(studio_registry.user_dir)
    started = time.perf_counter()
    message = import_error(client, address=f"hf://someone/repo/{folder.name}", name="leak")
    assert "names a file outside its own folder" in message
    assert time.perf_counter() - started < 10  # /dev/zero was copied at 350 MB/s until the disk filled
    assert _disk_use(studio_registry.user_dir) - before < 100_000
    assert "leak" not in model_names(client)
    still_serving(client)


def test_an_uploaded_file_is_not_served_to_anyone_once_imported(public_studio, visitor, tmp_path):
    import httpx

    url = public_studio[0]
    checkpoint = save_tiny_checkpoint("dcgan", tmp_path / "netG_epoch_2.pth", nz=8, ngf=4, n_layers=4, seed=2)
    with open(checkpoint, "rb") as handle:
        uploaded = httpx.post(f"{url}gradio_api/upload", files={"files": ("netG_epoch_2.pth", handle)}, timeout=30).json()[0]
    stranger = httpx.Client(base_url=url, timeout=30)
    assert stranger.get(f"/gradio_api/file={uploaded}").status_code == 200  # Gradio serves an upload to anyone
    payload = {"path": uploaded, "orig_name": "netG_epoch_2.pth", "meta": {"_type": "gradio.FileData"}}
    # over plain HTTP: gradio_client would upload the file again, the server being on this machine
    message, table = call_over_http(url, "import_model", [[payload], "", "uploaded-once", False])
    assert "Imported **uploaded-once**" in message
    assert stranger.get(f"/gradio_api/file={uploaded}").status_code != 200
    sources = [row[7] for row in table["data"]]
    assert "imported: upload of netG_epoch_2.pth" in sources
    assert not any(uploaded in source for source in sources)
    still_serving(visitor)


# -- 2. memory --------------------------------------------------------------------------------------

def test_a_checkpoint_that_would_unpack_to_gigabytes_is_refused_before_loading(visitor, tmp_path):
    bomb = _checkpoint_declaring(tmp_path / "netG_epoch_3.pth", 2 * 1024**3 + 1)
    assert bomb.stat().st_size < 100_000
    message = import_error(visitor, files=[handle_file(str(bomb))], name="bomb")
    assert "would unpack to 2.0 GiB, over this studio's limit" in message
    assert_no_server_path(message)
    still_serving(visitor)


def test_sketch_layers_are_checked_before_anything_decodes_them(visitor, tmp_path):
    small = tmp_path / "small.png"
    Image.new("RGBA", (256, 256), (0, 0, 0, 255)).save(small)
    huge = tmp_path / "layer.png"
    Image.new("L", (5000, 5000)).save(huge, optimize=True)  # 25 MP; decoded as RGBA, 100 MB per layer
    assert huge.stat().st_size < 1_000_000
    sketch = {"background": None, "layers": [handle_file(str(huge))], "composite": handle_file(str(small)), "id": None}
    message = app_error(visitor, model_name="tiny-cyclegan", sketch=sketch, direction="AtoB", api_name="/translate_sketch")
    assert "over the limit of 16 MP" in message
    many = {"background": None, "layers": [handle_file(str(small))] * 9, "composite": handle_file(str(small)), "id": None}
    message = app_error(visitor, model_name="tiny-cyclegan", sketch=many, direction="AtoB", api_name="/translate_sketch")
    assert "draw on at most 8" in message
    still_serving(visitor)


def test_a_strip_image_is_refused_instead_of_enlarged_for_display(visitor, tmp_path):
    strip = tmp_path / "strip.png"
    Image.new("RGB", (20000, 8), "gray").save(strip)  # shown enlarged 32 times: a 640000x256 preview
    message = app_error(visitor, model_name="tiny-cyclegan", image=handle_file(str(strip)), direction="AtoB",
                        api_name="/translate")
    assert "more than 20 times longer than it is wide" in message
    wide = tmp_path / "wide.png"
    Image.new("RGB", (400, 20), "gray").save(wide)
    before, _, _, _ = visitor.predict("tiny-cyclegan", handle_file(str(wide)), "AtoB", api_name="/translate")
    assert max(open_result(before).size) <= 2048


@pytest.mark.parametrize(("forged", "complaint"), [
    ({"latent": {"size": 8, "num_classes": 30_000_000}}, "num_classes must be a whole number from 0 to 100000"),
    ({"latent": {"size": 100_000_000}}, "latent size must be a whole number from 1 to 8192"),
    ({"preprocessing": {"fixed_size": 6000}}, "fixed_size must be a whole number from 1 to 2048"),
])
def test_numbers_in_an_onnx_files_metadata_are_checked_before_use(client, forged_onnx, forged, complaint):
    # a private studio imports ONNX files from elsewhere, so their numbers are what protects it
    message = import_error(client, files=[handle_file(str(forged_onnx(forged)))], name="forged")
    assert complaint in message
    assert "forged" not in model_names(client)
    still_serving(client)


def test_a_public_studio_runs_only_the_onnx_files_it_exported(visitor, forged_onnx):
    message = import_error(visitor, files=[handle_file(str(forged_onnx({})))], name="foreign")
    assert "runs only the ONNX files it exported itself" in message


# -- 3. hangs ---------------------------------------------------------------------------------------

def test_a_tiny_truncation_threshold_cannot_stall_generation(visitor):
    started = time.perf_counter()
    message = app_error(visitor, model_name="tiny-dcgan", seed=1, num_images=64, label=None, truncation=1e-9,
                        api_name="/generate")
    assert "truncation must be 0 (off) or between" in message and time.perf_counter() - started < 10


def test_an_unreachable_hub_answers_in_seconds_and_holds_no_model_slot(public_studio):
    url = public_studio[0]
    importing, other = Client(url, verbose=False), Client(url, verbose=False)
    started = time.perf_counter()
    pending = importing.submit(None, "hf://someone/repo/G.pth", "from-hub", False, api_name="/import_model")
    still_serving(other)  # a generation is served while the import waits for the Hub
    with pytest.raises(Exception) as raised:
        pending.result(timeout=60)
    assert "cannot be reached" in str(raised.value)
    assert time.perf_counter() - started < 8  # huggingface_hub's own retries took 23 s


# -- 4. fine-tuning ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> list[str]:
    return training_pictures(tmp_path_factory.mktemp("public-pictures"), 10)


def start_options(**changes) -> dict:
    options = {"base_name": "tiny-dcgan", "files_b": None, "name": "", "overwrite": False, "steps": 2, "batch_size": 4,
               "lr": 0.0002, "image_size": 32, "freeze_d_layers": 0, "diff_augment": False, "ema_decay": 0.0, "seed": 0,
               "api_name": "/finetune_start"}
    return {**options, **changes}


@pytest.mark.parametrize(("changes", "complaint"), [
    ({"steps": 10**7}, "steps 10000000 is over this public studio's limit of 2000"),
    ({"base_name": "new cyclegan", "image_size": 2048}, "image size 2048 is over this public studio's limit of 128"),
    ({"batch_size": 10**9}, "batch size 1000000000 is over this public studio's limit of 32"),
    ({"lr": 1e300 * 10}, "learning rate must be a number from"),  # inf (JSON cannot carry a NaN)
])
def test_fine_tuning_jobs_over_the_limits_are_refused_before_anything_is_queued(visitor, pictures, changes, complaint):
    files = [handle_file(path) for path in pictures]
    files_b = [handle_file(path) for path in pictures] if changes.get("base_name") == "new cyclegan" else None
    message = app_error(visitor, files=files, **start_options(**{"files_b": files_b, **changes}))
    assert complaint in message
    table, _ = visitor.predict(None, api_name="/finetune_jobs")
    assert table["data"] == [] or table["data"] == [[""] * len(table["headers"])]


# -- 5. other visitors' things ----------------------------------------------------------------------

def test_a_visitors_model_is_invisible_and_untouchable_to_others(public_studio, tmp_path):
    url = public_studio[0]
    alice, bob = Client(url, verbose=False), Client(url, verbose=False)
    checkpoint = save_tiny_checkpoint("dcgan", tmp_path / "netG_epoch_4.pth", nz=8, ngf=4, n_layers=4, seed=4)
    alice.predict([handle_file(str(checkpoint))], "", "alices-model", False, api_name="/import_model")
    assert "alices-model" in model_names(alice) and "alices-model" not in model_names(bob)
    assert "not in the registry" in app_error(bob, model_name="alices-model", seed=1, num_images=1, label=None,
                                              truncation=0.0, api_name="/generate")
    assert "not in the registry" in app_error(bob, model_name="alices-model", api_name="/remove_model")
    assert "not in the registry" in app_error(bob, model_name="alices-model", api_name="/export_onnx")
    assert "not in the registry" in app_error(bob, model_name="alices-model", backend="onnx", api_name="/set_backend")
    other = save_tiny_checkpoint("dcgan", tmp_path / "netG_epoch_5.pth", nz=8, ngf=4, n_layers=4, seed=5)
    assert "the name 'alices-model' is taken" in import_error(bob, files=[handle_file(str(other))], name="alices-model",
                                                               overwrite=True)
    originals = alice.predict("alices-model", 1, 1, None, 0.0, api_name="/generate")[1]
    assert open_result(originals[0]).size == (32, 32)  # still alice's own weights, still there
    alice.predict("alices-model", api_name="/remove_model")


def test_jobs_are_listed_watched_and_stopped_by_their_owner_only(public_studio, pictures):
    url = public_studio[0]
    alice, bob = Client(url, verbose=False), Client(url, verbose=False)
    files = [handle_file(path) for path in pictures]
    _, job_id, _ = alice.predict(**{**start_options(name="alices-job", steps=50), "files": files})
    assert "you have 1 job(s) queued or running" in app_error(alice, files=files, **start_options(name="second"))
    table, _ = bob.predict(None, api_name="/finetune_jobs")
    assert job_id not in {row[0] for row in table["data"]}
    for endpoint in ("/finetune_status", "/finetune_cancel", "/finetune_resume"):
        assert f"no job {job_id!r}" in app_error(bob, job_id=job_id, api_name=endpoint)
    table, _ = alice.predict(None, api_name="/finetune_jobs")
    assert job_id in {row[0] for row in table["data"]}
    progress, _, _ = alice.predict(job_id, api_name="/finetune_cancel")
    assert "alices-job" in progress


def test_queued_jobs_take_their_place_under_the_model_cap(tmp_path, pictures):
    registry = make_public_registry(tmp_path, max_user_models=2, tiny_models=False)
    app, url = serve(registry)
    try:
        files = [handle_file(path) for path in pictures]
        started = []
        for index in range(2):
            visitor = Client(url, verbose=False)
            started.append(visitor.predict(**{**start_options(base_name="new dcgan", name=f"queued-{index}", steps=200),
                                              "files": files})[1])
        late = Client(url, verbose=False)
        message = app_error(late, files=files, **start_options(base_name="new dcgan", name="one-too-many"))
        assert "at most 2 models of its users (queued fine-tuning jobs count)" in message
    finally:
        from ganstudio.train.jobs import JobManager

        for job_id in started:
            JobManager(registry).cancel(job_id)
        app.close()


# -- 6. disk ----------------------------------------------------------------------------------------

def test_exporting_a_model_again_adds_nothing_to_the_disk(visitor, public_studio, tmp_path, monkeypatch):
    from ganstudio.ui import common

    monkeypatch.setattr(common, "OUTPUT_ROOT", tmp_path / "outputs")  # the results of this studio alone
    registry = public_studio[1]
    first, _ = visitor.predict("tiny-cgan", api_name="/export_onnx")
    exports = registry.user_dir / "onnx"  # (jobs of other tests may be writing elsewhere in the user folder)
    before = _disk_use(exports) + _disk_use(tmp_path / "outputs")
    for _ in range(4):
        again, message = visitor.predict("tiny-cgan", api_name="/export_onnx")
        assert "Exported **tiny-cgan**" in message
    assert _disk_use(exports) + _disk_use(tmp_path / "outputs") - before < 10_000
    assert [Path(path).name for path in again] == [Path(path).name for path in first]


# -- 7. messages ------------------------------------------------------------------------------------

def test_messages_show_no_server_paths_and_do_not_echo_long_input(visitor, tmp_path):
    junk = tmp_path / "G.pth"
    junk.write_bytes(b"\x80\x02not a checkpoint at all" * 10)
    message = import_error(visitor, files=[handle_file(str(junk))], name="junk")
    assert "G.pth" in message
    assert_no_server_path(message)
    long_name = "x" * 1_000_000
    for message in (app_error(visitor, model_name=long_name, seed=1, num_images=1, label=None, truncation=0.0,
                              api_name="/generate"),
                    import_error(visitor, files=[handle_file(str(junk))], name=long_name)):
        assert len(message) < 2000
    still_serving(visitor)


# -- helpers ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def forged_onnx(tmp_path_factory):
    """Make a copy of a real ONNX export of a tiny class-conditional generator, its GAN Studio description changed."""
    import onnx

    from ganstudio.registry import Registry
    from ganstudio.serving import load_model

    folder = tmp_path_factory.mktemp("forged")
    registry = Registry(user_dir=folder / "user")
    checkpoint = save_tiny_checkpoint("cgan", folder / "netG.pth", nz=8, ngf=4, num_classes=3, embed_dim=4)
    exported = load_model(registry, registry.import_model(checkpoint, name="real").name, backend="onnx")
    original = Path(exported.entry.base_dir) / exported.entry.files["G"]

    def forge(changes: dict) -> Path:
        model = onnx.load(str(original))
        prop = next(prop for prop in model.metadata_props if prop.key == "ganstudio")
        description = json.loads(prop.value)
        for key, value in changes.items():
            description["info"][key] = {**(description["info"].get(key) or {}), **value}
        prop.value = json.dumps(description)
        path = folder / f"forged-{len(list(folder.glob('forged-*')))}" / "G.onnx"
        path.parent.mkdir()
        onnx.save(model, str(path))
        return path

    return forge


def _disk_use(folder: Path) -> int:
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file()) if Path(folder).exists() else 0


def _checkpoint_declaring(path: Path, unpacked: int) -> Path:
    """A torch.save file whose zip directory says its tensor data unpacks to ``unpacked`` bytes (the data stays tiny)."""
    import torch

    torch.save({"weight": torch.zeros(4)}, path)
    data = bytearray(path.read_bytes())
    start = data.find(b"PK\x01\x02")  # the central directory: one record per entry
    while start != -1:
        name_length = struct.unpack("<H", data[start + 28:start + 30])[0]
        if data[start + 46:start + 46 + name_length].decode().endswith("/data/0"):
            struct.pack_into("<I", data, start + 24, unpacked)  # the entry's uncompressed size
        start = data.find(b"PK\x01\x02", start + 4)
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert sum(info.file_size for info in archive.infolist()) > unpacked
    return path


def call_over_http(url: str, api_name: str, data: list) -> list:
    """Call an endpoint as a plain HTTP client does (POST the inputs, read the result's event stream)."""
    import httpx

    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post(f"/gradio_api/call/{api_name}", json={"data": data}).json()["event_id"]
        stream = http.get(f"/gradio_api/call/{api_name}/{event}").text
    kind = next(line.split(": ", 1)[1] for line in stream.splitlines() if line.startswith("event: ")
                and line.split(": ", 1)[1] in ("complete", "error"))
    payload = [line.split(": ", 1)[1] for line in stream.splitlines() if line.startswith("data: ")][-1]
    assert kind == "complete", payload
    return json.loads(payload)
