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
from dataclasses import dataclass
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


# -- precision ------------------------------------------------------------------------

Precision = Literal["fp32", "fp16", "bf16", "int8"]
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "bf16", "int8")
INT8_NEEDS_ONNX = ("int8 runs with ONNX Runtime: choose the ONNX Runtime backend (--backend onnx); "
                   "the model is exported and quantised once, then reused.")

# /proc/cpuinfo flags (x86 "flags", Arm "Features") that mean a precision runs in hardware.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"})


@dataclass(frozen=True)
class CpuFeatures:
    """What this CPU computes natively past float32, read from the operating system (never assumed).

    ``known`` is False where the flags could not be read: nothing is then taken as native.
    """

    model: str
    flags: frozenset[str]
    known: bool = True

    @property
    def bf16(self) -> bool:
        """bf16 arithmetic in hardware (AVX-512-BF16, AMX-BF16, Arm BF16)."""
        return bool(self.flags & BF16_FLAGS)

    @property
    def int8_dot(self) -> bool:
        """int8 dot products in hardware (VNNI, AMX-INT8, Arm dot product / i8mm)."""
        return bool(self.flags & INT8_DOT_FLAGS)

    @property
    def vector_unit(self) -> str:
        """The widest vector instructions, as people name them."""
        for flag, name in (("amx_tile", "AMX"), ("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"),
                           ("sse4_2", "SSE4.2"), ("sve", "SVE"), ("asimd", "NEON")):
            if flag in self.flags:
                return name
        return "unknown" if not self.known else "no SIMD extensions reported"

    def describe(self) -> str:
        """One line for people: the model, its vector unit, and what it has for bf16 and int8."""
        if not self.known:
            return f"{self.model} (instruction sets not readable here)"
        bf16 = "bf16 yes" if self.bf16 else "no bf16"
        int8 = "int8 dot products yes" if self.int8_dot else "no VNNI"
        return f"{self.model} ({self.vector_unit}; {bf16}, {int8})"


def parse_cpuinfo(text: str) -> CpuFeatures:
    """The features of the first processor listed in a ``/proc/cpuinfo`` text (x86 or Arm)."""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = frozenset(value.split())
        elif not line.strip() and flags:  # end of the first processor's block
            break
    return CpuFeatures(model=model or platform_processor(), flags=flags, known=bool(flags))


def platform_processor() -> str:
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


@functools.cache
def cpu_features() -> CpuFeatures:
    """This machine's CPU features: ``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS, else unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            return parse_cpuinfo(handle.read())
    except OSError:
        pass
    if sys.platform == "darwin":
        return _mac_features()
    return CpuFeatures(model=platform_processor(), flags=frozenset(), known=False)


def _mac_features() -> CpuFeatures:
    import subprocess

    keys = {"hw.optional.arm.FEAT_BF16": "bf16", "hw.optional.arm.FEAT_DotProd": "asimddp",
            "hw.optional.arm.FEAT_I8MM": "i8mm", "hw.optional.avx2_0": "avx2", "hw.optional.avx512f": "avx512f"}
    try:
        done = subprocess.run(["sysctl", *keys], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return CpuFeatures(model=platform_processor(), flags=frozenset(), known=False)
    flags = {keys[key.strip()] for key, _, value in (line.partition(":") for line in done.stdout.splitlines())
             if key.strip() in keys and value.strip() == "1"}
    return CpuFeatures(model=platform_processor(), flags=frozenset(flags), known=True)


@dataclass(frozen=True)
class PrecisionSupport:
    """Whether a precision can run on a backend and device here, whether in hardware, and what to tell people."""

    precision: str
    usable: bool
    native: bool
    note: str


def precision_support(precision: str, *, backend: str, device: str, cpu: CpuFeatures | None = None) -> PrecisionSupport:
    """What ``precision`` means for ``backend`` ("torch" or "onnx") on ``device`` ("cpu" or "cuda") on this machine.

    fp32 always runs (the official pixels). A precision the hardware would only emulate is not usable:
    it would be slower than fp32, so it is not offered; the note says why and what to use instead.
    """
    cpu = cpu or cpu_features()
    if precision == "fp32":
        return PrecisionSupport(precision, True, True, "float32: the official pixels")
    if precision not in PRECISIONS:
        return PrecisionSupport(precision, False, False, f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
    if backend == "torch":
        return _torch_support(precision, device, cpu)
    return _onnx_support(precision, device, cpu)


def _torch_support(precision: str, device: str, cpu: CpuFeatures) -> PrecisionSupport:
    if precision == "int8":
        return PrecisionSupport(precision, False, False, INT8_NEEDS_ONNX)
    if device == "cuda":
        if precision == "bf16":
            import torch

            if not torch.cuda.is_bf16_supported():
                return PrecisionSupport(precision, False, False, "this GPU has no bf16 arithmetic; use fp16.")
        return PrecisionSupport(precision, True, True, f"{precision} autocast on the GPU")
    if precision == "fp16":
        return PrecisionSupport(precision, False, False,
                                "fp16 with PyTorch needs a GPU; on the CPU use fp32, or int8 (ONNX Runtime).")
    if not cpu.bf16:
        return PrecisionSupport(precision, False, False,
                                f"bf16 needs a CPU with AVX-512-BF16 or AMX; this one is {cpu.describe()}, so PyTorch "
                                "would emulate bf16, slower than fp32. Use fp32, or int8 (ONNX Runtime).")
    return PrecisionSupport(precision, True, True, "bf16 autocast on the CPU's bf16 instructions")


def _onnx_support(precision: str, device: str, cpu: CpuFeatures) -> PrecisionSupport:
    if precision == "bf16":
        return PrecisionSupport(precision, False, False,
                                "ONNX Runtime has no bf16 convolutions on its CPU or CUDA provider; use int8 on the CPU "
                                "(or fp16 on a GPU), or bf16 with the PyTorch backend.")
    if precision == "fp16":
        if device == "cuda":
            return PrecisionSupport(precision, True, True, "fp16 graph on the CUDA provider")
        return PrecisionSupport(precision, False, False,
                                "ONNX Runtime's CPU provider has no fast fp16 convolutions; fp16 is for the CUDA provider. "
                                "On the CPU use int8.")
    if device == "cuda":
        return PrecisionSupport(precision, False, False,
                                "int8 runs on ONNX Runtime's CPU provider; add --device cpu, or use fp16 on the GPU.")
    if cpu.int8_dot:
        return PrecisionSupport(precision, True, True, "int8 on the CPU's VNNI/dot-product instructions")
    return PrecisionSupport(precision, True, False,
                            f"this CPU ({cpu.describe()}) has no VNNI: int8 runs on {cpu.vector_unit} integer kernels "
                            "with 7-bit weights, and gains less than on a CPU with VNNI")


class TorchNetwork:
    """An ``nn.Module`` in inference mode on one device.

    ``channels_last`` (default: on a GPU only) runs convolutions in NHWC layout, which cuDNN's
    tensor-core kernels prefer. On the CPU ``python -m ganstudio.bench`` measured it slower for the
    image-to-image networks (pix2pix U-Net 305 against 130 ms, CycleGAN ResNet-9 694 against 585 ms
    at 256 px), so the CPU keeps the default layout.

    ``precision`` "fp16" (GPU) or "bf16" (GPU, or a CPU with bf16 instructions) runs the module under
    autocast: convolutions and matrix products in the low precision, reductions and norms in float32,
    weights kept in float32. Whether a precision pays off on this machine is ``precision_support``'s
    call; this class runs what it is given, so the benchmark can also time an emulated bf16.
    """

    backend = "torch"

    def __init__(self, module: nn.Module, device: str = "cpu", *, channels_last: bool | None = None,
                 precision: Precision = "fp32"):
        import torch

        if precision == "int8":
            raise BackendError(INT8_NEEDS_ONNX)
        if precision == "fp16" and device != "cuda":
            raise BackendError("fp16 with PyTorch needs a GPU; on the CPU use fp32 (or bf16 where the CPU has it).")
        if precision not in PRECISIONS:
            raise BackendError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}.")
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
            if self.precision == "fp32":
                output = self.module(*tensors)
            else:
                dtype = torch.float16 if self.precision == "fp16" else torch.bfloat16
                with torch.autocast(device_type="cuda" if self.device == "cuda" else "cpu", dtype=dtype):
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
        if providers[0] == "CPUExecutionProvider":
            # Idle pool threads sleep instead of spinning: spinning bought no speed alone and cost a lot when other
            # processes share the cores (a 1024 px 26-style run: 1.0 s of CPU instead of 1.5 s, half the wall time).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
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
