"""Style transfer: arbitrary style from an image (Magenta, AdaIN) or a learned style (26-style network, fast neural style)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ganstudio import images
from ganstudio.errors import GanStudioError
from ganstudio.registry import LoadedModel
from ganstudio.tasks.common import finish_image, prepare_image

MAGENTA_STYLE_SIDE = 256  # the style predictor takes 256x256
MAGENTA_TRANSFORM_SIDE = 384  # the arbitrary transformer is fixed at 384x384


def needs_style_image(model: LoadedModel) -> bool:
    """True for arbitrary-style models (a style image is required)."""
    return model.arch in ("adain", "magenta_arbitrary")


def style_count(model: LoadedModel) -> int:
    """How many built-in styles a multi-style network has (0 for the others)."""
    return int(model.config.get("num_styles", 0)) if model.arch == "magenta_multistyle" else 0


def stylize(model: LoadedModel, content: Image.Image, *, style: Image.Image | None = None, style_index: int | None = None,
            alpha: float = 1.0, preserve_color: bool = False, max_side: int | None = images.DEFAULT_MAX_SIDE) -> Image.Image:
    """Paint ``content`` in a style.

    Args:
        style: the style image, for arbitrary-style models (AdaIN, Magenta arbitrary).
        style_index: which built-in style, for the 26-style network (default 0).
        alpha: strength, 0..1. AdaIN blends in feature space (as its official test); the Magenta arbitrary
            network blends style vectors; per-style networks blend the result with the content image.
        preserve_color: keep the content's colours, take only the style's brightness pattern.
        max_side: cap on the longer side of the content (and style) image.

    Raises:
        WrongTaskError: the model does not stylize.
        GanStudioError: a missing style image, a bad style index or alpha.
    """
    model.require_task("stylize")
    if not 0.0 <= alpha <= 1.0:
        raise GanStudioError(f"alpha (strength) must be between 0 and 1, not {alpha}.")
    if needs_style_image(model) and style is None:
        raise GanStudioError(f"model '{model.name}' takes its style from an image: give a style image.")
    if model.arch == "adain":
        result = _adain(model, content, style, alpha, max_side)
    elif model.arch == "magenta_arbitrary":
        result = _magenta_arbitrary(model, content, style, alpha, max_side)
    elif model.arch == "magenta_multistyle":
        result = images.blend_images(*_magenta_multistyle(model, content, style_index or 0, max_side), alpha)
    else:
        prepared = prepare_image(model, content, max_side=max_side)
        result = images.blend_images(content, finish_image(model, model.network("G")(prepared.array), prepared), alpha)
    return images.keep_colors(result, content) if preserve_color else result


def _adain(model: LoadedModel, content: Image.Image, style: Image.Image, alpha: float, max_side: int | None) -> Image.Image:
    content_array = images.image_to_array(images.fit_within(content, max_side), model.preprocessing["input_range"])
    style_array = images.image_to_array(images.fit_within(style, max_side), model.preprocessing["input_range"])
    output = model.network("style_transfer")(content_array, style_array, np.array([alpha], dtype=np.float32))
    return finish_image(model, output)


def _magenta_multistyle(model: LoadedModel, content: Image.Image, style_index: int, max_side: int | None):
    count = style_count(model)
    if not 0 <= style_index < count:
        raise GanStudioError(f"style index must be 0 to {count - 1}, not {style_index}.")
    fitted = images.fit_within(content, max_side)
    array = images.image_to_array(fitted, (0.0, 1.0))
    height, width = array.shape[2:]
    # the network downsamples by 4: reflect-pad to a multiple of 4, crop after
    padded = images.pad_reflect(array, height=-(-height // 4) * 4, width=-(-width // 4) * 4)
    weights = np.zeros((count,), dtype=np.float32)
    weights[style_index] = 1.0
    output = model.network("transformer")(padded, weights)[:, :, :height, :width]
    return fitted, images.array_to_image(output, (0.0, 1.0), "round")


def _magenta_style_vector(model: LoadedModel, image: Image.Image) -> np.ndarray:
    square = images.center_square(image, MAGENTA_STYLE_SIDE)
    return model.network("predictor")(images.image_to_array(square, (0.0, 1.0)).transpose(0, 2, 3, 1))


def _magenta_arbitrary(model: LoadedModel, content: Image.Image, style: Image.Image, alpha: float,
                       max_side: int | None) -> Image.Image:
    fitted = images.fit_within(content, max_side)
    vector = _magenta_style_vector(model, style)
    if alpha < 1.0:
        vector = alpha * vector + (1.0 - alpha) * _magenta_style_vector(model, fitted)
    scale = MAGENTA_TRANSFORM_SIDE / max(fitted.size)
    small_size = (max(1, round(fitted.width * scale)), max(1, round(fitted.height * scale)))
    small = images.image_to_array(fitted.resize(small_size, Image.LANCZOS), (0.0, 1.0)).transpose(0, 2, 3, 1)
    padded = images.pad_reflect(small, height=MAGENTA_TRANSFORM_SIDE, width=MAGENTA_TRANSFORM_SIDE, channels_last=True)
    output = model.network("transformer")(padded, vector.astype(np.float32))[:, : small_size[1], : small_size[0], :]
    result = images.array_to_image(output.transpose(0, 3, 1, 2), (0.0, 1.0), "round")
    return images.resize_image(result, fitted.size)
