"""int8 quantisation: a tiny real network stays within bounds of float32, and the fidelity numbers mean what they say."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from ganstudio import images
from ganstudio.errors import BackendError
from ganstudio.export import export_network
from ganstudio.models import get_architecture
from ganstudio.quantize import compare_levels, is_quantized, quantize_network
from ganstudio.runtime import OnnxNetwork


@pytest.fixture(scope="module")
def tiny_generator(tmp_path_factory):
    """A CycleGAN ResNet generator (ngf 8, 2 blocks) with random weights, exported to ONNX at any size."""
    arch = get_architecture("cyclegan_resnet")
    config = dataclasses.replace(arch.Config(), ngf=8, n_blocks=2)
    torch.manual_seed(0)
    module = arch.build(config).eval()
    path = tmp_path_factory.mktemp("int8") / "G.onnx"
    return export_network(module, arch.example_inputs(config, batch=2, size=32), path)


def _picture_inputs(names: tuple[str, ...], side: int = 64) -> list[dict[str, np.ndarray]]:
    from skimage import data

    return [{"input": images.image_to_array(Image.fromarray(getattr(data, name)()).convert("RGB").resize((side, side)))}
            for name in names]


def test_int8_copy_of_a_tiny_generator_stays_close_to_float32_on_unseen_pictures(tiny_generator, tmp_path):
    calibration = _picture_inputs(("chelsea", "coffee", "rocket"))
    quantized = quantize_network(tiny_generator, tmp_path / "G.int8.onnx", calibration)
    assert is_quantized(quantized) and not is_quantized(tiny_generator)
    unseen = _picture_inputs(("astronaut", "immunohistochemistry"), side=96)  # other pictures, another size
    float_net, int8_net = OnnxNetwork(tiny_generator, "cpu"), OnnxNetwork(quantized, "cpu")
    expected = [float_net(feed["input"]) for feed in unseen]
    actual = [int8_net(feed["input"]) for feed in unseen]
    fidelity = compare_levels(expected, actual, scale=255.0 / 2.0)  # -1..1 outputs to grey levels
    # Random weights at 8 channels are harder on int8 than a trained model at 64 (the vintage model measures
    # 35-40 dB): the bound says "close", and a broken quantisation (13 dB once) lands far below it.
    assert 0.0 < fidelity.mean_abs < 6.0
    assert fidelity.psnr_db > 28.0
    flat = compare_levels(expected, [np.zeros_like(array) for array in expected], scale=255.0 / 2.0)
    assert flat.psnr_db < 20.0  # what "far" looks like for this network


def test_only_convolutions_and_matrix_products_are_quantised(tiny_generator, tmp_path):
    quantized = quantize_network(tiny_generator, tmp_path / "G.int8.onnx", _picture_inputs(("chelsea",)))
    graph = onnx.load(str(quantized)).graph
    produced_by = {output: node for node in graph.node for output in node.output}
    # every convolution reads dequantised int8 weights
    convolutions = [node for node in graph.node if node.op_type in ("Conv", "ConvTranspose")]
    assert convolutions and all(produced_by[node.input[1]].op_type == "DequantizeLinear" for node in convolutions)
    # InstanceNorm's scale and bias stay float initialisers (quantising them broke a real model)
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    norms = [node for node in graph.node if node.op_type == "InstanceNormalization"]
    assert norms and all(initializers[node.input[1]].data_type == onnx.TensorProto.FLOAT for node in norms)


def test_a_network_that_cannot_be_quantised_says_so(tmp_path):
    with pytest.raises(BackendError, match="needs at least one input"):
        quantize_network(tmp_path / "missing.onnx", tmp_path / "out.onnx", [])


def test_fidelity_in_grey_levels_has_the_known_values():
    reference = [np.zeros((2, 3), np.float32)]
    fidelity = compare_levels(reference, [np.full((2, 3), 2.0, np.float32)])
    assert fidelity.mean_abs == 2.0 and fidelity.max_abs == 2.0 and fidelity.values == 6
    assert fidelity.psnr_db == pytest.approx(20 * math.log10(255 / 2))
    same = compare_levels(reference, reference)
    assert math.isinf(same.psnr_db) and not same.visible and "identical" in same.describe()
    scaled = compare_levels([np.zeros(4)], [np.full(4, 0.1)], scale=127.5)  # a -1..1 output: 0.1 is 12.75 levels
    assert scaled.max_abs == pytest.approx(12.75) and scaled.visible
