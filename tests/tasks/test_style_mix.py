"""Style mixing: rows x columns as style_mixing.py lays them out, the ws that move, and what is refused."""

from __future__ import annotations

import numpy as np
import pytest

from ganstudio.errors import GanStudioError, WrongTaskError
from ganstudio.tasks.generate import generate
from ganstudio.tasks.style_mix import parse_number_list, style_mix


def _pixels(image):
    return np.asarray(image, dtype=np.int16)


def _close(first, second) -> bool:
    return np.abs(_pixels(first) - _pixels(second)).max() <= 1


def test_the_grid_has_the_seeds_images_along_its_edges_and_the_mixes_inside(sg2):
    result = style_mix(sg2, row_seeds=[1, 2], col_seeds=[5, 6, 7], col_styles=[0, 1])
    assert result.grid.size == (32 * 4, 32 * 3)
    assert len(result.images) == 2 and all(len(row) == 3 for row in result.images)
    assert _pixels(result.grid.crop((0, 0, 32, 32))).max() == 0  # the corner stays black
    assert _close(result.grid.crop((32, 0, 64, 32)), generate(sg2, seed=5).images[0])
    assert _close(result.grid.crop((0, 64, 32, 96)), generate(sg2, seed=2).images[0])
    assert _close(result.grid.crop((96, 64, 128, 96)), result.images[1][2])


def test_taking_every_ws_gives_the_column_image_and_none_in_between(sg2):
    every = style_mix(sg2, row_seeds=[1], col_seeds=[5], col_styles=range(sg2.info.options["num_ws"])).images[0][0]
    assert _close(every, generate(sg2, seed=5).images[0])
    coarse = style_mix(sg2, row_seeds=[1], col_seeds=[5], col_styles=[0, 1, 2]).images[0][0]
    fine = style_mix(sg2, row_seeds=[1], col_seeds=[5], col_styles=[5, 6, 7]).images[0][0]
    for picture in (coarse, fine):
        assert not _close(picture, generate(sg2, seed=1).images[0]) and not _close(picture, generate(sg2, seed=5).images[0])
    assert not _close(coarse, fine)


def test_truncation_and_noise_apply_to_every_image_of_the_grid(sg2):
    plain = style_mix(sg2, row_seeds=[1], col_seeds=[5], col_styles=[0]).grid
    truncated = style_mix(sg2, row_seeds=[1], col_seeds=[5], col_styles=[0], truncation_psi=0.5, noise_mode="none")
    assert _close(truncated.grid.crop((32, 0, 64, 32)),
                  generate(sg2, seed=5, truncation_psi=0.5, noise_mode="none").images[0])
    assert not _close(plain, truncated.grid)


def test_bad_styles_seeds_and_models_are_explained(sg2, dcgan):
    with pytest.raises(GanStudioError, match="from 0 to 7"):
        style_mix(sg2, row_seeds=[1], col_seeds=[2], col_styles=[8])
    with pytest.raises(GanStudioError, match="1 to 8 row seeds"):
        style_mix(sg2, row_seeds=[], col_seeds=[2])
    with pytest.raises(WrongTaskError, match="StyleGAN model"):
        style_mix(dcgan, row_seeds=[1], col_seeds=[2])


def test_number_lists_take_ranges_as_the_nvlabs_scripts_do():
    assert parse_number_list("0-3") == [0, 1, 2, 3]
    assert parse_number_list("85, 100,75") == [85, 100, 75]
    assert parse_number_list("1,3-5") == [1, 3, 4, 5]
    for bad in ("", "a", "5-3", "-1"):
        with pytest.raises(GanStudioError):
            parse_number_list(bad)
