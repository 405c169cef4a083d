"""The digit data of the built-in models: split, shapes and ranges, determinism, and attribute transforms."""

from __future__ import annotations

import numpy as np
import pytest

from ganstudio.train import datasets as D


@pytest.fixture(scope="module")
def train_digits():
    return D.load_digits("train")


def red_score(image: np.ndarray) -> float:
    """The evaluation's red measure: mean of R - (G + B) / 2 over stroke pixels (max RGB > 0.5)."""
    mask = image.max(axis=2) > 0.5
    return float((image[..., 0] - (image[..., 1] + image[..., 2]) / 2)[mask].mean())


def stroke_width(image: np.ndarray) -> float:
    from skimage.morphology import skeletonize

    mask = image.max(axis=2) > 0.5
    return mask.sum() / max(skeletonize(mask).sum(), 1)


def test_splits_are_fixed_class_balanced_and_disjoint():
    train, train_labels = D.load_digits("train")
    test, test_labels = D.load_digits("test")
    everything, _ = D.load_digits("all")
    assert train.shape == (4000, 32, 32) and test.shape == (1000, 32, 32) and everything.shape == (5000, 32, 32)
    assert train.dtype == np.float32 and train_labels.dtype == np.int64
    assert np.bincount(train_labels).tolist() == [400] * 10
    assert np.bincount(test_labels).tolist() == [100] * 10
    assert not set(D.split_rows("train")) & set(D.split_rows("test"))
    # Round-robin order: both CycleGAN halves hold every digit equally often.
    assert np.bincount(train_labels[:2000]).tolist() == [200] * 10
    assert train_labels[:10].tolist() == list(range(10))
    again, _ = D.load_digits("train")
    assert np.array_equal(train, again)


def test_plain_digit_is_padded_mnist_in_unit_range(train_digits):
    digits, _ = train_digits
    assert digits.min() == 0.0 and digits.max() == 1.0
    # 2-pixel black border from padding 28 -> 32.
    assert digits[:, :2].max() == 0 and digits[:, :, -2:].max() == 0


def test_shear_adds_its_factor_to_the_slant_and_deskew_removes_it(train_digits):
    digits, _ = train_digits
    for digit in digits[:20]:
        straight = D.deskew(digit)
        assert abs(D.slant_of(straight)) < 0.02
        slanted = D.shear(straight, D.SLANT)
        assert D.slant_of(slanted) == pytest.approx(D.SLANT, abs=0.05)
        # Positive = italic: the top half's ink sits further right than the bottom half's.
        top, bottom = slanted[:16], slanted[16:]
        cols = np.arange(32)
        assert (top.sum(0) * cols).sum() / top.sum() > (bottom.sum(0) * cols).sum() / bottom.sum()
        assert straight.shape == slanted.shape == (32, 32)


def test_stargan_attributes_change_colour_width_and_slant_as_named(train_digits):
    digits, _ = train_digits
    for digit in digits[:20]:
        base = D.stargan_digit(digit, (False, False, False))
        red = D.stargan_digit(digit, (True, False, False))
        thick = D.stargan_digit(digit, (False, True, False))
        slanted = D.stargan_digit(digit, (False, False, True))
        assert base.shape == (32, 32, 3) and base.dtype == np.float32
        assert 0 <= base.min() and base.max() <= 1
        mask = red.max(axis=2) > 0.5
        assert (red[..., 0][mask] > red[..., 1][mask]).all() and (red[..., 0][mask] > red[..., 2][mask]).all()
        assert red_score(red) > 0.45 and abs(red_score(base)) < 1e-6  # the evaluation's threshold is 0.35
        assert stroke_width(thick) > stroke_width(base) + 0.5
        assert D.slant_of(slanted.max(axis=2)) > D.slant_of(base.max(axis=2)) + 0.3


def test_stargan_v2_digit_keeps_the_domain_colour_dominant_and_reports_its_style(train_digits):
    digits, _ = train_digits
    rng = np.random.default_rng(0)
    for index, digit in enumerate(digits[:30]):
        domain = index % 3
        image, style = D.stargan_v2_digit(digit, domain, rng)
        assert image.shape == (32, 32, 3) and image.dtype == np.float32
        mask = image.max(axis=2) > 0.5
        assert int(np.argmax(image[mask].mean(axis=0))) == domain
        assert int(np.argmax(style["rgb"])) == domain
        assert style["thickness"] in (0, 1, 2) and -0.5 <= style["slant"] <= 0.5
        # Dilation blurs the measure a little (thick strokes add ink in every direction).
        tolerance = 0.05 if style["thickness"] == 0 else 0.15
        assert D.slant_of(image.max(axis=2)) == pytest.approx(style["slant"], abs=tolerance)


def test_derivations_are_deterministic_for_a_seed(train_digits):
    digits, _ = train_digits
    for function in (D.cyclegan_b, D.sketch_of, lambda d, rng: D.stargan_v2_digit(d, 1, rng)[0]):
        first = function(digits[3], np.random.default_rng(7))
        second = function(digits[3], np.random.default_rng(7))
        assert np.array_equal(first, second)


def test_cyclegan_domains_look_different(train_digits):
    digits, _ = train_digits
    plain = D.cyclegan_a(digits[0])
    neon = D.cyclegan_b(digits[0], np.random.default_rng(0))
    assert plain.shape == neon.shape == (32, 32, 3)
    assert np.array_equal(plain[..., 0], digits[0])
    background = digits[0] == 0
    # Textured dark blue background, 0.1..0.35 in blue; warm stroke (red > blue).
    assert 0.1 - 1e-6 <= neon[background][:, 2].min() and neon[background][:, 2].max() <= 0.35 + 1e-6
    assert neon[background][:, 2].std() > 0.01
    stroke = digits[0] > 0.9
    assert (neon[stroke][:, 0] > neon[stroke][:, 2] + 0.4).all()


def test_sketch_is_dark_thin_strokes_on_white(train_digits):
    digits, _ = train_digits
    rng = np.random.default_rng(0)
    for digit in digits[:10]:
        sketch = D.sketch_of(digit, rng)
        assert sketch.shape == (32, 32, 3) and sketch.dtype == np.float32
        assert 0 <= sketch.min() and sketch.max() <= 1
        ink = sketch[..., 0] < 0.5
        assert 0 < ink.sum() < (digit > 0.5).sum() * 1.6  # a skeleton drawn 1-3 px, not the filled digit
        assert sketch[0, 0].tolist() == [1.0, 1.0, 1.0]


def test_training_sets_have_the_documented_shapes():
    stargan = D.stargan_set(copies=1)
    assert stargan["images"].shape == (4000, 32, 32, 3) and stargan["attributes"].shape == (4000, 3)
    cycle = D.cyclegan_set()
    assert cycle["A"].shape == cycle["B"].shape == (2000, 32, 32, 3)
    assert D.cgan_set()["images"].shape == (4000, 32, 32, 1)
