"""The training loop: every kind trains, exports files the registry loads and the tasks run, and resumes exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.errors import BackendError
from ganstudio.manifest import ModelEntry
from ganstudio.models import get_architecture
from ganstudio.registry import Registry
from ganstudio.tasks import edit_attributes, edit_domain, generate, stylize, translate
from ganstudio.train import loop
from ganstudio.train.bundle import update_manifest
from ganstudio.train.config import FinetuneConfigError
from ganstudio.train.loop import CHECKPOINT_NAME, train
from ganstudio.train.trainers import build_trainer
from tests.train.conftest import tiny_case

LABELS = {"cgan": tuple(str(d) for d in range(10)), "stargan": ("red", "thick", "slanted"),
          "stargan_v2": ("red", "green", "blue")}


def register(result, weights_dir, name: str) -> Registry:
    """Put a training result in a manifest, as the bundle script does, and open a registry on it."""
    entry = ModelEntry(
        name=name, arch=result.arch, tasks=get_architecture(result.arch).SPEC.tasks, format="safetensors",
        files={role: str(path.relative_to(weights_dir)) for role, path in result.files.items()},
        config=result.model_config, preprocessing={"fixed_size": 32}, labels=LABELS.get(result.arch, ()),
    )
    update_manifest(weights_dir / "manifest.json", entry)
    return Registry(weights_dir=weights_dir, user_dir=weights_dir / "user")


def test_every_kind_trains_and_its_export_runs_through_the_registry_and_tasks(kind, tmp_path):
    config, data = tiny_case(kind)
    reports = []
    result = train(config.with_updates(sample_every=2), data, tmp_path / "run", export_dir=tmp_path / "weights" / "m",
                   on_progress=lambda *args: reports.append(args))
    assert result.step == 3 and result.resumed_from == 0 and not result.stopped
    assert [r[0] for r in reports] == [1, 2, 3] and all(r[1] == 3 for r in reports)
    assert all(np.isfinite(list(r[2].values())).all() for r in reports)
    assert reports[0][3] is None and all(isinstance(im, Image.Image) for im in reports[1][3])
    assert (tmp_path / "run" / "samples" / "step_000002.png").is_file()
    assert (tmp_path / "run" / CHECKPOINT_NAME).is_file() and (tmp_path / "run" / "config.json").is_file()
    # the discriminators are kept for later fine-tunes, out of the generators' folder
    assert set(result.discriminator_files) == {"dcgan": {"D"}, "cgan": {"D"}, "infogan": {"D", "D_head", "Q"},
                                               "pix2pix": {"D"}, "cyclegan": {"D_A", "D_B"},
                                               "stargan": {"D"}, "stargan_v2": {"discriminator"}, "fast_style": set()}[kind]
    assert all(path.parent == tmp_path / "weights" / "m" / "discriminators" and path.is_file()
               for path in result.discriminator_files.values())

    registry = register(result, tmp_path / "weights", "tiny")
    model = registry.load("tiny", backend="torch", device="cpu")
    # the export folder also imports as it is (README: torchrun, then `import big-run/model`), every network included
    imported = registry.import_model(tmp_path / "weights" / "m", name="imported")
    assert len(imported.files) == len(result.files)
    imported_model = registry.load("imported", backend="torch", device="cpu")
    for net, module in model.networks.items():
        twin = imported_model.networks[net] if net in imported_model.networks else None
        assert twin is not None, f"{net} missing after import: {sorted(imported_model.networks)}"
        assert all(torch.equal(a, b) for a, b in zip(module.module.state_dict().values(),
                                                      twin.module.state_dict().values(), strict=True))
    digit = Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8))
    if kind in ("dcgan", "cgan", "infogan"):
        codes = {"cat": 4, "c2": -1.5} if kind == "infogan" else None
        images = generate(model, seed=1, num_images=2, label="3" if kind == "cgan" else None, codes=codes).images
        assert [im.size for im in images] == [(32, 32)] * 2
    elif kind == "pix2pix":
        assert translate(model, digit.resize((48, 48))).size == (48, 48)
    elif kind == "cyclegan":
        assert translate(model, digit, direction="AtoB").size == translate(model, digit, direction="BtoA").size == (32, 32)
    elif kind == "fast_style":
        assert stylize(model, digit.resize((40, 36))).size == (40, 36)
    elif kind == "stargan":
        assert edit_attributes(model, digit, attributes={"red": 1, "slanted": 1}).size == (32, 32)
    else:
        assert edit_domain(model, digit, domain="green", seed=3).image.size == (32, 32)
        assert edit_domain(model, digit, domain=2, reference=digit).image.size == (32, 32)


def _checkpoint(path):
    return torch.load(path / CHECKPOINT_NAME, map_location="cpu", weights_only=True)


def _assert_same(first, second, where=""):
    if isinstance(first, torch.Tensor):
        assert torch.equal(first, second), where
    elif isinstance(first, dict):
        assert first.keys() == second.keys(), where
        for key in first:
            _assert_same(first[key], second[key], f"{where}.{key}")
    elif isinstance(first, (list, tuple)):
        assert len(first) == len(second), where
        for index, (a, b) in enumerate(zip(first, second, strict=True)):
            _assert_same(a, b, f"{where}[{index}]")
    else:
        assert first == second, where


def test_resumed_run_continues_from_its_checkpoint_and_equals_an_uninterrupted_one(kind, tmp_path):
    config, data = tiny_case(kind)
    config = config.with_updates(checkpoint_every=2)
    short = train(config.with_updates(steps=2), data, tmp_path / "resumed")
    assert short.step == 2 and _checkpoint(tmp_path / "resumed")["step"] == 2
    resumed = train(config.with_updates(steps=4), data, tmp_path / "resumed")
    assert resumed.resumed_from == 2 and resumed.step == 4
    straight = train(config.with_updates(steps=4), data, tmp_path / "straight")
    assert straight.resumed_from == 0

    first, second = _checkpoint(tmp_path / "resumed"), _checkpoint(tmp_path / "straight")
    # Weights, EMA, optimiser moments and step counts, random generators: all bitwise equal.
    for key in ("weights", "ema", "optimizers", "rng", "step"):
        _assert_same(first[key], second[key], key)
    for role, path in resumed.files.items():
        from safetensors.torch import load_file

        _assert_same(load_file(path), load_file(straight.files[role]), role)


def test_should_stop_ends_the_run_with_a_checkpoint_to_resume_from(tmp_path):
    config, data = tiny_case("dcgan")
    calls = []
    result = train(config.with_updates(steps=10, checkpoint_every=100), data, tmp_path,
                   should_stop=lambda: len(calls) >= 2, on_progress=lambda *args: calls.append(args))
    assert result.stopped and result.step == 2 and _checkpoint(tmp_path)["step"] == 2
    assert result.files["G"].is_file()
    again = train(config.with_updates(steps=3), data, tmp_path)
    assert again.resumed_from == 2 and again.step == 3 and not again.stopped


def test_checkpoint_of_another_architecture_is_not_resumed(tmp_path):
    config, data = tiny_case("dcgan")
    train(config.with_updates(steps=1), data, tmp_path)
    with pytest.raises(FinetuneConfigError, match="another model"):
        train(config.with_updates(arch={**config.arch, "ngf": 8}), data, tmp_path)


def test_data_of_the_wrong_size_is_refused_with_the_expected_size():
    config, data = tiny_case("pix2pix")
    with pytest.raises(FinetuneConfigError, match="32x32"):
        build_trainer(config, {"A": data["A"][:, :16, :16], "B": data["B"][:, :16, :16]})


def test_config_that_would_not_read_back_is_refused_before_training():
    config, data = tiny_case("stargan_v2")
    # The style encoder's widths stop at dim_in * img_size / 4 = 32: a larger cap would read back as 32.
    with pytest.raises(FinetuneConfigError, match="max_conv_dim"):
        build_trainer(config.with_updates(arch={**config.arch, "max_conv_dim": 512}), data)


def test_freeze_d_layers_keeps_the_first_discriminator_layer_fixed(tmp_path):
    config, data = tiny_case("pix2pix")
    torch.manual_seed(0)
    trainer = build_trainer(config, data)
    first_conv = trainer.nets["D"].model[0].weight.detach().clone()
    second_conv = trainer.nets["D"].model[2].weight.detach().clone()
    generator = torch.Generator().manual_seed(0)
    for step in range(2):
        trainer.train_step(trainer.get_batch(generator), step)
    assert torch.equal(trainer.nets["D"].model[0].weight, first_conv)
    assert not torch.equal(trainer.nets["D"].model[2].weight, second_conv)


def test_init_from_starts_from_an_exported_generator(tmp_path):
    config, data = tiny_case("cyclegan")
    first = train(config.with_updates(steps=1), data, tmp_path / "first")
    torch.manual_seed(123)
    trainer = build_trainer(config.with_updates(init_from={role: str(p) for role, p in first.files.items()}), data)
    from safetensors.torch import load_file

    _assert_same(trainer.nets["G_A"].state_dict(), load_file(first.files["G_A"]))


# Every optional term, so that each code path makes its tensors at least once.
EVERY_TERM = {"dcgan": {"diff_augment": True, "gp_weight": 1.0}, "cgan": {"gp_weight": 1.0, "r1_weight": 1.0},
              "infogan": {"diff_augment": True, "freeze_d_layers": 1},
              "pix2pix": {"diff_augment": True, "r1_weight": 1.0}, "cyclegan": {"diff_augment": True, "r1_weight": 1.0,
              "options": {"lambda_identity": 0.5}, "ema_decay": 0.9}, "stargan": {"diff_augment": True, "ema_decay": 0.9},
              "stargan_v2": {"diff_augment": True, "options": {"alternate_guidance": False}}, "fast_style": {"ema_decay": 0.9}}


def test_every_tensor_a_step_makes_lives_on_the_training_device(kind, tmp_path, monkeypatch):
    """What keeps a GPU run from mixing devices, checked without a GPU.

    The trainer trains on the CPU while torch's default device is "meta": a tensor made without naming its
    device lands on "meta", and the first operation that meets the CPU tensors fails (more strictly than
    CUDA, which lets CPU scalars through).
    """
    built = loop.build_trainer

    def build_then_default_to_meta(*args, **kwargs):
        trainer = built(*args, **kwargs)
        torch.set_default_device("meta")
        return trainer

    monkeypatch.setattr(loop, "build_trainer", build_then_default_to_meta)
    config, data = tiny_case(kind)
    config = config.with_updates(steps=2, checkpoint_every=1, sample_every=1, **EVERY_TERM[kind])
    try:
        result = train(config, data, tmp_path, device="cpu")
    finally:
        torch.set_default_device(None)
    assert result.step == 2 and all(path.is_file() for path in result.files.values())
    assert (tmp_path / "samples" / "step_000002.png").is_file()


def test_asking_for_a_gpu_on_a_machine_without_one_says_how_to_train_on_the_cpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    config, data = tiny_case("dcgan")
    with pytest.raises(BackendError, match="--device cpu"):
        train(config, data, tmp_path, device="cuda")
    assert not (tmp_path / CHECKPOINT_NAME).exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_run_matches_a_cpu_run_and_its_checkpoint_resumes_on_the_cpu(kind, tmp_path):
    config, data = tiny_case(kind)
    on_gpu = train(config.with_updates(steps=2), data, tmp_path / "gpu", device="cuda")
    on_cpu = train(config.with_updates(steps=2), data, tmp_path / "cpu", device="cpu")
    from safetensors.torch import load_file

    for role, path in on_gpu.files.items():
        gpu_state, cpu_state = load_file(path), load_file(on_cpu.files[role])
        for key, value in cpu_state.items():
            # the same noise and batches; only float rounding differs (Adam's first steps are about lr in size)
            assert torch.allclose(gpu_state[key].float(), value.float(), atol=10 * config.lr + 1e-4), f"{role}.{key}"
    resumed = train(config.with_updates(steps=3), data, tmp_path / "gpu", device="cpu")
    assert resumed.resumed_from == 2 and resumed.step == 3
