"""Principal directions of W: the PCA, its cache per weights, and moving an image along a direction."""

from __future__ import annotations

import numpy as np
import pytest

from ganstudio.errors import GanStudioError, WrongTaskError
from ganstudio.tasks import styles
from ganstudio.tasks.directions import edit_along_directions, principal_directions
from ganstudio.tasks.generate import generate


def _pixels(image):
    return np.asarray(image, dtype=np.int16)


@pytest.fixture(scope="module")
def directions(sg2, tmp_path_factory):
    return principal_directions(sg2, cache_dir=tmp_path_factory.mktemp("directions"), samples=512, components=6)


def test_directions_are_the_principal_axes_of_the_mapped_ws(sg2, directions):
    assert directions.components.shape == (6, 16) and not directions.cached
    np.testing.assert_allclose(directions.components @ directions.components.T, np.eye(6), atol=1e-5)
    assert np.all(np.diff(directions.stdev) <= 0) and 0 < directions.explained.sum() <= 1
    # the spread of fresh samples along the first direction is its standard deviation
    z = np.random.RandomState(123).randn(2000, 16).astype(np.float32)
    ws = styles.map_latents(sg2, z)[:, 0]
    spread = ((ws - directions.mean) @ directions.components.T).std(axis=0)
    np.testing.assert_allclose(spread[:3], directions.stdev[:3], rtol=0.15)


def test_the_cache_answers_for_the_same_weights_and_not_for_other_ones(sg2, sg2_classes, tmp_path):
    first = principal_directions(sg2, cache_dir=tmp_path, samples=256, components=4)
    again = principal_directions(sg2, cache_dir=tmp_path, samples=256, components=4)
    assert not first.cached and again.cached
    assert np.array_equal(first.components, again.components)
    other = principal_directions(sg2_classes, cache_dir=tmp_path, samples=256, components=4)
    assert not other.cached and len(list(tmp_path.glob("*.npz"))) == 2


def test_zero_amounts_give_the_generated_image_and_a_move_changes_it(sg2, directions):
    start = generate(sg2, seed=4, truncation_psi=0.8).images[0]
    same = edit_along_directions(sg2, directions, seed=4, amounts=[0.0, 0.0], truncation_psi=0.8)
    assert np.abs(_pixels(same) - _pixels(start)).max() <= 1
    moved = edit_along_directions(sg2, directions, seed=4, amounts=[3.0], truncation_psi=0.8)
    assert np.abs(_pixels(moved) - _pixels(start)).mean() > 2


def test_a_layer_range_limits_the_move(sg2, directions):
    everywhere = _pixels(edit_along_directions(sg2, directions, seed=4, amounts=[3.0]))
    fine_only = _pixels(edit_along_directions(sg2, directions, seed=4, amounts=[3.0], layers=(6, 8)))
    start = _pixels(generate(sg2, seed=4).images[0])
    assert np.abs(fine_only - start).mean() < np.abs(everywhere - start).mean()
    with pytest.raises(GanStudioError, match="layers must be"):
        edit_along_directions(sg2, directions, seed=4, amounts=[1.0], layers=(5, 5))
    with pytest.raises(GanStudioError, match="at most 6 amounts"):
        edit_along_directions(sg2, directions, seed=4, amounts=[0.0] * 7)


def test_a_model_without_a_mapping_has_no_directions(dcgan, tmp_path):
    with pytest.raises(WrongTaskError, match="StyleGAN model"):
        principal_directions(dcgan, cache_dir=tmp_path)
