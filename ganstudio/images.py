"""Images in and out: decoding with limits, PIL <-> arrays as the official scripts do, sizes, GIFs.

Everything that turns pixels into numbers (and back) lives here, so tasks and the UI
hold no array maths. Arrays are float32 NCHW, as the networks take them.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from ganstudio.errors import ImageError

# 64 megapixels: an 8000x8000 photo still opens; a decompression bomb does not.
DEFAULT_MAX_PIXELS = 64_000_000
MIN_SIDE = 8
DEFAULT_MAX_SIDE = 1024
MAX_WORK_SIDE = 2048  # the largest ``max_side`` a task accepts: the side images are processed at
# A panorama is rarely wider than 1:10; a 20000x8 strip is no photo, and enlarging its 8 px side for
# display would make a 640000 px wide preview.
MAX_ASPECT = 20
DISPLAY_MAX_SIDE = 2048  # previews are enlarged up to this, never beyond

ImageSource = str | os.PathLike | bytes | Image.Image | np.ndarray

RECIPE_KEY = "ganstudio"  # the PNG text chunk that holds how an image was made (JSON)
PARAMETERS_KEY = "parameters"  # the same, as one readable line (the chunk other image tools show)
MAX_RECIPE_BYTES = 64_000


def open_image(source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode an image to 8-bit RGB, refusing what is not an image, too small or too large.

    The size is checked from the header, before the pixels are decoded. Transparency is
    composited over white, 16-bit images are scaled to 8 bits, EXIF rotation is applied.

    Raises:
        ImageError: the input is not a readable image, or its size is out of bounds.
    """
    name = _describe(source)
    if isinstance(source, np.ndarray):
        image = array_to_pil(source)
    elif isinstance(source, Image.Image):
        image = source
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
        except FileNotFoundError:
            raise ImageError(f"image '{name}' does not exist.") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"image '{name}' is too large to open safely (over {max_pixels:,} pixels).") from None
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise ImageError(f"'{name}' is not an image this app can read ({exc}). Use a PNG, JPEG or WebP file.") from None
    check_image_size(*image.size, name=name, max_pixels=max_pixels)
    try:
        image = ImageOps.exif_transpose(image)
        return _to_rgb8(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"image '{name}' is damaged or truncated ({exc}). Save it again and retry.") from None


def check_image_size(width: int, height: int, *, name: str = "the image", max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse sizes no picture has: over ``max_pixels``, a side under MIN_SIDE, or longer than MAX_ASPECT times wide.

    Raises:
        ImageError: the size is out of bounds; the message says which bound.
    """
    if width * height > max_pixels:
        raise ImageError(
            f"image '{name}' is {width}x{height} ({width * height / 1e6:.0f} MP), over the limit of "
            f"{max_pixels / 1e6:.0f} MP. Resize it first."
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(f"image '{name}' is {width}x{height}; both sides need at least {MIN_SIDE} pixels.")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(f"image '{name}' is {width}x{height}, more than {MAX_ASPECT} times longer than it is wide. "
                         "Crop it to a less elongated picture.")


def read_image_size(source: str | os.PathLike | bytes, *, name: str = "the image",
                    max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """The size of an encoded image from its header, checked like ``open_image`` checks it; no pixel is decoded.

    For inputs that something else decodes (Gradio's image editor decodes every layer it is sent).

    Raises:
        ImageError: not an image, or its size is out of bounds.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
                size = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"image '{name}' is too large to open safely (over {max_pixels:,} pixels).") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ImageError(f"'{name}' is not an image this app can read. Use a PNG, JPEG or WebP file.") from None
    check_image_size(*size, name=name, max_pixels=max_pixels)
    return size


def _describe(source: ImageSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__}>"


def _to_rgb8(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        # 16-bit data spans 0..65535; scale it down, don't clip it.
        scale = 257.0 if array.max(initial=0) > 255 else 1.0
        image = Image.fromarray(np.clip(np.round(array / scale), 0, 255).astype(np.uint8), mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    image.load()
    return image


def array_to_pil(array: np.ndarray) -> Image.Image:
    """An HxW or HxWxC uint8 (or 0..1 float) array as a PIL image."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.max(initial=0) <= 1.0:
            array = array * 255.0
        array = np.clip(np.round(array), 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return Image.fromarray(array)


def image_to_array(image: Image.Image, value_range: Sequence[float] = (-1.0, 1.0)) -> np.ndarray:
    """A PIL RGB image as a 1x3xHxW float32 array in ``value_range``.

    Mirrors torchvision's ``ToTensor`` (divide by 255) followed by the official scripts'
    ``Normalize(0.5, 0.5)`` (for -1..1) or ``mul(255)`` (for 0..255), in the same order.
    """
    pixels = np.asarray(image, dtype=np.uint8)
    height, width, channels = pixels.shape
    # one pass from HxWxC uint8 to CxHxW float32 (a 1024 px photo in a third of the time of three passes); the
    # division is the same float32 operation as ToTensor's, so the values are bit for bit the same
    unit = np.divide(pixels.transpose(2, 0, 1), np.float32(255.0), out=np.empty((channels, height, width), np.float32))
    low, high = (float(v) for v in value_range)
    if (low, high) == (-1.0, 1.0):
        unit -= np.float32(0.5)
        unit /= np.float32(0.5)
    elif (low, high) != (0.0, 1.0):
        unit *= np.float32(high - low)
        unit += np.float32(low)
    return unit[None]


def array_to_image(array: np.ndarray, value_range: Sequence[float] = (-1.0, 1.0), rounding: str = "round", *,
                   scale: float = 255.0, normalize: str | None = None) -> Image.Image:
    """A 3xHxW (or 1x3xHxW) float array in ``value_range`` as a PIL RGB image.

    ``rounding="truncate"`` is junyanz's ``tensor2im`` and fast neural style's ``save_image``
    (scale, clamp, cast); ``"round"`` is torchvision's ``save_image`` (scale, +0.5, clamp, cast).
    ``scale`` is what the top of the range maps to before clamping (omniart-eye-generator uses 256).
    ``normalize="minmax"`` stretches the image's own minimum..maximum to the full range instead of
    ``value_range``, as torchvision's ``make_grid(normalize=True)`` does for one image.
    """
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 4:
        array = array[0]
    if normalize == "minmax":
        # make_grid: clamp to [min, max], subtract min, divide by max(max - min, 1e-5), in float32
        low, high = float(array.min()), float(array.max())
        unit = (np.clip(array, np.float32(low), np.float32(high)) - np.float32(low)) / np.float32(max(high - low, 1e-5))
        pixels = unit * np.float32(scale)
    elif normalize is not None:
        raise ValueError(f"normalize must be None or 'minmax', not {normalize!r}")
    else:
        pixels = _scale_to_pixels(array, value_range, scale)
    if rounding == "round":
        pixels += np.float32(0.5)
    elif rounding != "truncate":
        raise ValueError(f"rounding must be 'round' or 'truncate', not {rounding!r}")
    np.clip(pixels, 0, 255, out=pixels)
    if pixels.shape[0] == 1:
        pixels = np.repeat(pixels, 3, axis=0)
    # the cast and the move to HxWxC in one pass
    return Image.fromarray(pixels.transpose(1, 2, 0).astype(np.uint8, order="C"))


def _scale_to_pixels(array: np.ndarray, value_range: Sequence[float], scale: float) -> np.ndarray:
    """A new float32 array in 0..``scale``: the same operations, in the same order, as the official scripts, done in
    place after the first (for 0..1, subtracting 0 and dividing by 1 change no bit, so they are skipped)."""
    low, high = (float(v) for v in value_range)
    if high - low == 255.0 and scale == 255.0:
        return array - np.float32(low)
    if (low, high) == (-1.0, 1.0):
        pixels = array + np.float32(1.0)
        pixels /= np.float32(2.0)
    elif (low, high) == (0.0, 1.0):
        return array * np.float32(scale)
    else:
        pixels = array - np.float32(low)
        pixels /= np.float32(high - low)
    pixels *= np.float32(scale)
    return pixels


RESAMPLING = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}


def valid_size(width: int, height: int, *, multiple: int | None, max_side: int | None = DEFAULT_MAX_SIDE,
               short_side: int | None = None) -> tuple[int, int]:
    """The processing size for an image: its own size (or, with ``short_side``, scaled so that its
    shorter side is that long), capped at ``max_side``, rounded to ``multiple``.

    A side is rounded to the nearest multiple (never below one multiple), so a size that is
    already valid comes back unchanged.
    """
    scale = short_side / min(width, height) if short_side else 1.0
    if max_side and max(width, height) * scale > max_side:
        scale = max_side / max(width, height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    if multiple and multiple > 1:
        # half rounds up (Python's round() would send 250 to 248 but 254 to 256)
        new_w = max(multiple, int(new_w / multiple + 0.5) * multiple)
        new_h = max(multiple, int(new_h / multiple + 0.5) * multiple)
    return new_w, new_h


def fit_image(image: Image.Image, *, multiple: int | None, max_side: int | None = DEFAULT_MAX_SIDE,
              fixed_size: int | None = None, short_side: int | None = None, resample: str = "bicubic") -> Image.Image:
    """Resize to a size the network takes; no resampling when already valid.

    Bicubic as junyanz's test.py by default; ``resample="bilinear"`` is torchvision's ``Resize`` on a PIL image.
    """
    if fixed_size:
        size = (fixed_size, fixed_size)
    else:
        size = valid_size(*image.size, multiple=multiple, max_side=max_side, short_side=short_side)
    if size == image.size:
        return image
    try:
        return image.resize(size, RESAMPLING[resample])
    except KeyError:
        raise ValueError(f"resample must be one of {', '.join(RESAMPLING)}, not {resample!r}") from None


def resize_image(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize with Lanczos (for results shown at the user's size); no-op when the size matches."""
    return image if image.size == tuple(size) else image.resize(tuple(size), Image.LANCZOS)


def save_animation(frames: Sequence[Image.Image], path: str | os.PathLike, *, duration_ms: int = 100,
                   bounce: bool = True) -> Path:
    """Write frames as an animated GIF that plays forward then back (``bounce``) and loops.

    Raises:
        ImageError: no frames, or a frame duration outside 10 ms..10 s.
    """
    if not frames:
        raise ImageError("no frames to animate.")
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, (int, np.integer)) or not 10 <= duration_ms <= 10_000:
        raise ImageError(f"a frame lasts 10 to 10000 ms, not {str(duration_ms)[:40]}.")
    sequence = list(frames) + (list(frames[-2:0:-1]) if bounce else [])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sequence[0].save(path, save_all=True, append_images=sequence[1:], duration=duration_ms, loop=0)
    return path


MAX_REDRAWS = 64  # truncation redraw rounds per latent


def latents_from_seeds(seeds: Sequence[int], dim: int, *, truncation: float | None = None) -> np.ndarray:
    """One standard-normal latent per seed (N x dim, float32); each depends on its own seed only.

    With ``truncation`` (a threshold, as in BigGAN's truncation trick), values beyond it are redrawn,
    up to ``MAX_REDRAWS`` times; a value still beyond it then (only likely for tiny thresholds) is clipped,
    so no threshold can keep this loop running.
    """
    latents = np.empty((len(seeds), dim), dtype=np.float32)
    for row, seed in enumerate(seeds):
        rng = np.random.default_rng(int(seed))
        z = rng.standard_normal(dim)
        if truncation is not None and truncation > 0:
            outside = np.abs(z) > truncation
            for _ in range(MAX_REDRAWS):
                if not outside.any():
                    break
                z[outside] = rng.standard_normal(int(outside.sum()))
                outside = np.abs(z) > truncation
            z = np.clip(z, -truncation, truncation)
        latents[row] = z
    return latents


CODE_STREAM = 1  # the codes of a seed come from a stream of their own: drawing them leaves the noise as it was


def codes_from_seeds(seeds: Sequence[int], codes: Sequence) -> np.ndarray:
    """The latent codes (``spec.LatentCode``) of each seed, N x len(codes) float64: a category index, or a value
    drawn uniformly from the code's training range. Each row depends on its own seed only."""
    values = np.empty((len(seeds), len(codes)), dtype=np.float64)
    for row, seed in enumerate(seeds):
        rng = np.random.default_rng([int(seed), CODE_STREAM])
        for column, code in enumerate(codes):
            if code.kind == "categorical":
                values[row, column] = rng.integers(code.categories)
            else:
                values[row, column] = rng.uniform(code.low, code.high)
    return values


def encode_codes(values: np.ndarray, codes: Sequence) -> np.ndarray:
    """Code values (N x len(codes)) as the generator takes them (N x widths, float32): one-hot categories, then values."""
    parts = []
    for column, code in enumerate(codes):
        if code.kind == "categorical":
            parts.append(np.eye(code.categories, dtype=np.float32)[values[:, column].astype(np.int64)])
        else:
            parts.append(values[:, column : column + 1].astype(np.float32))
    return np.concatenate(parts, axis=1) if parts else np.zeros((len(values), 0), dtype=np.float32)


def interpolate_latents(start: np.ndarray, end: np.ndarray, steps: int, *, mode: str = "lerp") -> np.ndarray:
    """``steps`` latents from ``start`` to ``end`` inclusive, linear (``lerp``) or spherical (``slerp``)."""
    if steps < 2:
        raise ValueError("interpolation needs at least 2 steps.")
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float64)[:, None]
    start64, end64 = start.astype(np.float64).ravel(), end.astype(np.float64).ravel()
    if mode == "lerp":
        path = (1 - weights) * start64 + weights * end64
    elif mode == "slerp":
        cos = np.dot(start64, end64) / (np.linalg.norm(start64) * np.linalg.norm(end64) + 1e-12)
        omega = np.arccos(np.clip(cos, -1.0, 1.0))
        if omega < 1e-6:  # nearly parallel: slerp degenerates to lerp
            path = (1 - weights) * start64 + weights * end64
        else:
            path = (np.sin((1 - weights) * omega) * start64 + np.sin(weights * omega) * end64) / np.sin(omega)
    else:
        raise ValueError(f"mode must be 'lerp' or 'slerp', not {mode!r}")
    return path.astype(np.float32).reshape((steps, *start.shape))


def coral(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``source`` with the colour statistics (mean and covariance of RGB) of ``target``: CORAL, as AdaIN's
    ``function.coral`` does for ``test.py --preserve_color`` (on the style image, before the transfer).

    Both are (1, 3, H, W) arrays (any sizes); computed in float64 like the official code's unbiased std and
    SVD square roots; the result is not clipped (the official code feeds it to the network as it is).
    """
    def flat_stats(array: np.ndarray):
        flat = array.reshape(3, -1).astype(np.float64)
        mean = flat.mean(axis=1, keepdims=True)
        std = flat.std(axis=1, ddof=1, keepdims=True)
        return flat, mean, std

    def matrix_sqrt(matrix: np.ndarray) -> np.ndarray:
        u, d, vt = np.linalg.svd(matrix)
        return u @ np.diag(np.sqrt(d)) @ vt

    source_flat, source_mean, source_std = flat_stats(source)
    target_flat, target_mean, target_std = flat_stats(target)
    source_norm = (source_flat - source_mean) / source_std
    target_norm = (target_flat - target_mean) / target_std
    source_cov = source_norm @ source_norm.T + np.eye(3)
    target_cov = target_norm @ target_norm.T + np.eye(3)
    transferred = matrix_sqrt(target_cov) @ np.linalg.inv(matrix_sqrt(source_cov)) @ source_norm
    return (transferred * target_std + target_mean).reshape(source.shape).astype(np.float32)


def keep_colors(stylized: Image.Image, original: Image.Image) -> Image.Image:
    """The stylized image's brightness with the original's colours (YCbCr luminance transfer)."""
    luminance, _, _ = stylized.convert("YCbCr").split()
    _, blue, red = resize_image(original, stylized.size).convert("YCbCr").split()
    return Image.merge("YCbCr", (luminance, blue, red)).convert("RGB")


def blend_images(original: Image.Image, result: Image.Image, strength: float) -> Image.Image:
    """``strength`` of the result over the original (1 = the result alone)."""
    if strength >= 1.0:
        return result
    return Image.blend(resize_image(original, result.size), result, float(strength))


def fit_within(image: Image.Image, max_side: int | None) -> Image.Image:
    """Shrink (Lanczos) so the longer side is at most ``max_side``; smaller images are untouched."""
    if not max_side or max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(MIN_SIDE, round(image.width * scale)), max(MIN_SIDE, round(image.height * scale)))
    return image.resize(size, Image.LANCZOS)


def center_square(image: Image.Image, side: int) -> Image.Image:
    """The largest centred square, resized (Lanczos) to ``side``."""
    short = min(image.size)
    left, top = (image.width - short) // 2, (image.height - short) // 2
    return image.crop((left, top, left + short, top + short)).resize((side, side), Image.LANCZOS)


def pad_reflect(array: np.ndarray, *, height: int, width: int, channels_last: bool = False) -> np.ndarray:
    """Reflect-pad a batch (NCHW, or NHWC with ``channels_last``) at the bottom and right to ``height`` x ``width``."""
    if channels_last:
        pad = ((0, 0), (0, height - array.shape[1]), (0, width - array.shape[2]), (0, 0))
    else:
        pad = ((0, 0), (0, 0), (0, height - array.shape[2]), (0, width - array.shape[3]))
    return np.pad(array, pad, mode="reflect") if any(p[1] for p in pad) else array


def enlarge_for_display(image: Image.Image, *, min_side: int = 256, max_side: int = DISPLAY_MAX_SIDE) -> Image.Image:
    """Scale a small image up by a whole factor until its shorter side reaches ``min_side``, its longer side
    staying within ``max_side``.

    Nearest neighbour, so a 32x32 digit shows crisp pixels instead of a blur. Images that are
    already large enough come back unchanged; downloads should offer the original.
    """
    factor = min(-(-min_side // max(1, min(image.size))), max_side // max(1, max(image.size)))
    if factor <= 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.NEAREST)


def is_blank(image: Image.Image) -> bool:
    """True when every pixel has the same colour (an empty canvas, a flat result)."""
    return all(low == high for low, high in image.convert("RGB").getextrema())


# -- recipes: how a result was made, inside the PNG ----------------------------------------


def with_recipe(image: Image.Image, recipe: Mapping) -> Image.Image:
    """The image carrying ``recipe`` (JSON-able: model, task, seed, settings...), kept until it is saved."""
    image.info[RECIPE_KEY] = json.dumps(dict(recipe), sort_keys=True, default=str)
    return image


def recipe_of(image: Image.Image) -> dict | None:
    """The recipe an image carries (in memory, or read from its PNG text chunk), or None."""
    text = image.info.get(RECIPE_KEY)
    if not isinstance(text, str) or len(text) > MAX_RECIPE_BYTES:
        return None
    try:
        recipe = json.loads(text)
    except json.JSONDecodeError:
        return None
    return recipe if isinstance(recipe, dict) else None


def describe_recipe(recipe: Mapping) -> str:
    """One readable line: ``task, model: name, seed: 7, ...`` (what ``python -m ganstudio info`` prints first)."""
    settings = recipe.get("settings", {})
    parts = [f"{recipe.get('task', '?')}", f"model: {recipe.get('model', '?')}"]
    parts += [f"{key}: {value}" for key, value in settings.items() if value is not None]
    parts += [f"backend: {recipe.get('backend', '?')}", f"weights: {recipe.get('weights', '?')}"]
    return ", ".join(parts)


def save_png(image: Image.Image, path: str | os.PathLike, *, compress_level: int = 6) -> Path:
    """Save as PNG with the image's recipe, if it has one, in text chunks (JSON, and one readable line)."""
    path = Path(path)
    info = None
    recipe = recipe_of(image)
    if recipe is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(RECIPE_KEY, image.info[RECIPE_KEY])
        info.add_text(PARAMETERS_KEY, describe_recipe(recipe))
    image.save(path, format="PNG", pnginfo=info, compress_level=compress_level)
    return path


def read_recipe(path: str | os.PathLike | bytes) -> dict | None:
    """The recipe stored in a PNG written by the studio, or None (another PNG, or no PNG).

    Raises:
        ImageError: the file cannot be read as an image.
    """
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    try:
        with Image.open(source) as image:  # reads the header and text chunks, decodes no pixels
            return recipe_of(image)
    except (UnidentifiedImageError, OSError) as exc:
        name = Path(path).name if isinstance(path, (str, os.PathLike)) else "the upload"
        raise ImageError(f"'{name}' is not an image this app can read ({type(exc).__name__}).") from None


def image_digest(image: Image.Image) -> str:
    """A short hash of an input image's pixels and size, so a recipe says which picture went in."""
    import hashlib

    digest = hashlib.sha256(f"{image.mode}{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()[:16]
