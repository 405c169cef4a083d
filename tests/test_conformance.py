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
from ganstudio.models.inputs import input_transform, noise_weights
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
    metas = sorted(CONFORMANCE_DIR.glob("*/meta.json")) + sorted(CONFORMANCE_DIR.glob("stylegan/*/meta.json")) \
        if CONFORMANCE_DIR.is_dir() else []
    for meta_path in metas:
        image_level = json.loads(meta_path.read_text()).get("image_level")
        if not image_level:
            continue
        cli = image_level["cli"]
        commands = cli if isinstance(cli[0], list) else None
        folder = str(meta_path.parent.relative_to(CONFORMANCE_DIR))
        if commands and isinstance(image_level.get("expected"), list):  # the StyleGAN folders name each PNG
            calls += list(zip([folder] * len(commands), commands, image_level["expected"], strict=True))
        elif folder == "adain":
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


# -- StyleGAN: the style pipeline through the registry, on both backends ------------------------------------------

SNAPSHOT = "network-snapshot-000000.pkl"
SEEDS = [3, 11]
# (folder, file, class, psi, ws expected or None, image expected)
STYLE_CASES = [
    ("stylegan2_ada_nvlabs", SNAPSHOT, None, 1.0, "ws_psi1.0.npy", "expected_psi1.0.npy"),
    ("stylegan2_ada_nvlabs", SNAPSHOT, None, 0.7, "ws_psi0.7.npy", "expected_psi0.7.npy"),
    ("stylegan2_ada_nvlabs_cond", SNAPSHOT, 1, 1.0, "ws_class1_psi1.0.npy", "expected_class1_psi1.0.npy"),
    ("stylegan2_ada_nvlabs_cond", SNAPSHOT, 1, 0.7, "ws_class1_psi0.7.npy", "expected_class1_psi0.7.npy"),
    ("stylegan2_ada_nvlabs_cond", SNAPSHOT, 0, 1.0, "ws_class0_psi1.0.npy", "expected_class0_psi1.0.npy"),
    ("stylegan2_ada_nvlabs_cond", SNAPSHOT, 2, 1.0, "ws_class2_psi1.0.npy", "expected_class2_psi1.0.npy"),
    ("stylegan3_nvlabs", SNAPSHOT, None, 1.0, "ws_psi1.0.npy", "expected_psi1.0.npy"),
    ("stylegan3_nvlabs", SNAPSHOT, None, 0.7, "ws_psi0.7.npy", "expected_psi0.7.npy"),
    ("stylegan3_nvlabs_r", SNAPSHOT, None, 1.0, "ws_psi1.0.npy", "expected_psi1.0.npy"),
    ("stylegan3_nvlabs_r", SNAPSHOT, None, 0.7, "ws_psi0.7.npy", "expected_psi0.7.npy"),
    ("stylegan2_rosinality", "converted.pt", None, 1.0, None, "expected_trunc1.0.npy"),
    ("stylegan2_rosinality", "converted.pt", None, 0.7, None, "expected_trunc0.7.npy"),
    ("stylegan2_rosinality", "checkpoint.pt", None, 1.0, None, "expected_trunc1.0.npy"),
]


def _style_model(conformance_dir, registry, folder, filename, backend):
    return load_model(registry, str(conformance_dir / "stylegan" / folder / filename), backend=backend)


def _synthesis(model, ws, **options):
    values = {"ws": ws, "noise": noise_weights("const", len(ws)), "transform": input_transform(**options)}
    return model.network("synthesis")(*(values[name] for name in model.info.options["synthesis_inputs"]))


@pytest.mark.parametrize("folder, filename, class_index, psi, ws_file, image_file", STYLE_CASES,
                         ids=[f"{c[0]}-{c[1]}-class{c[2]}-psi{c[3]}" for c in STYLE_CASES])
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_seeds_become_the_official_ws_and_images(conformance_dir, conformance_registry, backend, folder, filename,
                                                class_index, psi, ws_file, image_file):
    from ganstudio.tasks import styles

    directory = conformance_dir / "stylegan" / folder
    model = _style_model(conformance_dir, conformance_registry, folder, filename, backend)
    tolerance = TOLERANCE * (10 if backend == "onnx" else 1)
    ws = styles.map_seeds(model, SEEDS, class_index, styles.StyleOptions(truncation_psi=psi))
    if ws_file:
        assert np.abs(ws - np.load(directory / ws_file)).max() <= tolerance
    else:  # rosinality stores the mapping's output once per sample
        assert np.abs(styles.map_seeds(model, SEEDS, None, styles.StyleOptions())[:, 0] - np.load(directory / "w.npy")).max() <= tolerance
    assert np.abs(_synthesis(model, ws) - np.load(directory / image_file)).max() <= tolerance


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_style_mixing_as_style_mixing_py_and_inject_index(conformance_dir, conformance_registry, backend):
    from ganstudio.tasks import styles

    tolerance = TOLERANCE * (10 if backend == "onnx" else 1)
    nvlabs = _style_model(conformance_dir, conformance_registry, "stylegan2_ada_nvlabs", SNAPSHOT, backend)
    directory = conformance_dir / "stylegan" / "stylegan2_ada_nvlabs"
    row, col = styles.map_seeds(nvlabs, SEEDS, None, styles.StyleOptions())
    mixed = row.copy()
    mixed[:4] = col[:4]  # --styles 0,1,2,3
    assert np.abs(mixed[None] - np.load(directory / "ws_stylemix_3-11.npy")).max() <= tolerance
    assert np.abs(_synthesis(nvlabs, mixed[None]) - np.load(directory / "expected_stylemix_3-11.npy")).max() <= tolerance

    rosinality = _style_model(conformance_dir, conformance_registry, "stylegan2_rosinality", "converted.pt", backend)
    directory = conformance_dir / "stylegan" / "stylegan2_rosinality"
    for psi, expected in ((1.0, "expected_mix.npy"), (0.7, "expected_mix_trunc0.7.npy")):
        first, second = styles.map_seeds(rosinality, SEEDS, None, styles.StyleOptions(truncation_psi=psi))
        first[3:] = second[3:]  # inject_index 3: the first 3 ws from seed 3
        assert np.abs(_synthesis(rosinality, first[None]) - np.load(directory / expected)).max() <= tolerance


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_train_py_file_truncates_towards_generate_pys_mean_latent(conformance_dir, conformance_registry, backend):
    from ganstudio.tasks import styles

    model = _style_model(conformance_dir, conformance_registry, "stylegan2_rosinality", "checkpoint.pt", backend)
    directory = conformance_dir / "stylegan" / "stylegan2_rosinality"
    assert model.info.options["truncation_mean"] == 4096
    z, mean_draws = styles.seeds_to_z(model, [3], 0.7)
    assert np.abs(z - np.load(directory / "z_generate_py_seed3_trunc0.7.npy")).max() <= 5e-7
    mean = styles.average_ws(model, mean_draws, 1, None)
    assert np.abs(mean - np.load(directory / "mean_latent_generate_py_seed3.npy")).max() <= TOLERANCE
    ws = styles.map_seeds(model, [3], None, styles.StyleOptions(truncation_psi=0.7))
    tolerance = TOLERANCE * (10 if backend == "onnx" else 1)
    assert np.abs(_synthesis(model, ws) - np.load(directory / "expected_generate_py_seed3_trunc0.7.npy")).max() <= tolerance


TRANSFORMS = {"stylegan3_nvlabs": [((0.25, -0.1), 0.0), ((0.0, 0.0), 30.0), ((0.3, 0.2), -45.0)],
              "stylegan3_nvlabs_r": [((0.25, -0.1), 0.0), ((0.0, 0.0), 30.0)]}


@pytest.mark.parametrize("folder", sorted(TRANSFORMS))
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_stylegan3_translate_and_rotate_as_gen_images_py(conformance_dir, conformance_registry, backend, folder):
    from ganstudio.tasks import styles

    model = _style_model(conformance_dir, conformance_registry, folder, SNAPSHOT, backend)
    expected = np.load(conformance_dir / "stylegan" / folder / "expected_transforms_seed3_psi1.0.npy")
    ws = styles.map_seeds(model, [3], None, styles.StyleOptions())
    produced = np.concatenate([_synthesis(model, ws, translate=shift, rotate=angle) for shift, angle in TRANSFORMS[folder]])
    assert np.abs(produced - expected).max() <= TOLERANCE * (10 if backend == "onnx" else 1)
