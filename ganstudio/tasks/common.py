"""What every image task does around the network: fit the image to it, convert, and back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ganstudio import images
from ganstudio.registry import LoadedModel


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
