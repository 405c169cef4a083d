"""Device choice: CUDA first when there is a GPU, the CPU otherwise, for both backends."""

from __future__ import annotations

import ctypes
import logging

import numpy as np
import onnxruntime
import pytest
import torch

from ganstudio import runtime
from ganstudio.errors import BackendError
from ganstudio.registry import Registry


@pytest.fixture
def fake_nvidia_driver(monkeypatch):
    """Make the NVIDIA driver library appear to load, and the CUDA provider appear to exist."""
    real_cdll = ctypes.CDLL

    def cdll(name, *args, **kwargs):
        if "cuda" in str(name):
            return object()
        return real_cdll(name, *args, **kwargs)

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(onnxruntime, "preload_dlls", lambda: None, raising=False)
    runtime.cuda_driver_present.cache_clear()
    runtime._preload_cuda_libraries.cache_clear()
    yield
    runtime.cuda_driver_present.cache_clear()
    runtime._preload_cuda_libraries.cache_clear()


def test_torch_uses_cuda_when_pytorch_sees_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.torch_device("auto") == "cuda"
    assert runtime.torch_device("cpu") == "cpu"


def test_torch_falls_back_to_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.torch_device("auto") == "cpu"
    with pytest.raises(BackendError, match="sees no GPU"):
        runtime.torch_device("cuda")


def test_onnx_runtime_puts_cuda_first_when_a_gpu_is_present(fake_nvidia_driver):
    assert runtime.onnx_providers("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert runtime.onnx_providers("cpu") == ["CPUExecutionProvider"]


def test_onnx_runtime_stays_on_cpu_without_an_nvidia_driver(monkeypatch):
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: (_ for _ in ()).throw(OSError("no driver")))
    runtime.cuda_driver_present.cache_clear()
    try:
        assert runtime.onnx_providers("auto") == ["CPUExecutionProvider"]
        with pytest.raises(BackendError, match="driver not found"):
            runtime.onnx_providers("cuda")
    finally:
        runtime.cuda_driver_present.cache_clear()


def test_onnx_session_that_cannot_start_cuda_falls_back_to_cpu_and_says_so(fake_nvidia_driver, caplog, tmp_path):
    path = Registry().get("magenta-26-styles")
    from ganstudio.registry import resolve_source

    model_file = resolve_source(path.files["transformer"])
    with caplog.at_level(logging.WARNING, logger="ganstudio.runtime"):
        network = runtime.OnnxNetwork(model_file, "auto")
    if network.device == "cpu":  # this machine has no usable GPU: the fallback must be visible
        assert "running" in caplog.text and "on the CPU" in caplog.text
    output = network(np.zeros((1, 3, 32, 32), np.float32), np.eye(26, dtype=np.float32)[0])
    assert output.shape == (1, 3, 32, 32)


def test_onnx_session_uses_every_core_and_full_graph_optimisation(tmp_path):
    entry = Registry().get("magenta-26-styles")
    from ganstudio.registry import resolve_source

    network = runtime.OnnxNetwork(resolve_source(entry.files["transformer"]), "cpu")
    options = network.session.get_session_options()
    assert options.intra_op_num_threads == runtime.physical_cores()
    assert options.graph_optimization_level == onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_torch_network_returns_float32_numpy_without_tracking_gradients():
    layer = torch.nn.Conv2d(3, 2, 1)
    output = runtime.TorchNetwork(layer, "cpu")(np.ones((1, 3, 4, 4), np.float32))
    assert isinstance(output, np.ndarray) and output.dtype == np.float32 and output.shape == (1, 2, 4, 4)


def test_io_binding_gives_the_same_output_as_plain_run():
    from ganstudio.registry import resolve_source

    path = resolve_source(Registry().get("magenta-26-styles").files["transformer"])
    image = np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32)
    weights = np.eye(26, dtype=np.float32)[4]
    plain = runtime.OnnxNetwork(path, "cpu", io_binding=False)(image, weights)
    bound = runtime.OnnxNetwork(path, "cpu", io_binding=True)(image, weights)
    assert np.array_equal(plain, bound)


def test_float16_onnx_keeps_float32_inputs_and_outputs_and_stays_close():
    from ganstudio.registry import resolve_source

    path = resolve_source(Registry().get("magenta-26-styles").files["transformer"])
    image = np.random.default_rng(1).random((1, 3, 64, 64), dtype=np.float32)
    weights = np.eye(26, dtype=np.float32)[4]
    half = runtime.OnnxNetwork(path, "cpu", float16=True)
    assert half.input_types[0] == "tensor(float)"
    output = half(image, weights)
    assert output.dtype == np.float32
    assert np.abs(output - runtime.OnnxNetwork(path, "cpu")(image, weights)).max() < 0.05


def test_channels_last_gives_the_same_numbers_as_contiguous():
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.InstanceNorm2d(8), torch.nn.Conv2d(8, 3, 3, padding=1))
    image = np.random.default_rng(2).standard_normal((2, 3, 17, 23)).astype(np.float32)
    plain = runtime.TorchNetwork(layer, "cpu", channels_last=False)(image)
    tuned = runtime.TorchNetwork(layer, "cpu", channels_last=True)(image)
    assert np.abs(plain - tuned).max() < 1e-5


def test_the_cpu_keeps_the_default_layout_that_measured_faster_there():
    network = runtime.TorchNetwork(torch.nn.Conv2d(3, 3, 3), "cpu")
    assert not network.channels_last
    assert network.module.weight.is_contiguous()  # not converted to channels-last


def test_half_precision_on_the_cpu_is_refused_with_a_reason():
    with pytest.raises(BackendError, match="needs a GPU"):
        runtime.TorchNetwork(torch.nn.Conv2d(3, 3, 1), "cpu", precision="fp16")


# -- precision: what the CPU has, and what is offered on it ---------------------------------------------

ZEN3_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c avx2 fma bmi2

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c avx2 fma bmi2 avx512_bf16 avx512_vnni
"""
SAPPHIRE_RAPIDS_FLAGS = "fpu sse4_2 avx avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8"
GRAVITON3_CPUINFO = "processor\t: 0\nBogoMIPS\t: 2100.00\nFeatures\t: fp asimd evtstrm aes sha2 asimddp sve i8mm bf16\n"


def test_cpu_flags_are_read_from_the_first_processor_only():
    cpu = runtime.parse_cpuinfo(ZEN3_CPUINFO)
    assert cpu.model == "AMD EPYC 7B13" and cpu.known
    assert cpu.vector_unit == "AVX2" and not cpu.bf16 and not cpu.int8_dot  # the second block's flags are not read
    assert cpu.describe() == "AMD EPYC 7B13 (AVX2; no bf16, no VNNI)"


def test_bf16_and_int8_dot_products_are_recognised_on_x86_and_arm():
    xeon = runtime.parse_cpuinfo(f"model name\t: Xeon\nflags\t: {SAPPHIRE_RAPIDS_FLAGS}\n")
    assert xeon.bf16 and xeon.int8_dot and xeon.vector_unit == "AMX"
    graviton = runtime.parse_cpuinfo(GRAVITON3_CPUINFO)
    assert graviton.bf16 and graviton.int8_dot and graviton.vector_unit == "SVE"


def test_unreadable_flags_assume_nothing():
    cpu = runtime.parse_cpuinfo("")
    assert not cpu.known and not cpu.bf16 and not cpu.int8_dot
    assert runtime.precision_support("bf16", backend="torch", device="cpu", cpu=cpu).usable is False


def test_this_machines_features_come_from_the_operating_system():
    cpu = runtime.cpu_features()
    if cpu.known:
        text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
        assert cpu == runtime.parse_cpuinfo(text)
    assert cpu.describe()


def test_bf16_is_offered_on_a_cpu_that_has_it_and_refused_with_the_reason_on_one_that_does_not():
    with_bf16 = runtime.parse_cpuinfo(f"model name\t: Xeon\nflags\t: {SAPPHIRE_RAPIDS_FLAGS}\n")
    without = runtime.parse_cpuinfo(ZEN3_CPUINFO)
    assert runtime.precision_support("bf16", backend="torch", device="cpu", cpu=with_bf16).usable
    refused = runtime.precision_support("bf16", backend="torch", device="cpu", cpu=without)
    assert not refused.usable and "AVX-512-BF16 or AMX" in refused.note and "AVX2" in refused.note
    assert "slower than fp32" in refused.note


def test_int8_runs_on_onnx_runtime_natively_with_vnni_and_says_what_it_costs_without():
    vnni = runtime.parse_cpuinfo(f"model name\t: Xeon\nflags\t: {SAPPHIRE_RAPIDS_FLAGS}\n")
    plain = runtime.parse_cpuinfo(ZEN3_CPUINFO)
    native = runtime.precision_support("int8", backend="onnx", device="cpu", cpu=vnni)
    fallback = runtime.precision_support("int8", backend="onnx", device="cpu", cpu=plain)
    assert native.usable and native.native
    assert fallback.usable and not fallback.native and "no VNNI" in fallback.note and "7-bit" in fallback.note
    assert not runtime.precision_support("int8", backend="torch", device="cpu", cpu=vnni).usable
    assert not runtime.precision_support("int8", backend="onnx", device="cuda", cpu=vnni).usable


def test_precisions_no_provider_runs_natively_are_not_offered():
    cpu = runtime.parse_cpuinfo(f"model name\t: Xeon\nflags\t: {SAPPHIRE_RAPIDS_FLAGS}\n")
    assert not runtime.precision_support("bf16", backend="onnx", device="cpu", cpu=cpu).usable
    assert not runtime.precision_support("fp16", backend="onnx", device="cpu", cpu=cpu).usable
    assert not runtime.precision_support("fp16", backend="torch", device="cpu", cpu=cpu).usable
    assert runtime.precision_support("fp16", backend="onnx", device="cuda", cpu=cpu).usable
    assert runtime.precision_support("fp32", backend="torch", device="cpu", cpu=cpu).usable


def test_bf16_autocast_on_the_cpu_stays_close_to_float32():
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1))
    image = np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(np.float32)
    exact = runtime.TorchNetwork(layer, "cpu")(image)
    low = runtime.TorchNetwork(layer, "cpu", precision="bf16")(image)
    assert low.dtype == np.float32
    difference = np.abs(exact - low).max()
    assert 0 < difference < 0.05  # bf16 keeps 8 bits of mantissa: close, not equal


def test_int8_is_refused_by_the_torch_backend_with_where_to_run_it():
    with pytest.raises(BackendError, match="--backend onnx"):
        runtime.TorchNetwork(torch.nn.Conv2d(3, 3, 1), "cpu", precision="int8")


def test_onnx_cpu_sessions_sleep_instead_of_spinning():
    from ganstudio.registry import resolve_source

    network = runtime.OnnxNetwork(resolve_source(Registry().get("magenta-26-styles").files["transformer"]), "cpu")
    options = network.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
