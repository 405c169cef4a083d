"""The emoji judge and measurements, on synthetic emoji-like images (no npm data needed)."""

from __future__ import annotations

import numpy as np
import pytest

from ganstudio.eval import emoji as E
from ganstudio.eval.classifier import (
    EMOJI_CATEGORIES,
    ClassifierConfig,
    fingerprint,
    load_or_train_on,
)

TINY = ClassifierConfig(kind="emoji", steps=60, batch_size=16, lr=3e-3, width=4, feature_dim=8, copies=0)


def coloured_discs(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """64 px discs on white: category 0 red, category 1 blue (a task a tiny judge learns in a few steps)."""
    rows, cols = np.mgrid[0:64, 0:64]
    labels = rng.integers(0, 2, size=count)
    images = np.ones((count, 64, 64, 3), np.float32)
    for image, label in zip(images, labels, strict=True):
        radius = rng.uniform(12, 28)
        image[np.hypot(rows - 32, cols - 32) < radius] = (0.9, 0.1, 0.1) if label == 0 else (0.1, 0.2, 0.9)
    return images, labels


def test_shrink_averages_blocks():
    image = np.zeros((1, 64, 64, 3), np.float32)
    image[0, 0, 0] = 1.0
    small = E.shrink(image)
    assert small.shape == (1, 32, 32, 3) and small[0, 0, 0, 0] == pytest.approx(0.25) and small.sum() == pytest.approx(0.75)


def test_categories_map_to_the_judges_classes_and_components_are_left_out():
    indices = E.category_indices(["Smileys & Emotion", "Flags", "Component"])
    assert indices.tolist() == [0, len(EMOJI_CATEGORIES) - 1, -1]


def test_feature_distance_is_zero_for_the_same_images_and_grows_with_the_change(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = coloured_discs(64, rng)
    small = E.shrink(images)
    judge = load_or_train_on(TINY, fingerprint(small, labels), lambda: (small, labels), cache_dir=tmp_path)
    same = E.feature_distance(judge, images[:8], images[:8])
    swapped = E.feature_distance(judge, images[:8], 1.0 - images[:8])
    assert same == pytest.approx(0.0, abs=1e-6) and 0 < swapped <= 2.0
    # the judge has learnt the two colours: the category of a disc is read back
    assert (judge.predict(small) == labels).mean() > 0.9
