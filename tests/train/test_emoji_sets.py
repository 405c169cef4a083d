"""The emoji models' training sets: the sketch augmentation does what it says, the sets build from a fake cache."""

from __future__ import annotations

import numpy as np
import pytest

from ganstudio.train import emoji_sets
from ganstudio.train.emoji_sets import (
    SketchAugment,
    augment_sketch,
    change_stroke,
    ink_of,
    place,
)
from tests.train.test_emoji import built  # noqa: F401  (the fake-package cache fixture)

SIZE = 64


def ring_drawing(radius: float = 20, width: float = 2.0, centre: tuple[float, float] = (32, 32)) -> np.ndarray:
    """A black ring on white, (64, 64, 3) float32: a line drawing with a known stroke width and place."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    distance = np.hypot(rows - centre[0], cols - centre[1])
    ink = (np.abs(distance - radius) < width / 2).astype(np.float32)
    return np.repeat((1 - ink)[..., None], 3, axis=2)


def filled_disc(radius: float = 20) -> np.ndarray:
    """A red disc on white: the coloured target of the ring."""
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    inside = np.hypot(rows - 32, cols - 32) <= radius
    image = np.ones((SIZE, SIZE, 3), np.float32)
    image[inside] = (1.0, 0.2, 0.2)
    return image


def ink_centre(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    return np.array([(rows * ink).sum(), (cols * ink).sum()]) / ink.sum()


def test_stroke_steps_thicken_and_thin_without_erasing():
    ink = ink_of(ring_drawing(width=3))
    assert change_stroke(ink, 0).sum() == pytest.approx(ink.sum())
    assert change_stroke(ink, 1).sum() > 1.5 * ink.sum()
    assert change_stroke(ink, 2).sum() > change_stroke(ink, 1).sum()
    thin = change_stroke(ink, -1)
    assert 0 < thin.sum() < 0.8 * ink.sum()
    # the thinned line is still there all the way round: every angle keeps some ink
    rows, cols = np.nonzero(thin > 0.2)
    angles = np.degrees(np.arctan2(rows - 32, cols - 32)) % 360
    assert len(np.unique((angles // 30).astype(int))) == 12


def test_place_shrinks_and_moves_the_drawing():
    ink = ink_of(ring_drawing())
    moved = place(ink, 0.5, (8.0, -6.0), fill=0.0)
    assert ink_centre(moved) == pytest.approx(ink_centre(ink) + np.array([8.0, -6.0]), abs=0.6)
    assert moved.sum() == pytest.approx(0.25 * ink.sum(), rel=0.15)  # half as wide and half as thick: a quarter
    assert place(ring_drawing(), 1.0, (0.0, 0.0)) == pytest.approx(ring_drawing(), abs=1e-5)


def test_inversion_gives_light_lines_on_dark():
    never = SketchAugment(stroke_steps=(0,), invert_probability=0.0, move_probability=0.0)
    always = SketchAugment(stroke_steps=(0,), invert_probability=1.0, move_probability=0.0)
    plain, _, info = augment_sketch(ring_drawing(), filled_disc(), np.random.default_rng(0), never)
    inverted, _, info_inverted = augment_sketch(ring_drawing(), filled_disc(), np.random.default_rng(0), always)
    assert not info["inverted"] and info_inverted["inverted"]
    assert plain.mean() > 0.8 and inverted.mean() < 0.2  # the background is white, then black
    assert inverted == pytest.approx(1 - plain, abs=1e-6)


def test_the_target_moves_with_the_drawing():
    moving = SketchAugment(stroke_steps=(0,), invert_probability=0.0, move_probability=1.0, scale_range=(0.5, 0.6))
    rng = np.random.default_rng(3)
    for _ in range(5):
        sketch, target, info = augment_sketch(ring_drawing(), filled_disc(), rng, moving)
        assert 0.5 <= info["scale"] <= 0.6 and info["offset"] != (0.0, 0.0)
        expected = np.array([31.5, 31.5]) + np.array(info["offset"])
        assert ink_centre(ink_of(sketch)) == pytest.approx(expected, abs=0.8)
        assert ink_centre(ink_of(target)) == pytest.approx(expected, abs=0.8)  # the colour lands under the lines
        assert ink_of(sketch)[[0, -1], :].max() < 0.05  # and the drawing stays on the canvas


def test_default_augmentation_mixes_every_variation_and_is_seeded():
    rng = np.random.default_rng(0)
    drawn = [augment_sketch(ring_drawing(), filled_disc(), rng)[2] for _ in range(60)]
    assert {info["stroke"] for info in drawn} == {-1, 0, 1, 2}
    assert 5 < sum(info["inverted"] for info in drawn) < 35
    assert 20 < sum(info["scale"] < 1 for info in drawn) < 58
    again = augment_sketch(ring_drawing(), filled_disc(), np.random.default_rng(0))[0]
    assert again == pytest.approx(augment_sketch(ring_drawing(), filled_disc(), np.random.default_rng(0))[0])


def test_sketch_set_pairs_every_train_emoji_copies_times(built):  # noqa: F811
    cache, _ = built
    pairs = emoji_sets.sketch_set(0, copies=2, cache_dir=cache)
    train = emoji_sets.emoji.paired_set("openmoji_line", "openmoji", split="train", cache_dir=cache)
    assert pairs["A"].shape == pairs["B"].shape == (2 * len(train["A"]), SIZE, SIZE, 3)
    assert pairs["A"].dtype == pairs["B"].dtype == np.float32
    assert np.allclose(pairs["A"][..., 0], pairs["A"][..., 2])  # the input is grey
    again = emoji_sets.sketch_set(0, copies=2, cache_dir=cache)
    assert np.array_equal(pairs["A"], again["A"]) and not np.array_equal(pairs["A"], emoji_sets.sketch_set(1, cache_dir=cache)["A"])


def test_unpaired_set_never_shows_an_emoji_in_both_domains(built):  # noqa: F811
    cache, _ = built
    domains = emoji_sets.unpaired_set("noto", "openmoji", 0, cache_dir=cache)
    keys = emoji_sets.emoji.paired_keys(["noto", "openmoji"], split="train", cache_dir=cache)
    assert len(domains["A"]) + len(domains["B"]) == len(keys)
    # the fakes fill each emoji with a red value of its own: no red value in both halves
    red_a = {round(float(image[32, 32, 0]) * 255) for image in domains["A"]}
    red_b = {round(float(image[32, 32, 0]) * 255) for image in domains["B"]}
    assert red_a and red_b and not red_a & red_b
