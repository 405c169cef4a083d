"""The StyleGAN reference ops against independent computations (the fixtures check them end to end)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from ganstudio.models.stylegan_ops import (
    conv2d_resample,
    modulated_conv2d,
    setup_filter,
    upfirdn2d,
    upfirdn2d_reference,
)


@pytest.mark.parametrize("up, down", [(1, 1), (2, 1), (1, 2), (4, 2)])
def test_upfirdn2d_along_one_axis_is_scipys_upfirdn(up, down):
    rng = np.random.default_rng(0)
    signal, taps = rng.standard_normal(13), rng.standard_normal(5)
    expected = scipy.signal.upfirdn(taps, signal, up=up, down=down)
    x = torch.from_numpy(signal).float().view(1, 1, 1, -1)
    f = torch.from_numpy(taps).float().view(1, -1)  # 2-D filter, one row: filters along x only
    out = upfirdn2d(x, f, up=[up, 1], down=[down, 1], padding=[len(taps) - 1, len(taps) - 1, 0, 0])
    np.testing.assert_allclose(out.flatten()[: len(expected)].numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("up, down", [(1, 1), (2, 1), (4, 1), (1, 2)])
@pytest.mark.parametrize("taps", [(4, 4), (12,), (12, 12)])
@pytest.mark.parametrize("padding", [[0, 0, 0, 0], [9, 8, 9, 8], [-6, -9, -6, -9], [5, -3, 1, 7]])
def test_upfirdn2d_equals_the_official_reference_op_for_op(up, down, taps, padding):
    torch.manual_seed(0)
    x, f = torch.randn(2, 3, 9, 11), torch.randn(*taps)
    if 9 * up + padding[2] + padding[3] < taps[0]:
        pytest.skip("the filter is larger than the padded image: the reference refuses it too")
    for flip_filter in (False, True):
        kwargs = {"up": up, "down": down, "padding": padding, "flip_filter": flip_filter, "gain": up**2}
        expected = upfirdn2d_reference(x, f, **kwargs)
        torch.testing.assert_close(upfirdn2d(x, f, **kwargs), expected, atol=1e-5, rtol=1e-5)


def test_a_separable_filter_equals_its_outer_product():
    x = torch.randn(2, 3, 9, 9)
    separable = setup_filter(np.hanning(10)[1:-1] + 0.1)  # 8 taps: kept 1-D
    assert separable.ndim == 1
    full = separable.ger(separable)
    for kwargs in ({"up": 2, "padding": [4, 3, 4, 3]}, {"down": 2, "padding": 3}):
        torch.testing.assert_close(upfirdn2d(x, separable, gain=4, **kwargs), upfirdn2d(x, full, gain=4, **kwargs),
                                   atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kernel, up", [(3, 2), (1, 2), (3, 1)])
def test_conv2d_resample_fast_paths_equal_the_generic_path(kernel, up):
    x, w = torch.randn(2, 4, 8, 8), torch.randn(5, 4, kernel, kernel)
    f = setup_filter([1, 3, 3, 1])
    padding = kernel // 2
    fast = conv2d_resample(x, w, f=f, up=up, padding=padding, flip_weight=(up == 1))
    # the official generic path: upsample and filter, then a plain convolution (flipped weight unless up == 1)
    fw = f.shape[-1]
    pad = [padding + (fw + up - 1) // 2 if up > 1 else padding, padding + (fw - up) // 2 if up > 1 else padding] * 2
    y = upfirdn2d(x, f if up > 1 else None, up=up, padding=pad, gain=up**2)
    reference = F.conv2d(y, w if up == 1 else w.flip([2, 3]))
    torch.testing.assert_close(fast, reference, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("up, demodulate", [(1, True), (2, True), (1, False)])
def test_fused_and_per_layer_modulated_convolution_agree(up, demodulate):
    torch.manual_seed(0)
    x, weight, styles = torch.randn(3, 6, 8, 8), torch.randn(5, 6, 3, 3), torch.randn(3, 6)
    noise = torch.randn(8 * up, 8 * up)
    kwargs = {"noise": noise, "up": up, "padding": 1, "resample_filter": setup_filter([1, 3, 3, 1]),
              "demodulate": demodulate, "flip_weight": up == 1}
    fused = modulated_conv2d(x, weight, styles, fused_modconv=True, **kwargs)
    per_layer = modulated_conv2d(x, weight, styles, fused_modconv=False, **kwargs)
    torch.testing.assert_close(fused, per_layer, atol=1e-5, rtol=1e-5)
    # one sample at a time gives the same: nothing mixes the samples of a batch
    single = torch.cat([modulated_conv2d(x[i:i + 1], weight, styles[i:i + 1], **kwargs) for i in range(3)])
    torch.testing.assert_close(fused, single, atol=1e-5, rtol=1e-5)
