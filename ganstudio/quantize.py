"""int8 ONNX networks: static QDQ quantisation with ONNX Runtime, and how far the result is from float32.

The recipe (``RECIPE``), chosen by measuring the vintage photo model (a real trained CycleGAN-style
ResNet at 512 px) against float32:

- Static QDQ (QuantizeLinear/DequantizeLinear pairs that ONNX Runtime fuses into integer kernels),
  calibrated on inputs the model was made for, recorded while its own task ran (``tasks.calibrate``).
- Only convolutions and matrix products are quantised; norms, padding, activations and the residual
  additions stay in float32. Quantising everything (InstanceNorm's per-channel scale included) gave
  13 dB PSNR: a broken picture.
- Weights per output channel, int8 with 7-bit range (``reduce_range``). Without VNNI, x86 CPUs multiply
  uint8 by int8 with an instruction that saturates at 16 bits; full-range weights then gave 27 dB
  instead of 35. A file made with 7-bit weights is right on every CPU, so a cached or exported file
  can move between machines.
- Activations uint8, with ranges at the 99.999th percentile of what calibration saw rather than its
  extremes: a few outlying values no longer stretch the scale for all the others (astronaut at 512 px:
  35.9 dB against 33.1 dB with min-max ranges, 34.6 dB with entropy calibration).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganstudio.errors import BackendError
from ganstudio.files import atomic_path

RECIPE = "qdq1-conv-matmul-perchannel-w7-u8-p99.999"
OP_TYPES = ("Conv", "ConvTranspose", "Gemm", "MatMul")
PERCENTILE = 99.999
QUANTIZED_OPS = frozenset({"QuantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger", "QLinearMatMul"})
# A precision is "invisible" above this PSNR against float32 (8-bit levels), the usual bar for lossy codecs at
# their best settings; below it the difference can be seen side by side.
VISIBLE_BELOW_DB = 35.0

Feed = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Fidelity:
    """How far an output is from float32's, in 8-bit grey levels (0..255) over every value compared."""

    mean_abs: float
    max_abs: float
    psnr_db: float
    values: int

    @property
    def visible(self) -> bool:
        """True when the difference can be seen (PSNR under ``VISIBLE_BELOW_DB``)."""
        return self.psnr_db < VISIBLE_BELOW_DB

    def describe(self) -> str:
        psnr = "identical" if math.isinf(self.psnr_db) else f"PSNR {self.psnr_db:.1f} dB"
        return f"{psnr}, mean {self.mean_abs:.2f} and max {self.max_abs:.0f} grey levels from fp32"

    def to_json(self) -> dict:
        return {"mean_abs": round(self.mean_abs, 4), "max_abs": round(self.max_abs, 3),
                "psnr_db": None if math.isinf(self.psnr_db) else round(self.psnr_db, 2), "values": self.values}

    @classmethod
    def from_json(cls, data: Mapping) -> Fidelity:
        psnr = data.get("psnr_db")
        return cls(float(data["mean_abs"]), float(data["max_abs"]), math.inf if psnr is None else float(psnr),
                   int(data.get("values", 0)))


def compare_levels(reference: Sequence[np.ndarray], other: Sequence[np.ndarray], *, scale: float = 1.0) -> Fidelity:
    """Mean and max absolute difference and PSNR of ``other`` against ``reference``, after multiplying both
    by ``scale`` (255 / the output range's width turns a network output into grey levels; 1 for pixels)."""
    total, squares, worst, count = 0.0, 0.0, 0.0, 0
    for expected, actual in zip(reference, other, strict=True):
        difference = np.abs(np.asarray(expected, np.float64) - np.asarray(actual, np.float64)) * scale
        total += float(difference.sum())
        squares += float(np.square(difference).sum())
        worst = max(worst, float(difference.max(initial=0.0)))
        count += difference.size
    if count == 0:
        raise ValueError("nothing to compare")
    mse = squares / count
    psnr = math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
    return Fidelity(mean_abs=total / count, max_abs=worst, psnr_db=psnr, values=count)


def is_quantized(path: str | os.PathLike) -> bool:
    """Whether an ONNX file already computes in integers (a published int8 network, or one made here)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in QUANTIZED_OPS for node in graph.node)


def quantize_network(source: str | os.PathLike, target: str | os.PathLike, feeds: Sequence[Feed]) -> Path:
    """Write an int8 (QDQ) copy of the float ONNX network ``source`` to ``target``, calibrated on ``feeds``.

    ``feeds`` are the network's inputs by name, as the model's task gave them (``tasks.calibrate``).
    The file is written atomically: an interrupted run leaves no half-written model behind.

    Raises:
        BackendError: the network cannot be quantised (ONNX Runtime's message is included).
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not feeds:
        raise BackendError(f"int8 calibration of '{Path(source).name}' needs at least one input.")

    class Reader(CalibrationDataReader):
        """The feeds one at a time (``set_range``): ONNX Runtime then keeps one feed's intermediate tensors in
        memory, not every feed's, and feeds of different sizes (photos of other aspect ratios) mix."""

        def __init__(self):
            self.set_range(0, len(feeds))

        def __len__(self):
            return len(feeds)

        def set_range(self, start_index: int, end_index: int):
            self._feeds = iter(feeds[start_index:end_index])

        def get_next(self):
            return next(self._feeds, None)

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ganstudio-int8-") as folder, _quiet_quantizer():
        inferred = Path(folder) / "inferred.onnx"
        try:
            try:
                quant_pre_process(str(source), str(inferred))
            except Exception:  # symbolic shape inference gives up on some graphs (StarGAN v2's); ONNX's own is enough
                quant_pre_process(str(source), str(inferred), skip_symbolic_shape=True)
            with atomic_path(target) as partial:
                quantize_static(
                    str(inferred), str(partial), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=list(OP_TYPES), calibrate_method=CalibrationMethod.Percentile,
                    extra_options={"CalibPercentile": PERCENTILE, "CalibStridedMinMax": 1},
                )
        except Exception as exc:  # ONNX Runtime's quantiser raises bare Exception among others
            raise BackendError(f"could not quantise '{Path(source).name}' to int8 ({type(exc).__name__}: {exc}). "
                               "Run the model in fp32.") from exc
    return target


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """ONNX Runtime's calibrators print progress to stdout and warn on the root logger: keep both out of the
    CLI's output (``--json`` prints one JSON object) and the app's log."""

    def from_quantizer(record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname

    root = logging.getLogger()
    root.addFilter(from_quantizer)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.removeFilter(from_quantizer)
