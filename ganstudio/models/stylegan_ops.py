"""The StyleGAN family's low-level ops in plain PyTorch: no compiled extension, exportable to ONNX.

NVlabs ships CUDA kernels for these ops and falls back to pure-PyTorch reference versions on
the CPU; the official outputs of the conformance fixtures come from those reference versions.
This file mirrors them step by step (kernel flips, padding, gains, the order of operations):

- ``upfirdn2d_reference``: ``torch_utils/ops/upfirdn2d.py`` ``_upfirdn2d_ref`` op for op (zero
  insertion, pad or crop, a flipped FIR filter as a depthwise conv, separable filters as two 1-D
  passes, decimation); rosinality's ``upfirdn2d_native`` computes the same with 2-D kernels.
  ``upfirdn2d``, which the networks use, gives the same sums without multiplying the inserted
  zeros or computing the discarded outputs (transposed and strided convolutions).
- ``bias_act``: ``torch_utils/ops/bias_act.py`` ``_bias_act_ref`` (bias, activation, gain, clamp).
- ``conv2d_resample``: ``torch_utils/ops/conv2d_resample.py``, every fast path kept, since
  each one orders the padding, filtering and convolution differently.
- ``modulated_conv2d``: StyleGAN2's (``training/networks.py``), fused as one grouped convolution.
- ``filtered_lrelu``: StyleGAN3's ``torch_utils/ops/filtered_lrelu.py`` ``_filtered_lrelu_ref``.
- ``truncate``: the NVlabs mappings' ``w_avg.lerp(ws, psi)`` on the first ``truncation_cutoff`` ws.
- ``weighted_noise``: the noise modes (stored, fresh, none) as per-sample weights, so that the mode
  is an input of an exported graph rather than a Python string baked into it.

Export: a grouped convolution with one group per sample fixes the batch size in an ONNX graph
(``group`` is an attribute there). While tracing for export (``exporting()``) the modulated
convolutions take the official non-fused form instead (scale the activations before and after a
shared convolution), which the official code also runs in training; NVlabs measured the two
forms 8e-7 apart on the fixtures.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# name -> (function of x and alpha, default alpha, default gain), as bias_act.activation_funcs
ACTIVATIONS = {
    "linear": (lambda x, alpha: x, 0.0, 1.0),
    "relu": (lambda x, alpha: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": (lambda x, alpha: F.leaky_relu(x, alpha), 0.2, math.sqrt(2)),
}


def exporting() -> bool:
    """True while a model is traced for ONNX export, when the batch size must stay symbolic."""
    return torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()


# ----------------------------------------------------------------------------- bias and activation


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Add a bias along ``dim``, apply ``act``, scale by ``gain`` (the activation's default: sqrt(2) for lrelu), clamp to +-clamp."""
    func, default_alpha, default_gain = ACTIVATIONS[act]
    alpha = float(alpha if alpha is not None else default_alpha)
    gain = float(gain if gain is not None else default_gain)
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


# ----------------------------------------------------------------------------- FIR filtering


def setup_filter(f, normalize: bool = True, flip_filter: bool = False, gain: float = 1, separable: bool | None = None) -> torch.Tensor:
    """The official ``upfirdn2d.setup_filter``: a float32 filter, 2-D unless 1-D with >= 8 taps, summing to 1."""
    f = torch.as_tensor(1 if f is None else f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[np.newaxis]
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = f.ger(f)
    if normalize:
        f /= f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    return f * (gain ** (f.ndim / 2))


def _parse_scaling(scaling) -> tuple[int, int]:
    return (scaling, scaling) if isinstance(scaling, int) else tuple(scaling)


def _parse_padding(padding) -> tuple[int, int, int, int]:
    if isinstance(padding, int | np.integer):
        padding = [padding, padding]
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        padding = [padding[0], padding[0], padding[1], padding[1]]
    return tuple(padding)


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(width, height) of a 1-D (separable) or 2-D filter; (1, 1) for None."""
    if f is None:
        return 1, 1
    return int(f.shape[-1]), int(f.shape[0])


def upfirdn2d_reference(x: torch.Tensor, f: torch.Tensor | None, up=1, down=1, padding=0, flip_filter: bool = False,
                        gain: float = 1) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative: crop), convolve with FIR filter ``f``, keep every ``down``-th pixel.

    The official ``_upfirdn2d_ref`` op for op. ``padding`` is ``[x0, x1, y0, y1]`` (or one number, or
    ``[x, y]``) on the upsampled image. The filter is flipped (a true convolution) unless
    ``flip_filter``; ``gain`` scales it by ``gain ** (f.ndim / 2)`` (per axis for a separable filter).
    """
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    # int(): constants in a traced graph (the filter's shape must be static), the batch stays -1
    num_channels, in_height, in_width = (int(n) for n in x.shape[1:])
    upx, upy = _parse_scaling(up)
    downx, downy = _parse_scaling(down)
    padx0, padx1, pady0, pady1 = _parse_padding(padding)

    # Upsample by inserting zeros.
    x = x.reshape([-1, num_channels, in_height, 1, in_width, 1])
    x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
    x = x.reshape([-1, num_channels, in_height * upy, in_width * upx])

    # Pad or crop.
    x = F.pad(x, [max(padx0, 0), max(padx1, 0), max(pady0, 0), max(pady1, 0)])
    height = in_height * upy + max(pady0, 0) + max(pady1, 0)
    width = in_width * upx + max(padx0, 0) + max(padx1, 0)
    x = x[:, :, max(-pady0, 0) : height - max(-pady1, 0), max(-padx0, 0) : width - max(-padx1, 0)]

    # Filter: a depthwise convolution; conv2d correlates, so the filter is flipped for a true convolution.
    f = f * (gain ** (f.ndim / 2))
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f[np.newaxis, np.newaxis].repeat([num_channels, 1] + [1] * f.ndim)
    if f.ndim == 4:
        x = F.conv2d(x, f, groups=num_channels)
    else:
        x = F.conv2d(x, f.unsqueeze(2), groups=num_channels)
        x = F.conv2d(x, f.unsqueeze(3), groups=num_channels)

    # Downsample by throwing away pixels.
    return x[:, :, ::downy, ::downx]


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up=1, down=1, padding=0, flip_filter: bool = False,
              gain: float = 1) -> torch.Tensor:
    """``upfirdn2d_reference``'s result without its wasted work (the same sums, up to float rounding).

    The reference filters a zero-stuffed image and then throws most outputs away. Here upsampling
    is a transposed convolution with stride ``up`` (only the non-zero samples are multiplied) and
    downsampling a convolution with stride ``down`` (only the kept outputs are computed); the
    result is then cropped or zero-padded to the reference's window. StyleGAN3 spends most of
    its time here: this is about five times faster on the CPU.
    """
    upx, upy = _parse_scaling(up)
    downx, downy = _parse_scaling(down)
    if f is None or ((upx > 1 or upy > 1) and (downx > 1 or downy > 1)):
        return upfirdn2d_reference(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain)
    num_channels, in_height, in_width = (int(n) for n in x.shape[1:])
    padx0, padx1, pady0, pady1 = _parse_padding(padding)
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)

    if upx > 1 or upy > 1:
        # A transposed convolution is a true convolution: the filter stays as it is unless flip_filter.
        w = f.flip(list(range(f.ndim))) if flip_filter else f
        if w.ndim == 2:
            x = F.conv_transpose2d(x, _depthwise(w, num_channels), stride=(upy, upx), groups=num_channels)
        else:
            x = F.conv_transpose2d(x, _depthwise(w[np.newaxis], num_channels), stride=(1, upx), groups=num_channels)
            x = F.conv_transpose2d(x, _depthwise(w[:, np.newaxis], num_channels), stride=(upy, 1), groups=num_channels)
        # The transposed convolution gives the full convolution of the zero-stuffed image; the
        # reference's output j is its sample j + taps - 1 - pad0 (zero where that lies outside).
        fw, fh = filter_size(f)
        x = _window(x, 3, start=fw - 1 - padx0, length=in_width * upx + padx0 + padx1 - fw + 1)
        return _window(x, 2, start=fh - 1 - pady0, length=in_height * upy + pady0 + pady1 - fh + 1)

    # Pad or crop, then correlate with the flipped filter, computing only the kept outputs.
    x = _pad_or_crop(x, padx0, padx1, pady0, pady1)
    g = f if flip_filter else f.flip(list(range(f.ndim)))
    if g.ndim == 2:
        return F.conv2d(x, _depthwise(g, num_channels), stride=(downy, downx), groups=num_channels)
    x = F.conv2d(x, _depthwise(g[np.newaxis], num_channels), stride=(1, downx), groups=num_channels)
    return F.conv2d(x, _depthwise(g[:, np.newaxis], num_channels), stride=(downy, 1), groups=num_channels)


def _depthwise(f: torch.Tensor, num_channels: int) -> torch.Tensor:
    return f[np.newaxis, np.newaxis].repeat([num_channels, 1, 1, 1])


def _window(x: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    """``x[start : start + length]`` along ``dim`` (2 or 3), zeros where that reaches outside ``x``."""
    size = int(x.shape[dim])
    first, end = max(start, 0), min(start + length, size)
    before = max(-start, 0)
    x = x.narrow(dim, first, max(end - first, 0))
    after = length - before - int(x.shape[dim])
    if before or after:
        x = F.pad(x, [before, after] if dim == 3 else [0, 0, before, after])
    return x


def _pad_or_crop(x: torch.Tensor, padx0: int, padx1: int, pady0: int, pady1: int) -> torch.Tensor:
    x = F.pad(x, [max(padx0, 0), max(padx1, 0), max(pady0, 0), max(pady1, 0)])
    height = int(x.shape[2])
    width = int(x.shape[3])
    return x[:, :, max(-pady0, 0) : height - max(-pady1, 0), max(-padx0, 0) : width - max(-padx1, 0)]


def upsample2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 2, padding=0, flip_filter: bool = False, gain: float = 1) -> torch.Tensor:
    """``upfirdn2d`` padded so the output is ``up`` times the input (official ``upfirdn2d.upsample2d``)."""
    upx, upy = _parse_scaling(up)
    padx0, padx1, pady0, pady1 = _parse_padding(padding)
    fw, fh = filter_size(f)
    pad = [padx0 + (fw + upx - 1) // 2, padx1 + (fw - upx) // 2, pady0 + (fh + upy - 1) // 2, pady1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=up, padding=pad, flip_filter=flip_filter, gain=gain * upx * upy)


# ----------------------------------------------------------------------------- convolution


def _conv2d_wrapper(x, w, stride=1, padding=0, groups=1, transpose=False, flip_weight=True):
    # conv2d correlates (flip_weight=True); flip_weight=False asks for a true convolution.
    if not flip_weight:
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False) -> torch.Tensor:
    """Convolution with optional FIR up/downsampling, padded once (official ``conv2d_resample``, same fast paths)."""
    out_channels, in_channels_per_group, kh, kw = (int(n) for n in w.shape)
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _parse_padding(padding)

    # Adjust padding to account for up/downsampling.
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    # 1x1 convolution with downsampling only: downsample first, then convolve.
    if kw == 1 and kh == 1 and (down > 1 and up == 1):
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv2d_wrapper(x, w, groups=groups, flip_weight=flip_weight)

    # 1x1 convolution with upsampling only: convolve first, then upsample.
    if kw == 1 and kh == 1 and (up > 1 and down == 1):
        x = _conv2d_wrapper(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up**2, flip_filter=flip_filter)

    # Downsampling only: strided convolution.
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1], flip_filter=flip_filter)
        return _conv2d_wrapper(x, w, stride=down, groups=groups, flip_weight=flip_weight)

    # Upsampling: transposed strided convolution, then the filter.
    if up > 1:
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_channels_per_group, kh, kw)
            w = w.transpose(1, 2)
            w = w.reshape(groups * in_channels_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv2d_wrapper(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up**2, flip_filter=flip_filter)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
        return x

    # No resampling, symmetric padding: a plain convolution.
    if up == 1 and down == 1 and px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv2d_wrapper(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)

    # Anything else: the generic reference path.
    x = upfirdn2d(x, f if up > 1 else None, up=up, padding=[px0, px1, py0, py1], gain=up**2, flip_filter=flip_filter)
    x = _conv2d_wrapper(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
    return x


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
) -> torch.Tensor:
    """StyleGAN2's modulated convolution (NVlabs ``training/networks.py``), computed in float32.

    ``weight`` is ``[out, in, k, k]``, ``styles`` ``[batch, in]``. Fused: each sample's weight is
    scaled by its styles (and demodulated) and the batch runs as one grouped convolution, as the
    official eval-mode networks do. Not fused (and always while exporting): the activations are
    scaled before and after one shared convolution.
    """
    in_channels, kh, kw = int(weight.shape[1]), int(weight.shape[2]), int(weight.shape[3])

    # Per-sample weights and demodulation coefficients.
    w = dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles[:, np.newaxis, :, np.newaxis, np.newaxis]  # [NOIkk]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [NO]
    fused_modconv = fused_modconv and not exporting()

    if not fused_modconv:
        x = x * styles.to(x.dtype)[:, :, np.newaxis, np.newaxis]
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding, flip_weight=flip_weight)
        if demodulate:
            x = x * dcoefs.to(x.dtype)[:, :, np.newaxis, np.newaxis]
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x

    if demodulate:
        w = w * dcoefs[:, :, np.newaxis, np.newaxis, np.newaxis]
    batch_size = int(x.shape[0])
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, down=down, padding=padding, groups=batch_size,
                        flip_weight=flip_weight)
    x = x.reshape(batch_size, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise
    return x


# ----------------------------------------------------------------------------- noise


def weighted_noise(weights: torch.Tensor, stored: torch.Tensor) -> torch.Tensor:
    """``stored * weights[:, 0] + fresh * weights[:, 1]``, per sample: ``(N, 1, H, W)`` noise before its strength.

    ``weights`` is ``(N, 2)``: (1, 0) is the official ``noise_mode="const"`` (the stored noise), (0, 1)
    ``"random"`` (fresh normal noise) and (0, 0) ``"none"``, each giving the official values exactly
    (a product with 0 adds a signed zero). ``stored`` is ``(H, W)`` (NVlabs) or ``(1, 1, H, W)``
    (rosinality). Fresh noise is drawn only when a weight asks for it, and always while exporting, so
    that an exported graph keeps the random branch (ONNX ``RandomNormalLike``).
    """
    weights = weights.to(stored.dtype)
    noise = stored.reshape(1, 1, *stored.shape[-2:]) * weights[:, 0].reshape(-1, 1, 1, 1)
    if exporting() or bool((weights[:, 1] != 0).any()):
        noise = noise + torch.randn_like(noise) * weights[:, 1].reshape(-1, 1, 1, 1)
    return noise


# ----------------------------------------------------------------------------- truncation


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float | torch.Tensor, cutoff: int | None = None) -> torch.Tensor:
    """``w_avg.lerp(ws, psi)`` on the first ``cutoff`` of the ``num_ws`` copies (all when None), as the official mapping.

    ``psi`` may be a tensor (an exported graph takes it as an input); lerp with weight 1 returns
    ``ws`` exactly, so psi 1 leaves the ws untouched either way.
    """
    if not isinstance(psi, torch.Tensor):
        if psi == 1:
            return ws
        psi = torch.tensor(float(psi), dtype=ws.dtype, device=ws.device)
    psi = psi.to(ws.dtype).reshape([])
    if cutoff is not None:
        # the official in-place x[:, :cutoff] = lerp(...), as a per-copy weight (1 = untouched)
        first = torch.arange(ws.shape[1], device=ws.device) < cutoff
        psi = torch.where(first, psi, torch.ones_like(psi))[:, np.newaxis]
    return w_avg.lerp(ws, psi)


# ----------------------------------------------------------------------------- StyleGAN3


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor | None = None,
    fd: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding=0,
    gain: float = math.sqrt(2),
    slope: float = 0.2,
    clamp: float | None = None,
    flip_filter: bool = False,
) -> torch.Tensor:
    """StyleGAN3's alias-free activation: bias, upsample with ``fu``, leaky ReLU (gain, clamp), downsample with ``fd``.

    The official reference implementation (``_filtered_lrelu_ref``) op for op; ``padding`` applies
    to the upsampled image.
    """
    x = bias_act(x, b)
    x = upfirdn2d(x, fu, up=up, padding=_parse_padding(padding), gain=up**2, flip_filter=flip_filter)
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d(x, fd, down=down, flip_filter=flip_filter)
