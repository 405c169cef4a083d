"""Models tab through its API: the table, importing by upload, runtime per model, ONNX export."""

from __future__ import annotations

import zipfile

from gradio_client import Client, handle_file

from ui.results import app_error, open_result
from ui.studio import save_tiny_checkpoint


def _rows(table: dict) -> dict[str, dict[str, str]]:
    return {row[0]: dict(zip(table["headers"], row)) for row in table["data"]}


def test_table_lists_every_model_with_its_details(client):
    table, devices = client.predict(api_name="/list_models")
    rows = _rows(table)
    assert {"magenta-arbitrary", "tiny-dcgan", "tiny-cyclegan", "tiny-stargan-v2"} <= set(rows)
    assert rows["tiny-cyclegan"]["Tasks"] == "translate" and rows["tiny-cyclegan"]["Architecture"] == "cyclegan_resnet"
    assert rows["magenta-arbitrary"]["Format"] == "onnx" and rows["magenta-arbitrary"]["Runtime"] == "ONNX Runtime"
    assert rows["tiny-dcgan"]["Device"] == "cpu" and rows["tiny-dcgan"]["Size"].endswith("kB")
    assert "PyTorch runs on" in devices


def test_uploaded_checkpoint_is_imported_and_usable(client, studio_url, tmp_path):
    single = save_tiny_checkpoint("dcgan", tmp_path / "netG_epoch_3.pth", nz=8, ngf=4, n_layers=4, seed=3)
    message, table = client.predict([handle_file(str(single))], "", "uploaded-dcgan", False, api_name="/import_model")
    assert "Imported **uploaded-dcgan** (dcgan)" in message and "Generate" in message
    assert "uploaded-dcgan" in _rows(table)
    fresh = Client(studio_url, verbose=False)  # a new session sees the model too
    originals = fresh.predict("uploaded-dcgan", 1, 1, None, 0.0, api_name="/generate")[1]
    assert open_result(originals[0]).size == (32, 32)
    again = app_error(client, files=[handle_file(str(single))], address="", name="uploaded-dcgan", overwrite=False,
                      api_name="/import_model")
    assert "already exists" in again


def test_a_cyclegan_pair_uploads_as_one_two_way_model(client, tmp_path):
    pair = [save_tiny_checkpoint("cyclegan_resnet", tmp_path / f"latest_net_G_{side}.pth", ngf=4, n_blocks=1, seed=i)
            for i, side in enumerate("AB")]
    message, table = client.predict([handle_file(str(p)) for p in pair], "", "uploaded-pair", False, api_name="/import_model")
    assert "uploaded-pair" in _rows(table) and "Translate" in message
    unnamed = app_error(client, files=[handle_file(str(p)) for p in pair], address="", name="", overwrite=False,
                        api_name="/import_model")
    assert "give it a name" in unnamed


def test_bad_imports_explain_themselves(client, tmp_path):
    assert "hf://owner/repo" in app_error(client, files=None, address="https://example.com/G.pth", name="",
                                          overwrite=False, api_name="/import_model")
    assert "not a hub address of a file" in app_error(client, files=None, address="hf://owner-only", name="",
                                                      overwrite=False, api_name="/import_model")
    junk = tmp_path / "G.pth"
    junk.write_bytes(b"not a checkpoint")
    assert "G.pth" in app_error(client, files=[handle_file(str(junk))], address="", name="junk", overwrite=False,
                                api_name="/import_model")


def test_onnx_runtime_chosen_for_a_model_is_used_in_this_session_only(client, studio_url):
    session = Client(studio_url, verbose=False)
    message, table = session.predict("tiny-cgan", "onnx", api_name="/set_backend")
    assert "tiny-cgan** runs with ONNX Runtime on **CPU" in message
    assert _rows(table)["tiny-cgan"]["Runtime"] == "ONNX Runtime"
    onnx_info = session.predict("tiny-cgan", 4, 1, "1", 0.0, api_name="/generate")[2]
    other_info = client.predict("tiny-cgan", 4, 1, "1", 0.0, api_name="/generate")[2]
    assert "ONNX Runtime" in onnx_info and "PyTorch" in other_info


def test_int8_chosen_for_a_model_runs_quantised_and_shows_its_measured_cost(studio_url):
    session = Client(studio_url, verbose=False)
    message, table = session.predict("tiny-cgan", "auto", "int8", api_name="/set_backend")
    assert "tiny-cgan** runs with ONNX Runtime in **int8** on **CPU" in message
    assert "Measured against fp32 on held-out pictures: PSNR" in message and "grey levels" in message
    assert _rows(table)["tiny-cgan"]["Runtime"] == "ONNX Runtime · int8"
    info = session.predict("tiny-cgan", 4, 1, "1", 0.0, api_name="/generate")[2]
    assert "ONNX Runtime int8" in info


def test_the_precision_choice_offers_what_this_machine_runs_natively():
    from ganstudio.runtime import cpu_features, cuda_driver_present
    from ganstudio.ui.models import precision_choices, precision_info

    offered = [value for _, value in precision_choices()]
    assert offered[:2] == ["fp32", "int8"]
    assert ("bf16" in offered) == (cpu_features().bf16 or cuda_driver_present())
    if "bf16" not in offered:  # left out, with the reason
        assert "bf16 needs a CPU with AVX-512-BF16 or AMX" in precision_info()


def test_export_gives_a_zip_with_every_network_and_its_description(client):
    files, message = client.predict("tiny-stargan-v2", api_name="/export_onnx")
    archive = next(path for path in files if path.endswith(".zip"))
    with zipfile.ZipFile(archive) as bundle:
        assert {"generator.onnx", "mapping_network.onnx", "style_encoder.onnx", "model.json"} <= set(bundle.namelist())
    assert "3 network(s)" in message
    assert "already an ONNX model" in app_error(client, model_name="magenta-arbitrary", api_name="/export_onnx")


def test_a_user_model_can_be_removed_and_a_built_in_one_cannot(client, tmp_path):
    single = save_tiny_checkpoint("dcgan", tmp_path / "netG_epoch_1.pth", nz=8, ngf=4, n_layers=4, seed=5)
    client.predict([handle_file(str(single))], "", "short-lived", False, api_name="/import_model")
    message, table = client.predict("short-lived", api_name="/remove_model")
    assert "Removed **short-lived**" in message and "short-lived" not in _rows(table)
    gone = app_error(client, model_name="short-lived", api_name="/remove_model")
    assert "is not in the registry" in gone
    kept = app_error(client, model_name="digits-dcgan", api_name="/remove_model")
    assert "only imported or fine-tuned models can be removed" in kept
