"""Official-format checkpoints through the registry (tensor level) and the CLI (image level).

The architecture tests under tests/models check each network on its own; these check the
whole path a user takes: detection from the files alone, loading, the task's pre- and
post-processing, and the PNG that lands on disk.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ganstudio.cli import main
from ganstudio.registry import Registry
from ganstudio.serving import load_model

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def conformance_registry(tmp_path_factory):
    return Registry(user_dir=tmp_path_factory.mktemp("user"))


# (folder, model path inside it, network, input files, expected file, scale)
TENSOR_CASES = [
    ("cyclegan_resnet9", "latest_net_G.pth", "G", ["input.npy"], "expected.npy", 1.0),
    ("pix2pix_unet256", "latest_net_G.pth", "G", ["input.npy"], "expected.npy", 1.0),
    ("dcgan64", "netG_epoch_24.pth", "G", ["input.npy"], "expected.npy", 1.0),
    ("fast_style", "mosaic.pth", "G", ["input.npy"], "expected.npy", 255.0),
    ("stargan_v1", "200000-G.ckpt", "G", ["input.npy", "labels.npy"], "expected.npy", 1.0),
    ("stargan_v2_afhq", "100000_nets_ema.ckpt", "mapping_network", ["z.npy", "y.npy"], "style_latent.npy", 1.0),
    ("stargan_v2_afhq", "100000_nets_ema.ckpt", "style_encoder", ["reference.npy", "y.npy"], "style_reference.npy", 1.0),
]


@pytest.mark.parametrize("folder, filename, network, inputs, expected, scale", TENSOR_CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[4]}" for c in TENSOR_CASES])
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_registry_reproduces_the_official_tensor(conformance_dir, conformance_registry, backend,
                                                 folder, filename, network, inputs, expected, scale):
    model = load_model(conformance_registry, str(conformance_dir / folder / filename), backend=backend)
    arrays = [np.load(conformance_dir / folder / name) for name in inputs]
    output = model.network(network)(*arrays)
    reference = np.load(conformance_dir / folder / expected)
    assert output.shape == reference.shape
    assert np.abs(output / scale - reference / scale).max() <= TOLERANCE * (10 if backend == "onnx" else 1)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_stargan_v2_generator_with_both_style_paths(conformance_dir, conformance_registry, backend):
    folder = conformance_dir / "stargan_v2_afhq"
    model = load_model(conformance_registry, str(folder / "100000_nets_ema.ckpt"), backend=backend)
    source, y = np.load(folder / "source.npy"), np.load(folder / "y.npy")
    tolerance = TOLERANCE * (10 if backend == "onnx" else 1)
    for style_input, expected in ((model.network("mapping_network")(np.load(folder / "z.npy"), y), "expected_latent.npy"),
                                  (model.network("style_encoder")(np.load(folder / "reference.npy"), y), "expected_reference.npy")):
        assert np.abs(model.network("generator")(source, style_input) - np.load(folder / expected)).max() <= tolerance


@pytest.mark.parametrize("alpha", ["1.0", "0.5"])
def test_adain_folder_reproduces_the_official_tensor(conformance_dir, conformance_registry, alpha):
    folder = conformance_dir / "adain"
    model = conformance_registry.load(str(folder))
    assert model.arch == "adain"
    output = model.network("style_transfer")(np.load(folder / "content.npy"), np.load(folder / "style.npy"),
                                             np.array([float(alpha)], dtype=np.float32))
    assert np.abs(output - np.load(folder / f"expected_alpha{alpha}.npy")).max() <= TOLERANCE


def _image_level_calls():
    from support import CONFORMANCE_DIR

    calls = []
    for meta_path in sorted(CONFORMANCE_DIR.glob("*/meta.json")) if CONFORMANCE_DIR.is_dir() else []:
        image_level = json.loads(meta_path.read_text()).get("image_level")
        if not image_level:
            continue
        cli = image_level["cli"]
        commands = cli if isinstance(cli[0], list) else None
        folder = meta_path.parent.name
        if folder == "adain":
            calls += [(folder, [a.replace("{A}", alpha) for a in cli], f"expected_alpha{alpha}.png") for alpha in ("1.0", "0.5")]
        elif commands and folder == "stargan_v1":
            calls += [(folder, command, f"expected_target{i}.png") for i, command in enumerate(commands)]
        elif commands:
            calls += [(folder, command, f"expected_reference_domain{i}.png") for i, command in enumerate(commands)]
        else:
            calls.append((folder, cli, "expected.png"))
    return calls


@pytest.mark.parametrize("folder, command, expected", _image_level_calls(), ids=lambda v: v if isinstance(v, str) else None)
def test_cli_reproduces_the_official_png_within_one_grey_level(conformance_dir, tmp_path, monkeypatch, folder, command, expected):
    monkeypatch.setenv("GANSTUDIO_HOME", str(tmp_path / "home"))
    output = tmp_path / "out.png"
    args = [part.replace("{dir}", str(conformance_dir / folder)).replace("{out}", str(output)) for part in command]
    assert main(args) == 0
    produced = np.asarray(Image.open(output).convert("RGB"), dtype=np.int16)
    reference = np.asarray(Image.open(conformance_dir / folder / expected).convert("RGB"), dtype=np.int16)
    assert produced.shape == reference.shape
    assert np.abs(produced - reference).max() <= 1
