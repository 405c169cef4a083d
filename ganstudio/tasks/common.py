"""What every image task does around the network: fit the image to it, convert, and back; and the checks of
the numbers a task takes, which hold whoever calls it (a slider's range binds the browser only, not the API)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ganstudio import images
from ganstudio.errors import GanStudioError
from ganstudio.registry import LoadedModel


def check_whole(name: str, value: object, low: int, high: int, hint: str = "") -> int:
    """``value`` as an int in ``low..high`` (a float that is a whole number is accepted, as a gr.Number sends it).

    Raises:
        GanStudioError: not a whole number, or out of range (the message echoes at most a short value).
    """
    whole = isinstance(value, (int, np.integer)) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if isinstance(value, bool) or not whole or not low <= value <= high:
        raise GanStudioError(f"{name} must be a whole number from {low} to {high}, not {_shown(value)}." + (f" {hint}" if hint else ""))
    return int(value)


def check_real(name: str, value: object, low: float, high: float, hint: str = "") -> float:
    """``value`` as a finite float in ``low..high``.

    Raises:
        GanStudioError: not a number, not finite, or out of range.
    """
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or not low <= value <= high:
        raise GanStudioError(f"{name} must be a number from {low:g} to {high:g}, not {_shown(value)}." + (f" {hint}" if hint else ""))
    return float(value)


def check_max_side(max_side: int | None) -> int | None:
    """A cap on the side images are processed at: None (the image's own size) or MIN_SIDE..MAX_WORK_SIDE."""
    if max_side is None:
        return None
    return check_whole("max_side", max_side, images.MIN_SIDE, images.MAX_WORK_SIDE,
                       "It caps the longer side of the image that is processed.")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class PreparedImage:
    """A network input and what is needed to show the result at the user's size."""

    array: np.ndarray
    original_size: tuple[int, int]
    resampled: bool


def prepare_image(model: LoadedModel, image: Image.Image, *, max_side: int | None = images.DEFAULT_MAX_SIDE) -> PreparedImage:
    """Fit an image to the network (no resampling when its size is already valid) and convert it.

    A size that is not valid is resized (bicubic, as the official test scripts resize, unless the
    model names another ``resample``) to the nearest valid one, capped at ``max_side``; the result
    is resized back by ``finish_image``. A model trained at one scale (``short_side``: vintagify's
    512 px) gets every image scaled so that its shorter side is that long, keeping the aspect ratio.
    """
    max_side = check_max_side(max_side)
    conventions = model.preprocessing
    fitted = images.fit_image(
        image,
        multiple=conventions.get("size_multiple"),
        max_side=max_side,
        fixed_size=conventions.get("fixed_size"),
        short_side=conventions.get("short_side"),
        resample=conventions.get("resample") or "bicubic",
    )
    array = images.image_to_array(fitted, conventions["input_range"])
    return PreparedImage(array=array, original_size=image.size, resampled=fitted.size != image.size)


def finish_image(model: LoadedModel, output: np.ndarray, prepared: PreparedImage | None = None) -> Image.Image:
    """Convert a network output to an image as the official code does (range, scale, rounding, or a min-max
    stretch), at the input's size if it was resampled."""
    conventions = model.preprocessing
    result = images.array_to_image(output, conventions["output_range"], conventions["output_rounding"],
                                   scale=conventions.get("output_scale") or 255.0,
                                   normalize=conventions.get("output_normalize"))
    if prepared is not None and prepared.resampled:
        result = images.resize_image(result, prepared.original_size)
    return result
