"""Style transfer: arbitrary style from an image (Magenta, AdaIN) or a learned style (26-style network, fast neural style)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image

from ganstudio import images
from ganstudio.errors import GanStudioError
from ganstudio.models.spec import ModelInfo
from ganstudio.registry import LoadedModel
from ganstudio.tasks.common import check_max_side, finish_image, prepare_image
from ganstudio.tasks.recipes import recipe

# Pipelines that take the style from an image; "style_weights" picks a built-in style; "image" has one style.
STYLE_IMAGE_PIPELINES = ("feature_blend", "style_vector")


def needs_style_image(info: ModelInfo) -> bool:
    """True for arbitrary-style models (a style image is required)."""
    return info.pipeline in STYLE_IMAGE_PIPELINES


def style_count(info: ModelInfo) -> int:
    """How many built-in styles a multi-style network has (0 for the others)."""
    return len(info.labels) if info.pipeline == "style_weights" else 0


ColorMethod = Literal["auto", "coral", "luminance"]


def stylize(model: LoadedModel, content: Image.Image, *, style: Image.Image | None = None,
            style_index: int | str | None = None,
            alpha: float = 1.0, preserve_color: bool = False, color_method: ColorMethod = "auto",
            max_side: int | None = images.DEFAULT_MAX_SIDE) -> Image.Image:
    """Paint ``content`` in a style. The result has the content's size, like every image-to-image task (the
    networks work on the content fitted within ``max_side``; the result is scaled back).

    Args:
        style: the style image, for arbitrary-style models (AdaIN, Magenta arbitrary).
        style_index: which built-in style, for the 26-style network: its number or its name (default 0).
        alpha: strength, 0..1. AdaIN blends in feature space (as its official test); the Magenta arbitrary
            network blends style vectors; per-style networks blend the result with the content image.
        preserve_color: keep the content's colours.
        color_method: how colours are kept: "coral" gives the style image the content's colour statistics before
            the transfer (AdaIN's ``test.py --preserve_color``; models that take a style image only), "luminance"
            keeps the result's brightness with the content's colours (YCbCr); "auto" is coral where it applies.
        max_side: cap on the longer side of the content (and style) image.

    Raises:
        WrongTaskError: the model does not stylize.
        GanStudioError: a missing style image, a bad style index or alpha.
    """
    model.require_task("stylize")
    if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
        raise GanStudioError(f"alpha (strength) must be between 0 and 1, not {str(alpha)[:40]}.")
    max_side = check_max_side(max_side)
    if needs_style_image(model.info) and style is None:
        raise GanStudioError(f"model '{model.name}' takes its style from an image: give a style image.")
    if color_method not in ("auto", "coral", "luminance"):
        raise GanStudioError(f"color_method must be 'auto', 'coral' or 'luminance', not {color_method!r}.")
    if color_method == "coral" and not needs_style_image(model.info):
        raise GanStudioError(f"model '{model.name}' has built-in styles, so there is no style image to recolour: "
                             "keep colours with color_method 'luminance'.")
    method = ("coral" if needs_style_image(model.info) else "luminance") if color_method == "auto" else color_method
    coral = preserve_color and method == "coral"
    if isinstance(style_index, str) and style_count(model.info):
        style_index = _style_number(model.info, style_index)
    pipeline = model.info.pipeline
    if pipeline == "feature_blend":
        result = _feature_blend(model, content, style, alpha, max_side, coral=coral)
    elif pipeline == "style_vector":
        if coral:
            style = images.array_to_image(images.coral(images.image_to_array(style, (0.0, 1.0)),
                                                       images.image_to_array(content, (0.0, 1.0))), (0.0, 1.0))
        result = _style_vector(model, content, style, alpha, max_side)
    elif pipeline == "style_weights":
        result = images.blend_images(*_style_weights(model, content, style_index or 0, max_side), alpha)
    else:
        prepared = prepare_image(model, content, max_side=max_side)
        result = images.blend_images(content, finish_image(model, model.network("G")(prepared.array), prepared), alpha)
    result = images.keep_colors(result, content) if preserve_color and method == "luminance" else result
    if result.size != content.size:
        result = images.resize_image(result, content.size)
    return images.with_recipe(result, recipe(
        model, "stylize", style=None if style is None else images.image_digest(style),
        style_index=style_index if style_count(model.info) else None, alpha=alpha, preserve_color=preserve_color,
        color_method=method if preserve_color else None, max_side=max_side, input=images.image_digest(content)))


def _style_number(info: ModelInfo, name: str) -> int:
    if name in info.labels:
        return info.labels.index(name)
    if name.isdigit():
        return int(name)
    raise GanStudioError(f"unknown style {name!r}. Built-in styles: {', '.join(info.labels)} (or their numbers 0 to "
                         f"{len(info.labels) - 1}).")


def _feature_blend(model: LoadedModel, content: Image.Image, style: Image.Image, alpha: float, max_side: int | None,
                   *, coral: bool = False) -> Image.Image:
    content_array = images.image_to_array(images.fit_within(content, max_side), model.preprocessing["input_range"])
    style_array = images.image_to_array(images.fit_within(style, max_side), model.preprocessing["input_range"])
    if coral:  # test.py --preserve_color: style = coral(style, content), on the 0..1 tensors the network takes
        style_array = images.coral(style_array, content_array)
    output = model.network("style_transfer")(content_array, style_array, np.array([alpha], dtype=np.float32))
    return finish_image(model, output)


def _style_weights(model: LoadedModel, content: Image.Image, style_index: int, max_side: int | None):
    count = style_count(model.info)
    if isinstance(style_index, bool) or not isinstance(style_index, int) or not 0 <= style_index < count:
        raise GanStudioError(f"style index must be 0 to {count - 1}, not {str(style_index)[:40]}.")
    fitted = images.fit_within(content, max_side)
    array = images.image_to_array(fitted, (0.0, 1.0))
    height, width = array.shape[2:]
    # the network downsamples by 4: reflect-pad to a multiple of 4, crop after
    padded = images.pad_reflect(array, height=-(-height // 4) * 4, width=-(-width // 4) * 4)
    weights = np.zeros((count,), dtype=np.float32)
    weights[style_index] = 1.0
    output = model.network("transformer")(padded, weights)[:, :, :height, :width]
    return fitted, images.array_to_image(output, (0.0, 1.0), "round")


def _predict_style(model: LoadedModel, image: Image.Image) -> np.ndarray:
    square = images.center_square(image, int(model.info.options["style_side"]))
    return model.network("predictor")(images.image_to_array(square, (0.0, 1.0)).transpose(0, 2, 3, 1))


def _style_vector(model: LoadedModel, content: Image.Image, style: Image.Image, alpha: float,
                  max_side: int | None) -> Image.Image:
    fitted = images.fit_within(content, max_side)
    vector = _predict_style(model, style)
    if alpha < 1.0:
        vector = alpha * vector + (1.0 - alpha) * _predict_style(model, fitted)
    side = int(model.info.options["transform_side"])
    scale = side / max(fitted.size)
    small_size = (max(1, round(fitted.width * scale)), max(1, round(fitted.height * scale)))
    small = images.image_to_array(fitted.resize(small_size, Image.LANCZOS), (0.0, 1.0)).transpose(0, 2, 3, 1)
    padded = images.pad_reflect(small, height=side, width=side, channels_last=True)
    output = model.network("transformer")(padded, vector.astype(np.float32))[:, : small_size[1], : small_size[0], :]
    result = images.array_to_image(output.transpose(0, 3, 1, 2), (0.0, 1.0), "round")
    return images.resize_image(result, fitted.size)
