"""The evaluation's measurements, on cases whose answers are known in closed form or by construction."""

from __future__ import annotations

import numpy as np
import pytest

from ganstudio.eval import metrics


def vertical_bar(width: int, height: int = 24, *, size: int = 32) -> np.ndarray:
    """A white ``width`` x ``height`` bar centred in a black size x size RGB image."""
    image = np.zeros((size, size, 3), dtype=np.float32)
    top, left = (size - height) // 2, (size - width) // 2
    image[top:top + height, left:left + width] = 1.0
    return image


# -- Fréchet distance ------------------------------------------------------------------------

def test_frechet_distance_of_a_set_with_itself_is_zero():
    features = np.random.default_rng(0).standard_normal((500, 16))
    assert metrics.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_of_a_shifted_set_is_the_squared_shift():
    # Shifting every sample leaves the sample covariance unchanged, so FD = |shift|^2 exactly.
    features = np.random.default_rng(1).standard_normal((400, 8)) @ np.diag(np.linspace(0.5, 2.0, 8))
    shift = np.arange(8) / 4.0
    assert metrics.frechet_distance(features, features + shift) == pytest.approx(float(shift @ shift), rel=1e-6)


def test_frechet_distance_of_gaussians_matches_the_closed_form():
    # Covariances sharing eigenvectors: FD = |mu_a - mu_b|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    rotation, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((6, 6)))
    variances_a, variances_b = np.array([1.0, 2.0, 3.0, 0.5, 4.0, 1.5]), np.array([4.0, 2.0, 1.0, 0.5, 9.0, 0.1])
    mean_a, mean_b = np.zeros(6), np.array([1.0, -2.0, 0.0, 0.5, 0.0, 3.0])
    expected = (mean_a - mean_b) @ (mean_a - mean_b) + ((np.sqrt(variances_a) - np.sqrt(variances_b)) ** 2).sum()
    distance = metrics.frechet_distance_from_moments(
        mean_a, rotation @ np.diag(variances_a) @ rotation.T, mean_b, rotation @ np.diag(variances_b) @ rotation.T
    )
    assert distance == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_between_samples_of_two_gaussians_approaches_the_closed_form():
    rng = np.random.default_rng(3)
    samples_a = rng.standard_normal((20000, 4))
    samples_b = 2.0 * rng.standard_normal((20000, 4)) + 1.0
    # N(0, I) vs N(1, 4I) in 4-D: |1|^2 * 4 + 4 * (1 - 2)^2 = 8
    assert metrics.frechet_distance(samples_a, samples_b) == pytest.approx(8.0, rel=0.03)


def test_frechet_distance_survives_singular_covariances():
    # Fewer samples than dimensions: both covariances are singular; the result is finite and real.
    rng = np.random.default_rng(4)
    distance = metrics.frechet_distance(rng.standard_normal((5, 20)), rng.standard_normal((5, 20)))
    assert np.isfinite(distance) and distance > 0


def test_feature_spread_of_known_points():
    # The 2*D points +-r on each axis of R^D are all at distance r from their mean (the origin).
    points = np.concatenate([3.0 * np.eye(5), -3.0 * np.eye(5)])
    assert metrics.feature_spread(points) == pytest.approx(3.0)
    assert metrics.feature_spread(np.ones((7, 4))) == 0.0


# -- coverage and agreement ------------------------------------------------------------------

def test_class_coverage_of_a_known_label_list():
    labels = [0] * 50 + [1] * 30 + [2] * 20
    coverage = metrics.class_coverage(labels, num_classes=4)
    assert coverage.shares == pytest.approx((0.5, 0.3, 0.2, 0.0))
    assert coverage.min_share == 0.0
    assert coverage.classes_seen == 3
    expected_entropy = -(0.5 * np.log(0.5) + 0.3 * np.log(0.3) + 0.2 * np.log(0.2)) / np.log(4)
    assert coverage.entropy == pytest.approx(expected_entropy)


def test_class_coverage_is_even_for_a_balanced_list_and_zero_for_one_class():
    assert metrics.class_coverage(list(range(10)) * 7).entropy == pytest.approx(1.0)
    assert metrics.class_coverage(list(range(10)) * 7).min_share == pytest.approx(0.1)
    assert metrics.class_coverage([3] * 20).entropy == 0.0


def test_identity_agreement_on_a_known_confusion():
    # Build label lists from a confusion matrix: 8 of 10 zeros kept, 6 of 10 ones kept, all 5 twos kept.
    confusion = np.array([[8, 2, 0], [3, 6, 1], [0, 0, 5]])
    expected = np.repeat([0, 1, 2], confusion.sum(axis=1))
    predicted = np.concatenate([np.repeat([0, 1, 2], row) for row in confusion])
    assert metrics.agreement(predicted, expected) == pytest.approx(19 / 25)
    np.testing.assert_array_equal(metrics.confusion_matrix(expected, predicted, num_classes=3), confusion)


def test_correlation_of_linear_and_constant_series():
    values = np.arange(10.0)
    assert metrics.correlation(values, 3 * values + 1) == pytest.approx(1.0)
    assert metrics.correlation(values, -values) == pytest.approx(-1.0)
    assert np.isnan(metrics.correlation(values, np.ones(10)))


def test_mean_abs_error_on_the_unit_scale():
    assert metrics.mean_abs_error(np.zeros((2, 4, 4, 3)), np.full((2, 4, 4, 3), 0.25)) == pytest.approx(0.25)


# -- attributes from pixels ------------------------------------------------------------------

def test_redness_and_colour_family_of_known_colours():
    bar = vertical_bar(3)
    red, white = bar * np.array([1.0, 0.25, 0.25]), bar
    assert metrics.redness(red) == pytest.approx(0.75)
    assert metrics.redness(white) == pytest.approx(0.0)
    assert metrics.measure_attributes(red).red and not metrics.measure_attributes(white).red
    for index, color in enumerate([(0.9, 0.3, 0.2), (0.2, 0.8, 0.5), (0.4, 0.3, 1.0)]):
        assert metrics.color_family(bar * np.array(color)) == index


def test_dim_pixels_are_not_stroke():
    # A faint (0.4) red haze around a white bar must not count: only intensity > 0.5 is stroke.
    image = vertical_bar(3) + (vertical_bar(9) - vertical_bar(3)) * np.array([0.4, 0.0, 0.0], dtype=np.float32)
    assert metrics.stroke_mask(image).sum() == 3 * 24
    assert metrics.redness(image) == pytest.approx(0.0)


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5])
def test_stroke_width_of_a_bar_is_its_width_within_ten_percent(width):
    # The skeleton of a bar 2+ px wide stops about a pixel short of each end: 24 px gives w * 24 / 22.
    measured = metrics.stroke_width(vertical_bar(width, 24))
    assert measured == pytest.approx(width, rel=0.1)


def test_stroke_width_grows_with_the_bar():
    widths = [metrics.stroke_width(vertical_bar(w)) for w in range(1, 7)]
    assert widths == sorted(widths) and len(set(widths)) == len(widths)


def test_slant_of_upright_and_sheared_bars():
    from ganstudio.train.datasets import shear

    bar = vertical_bar(3)[..., 0]
    assert metrics.slant(bar) == pytest.approx(0.0, abs=1e-9)
    for factor in (0.45, -0.3, 0.2):
        # positive factor = top leans right = positive slant
        assert metrics.slant(shear(bar, factor)) == pytest.approx(factor, abs=0.01)


def test_slant_of_an_exactly_drawn_line():
    # A 1-px line from (row 4, col 20) down to (row 27, col 11): x = 20 - (row - 4) * 9/23 -> top right.
    image = np.zeros((32, 32), dtype=np.float32)
    rows = np.arange(4, 28)
    image[rows, np.round(20 - (rows - 4) * 9 / 23).astype(int)] = 1.0
    assert metrics.slant(image) == pytest.approx(9 / 23, abs=0.02)


def test_empty_image_measures_as_no_stroke():
    empty = np.zeros((32, 32, 3), dtype=np.float32)
    assert (metrics.redness(empty), metrics.stroke_width(empty), metrics.slant(empty)) == (0.0, 0.0, 0.0)
    assert metrics.color_family(empty) == -1


# -- calibration -------------------------------------------------------------------------------

def test_thresholds_are_the_midpoints_of_the_train_renders():
    from ganstudio.train import datasets

    digits, _ = datasets.load_digits("train")
    calibration = metrics.calibrate_thresholds(digits, datasets.stargan_digit)
    assert metrics.THICK_THRESHOLD == pytest.approx(calibration.thick_threshold, abs=5e-4)
    assert metrics.SLANT_THRESHOLD == pytest.approx(calibration.slant_threshold, abs=5e-4)
    assert calibration.thin_width < metrics.THICK_THRESHOLD < calibration.thick_width


def test_redness_threshold_separates_red_and_white_train_renders():
    from ganstudio.train import datasets

    digits, _ = datasets.load_digits("train")
    red = [metrics.redness(datasets.stargan_digit(d, (True, False, False))) for d in digits[:200]]
    white = [metrics.redness(datasets.stargan_digit(d, (False, False, False))) for d in digits[:200]]
    assert min(red) > metrics.RED_THRESHOLD > max(white)


def test_slant_agrees_with_the_training_data_definition():
    # Two independent implementations of mu11 / mu02 (y up): ours and the one datasets.deskew uses.
    from ganstudio.train import datasets

    digits, _ = datasets.load_digits("test")
    for digit in digits[:20]:
        assert metrics.slant(digit) == pytest.approx(datasets.slant_of(digit), abs=1e-9)
        assert metrics.slant(datasets.deskew(digit)) == pytest.approx(0.0, abs=0.02)


def test_best_matching_pairs_clusters_with_classes_one_to_one():
    counts = np.array([[0, 9, 1],   # cluster 0 is mostly class 1
                       [8, 0, 2],   # cluster 1 is class 0
                       [0, 7, 3]])  # cluster 2 is mostly class 1 too, but 1 is taken: it gets class 2
    matching = metrics.best_matching(counts)
    assert matching.pairs == ((0, 1), (1, 0), (2, 2))
    assert matching.accuracy == pytest.approx((9 + 8 + 3) / 30)
    assert matching.purity == pytest.approx((9 + 8 + 7) / 30)
