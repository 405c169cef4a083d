"""Every architecture in ARCHITECTURES: its spec and protocol; at a tiny config, the config round trip,
unique recognition and ONNX parity.

A new architecture module is picked up here automatically; a PyTorch family needs one line in TINY_CONFIGS.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from ganstudio.checkpoints import write_safetensors
from ganstudio.export import PARITY_TOLERANCE, export_onnx
from ganstudio.models import ARCHITECTURES, get_architecture
from ganstudio.models.spec import (
    PIPELINES,
    STYLE_OPTIONS,
    ArchitectureModule,
    ModelInfo,
    TorchArchitecture,
)
from ganstudio.registry import Registry

TORCH_ARCHITECTURES = sorted(a for a in ARCHITECTURES if get_architecture(a).SPEC.weights == "torch")

TINY_CONFIGS = {
    "dcgan": {"nz": 8, "ngf": 4, "n_layers": 4},
    "cgan": {"nz": 8, "ngf": 4, "num_classes": 3, "embed_dim": 4},
    "cdcgan": {"ngf": 4, "num_classes": 3, "n_layers": 4},  # nz stays 100: the weights do not record it
    "infogan": {"nz": 6, "fc_dim": 16, "ngf": 4, "base": 8},  # the paper's codes (10 + 2): the weights do not record them
    "pix2pix_unet": {"ngf": 4, "num_downs": 5},
    "cyclegan_resnet": {"ngf": 4, "n_blocks": 2},
    "vintagify_resnet": {"ngf": 4, "n_blocks": 2},
    "patchgan": {"ndf": 4, "n_layers": 2},
    "stargan": {"conv_dim": 8, "c_dim": 3, "repeat_num": 2},
    "stargan_v2": {"img_size": 32, "style_dim": 8, "latent_dim": 4, "num_domains": 2, "max_conv_dim": 16},
    "adain": {},
    "fast_style": {"channels": 8, "n_residual": 1},
    "stylegan2": {"size": 32, "style_dim": 16, "n_mlp": 2, "channels": (16, 16, 12, 8)},
    "stylegan2_ada": {"z_dim": 16, "w_dim": 16, "img_resolution": 32, "mapping_layers": 2, "channel_base": 256,
                      "channel_max": 16},
    "stylegan3": {"z_dim": 16, "w_dim": 16, "img_resolution": 16, "channel_base": 256, "channel_max": 16, "num_layers": 6},
}


def _tiny(arch_id: str):
    module = get_architecture(arch_id)
    overrides = dict(TINY_CONFIGS[arch_id])
    if arch_id == "stargan_v2" and "dim_in" in {f.name for f in dataclasses.fields(module.Config)}:
        overrides["dim_in"] = 8
    config = dataclasses.replace(module.Config(), **overrides)
    torch.manual_seed(0)
    return module, config, module.build(config).eval()


@pytest.mark.parametrize("arch_id", sorted(ARCHITECTURES))
def test_every_module_declares_its_spec_and_satisfies_the_protocol(arch_id):
    module = get_architecture(arch_id)
    assert isinstance(module, ArchitectureModule), f"{module.__name__} lacks SPEC or describe()"
    assert module.SPEC.arch == arch_id == module.__name__.rpartition(".")[2]
    if module.SPEC.weights == "torch":
        assert isinstance(module, TorchArchitecture), f"{module.__name__} lacks a function of TorchArchitecture"
    info = module.describe({})
    assert info.tasks == module.SPEC.tasks and info.pipeline in PIPELINES
    assert ModelInfo.from_json(json.loads(json.dumps(info.to_json()))) == info  # an ONNX export carries it as JSON


def test_every_pytorch_architecture_has_a_tiny_config():
    assert set(TORCH_ARCHITECTURES) == set(TINY_CONFIGS)


@pytest.mark.parametrize("arch_id", TORCH_ARCHITECTURES)
def test_config_is_read_back_from_the_state_dict(arch_id):
    module, config, network = _tiny(arch_id)
    state_dict = module.normalize_keys(network.state_dict())
    assert module.infer_config(state_dict) == config
    assert module.normalize_keys(state_dict).keys() == state_dict.keys()


@pytest.mark.parametrize("arch_id", TORCH_ARCHITECTURES)
def test_only_its_own_architecture_recognises_a_state_dict(arch_id):
    _, _, network = _tiny(arch_id)
    state_dict = network.state_dict()
    recognised = [other for other in TORCH_ARCHITECTURES
                  if get_architecture(other).matches(get_architecture(other).normalize_keys(state_dict))]
    assert recognised == [arch_id]


@pytest.mark.parametrize("arch_id", [a for a in TORCH_ARCHITECTURES if get_architecture(a).SPEC.exports_onnx])
def test_onnx_export_matches_pytorch(arch_id, tmp_path):
    module, config, network = _tiny(arch_id)
    path = tmp_path / "model.safetensors"
    write_safetensors(path, module.normalize_keys(network.state_dict()), arch=arch_id, config=dataclasses.asdict(config))
    registry = Registry(user_dir=tmp_path / "user")
    torch_model = registry.load(str(path), backend="torch")
    entry = export_onnx(torch_model, tmp_path / "onnx")
    assert set(entry.files) == set(torch_model.networks)
    assert max(entry.metrics["onnx_parity_max_abs_diff"].values()) <= PARITY_TOLERANCE
    onnx_model = registry.load(str(tmp_path / "onnx"), backend="onnx")
    for name in torch_model.networks:
        # a second batch size shows the batch axis is dynamic
        inputs = module.example_inputs(config, name if module.SPEC.container else "G", batch=3)
        arrays = [tensor.numpy() for tensor in inputs.values()]
        expected = torch_model.network(name)(*arrays)
        assert np.abs(onnx_model.network(name)(*arrays) - expected).max() <= PARITY_TOLERANCE


STYLE_ARCHITECTURES = [a for a in TORCH_ARCHITECTURES if get_architecture(a).describe({}).pipeline == "style"]


@pytest.mark.parametrize("arch_id", STYLE_ARCHITECTURES)
def test_a_style_models_options_name_its_networks_inputs_in_order(arch_id):
    module, config, network = _tiny(arch_id)
    info = module.describe(dataclasses.asdict(config))
    assert set(STYLE_OPTIONS) >= set(info.options) >= set(STYLE_OPTIONS) - {"truncation_mean"}
    for name in ("mapping", "synthesis"):
        assert list(module.example_inputs(config, name)) == info.options[f"{name}_inputs"]
    ws = module.inference_networks(network)["mapping"](*module.example_inputs(config, "mapping").values())
    assert tuple(ws.shape[1:]) == (info.options["num_ws"], info.options["w_dim"])
