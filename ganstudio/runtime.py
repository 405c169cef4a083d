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


class TorchNetwork:
    """An ``nn.Module`` in inference mode on one device."""

    backend = "torch"

    def __init__(self, module: nn.Module, device: str = "cpu"):
        self.module = module.to(device)
        self.device = device

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        import torch

        tensors = [torch.from_numpy(np.ascontiguousarray(x)).to(self.device) for x in inputs]
        with torch.inference_mode():
            output = self.module(*tensors)
        return output.float().cpu().numpy()


class OnnxNetwork:
    """An ONNX Runtime session, created once and reused."""

    backend = "onnx"

    def __init__(self, path: str | os.PathLike, device: Device = "auto", *, threads: int | None = None):
        import onnxruntime as ort

        providers = onnx_providers(device)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or physical_cores()
        options.enable_mem_pattern = True
        options.enable_cpu_mem_arena = True
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BackendError(f"ONNX Runtime could not load '{path}' ({exc}). Export the model again.") from exc
        active = self.session.get_providers()
        if providers[0] == "CUDAExecutionProvider" and active[0] != providers[0]:
            # ORT falls back silently when the CUDA libraries fail to load; say so once.
            logger.warning("CUDA execution provider could not start; running '%s' on the CPU.", path)
        self.device = "cuda" if active[0] == "CUDAExecutionProvider" else "cpu"
        self.input_names = [item.name for item in self.session.get_inputs()]
        self.input_types = [item.type for item in self.session.get_inputs()]

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        if len(inputs) != len(self.input_names):
            raise BackendError(f"the network takes {len(self.input_names)} inputs ({', '.join(self.input_names)}), got {len(inputs)}.")
        feed = {name: _as_onnx_type(array, kind) for name, array, kind in zip(self.input_names, inputs, self.input_types)}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


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
