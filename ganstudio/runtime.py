"""Backends that run networks: PyTorch and ONNX Runtime behind one small protocol.

A ``Network`` takes float32/int64 numpy arrays and returns a float32 numpy array, so
tasks never touch torch. torch is imported only by the torch backend, and onnxruntime
only by the ONNX one: an ONNX model runs without torch in the process.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from ganstudio.errors import BackendError

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger(__name__)

Backend = Literal["torch", "onnx"]
Device = Literal["auto", "cuda", "cpu"]


class Network(Protocol):
    """A loaded network, callable on numpy arrays."""

    backend: str
    device: str

    def __call__(self, *inputs: np.ndarray) -> np.ndarray: ...


def physical_cores() -> int:
    """Cores to give a runtime's intra-op pool (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def torch_device(device: Device = "auto") -> str:
    """"cuda" when asked for or available (auto), else "cpu".

    Raises:
        BackendError: "cuda" was asked for and PyTorch sees no GPU.
    """
    import torch

    if device == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise BackendError("CUDA was requested but PyTorch sees no GPU. Use --device cpu or auto.")
    return "cpu"


@functools.cache
def cuda_driver_present() -> bool:
    """Whether the NVIDIA driver library loads, i.e. a GPU can be used at all.

    onnxruntime-gpu lists its CUDA provider even on machines without a GPU, and trying it
    there prints loader errors; this check keeps such machines quietly on the CPU.
    """
    names = ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so")
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


def onnx_providers(device: Device = "auto") -> list[str]:
    """ONNX Runtime execution providers in order of preference: CUDA first when a GPU is present, then CPU.

    Raises:
        BackendError: "cuda" was asked for and there is no GPU or no CUDA provider in this onnxruntime build.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    usable = "CUDAExecutionProvider" in available and cuda_driver_present()
    if device != "cpu" and usable:
        _preload_cuda_libraries(ort)
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise BackendError(
            "CUDA was requested but ONNX Runtime cannot use a GPU here (providers: "
            f"{', '.join(available)}; NVIDIA driver {'found' if cuda_driver_present() else 'not found'}). "
            "On a GPU machine install onnxruntime-gpu: pip install --force-reinstall --no-deps onnxruntime-gpu"
        )
    return ["CPUExecutionProvider"]


@functools.cache
def _preload_cuda_libraries(ort) -> None:
    # onnxruntime-gpu finds CUDA and cuDNN from the nvidia-* pip packages (the ones torch installs) only when asked.
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:
        try:
            preload()
        except Exception as exc:  # a partial CUDA install: the session will fall back to CPU and say so
            logger.warning("could not preload CUDA libraries for ONNX Runtime: %s", exc)


Precision = Literal["float32", "float16", "bfloat16"]


class TorchNetwork:
    """An ``nn.Module`` in inference mode on one device.

    ``channels_last`` (default: on a GPU only) runs convolutions in NHWC layout, which cuDNN's
    tensor-core kernels prefer. On the CPU ``python -m ganstudio.bench`` measured it slower for the
    image-to-image networks (pix2pix U-Net 305 against 130 ms, CycleGAN ResNet-9 694 against 585 ms
    at 256 px), so the CPU keeps the default layout. ``precision`` float16/bfloat16 autocasts on a GPU.
    """

    backend = "torch"

    def __init__(self, module: nn.Module, device: str = "cpu", *, channels_last: bool | None = None,
                 precision: Precision = "float32"):
        import torch

        if precision != "float32" and device != "cuda":
            raise BackendError(f"{precision} inference needs a GPU; on the CPU use float32.")
        self.device = device
        self.precision = precision
        self.channels_last = device == "cuda" if channels_last is None else channels_last
        self.module = module.to(device)
        if self.channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        import torch

        tensors = [self._tensor(x) for x in inputs]
        with torch.inference_mode():
            if self.precision == "float32":
                output = self.module(*tensors)
            else:
                with torch.autocast(device_type="cuda", dtype=getattr(torch, self.precision)):
                    output = self.module(*tensors)
        return output.float().contiguous().cpu().numpy()

    def _tensor(self, array: np.ndarray):
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device, non_blocking=True)
        if self.channels_last and tensor.dim() == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor


class OnnxNetwork:
    """An ONNX Runtime session, created once and reused.

    On a GPU, inputs and outputs go through I/O binding (the output is allocated by the
    CUDA provider and copied back once); ``float16`` converts the graph's weights and
    arithmetic to half precision while keeping float32 inputs and outputs.
    """

    backend = "onnx"

    def __init__(self, path: str | os.PathLike, device: Device = "auto", *, threads: int | None = None,
                 float16: bool = False, io_binding: bool | None = None):
        import onnxruntime as ort

        providers = onnx_providers(device)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or physical_cores()
        options.enable_mem_pattern = True
        options.enable_cpu_mem_arena = True
        options.log_severity_level = 3
        model = _float16_model(path) if float16 else str(path)
        try:
            self.session = ort.InferenceSession(model, options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BackendError(f"ONNX Runtime could not load '{path}' ({exc}). Export the model again.") from exc
        active = self.session.get_providers()
        if providers[0] == "CUDAExecutionProvider" and active[0] != providers[0]:
            # ORT falls back silently when the CUDA libraries fail to load; say so once.
            logger.warning("CUDA execution provider could not start; running '%s' on the CPU.", path)
        self.device = "cuda" if active[0] == "CUDAExecutionProvider" else "cpu"
        self.io_binding = self.device == "cuda" if io_binding is None else io_binding
        self.input_names = [item.name for item in self.session.get_inputs()]
        self.input_types = [item.type for item in self.session.get_inputs()]
        self.output_name = self.session.get_outputs()[0].name

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        if len(inputs) != len(self.input_names):
            raise BackendError(f"the network takes {len(self.input_names)} inputs ({', '.join(self.input_names)}), got {len(inputs)}.")
        feed = {name: _as_onnx_type(array, kind) for name, array, kind in zip(self.input_names, inputs, self.input_types)}
        if not self.io_binding:
            return np.asarray(self.session.run([self.output_name], feed)[0], dtype=np.float32)
        binding = self.session.io_binding()
        for name, array in feed.items():
            binding.bind_cpu_input(name, array)
        binding.bind_output(self.output_name, self.device)
        self.session.run_with_iobinding(binding)
        return np.asarray(binding.copy_outputs_to_cpu()[0], dtype=np.float32)


def _float16_model(path: str | os.PathLike):
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(onnx.load(str(path)), keep_io_types=True).SerializeToString()


def _as_onnx_type(array: np.ndarray, kind: str) -> np.ndarray:
    dtype = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(float16)": np.float16}.get(kind, None)
    array = np.ascontiguousarray(array)
    return array.astype(dtype, copy=False) if dtype is not None else array


def describe_devices() -> dict[str, Sequence[str] | str]:
    """What each backend would use here, for the Models tab and ``models --json``."""
    info: dict[str, Sequence[str] | str] = {}
    try:
        import onnxruntime as ort

        info["onnxruntime"] = list(ort.get_available_providers())
    except ImportError:
        info["onnxruntime"] = "not installed"
    return info
