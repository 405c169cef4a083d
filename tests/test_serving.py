"""Loading at a precision: int8 made once through the task's calibration, cached beside the export, and reused."""

from __future__ import annotations

import json

import pytest
from support import save_tiny_checkpoint

from ganstudio.errors import BackendError
from ganstudio.quantize import RECIPE, is_quantized
from ganstudio.runtime import cpu_features
from ganstudio.serving import int8_fidelity, load_model
from ganstudio.tasks.calibrate import TaskCalibration
from ganstudio.tasks.generate import generate


@pytest.fixture
def tiny_cgan(registry, tmp_path):
    """A class-conditional generator with 3 classes, imported as a user model."""
    path = save_tiny_checkpoint("cgan", tmp_path / "cgan" / "netG.pth", nz=8, ngf=8, num_classes=3, embed_dim=4)
    return registry.import_model(path, name="tiny-cgan").name


class CountingCalibration(TaskCalibration):
    """The tasks' calibration, counting how often it is asked to record."""

    def __init__(self):
        self.recorded = 0

    def record(self, model):
        self.recorded += 1
        return super().record(model)


def test_int8_is_quantised_once_beside_the_export_and_then_reused(registry, tiny_cgan):
    calibration = CountingCalibration()
    model = load_model(registry, tiny_cgan, precision="int8", calibration=calibration)
    assert (model.backend, model.device, model.precision) == ("onnx", "cpu", "int8")
    folder = registry.user_dir / "onnx" / "tiny-cgan-int8"
    assert (registry.user_dir / "onnx" / "tiny-cgan" / "model.json").is_file()  # the float export, beside it
    assert is_quantized(folder / "G.onnx")
    stamp = (folder / "G.onnx").stat().st_mtime_ns
    again = load_model(registry, tiny_cgan, precision="int8", calibration=calibration)
    fresh = load_model(type(registry)(user_dir=registry.user_dir), tiny_cgan, precision="int8")  # a new process
    assert calibration.recorded == 1 and fresh.precision == "int8"
    assert (folder / "G.onnx").stat().st_mtime_ns == stamp
    assert again.entry.files == fresh.entry.files == {"G": "G.onnx"}


def test_an_int8_model_generates_and_carries_its_measured_cost(registry, tiny_cgan):
    model = load_model(registry, tiny_cgan, precision="int8", calibration=TaskCalibration())
    fidelity = int8_fidelity(model)
    assert fidelity is not None and fidelity.values > 0 and fidelity.psnr_db > 20
    recorded = model.entry.metrics["int8"]
    assert recorded["recipe"] == RECIPE and recorded["calibration_inputs"]["G"] > 0
    result = generate(model, seed=3, num_images=2, label=1)
    assert [picture.size for picture in result.images] == [(32, 32)] * 2


def test_a_cache_made_by_another_recipe_is_made_again(registry, tiny_cgan):
    calibration = CountingCalibration()
    load_model(registry, tiny_cgan, precision="int8", calibration=calibration)
    manifest = registry.user_dir / "onnx" / "tiny-cgan-int8" / "model.json"
    data = json.loads(manifest.read_text())
    data["source"] = data["source"].replace(RECIPE, "an older recipe")
    manifest.write_text(json.dumps(data))
    fresh = type(registry)(user_dir=registry.user_dir)
    load_model(fresh, tiny_cgan, precision="int8", calibration=calibration)
    assert calibration.recorded == 2
    assert RECIPE in json.loads(manifest.read_text())["source"]


def test_int8_without_a_cache_or_a_way_to_calibrate_says_what_to_do(registry, tiny_cgan):
    with pytest.raises(BackendError, match="needs calibration inputs"):
        load_model(registry, tiny_cgan, precision="int8")


def test_a_published_int8_network_is_used_as_it_is(registry):
    model = load_model(registry, "magenta-arbitrary", precision="int8")  # its networks ship quantised
    assert model.precision == "int8" and model.entry.name == "magenta-arbitrary"
    assert not (registry.user_dir / "onnx").exists()


def test_bf16_follows_what_this_cpu_has(registry, tiny_cgan):
    if cpu_features().bf16:
        assert load_model(registry, tiny_cgan, precision="bf16", device="cpu").precision == "bf16"
    else:
        with pytest.raises(BackendError, match="AVX-512-BF16 or AMX"):
            load_model(registry, tiny_cgan, precision="bf16", device="cpu")


def test_precisions_no_runtime_runs_here_are_refused_before_loading(registry):
    with pytest.raises(BackendError, match="no bf16 convolutions"):
        load_model(registry, "magenta-26-styles", precision="bf16")
    with pytest.raises(BackendError, match="--backend onnx"):
        load_model(registry, "digits-dcgan", backend="torch", precision="int8")
