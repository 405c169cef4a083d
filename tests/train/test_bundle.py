"""The built-in model definitions: every config builds, reads back from its export, and the manifest stays tidy."""

from __future__ import annotations

import numpy as np
import pytest

from ganstudio.manifest import ModelEntry, read_manifest, write_manifest
from ganstudio.train import bundle
from ganstudio.train.trainers import build_trainer


def fake_data(kind: str, rng: np.random.Generator, size: int = 32) -> dict:
    """Eight random ``size`` x ``size`` examples in the layout of ``kind``'s real training set."""
    images = rng.random((8, size, size, 3)).astype(np.float32)
    return {
        "dcgan": {"images": images[..., :1]},
        "cgan": {"images": images[..., :1], "labels": np.arange(8)},
        "pix2pix": {"A": images, "B": images},
        "cyclegan": {"A": images, "B": images},
        "stargan": {"images": images, "attributes": (rng.random((8, 3)) > 0.5).astype(np.float32)},
        "stargan_v2": {"images": images, "domains": np.arange(8) % 3},
    }[kind]


@pytest.mark.parametrize("name", list(bundle.MODELS))
def test_builtin_config_builds_and_its_export_reads_back(name):
    model = bundle.MODELS[name]
    # build_trainer checks that the registry would infer exactly this config from the saved generator.
    trainer = build_trainer(model.config, fake_data(model.config.kind, np.random.default_rng(0), model.config.image_size))
    assert trainer.arch.SPEC.arch == model.config.arch_id
    assert set(model.tasks) <= set(trainer.arch.SPEC.tasks)
    if model.config.kind in ("cgan", "stargan", "stargan_v2"):
        assert len(model.labels) == {"cgan": 10, "stargan": 3, "stargan_v2": 3}[model.config.kind]


@pytest.mark.parametrize("name", list(bundle.MODELS))
def test_a_finetune_of_a_builtin_starts_from_its_shipped_discriminators(name, tmp_path):
    from safetensors.torch import load_file

    from ganstudio.registry import Registry
    from ganstudio.train.finetune import plan_finetune

    plan = plan_finetune(Registry(user_dir=tmp_path / "user"), base=name, steps=10, freeze_d_layers=2)
    trainer = build_trainer(plan.config, fake_data(plan.kind, np.random.default_rng(0), plan.config.image_size))
    discriminators = [net for net in trainer.nets if net not in trainer.exported_nets]
    assert discriminators and set(discriminators) <= set(plan.config.init_from)
    for net in discriminators:  # the shipped weights, loaded strictly into the recipe's discriminator
        shipped = load_file(plan.config.init_from[net])
        live = trainer.nets[net].state_dict()
        assert shipped.keys() == live.keys() and all((shipped[k] == live[k]).all() for k in shipped)


def test_builtin_weights_stay_small():
    import torch

    total = 0
    for model in bundle.MODELS.values():
        torch.manual_seed(0)
        trainer = build_trainer(model.config, fake_data(model.config.kind, np.random.default_rng(0), model.config.image_size))
        total += sum(t.numel() * t.element_size() for state in trainer.exported(calibrate=False).values()
                     for t in state.values())
    assert total < 50e6  # the six digit models about 37 MB, the two 64 px emoji models about 11 MB


def test_update_manifest_keeps_other_entries_first_and_builtins_in_order(tmp_path):
    path = tmp_path / "manifest.json"
    other = ModelEntry(name="magenta-x", arch="magenta_multistyle", tasks=("stylize",), format="onnx", files={"t": "x.onnx"})
    write_manifest(path, [other])

    def entry(name: str) -> ModelEntry:
        return ModelEntry(name=name, arch="dcgan", tasks=("generate",), format="safetensors", files={"G": f"{name}/G.safetensors"})

    bundle.update_manifest(path, entry("digits-stargan"))
    bundle.update_manifest(path, entry("digits-dcgan"))
    bundle.update_manifest(path, entry("digits-stargan").with_updates(description="retrained"))
    entries = read_manifest(path)
    assert [e.name for e in entries] == ["magenta-x", "digits-dcgan", "digits-stargan"]
    assert entries[2].description == "retrained"
    # One model per line.
    assert path.read_text().count("\n") == 4 + 3  # {, "models": [, three entries, ], }
