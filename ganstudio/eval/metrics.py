"""Measurements for the evaluation: feature statistics, class shares, and digit attributes read from pixels.

Everything here is plain numpy/scipy on arrays, so it can be tested on synthetic cases with
known answers. Images are (H, W, 3) float arrays in 0..1 (digits light on a dark background),
as ``as_unit_rgb`` makes them from the PIL images the tasks return.

The attribute rules follow the digit data spec, whose generators are ``ganstudio.train.datasets``:

- stroke intensity map = max over RGB; stroke mask = intensity > 0.5;
- redness = mean over stroke pixels of R - (G + B) / 2; "red" above ``RED_THRESHOLD``;
- colour family = argmax of the mean RGB over stroke pixels (0 red, 1 green, 2 blue);
- stroke width = stroke area / skeleton length (pixels); "thick" above ``THICK_THRESHOLD``;
- slant = mu11 / mu02 of the intensity map, with y pointing *up*, so that the spec's
  ``shear(digit, factor)`` (positive = top leans right) has slant ``+factor``; "slanted"
  above ``SLANT_THRESHOLD``.

The two calibrated thresholds are midpoints between medians measured on the StarGAN renders
of the train digits (``calibrate_thresholds``); ``tests/eval/test_metrics.py`` derives them
again and checks the constants below.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

STROKE_LEVEL = 0.5
RED_THRESHOLD = 0.35  # fixed by the spec: a RED stroke measures ~0.6-0.75, a white one ~0
# Calibrated by calibrate_thresholds() on stargan_digit renders of the 4,000 train digits
# (medians: thin 2.825 / thick 6.067 px; upright 0.000 / slanted 0.450). A thickening step
# widens a stroke by 2 px but measures as ~3 here: it also fills small loops, shortening the skeleton.
THICK_THRESHOLD = 4.446
SLANT_THRESHOLD = 0.225
COLOR_FAMILIES = ("red", "green", "blue")


# -- images ----------------------------------------------------------------------------

def as_unit_rgb(image: Image.Image | np.ndarray, *, size: int | None = None) -> np.ndarray:
    """An image as an (H, W, 3) float32 array in 0..1, optionally resized (bilinear) to ``size`` x ``size``.

    Arrays pass through (a 2-D array is taken as grey and repeated to three channels).
    """
    if isinstance(image, Image.Image):
        rgb = image.convert("RGB")
        if size is not None and rgb.size != (size, size):
            rgb = rgb.resize((size, size), Image.BILINEAR)
        return np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return array


def stroke_intensity(image: np.ndarray) -> np.ndarray:
    """The stroke intensity map: max over RGB of an (H, W, 3) image (a 2-D map passes through)."""
    image = np.asarray(image, dtype=np.float32)
    return image if image.ndim == 2 else image.max(axis=-1)


def stroke_mask(image: np.ndarray) -> np.ndarray:
    """Pixels that belong to the stroke (intensity above one half)."""
    return stroke_intensity(image) > STROKE_LEVEL


# -- attributes from pixels ------------------------------------------------------------------

def redness(image: np.ndarray) -> float:
    """Mean over stroke pixels of R - (G + B) / 2 (0 for an image without stroke)."""
    rgb = np.asarray(image, dtype=np.float64)
    mask = stroke_mask(rgb)
    if not mask.any():
        return 0.0
    stroke = rgb[mask]
    return float(np.mean(stroke[:, 0] - (stroke[:, 1] + stroke[:, 2]) / 2.0))


def color_family(image: np.ndarray) -> int:
    """Index of the dominant channel of the mean stroke colour (0 red, 1 green, 2 blue); -1 without stroke."""
    rgb = np.asarray(image, dtype=np.float64)
    mask = stroke_mask(rgb)
    if not mask.any():
        return -1
    return int(np.argmax(rgb[mask].mean(axis=0)))


def stroke_width(image: np.ndarray) -> float:
    """Mean stroke width in pixels: stroke area / skeleton length (skeleton pixels); 0 without stroke.

    The skeleton of a bar is a little shorter than the bar (it stops about a pixel before each
    end), so a 24 px long bar of width w measures ~1.1 w; the thresholds are calibrated on the
    same estimator, so the bias cancels in the thick/thin decision.
    """
    from skimage.morphology import skeletonize

    mask = stroke_mask(image)
    area = int(mask.sum())
    if area == 0:
        return 0.0
    length = int(skeletonize(mask).sum())
    return area / max(length, 1)


def slant(image: np.ndarray) -> float:
    """mu11 / mu02 of the intensity map with y pointing up: +f for a stroke sheared by f (top to the right).

    A vertical stroke has 0; an image without ink, or one flat row of it (mu02 = 0), has 0.
    """
    intensity = stroke_intensity(image).astype(np.float64)
    total = intensity.sum()
    if total <= 0:
        return 0.0
    rows, cols = np.indices(intensity.shape, dtype=np.float64)
    up = -rows  # image rows grow downwards; the spec's shear is defined with "top leans right"
    x_mean = (cols * intensity).sum() / total
    y_mean = (up * intensity).sum() / total
    mu11 = ((cols - x_mean) * (up - y_mean) * intensity).sum()
    mu02 = ((up - y_mean) ** 2 * intensity).sum()
    return float(mu11 / mu02) if mu02 > 0 else 0.0


@dataclass(frozen=True)
class Attributes:
    """The StarGAN attributes of one image, decided from pixels, with the measurements behind them."""

    red: bool
    thick: bool
    slanted: bool
    redness: float
    width: float
    slant: float

    def as_tuple(self) -> tuple[bool, bool, bool]:
        """(red, thick, slanted), in the order of the spec's ``STARGAN_ATTRIBUTES``."""
        return (self.red, self.thick, self.slanted)


def measure_attributes(image: np.ndarray) -> Attributes:
    """Red / thick / slanted of an (H, W, 3) 0..1 image, by the thresholds of this module."""
    values = redness(image), stroke_width(image), slant(image)
    return Attributes(
        red=values[0] > RED_THRESHOLD,
        thick=values[1] > THICK_THRESHOLD,
        slanted=values[2] > SLANT_THRESHOLD,
        redness=values[0],
        width=values[1],
        slant=values[2],
    )


# -- calibration --------------------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    """Medians of the calibration renders and the midpoints that become the thresholds."""

    thin_width: float
    thick_width: float
    upright_slant: float
    slanted_slant: float

    @property
    def thick_threshold(self) -> float:
        return (self.thin_width + self.thick_width) / 2.0

    @property
    def slant_threshold(self) -> float:
        return (self.upright_slant + self.slanted_slant) / 2.0


def calibrate_thresholds(digits: Sequence[np.ndarray], render: Callable[[np.ndarray, Sequence[bool]], np.ndarray]) -> Calibration:
    """Medians of stroke width and slant over renders of ``digits``, thin vs thick and upright vs slanted.

    ``render(digit, (red, thick, slanted))`` is the spec's ``stargan_digit``. Every digit is drawn
    twice, once thin and once thick, once upright and once slanted: (thin, upright) + (thick,
    slanted) for even positions, (thin, slanted) + (thick, upright) for odd ones, so each
    thickness is measured at both slants and the other way round, in half the renders of all
    four. Colour does not change the intensity map, so it stays white.
    """
    widths: dict[bool, list[float]] = {False: [], True: []}
    slants: dict[bool, list[float]] = {False: [], True: []}
    for index, digit in enumerate(digits):
        for thick in (False, True):
            slanted = thick == (index % 2 == 0)
            image = render(digit, (False, thick, slanted))
            widths[thick].append(stroke_width(image))
            slants[slanted].append(slant(image))
    return Calibration(
        thin_width=float(np.median(widths[False])),
        thick_width=float(np.median(widths[True])),
        upright_slant=float(np.median(slants[False])),
        slanted_slant=float(np.median(slants[True])),
    )


# -- statistics of predictions and features -----------------------------------------------------

def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N x D each), as in FID."""
    mean_a, cov_a = feature_moments(features_a)
    mean_b, cov_b = feature_moments(features_b)
    return frechet_distance_from_moments(mean_a, cov_a, mean_b, cov_b)


def feature_moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of N x D features, in float64."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need an N x D array with N >= 2, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance_from_moments(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray,
                                  *, eps: float = 1e-6) -> float:
    """|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    The square root comes from ``scipy.linalg.sqrtm``. When the product is singular (SciPy warns,
    or the root comes out non-finite), ``eps`` is added to both diagonals, as pytorch-fid does. The
    product of two covariances has a real root; rounding leaves tiny imaginary parts, which are
    dropped, while a large one means the inputs are broken and raises.
    """
    from scipy import linalg

    mean_a, mean_b = np.atleast_1d(mean_a).astype(np.float64), np.atleast_1d(mean_b).astype(np.float64)
    cov_a, cov_b = np.atleast_2d(cov_a).astype(np.float64), np.atleast_2d(cov_b).astype(np.float64)
    diff = mean_a - mean_b
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov_a @ cov_b)
    if caught or not np.isfinite(covmean).all():
        offset = np.eye(len(cov_a)) * eps
        covmean = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    if np.iscomplexobj(covmean):
        imaginary = np.max(np.abs(covmean.imag))
        if imaginary > 1e-3 * max(1.0, np.max(np.abs(covmean.real))):
            raise ValueError(f"matrix square root has an imaginary part of {imaginary:.3g}; the covariances are not valid")
        covmean = covmean.real
    distance = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean)
    # The exact value is >= 0; rounding can leave a tiny negative number for identical sets.
    return float(max(distance, 0.0))


def feature_spread(features: np.ndarray) -> float:
    """Root mean squared distance of N x D features to their mean: 0 when every sample is the same."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) == 0:
        raise ValueError(f"need an N x D array with N >= 1, got shape {features.shape}")
    return float(np.sqrt(((features - features.mean(axis=0)) ** 2).sum(axis=1).mean()))


@dataclass(frozen=True)
class Coverage:
    """How the samples spread over the classes."""

    shares: tuple[float, ...]  # share of samples per class, summing to 1
    min_share: float
    entropy: float  # normalised to 0..1: 1 = all classes equally often, 0 = one class only

    @property
    def classes_seen(self) -> int:
        return sum(share > 0 for share in self.shares)


def class_coverage(labels: Sequence[int] | np.ndarray, num_classes: int = 10) -> Coverage:
    """Share of each class among predicted labels, the smallest share, and the normalised entropy."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size == 0:
        raise ValueError("no labels to count")
    counts = np.bincount(labels, minlength=num_classes)[:num_classes]
    shares = counts / counts.sum()
    nonzero = shares[shares > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum() / math.log(num_classes)) + 0.0  # + 0.0: no "-0.0"
    return Coverage(shares=tuple(float(s) for s in shares), min_share=float(shares.min()), entropy=entropy)


def agreement(predicted: Sequence[int] | np.ndarray, expected: Sequence[int] | np.ndarray) -> float:
    """Share of positions where the prediction equals the expected value (identity kept, class accuracy)."""
    predicted, expected = np.asarray(predicted), np.asarray(expected)
    if predicted.shape != expected.shape or predicted.size == 0:
        raise ValueError(f"need two equal, non-empty label lists, got {predicted.shape} and {expected.shape}")
    return float(np.mean(predicted == expected))


def confusion_matrix(expected: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray,
                     num_classes: int = 10) -> np.ndarray:
    """Counts C[i, j] of items of class i predicted as j."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(expected, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


@dataclass(frozen=True)
class Matching:
    """How well unsupervised clusters (rows) line up with known classes (columns) of a count matrix."""

    accuracy: float  # share of items on the best one-to-one pairing of rows with columns
    pairs: tuple[tuple[int, int], ...]  # (row, column) of that pairing
    purity: float  # share of items in their row's majority column (rows may share a column)


def best_matching(counts: np.ndarray) -> Matching:
    """The one-to-one pairing of rows with columns that keeps the most items (the Hungarian algorithm), as
    unsupervised classification is scored (InfoGAN's categorical code against the digits)."""
    from scipy.optimize import linear_sum_assignment

    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 2 or counts.sum() == 0:
        raise ValueError(f"need a 2-D count matrix with some counts, got shape {counts.shape}")
    rows, columns = linear_sum_assignment(-counts)
    total = counts.sum()
    return Matching(accuracy=float(counts[rows, columns].sum() / total),
                    pairs=tuple(zip(rows.tolist(), columns.tolist())),
                    purity=float(counts.max(axis=1).sum() / total))


def correlation(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Pearson correlation of two equal-length series; nan when either is constant."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.size < 2:
        raise ValueError(f"need two equal series of 2+ values, got {a.shape} and {b.shape}")
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else float("nan")


def mean_abs_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two images or batches on the 0..1 scale."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    return float(np.mean(np.abs(a - b)))


# -- photographs and faces (the models read from PyPI packages) -------------------------------------------------

def iris_colour_features(image: np.ndarray) -> np.ndarray:
    """Colour of the central disc of an eye image (the iris and pupil of a centred eye), as six numbers.

    Mean L*, a*, b* and chroma (CIELAB), mean HSV saturation, and the 10th percentile of L* (the pupil
    and lashes), over the disc of radius a quarter of the width around the centre.
    """
    from skimage import color

    rgb = np.asarray(image, dtype=np.float64)
    height, width = rgb.shape[:2]
    rows, cols = np.indices((height, width))
    disc = (rows - height / 2) ** 2 + (cols - width / 2) ** 2 <= (width / 4) ** 2
    lab = color.rgb2lab(rgb)[disc]
    saturation = color.rgb2hsv(rgb)[..., 1][disc]
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    return np.array([lab[:, 0].mean(), lab[:, 1].mean(), lab[:, 2].mean(), chroma.mean(), saturation.mean(),
                     np.percentile(lab[:, 0], 10)])


@dataclass(frozen=True)
class CentroidResult:
    """Nearest-centroid classification of held-out samples: overall and per-class accuracy, and the confusions."""

    accuracy: float
    per_class: tuple[float, ...]
    confusion: np.ndarray  # rows: true class, columns: predicted


def nearest_centroid_accuracy(train: Sequence[np.ndarray], test: Sequence[np.ndarray]) -> CentroidResult:
    """Classify each test feature vector by the nearest class centroid of the train vectors (one array per class).

    Features are standardised with the train set's mean and standard deviation first, so no unit dominates.
    """
    stacked = np.concatenate(train)
    mean, std = stacked.mean(axis=0), stacked.std(axis=0) + 1e-12
    centroids = np.stack([((features - mean) / std).mean(axis=0) for features in train])
    num_classes = len(train)
    confusion = np.zeros((num_classes, num_classes), dtype=int)
    for label, features in enumerate(test):
        distances = ((((features - mean) / std)[:, None, :] - centroids[None]) ** 2).sum(axis=-1)
        confusion[label] += np.bincount(distances.argmin(axis=1), minlength=num_classes)
    per_class = tuple(float(confusion[c, c] / max(confusion[c].sum(), 1)) for c in range(num_classes))
    return CentroidResult(float(np.trace(confusion) / max(confusion.sum(), 1)), per_class, confusion)


def pairwise_distances(features: np.ndarray) -> np.ndarray:
    """Euclidean distances between all rows (N x N), from the Gram matrix."""
    flat = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    squares = (flat**2).sum(axis=1)
    return np.sqrt(np.maximum(squares[:, None] + squares[None, :] - 2.0 * flat @ flat.T, 0.0))


def diversity(features: np.ndarray) -> tuple[float, float]:
    """(mean distance between two different samples, mean distance to the nearest other sample / that mean).

    The ratio is near 0 when samples come in near-duplicates (mode collapse) and near 1 when every sample is as
    far from its nearest neighbour as from a random other one.
    """
    distances = pairwise_distances(features)
    count = len(distances)
    if count < 2:
        return 0.0, float("nan")
    mean = distances.sum() / (count * (count - 1))
    np.fill_diagonal(distances, np.inf)
    return float(mean), float(distances.min(axis=1).mean() / mean) if mean > 0 else float("nan")


def hog_features(images: np.ndarray) -> np.ndarray:
    """HOG descriptors (9 orientations, 8 px cells, 2x2 blocks) of grey versions of (N, H, W, 3) images in 0..1."""
    from skimage.feature import hog

    grey = images.astype(np.float64) @ np.array([0.2125, 0.7154, 0.0721])
    return np.stack([hog(image, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)) for image in grey])


def face_found(image: np.ndarray, *, upscale: int = 2) -> bool:
    """True when scikit-image's LBP frontal-face cascade (OpenCV's, shipped with scikit-image) finds a face.

    The cascade's smallest window is 24 px; a 64 px face is doubled first so that it spans a few scales.
    """
    from skimage import transform

    detector = _face_cascade()
    grey = np.asarray(image, dtype=np.float64) @ np.array([0.2125, 0.7154, 0.0721])
    side = grey.shape[0] * upscale
    grey = transform.resize(grey, (side, grey.shape[1] * upscale), order=1, anti_aliasing=False)
    return len(detector.detect_multi_scale(img=grey, scale_factor=1.1, step_ratio=1, min_size=(side // 2, side // 2),
                                           max_size=(side * 2, side * 2))) > 0


@functools.cache
def _face_cascade():
    from skimage import data, feature

    return feature.Cascade(data.lbp_frontal_face_cascade_filename())


@dataclass(frozen=True)
class ColourStatistics:
    """Mean HSV saturation (0..1), contrast (standard deviation of L*, 0..100) and warmth (mean CIELAB b*)."""

    saturation: float
    contrast: float
    warmth: float


def colour_statistics(image: np.ndarray) -> ColourStatistics:
    """Saturation, contrast and warmth of an (H, W, 3) image in 0..1."""
    from skimage import color

    rgb = np.asarray(image, dtype=np.float64)
    lab = color.rgb2lab(rgb)
    return ColourStatistics(float(color.rgb2hsv(rgb)[..., 1].mean()), float(lab[..., 0].std()), float(lab[..., 2].mean()))


def hue_shift(before: np.ndarray, after: np.ndarray) -> float:
    """Mean change of hue in degrees (-180..180, positive towards yellow from red), weighted by saturation.

    A circular mean of the per-pixel hue differences, each weighted by the smaller of the two saturations, so
    grey pixels, whose hue means nothing, do not count.
    """
    from skimage import color

    hsv_before, hsv_after = color.rgb2hsv(np.asarray(before, np.float64)), color.rgb2hsv(np.asarray(after, np.float64))
    angle = (hsv_after[..., 0] - hsv_before[..., 0]) * 2 * np.pi
    weight = np.minimum(hsv_before[..., 1], hsv_after[..., 1])
    return float(np.degrees(np.arctan2((weight * np.sin(angle)).sum(), (weight * np.cos(angle)).sum())))
