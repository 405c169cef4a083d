"""StarGAN v1 generator: official-format conformance, the train-mode InstanceNorm quirk, key handling."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from ganstudio.checkpoints import (
    flatten_state_dict,
    load_state_dict_strictly,
    read_checkpoint,
)
from ganstudio.errors import CheckpointError
from ganstudio.models import stargan

FOLDER = "stargan_v1"
CHECKPOINT = "200000-G.ckpt"


def load_official(path, *, prepare: bool = True) -> torch.nn.Module:
    """The registry's sequence: read, normalize, infer, build, strict load, eval, prepare."""
    state_dict = stargan.normalize_keys(flatten_state_dict(read_checkpoint(path)))
    model = stargan.build(stargan.infer_config(state_dict))
    load_state_dict_strictly(model, state_dict, arch=stargan.SPEC.arch)
    model.eval()
    if prepare:
        stargan.prepare_for_inference(model)
    return model


@pytest.fixture(scope="module")
def fixture_dir(conformance_dir):
    return conformance_dir / FOLDER


@pytest.fixture(scope="module")
def fixture_io(fixture_dir):
    x = torch.from_numpy(np.load(fixture_dir / "input.npy"))
    c = torch.from_numpy(np.load(fixture_dir / "labels.npy"))
    expected = np.load(fixture_dir / "expected.npy")
    return x, c, expected


def run(model: torch.nn.Module, x: torch.Tensor, c: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x, c).numpy()


def tiny_state_dict(config: stargan.Config, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    model = stargan.build(config)
    # Non-trivial statistics and affine parameters, so a wrong mode or a lost key shows.
    for module in model.modules():
        if isinstance(module, torch.nn.InstanceNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.1)
    return model.state_dict()


# ----------------------------------------------------------------------------- conformance


def test_fixture_output_matches_with_instance_statistics(fixture_dir, fixture_io):
    x, c, expected = fixture_io
    model = load_official(fixture_dir / CHECKPOINT)
    diff = np.abs(run(model, x, c) - expected).max()
    print(f"stargan_v1 max abs diff: {diff:.3g}")
    assert diff <= 1e-4


def test_official_train_mode_gives_the_fixture_output_too(fixture_dir, fixture_io):
    # What solver.test() literally does: the generator is never switched to eval().
    x, c, expected = fixture_io
    model = load_official(fixture_dir / CHECKPOINT, prepare=False)
    model.train()
    assert np.abs(run(model, x, c) - expected).max() <= 1e-4


def test_plain_eval_with_running_stats_does_not_match_fixture(fixture_dir, fixture_io):
    x, c, expected = fixture_io
    model = load_official(fixture_dir / CHECKPOINT, prepare=False)
    assert not model.training
    assert np.abs(run(model, x, c) - expected).max() > 0.1


def test_inference_twice_changes_no_buffer(fixture_dir, fixture_io):
    x, c, _ = fixture_io
    model = load_official(fixture_dir / CHECKPOINT)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    first = run(model, x, c)
    second = run(model, x, c)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert not any(key.endswith(("running_mean", "running_var", "num_batches_tracked")) for key in after)
    np.testing.assert_array_equal(first, second)


def test_train_mode_inference_would_change_running_stats(fixture_dir, fixture_io):
    # Why prepare_for_inference exists instead of model.train(): train mode mutates the buffers.
    x, c, _ = fixture_io
    model = load_official(fixture_dir / CHECKPOINT, prepare=False).train()
    before = model.main[1].running_mean.clone()
    run(model, x, c)
    assert not torch.equal(before, model.main[1].running_mean)


def test_image_level_fixture_matches_with_declared_preprocessing(fixture_dir):
    from PIL import Image

    meta = json.loads((fixture_dir / "meta.json").read_text())
    model = load_official(fixture_dir / CHECKPOINT)
    low, high = stargan.describe(stargan.Config()).preprocessing["input_range"]
    pixels = np.asarray(Image.open(fixture_dir / "input.png").convert("RGB"), dtype=np.float32)
    x = torch.from_numpy(pixels / 255 * (high - low) + low).permute(2, 0, 1)[None]
    for i, target in enumerate(meta["targets"]):
        out = run(model, x, torch.tensor([target], dtype=torch.float32))[0]
        low_out, high_out = stargan.describe(stargan.Config()).preprocessing["output_range"]
        unit = np.clip((out - low_out) / (high_out - low_out), 0, 1)
        assert stargan.describe(stargan.Config()).preprocessing["output_rounding"] == "round"
        image = np.floor(unit * 255 + 0.5).transpose(1, 2, 0)
        expected = np.asarray(Image.open(fixture_dir / f"expected_target{i}.png").convert("RGB"), dtype=np.float32)
        assert np.abs(image - expected).max() <= 1


def test_infer_config_reads_meta_args(fixture_dir):
    meta = json.loads((fixture_dir / "meta.json").read_text())
    state_dict = stargan.normalize_keys(flatten_state_dict(read_checkpoint(fixture_dir / CHECKPOINT)))
    assert stargan.infer_config(state_dict) == stargan.Config(**meta["args"])
    assert list(meta["attributes"]) == list(stargan.DEFAULT_ATTRIBUTES)
    assert set(stargan.HAIR_COLOR_GROUP) <= set(stargan.DEFAULT_ATTRIBUTES)


# ----------------------------------------------------------------------------- tiny configs


@pytest.mark.parametrize(
    "config",
    [
        stargan.Config(conv_dim=8, c_dim=5, repeat_num=6),
        stargan.Config(conv_dim=4, c_dim=8, repeat_num=2),  # RaFD has 8 expressions
        stargan.Config(conv_dim=4, c_dim=13, repeat_num=1),  # CelebA + RaFD joint training
        stargan.Config(conv_dim=6, c_dim=1, repeat_num=3),
    ],
)
def test_tiny_config_round_trips_and_runs(config):
    state_dict = stargan.normalize_keys(tiny_state_dict(config))
    assert stargan.matches(state_dict)
    assert stargan.infer_config(state_dict) == config
    model = stargan.build(config)
    load_state_dict_strictly(model, state_dict, arch=stargan.SPEC.arch)
    model.eval()
    stargan.prepare_for_inference(model)
    inputs = stargan.example_inputs(config, batch=2, size=16)
    assert inputs["c"].shape == (2, config.c_dim)
    with torch.no_grad():
        assert model(*inputs.values()).shape == (2, 3, 16, 16)
        # Any multiple of size_multiple works, not only squares.
        x = torch.zeros(1, 3, 20, 12)
        assert model(x, inputs["c"][:1]).shape == (1, 3, 20, 12)


def test_default_config_is_the_official_release():
    assert stargan.Config() == stargan.Config(conv_dim=64, c_dim=5, repeat_num=6)
    assert stargan.describe(stargan.Config()).preprocessing["size_multiple"] == 4


def test_discriminator_has_official_names_and_shapes():
    torch.manual_seed(0)
    discriminator = stargan.Discriminator(image_size=32, conv_dim=4, c_dim=5, repeat_num=3)
    keys = set(discriminator.state_dict())
    assert {"main.0.weight", "main.0.bias", "main.4.weight", "conv1.weight", "conv2.weight"} <= keys
    out_src, out_cls = discriminator(torch.zeros(2, 3, 32, 32))
    assert out_src.shape == (2, 1, 4, 4)
    assert out_cls.shape == (2, 5)
    assert not stargan.matches(discriminator.state_dict())


# ----------------------------------------------------------------------------- key handling


def test_normalize_keys_strips_module_prefix_and_is_idempotent():
    config = stargan.Config(conv_dim=4, c_dim=5, repeat_num=2)
    state_dict = tiny_state_dict(config)
    wrapped = {f"module.{key}": value for key, value in state_dict.items()}
    normalized = stargan.normalize_keys(wrapped)
    assert normalized.keys() == state_dict.keys()
    assert all(torch.equal(normalized[key], state_dict[key]) for key in state_dict)
    twice = stargan.normalize_keys(normalized)
    assert twice.keys() == normalized.keys()
    assert all(twice[key] is normalized[key] for key in normalized)


def test_normalize_keys_fills_missing_norm_statistics_without_changing_output():
    config = stargan.Config(conv_dim=4, c_dim=5, repeat_num=2)
    full = tiny_state_dict(config)
    # PyTorch 0.4.0 files have no num_batches_tracked; a prepared model's state dict has no statistics.
    no_counter = {key: value for key, value in full.items() if not key.endswith("num_batches_tracked")}
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    no_stats = {key: value for key, value in full.items() if not key.endswith(statistics)}
    inputs = stargan.example_inputs(config, batch=1, size=16)
    outputs = []
    for state_dict in (full, no_counter, no_stats):
        model = stargan.build(config)
        load_state_dict_strictly(model, stargan.normalize_keys(state_dict), arch=stargan.SPEC.arch)
        model.eval()
        stargan.prepare_for_inference(model)
        outputs.append(run(model, *inputs.values()))
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], outputs[2])


@pytest.mark.parametrize(
    ("folder", "filename"),
    [
        ("dcgan64", "netG_epoch_24.pth"),
        ("cyclegan_resnet9", "latest_net_G.pth"),
        ("pix2pix_unet256", "latest_net_G.pth"),
        ("fast_style", "mosaic.pth"),
        ("stargan_v2_afhq", "100000_nets_ema.ckpt"),
    ],
)
def test_matches_is_false_for_other_architectures(conformance_dir, folder, filename):
    state_dict = stargan.normalize_keys(flatten_state_dict(read_checkpoint(conformance_dir / folder / filename)))
    assert not stargan.matches(state_dict)


def test_matches_is_true_for_official_generator(fixture_dir):
    state_dict = stargan.normalize_keys(flatten_state_dict(read_checkpoint(fixture_dir / CHECKPOINT)))
    assert stargan.matches(state_dict)


def test_another_architecture_raises_checkpoint_error(conformance_dir):
    path = conformance_dir / "cyclegan_resnet9" / "latest_net_G.pth"
    state_dict = stargan.normalize_keys(flatten_state_dict(read_checkpoint(path)))
    with pytest.raises(CheckpointError):
        stargan.infer_config(state_dict)


def test_discriminator_file_raises_checkpoint_error_naming_the_generator_file():
    state_dict = stargan.Discriminator(image_size=32, conv_dim=4, c_dim=5, repeat_num=3).state_dict()
    with pytest.raises(CheckpointError, match="G.ckpt"):
        stargan.infer_config(stargan.normalize_keys(state_dict))


def test_changed_shape_raises_checkpoint_error():
    config = stargan.Config(conv_dim=4, c_dim=5, repeat_num=2)
    state_dict = stargan.normalize_keys(tiny_state_dict(config))
    state_dict["main.11.weight"] = torch.zeros(16, 8, 3, 3)  # the first up-conv, with a wrong kernel size
    model = stargan.build(stargan.infer_config(state_dict))
    with pytest.raises(CheckpointError, match="main.11.weight"):
        load_state_dict_strictly(model, state_dict, arch=stargan.SPEC.arch)


def test_prepared_generator_exports_to_onnx_with_same_output():
    onnxruntime = pytest.importorskip("onnxruntime")
    config = stargan.Config(conv_dim=4, c_dim=5, repeat_num=2)
    model = stargan.build(config)
    load_state_dict_strictly(model, stargan.normalize_keys(tiny_state_dict(config)), arch=stargan.SPEC.arch)
    model.eval()
    stargan.prepare_for_inference(model)
    inputs = stargan.example_inputs(config, batch=1, size=16)
    buffer = io.BytesIO()
    torch.onnx.export(model, tuple(inputs.values()), buffer, input_names=list(inputs), dynamo=False)
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {name: value.numpy() for name, value in inputs.items()})
    assert np.abs(onnx_out - run(model, *inputs.values())).max() <= 1e-5
