"""StyleGAN3 (alias-free) as NVlabs/stylegan3 builds it, configs T and R.

Paper: Karras et al., "Alias-Free Generative Adversarial Networks", NeurIPS 2021 (arXiv:2106.12423).
Official code mirrored: https://github.com/NVlabs/stylegan3 at c233a91,
``training/networks_stylegan3.py`` (``modulated_conv2d``, ``FullyConnectedLayer``,
``MappingNetwork``, ``SynthesisInput``, ``SynthesisLayer``, ``SynthesisNetwork``, ``Generator``)
with the official attribute names (layers ``L<idx>_<size>_<channels>``), so ``G_ema``'s state dict
loads with ``strict=True``; ``gen_images.py`` for the seeds and the ``--translate`` / ``--rotate``
transform.

Checkpoints read: NVlabs network pickles (``network-snapshot-<kimg>.pkl``, the released
``stylegan3-t-ffhq-1024x1024.pkl``, ``stylegan3-r-afhqv2-512x512.pkl``, ...) through
``ganstudio.nvlabs_pickle``, which never runs the code stored in them. The layer filters,
Fourier frequencies and phases, and ``magnitude_ema`` are buffers of the state dict; the filters
are designed here only for a freshly built network, as the official code designs them (SciPy's
Kaiser-window ``firwin``; a jinc filter for config R's non-critically-sampled layers).

Use: ``ws = G.mapping(z, c, truncation_psi)`` -> ``(N, num_ws, w_dim)``; ``img = G.synthesis(ws,
transform)`` -> ``(N, img_channels, R, R)`` in about -1..1. ``transform`` is the 3x3 matrix
``gen_images.py`` writes into ``synthesis.input.transform`` before every image:
``input_transform(translate, rotate)`` = ``inv(make_transform(translate, rotate))``; without it
the stored buffer (identity in every snapshot) is used, which is what gen_images.py's defaults give.

Quirks:
- Seeds as in StyleGAN2-ADA: ``np.random.RandomState(seed).randn(1, z_dim)``, float64; truncation
  ``w_avg.lerp(w, psi)`` on all ``num_ws`` (16 with the default 14 layers) ws.
- No noise inputs: ``noise_mode`` is accepted and changes nothing, as in the official code.
- ``num_fp16_res``: the official layers run in float16 on CUDA only; here always float32, with
  ``conv_clamp`` (256) applied in every layer as the official code does.
- The modulated convolution pre-normalises the styles by their RMS over the whole batch; with
  demodulation that scale cancels up to the 1e-8 epsilon, so batches and single samples agree
  to float rounding.
- The input's sampling grid is ``affine_grid``'s, written out (same operations) so it exports.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models.inputs import (  # noqa: F401 - re-exported
    class_labels,
    input_transform,
    make_transform,
    nvlabs_z,
)
from ganstudio.models.keys import strip_prefixes
from ganstudio.models.spec import ArchitectureSpec, LatentSpec, ModelInfo, config_from
from ganstudio.models.stylegan_ops import bias_act, exporting, filtered_lrelu, truncate

SPEC = ArchitectureSpec(
    arch="stylegan3",
    title="StyleGAN3 (NVlabs/stylegan3, configs T and R)",
    tasks=("generate",),
    container=True,
    networks=("mapping", "synthesis"),
    file_names=("network-snapshot-*.pkl", "*.pkl"),
    takes_init_kwargs=True,
)
NETWORKS = SPEC.networks


# ----------------------------------------------------------------------------- layers


def modulated_conv2d(x: torch.Tensor, w: torch.Tensor, s: torch.Tensor, demodulate: bool = True, padding: int = 0,
                     input_gain: torch.Tensor | None = None) -> torch.Tensor:
    """StyleGAN3's modulated convolution: weights and styles pre-normalised, demodulated, scaled by ``input_gain``.

    Fused (one grouped convolution over the batch) as the official code; while exporting, the
    same sums as scaled activations around one shared convolution (see ``stylegan_ops``).
    """
    in_channels, kh, kw = (int(n) for n in w.shape[1:])
    if demodulate:
        w = w * w.square().mean([1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    shared = w
    w = w.unsqueeze(0) * s.unsqueeze(1).unsqueeze(3).unsqueeze(4)  # [NOIkk]
    dcoefs = None
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [NO]

    if exporting():
        scale = s if input_gain is None else s * input_gain
        x = F.conv2d(x * scale.unsqueeze(2).unsqueeze(3), shared.to(x.dtype), padding=padding)
        return x * dcoefs.unsqueeze(2).unsqueeze(3) if dcoefs is not None else x

    batch_size = int(x.shape[0])
    if dcoefs is not None:
        w = w * dcoefs.unsqueeze(2).unsqueeze(3).unsqueeze(4)
    if input_gain is not None:
        input_gain = input_gain.expand(batch_size, in_channels)
        w = w * input_gain.unsqueeze(1).unsqueeze(3).unsqueeze(4)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = F.conv2d(x, w.to(x.dtype), padding=padding, groups=batch_size)
    return x.reshape(batch_size, -1, *x.shape[2:])


class FullyConnectedLayer(nn.Module):
    """Linear layer with equalized learning rate (StyleGAN3's version: weight_init, per-feature bias_init)."""

    def __init__(self, in_features: int, out_features: int, activation: str = "linear", bias: bool = True,
                 lr_multiplier: float = 1, weight_init: float = 1, bias_init: float | Sequence[float] = 0):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) * (weight_init / lr_multiplier))
        bias_init = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features])
        self.bias = nn.Parameter(torch.from_numpy(bias_init / lr_multiplier)) if bias else None
        self.weight_gain = float(lr_multiplier / np.sqrt(in_features))
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class MappingNetwork(nn.Module):
    """z (and a class embedding) -> w, broadcast to ``num_ws`` copies, truncated towards ``w_avg``."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 2,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.998):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta

        self.embed = FullyConnectedLayer(self.c_dim, self.w_dim) if self.c_dim > 0 else None
        features = [self.z_dim + (self.w_dim if self.c_dim > 0 else 0)] + [self.w_dim] * self.num_layers
        for idx, in_features, out_features in zip(range(num_layers), features[:-1], features[1:], strict=True):
            layer = FullyConnectedLayer(in_features, out_features, activation="lrelu", lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float | torch.Tensor = 1,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """ws ``(N, num_ws, w_dim)`` for z ``(N, z_dim)`` (float64 or float32) and one-hot c ``(N, c_dim)``."""
        x = z.to(torch.float32)
        x = x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        if self.c_dim > 0:
            y = self.embed(c.to(torch.float32))
            y = y * (y.square().mean(1, keepdim=True) + 1e-8).rsqrt()
            x = torch.cat([x, y], dim=1)
        elif c is not None and exporting():
            # The exporter drops an unused input; adding c's empty sum (0) keeps an unconditional
            # mapping's graph taking (z, c, truncation_psi) like a conditional one's.
            x = x + c.to(torch.float32).sum(dim=1, keepdim=True)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        return truncate(x, self.w_avg, truncation_psi, truncation_cutoff)


def _affine_grid(theta: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """``F.affine_grid(theta[None], [1, 1, height, width], align_corners=False)`` with its own operations (it exports)."""

    def linspace_from_neg_one(steps: int) -> torch.Tensor:
        return torch.linspace(-1, 1, steps, device=theta.device) * (steps - 1) / steps

    base = torch.stack([
        linspace_from_neg_one(width).unsqueeze(0).expand(height, width),
        linspace_from_neg_one(height).unsqueeze(1).expand(height, width),
        torch.ones(height, width, device=theta.device),
    ], dim=-1)
    return base.reshape(1, height * width, 3).bmm(theta.unsqueeze(0).transpose(1, 2)).reshape(1, height, width, 2)


class SynthesisInput(nn.Module):
    """Fourier features: a learned rotation and translation from w, then the user's ``transform``."""

    def __init__(self, w_dim: int, channels: int, size: int | Sequence[int], sampling_rate: float, bandwidth: float):
        super().__init__()
        self.w_dim = w_dim
        self.channels = channels
        self.size = tuple(int(n) for n in np.broadcast_to(np.asarray(size), [2]))
        self.sampling_rate = float(sampling_rate)
        self.bandwidth = float(bandwidth)

        # Random frequencies from a uniform 2-D disc (replaced by the checkpoint's).
        freqs = torch.randn([self.channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs /= radii * radii.square().exp().pow(0.25)
        freqs *= bandwidth
        phases = torch.rand([self.channels]) - 0.5

        self.weight = nn.Parameter(torch.randn([self.channels, self.channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))  # user-specified inverse transform of the image
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    def forward(self, w: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        transform = self.transform if transform is None else transform.to(torch.float32)
        transforms = transform.unsqueeze(0) if transform.ndim == 2 else transform  # [batch, row, col]
        freqs = self.freqs.unsqueeze(0)  # [batch, channel, xy]
        phases = self.phases.unsqueeze(0)  # [batch, channel]

        # Learned transformation: t = (r_c, r_s, t_x, t_y), the rotation normalised.
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        # The official fills eye(3) copies in place; stacking gives the same matrices and exports.
        zeros, ones = torch.zeros_like(t[:, 0]), torch.ones_like(t[:, 0])
        m_r = torch.stack([torch.stack([t[:, 0], -t[:, 1], zeros], 1),  # inverse rotation wrt. the image
                           torch.stack([t[:, 1], t[:, 0], zeros], 1),
                           torch.stack([zeros, zeros, ones], 1)], 1)
        m_t = torch.stack([torch.stack([ones, zeros, -t[:, 2]], 1),  # inverse translation wrt. the image
                           torch.stack([zeros, ones, -t[:, 3]], 1),
                           torch.stack([zeros, zeros, ones], 1)], 1)
        transforms = m_r @ m_t @ transforms  # rotate, then translate, then the user's transform

        # Transform the frequencies; dampen those the user's transform pushes out of band.
        phases = phases + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        # Sampling grid, Fourier features, and the trainable mapping.
        theta = torch.tensor([[0.5 * self.size[0] / self.sampling_rate, 0, 0],
                              [0, 0.5 * self.size[1] / self.sampling_rate, 0]], device=w.device)
        grids = _affine_grid(theta, self.size[0], self.size[1])
        x = (grids.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [batch, h, w, channel]
        x = x + phases.unsqueeze(1).unsqueeze(2)
        x = torch.sin(x * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        weight = self.weight / np.sqrt(self.channels)
        x = x @ weight.t()
        return x.permute(0, 3, 1, 2)  # [batch, channel, height, width]


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    """The official filter design: None (identity) for one tap, a separable Kaiser ``firwin``, or config R's jinc."""
    import scipy.signal
    import scipy.special

    if numtaps == 1:
        return None
    if not radial:
        f = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(f, dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    w = np.kaiser(numtaps, beta)
    f *= np.outer(w, w)
    f /= np.sum(f)
    return torch.as_tensor(f, dtype=torch.float32)


class SynthesisLayer(nn.Module):
    """Modulated convolution, then bias and leaky ReLU at a higher sampling rate between two low-pass filters."""

    def __init__(self, w_dim: int, is_torgb: bool, is_critically_sampled: bool, use_fp16: bool, in_channels: int,
                 out_channels: int, in_size: int, out_size: int, in_sampling_rate: float, out_sampling_rate: float,
                 in_cutoff: float, out_cutoff: float, in_half_width: float, out_half_width: float,
                 conv_kernel: int = 3, filter_size: int = 6, lrelu_upsampling: int = 2, use_radial_filters: bool = False,
                 conv_clamp: float | None = 256, magnitude_ema_beta: float = 0.999):
        super().__init__()
        self.w_dim = w_dim
        self.is_torgb = is_torgb
        self.is_critically_sampled = is_critically_sampled
        self.use_fp16 = use_fp16  # kept for reference only: the studio always computes in float32
        self.in_channels = in_channels
        self.out_channels = out_channels
        in_size = np.broadcast_to(np.asarray(in_size), [2])
        out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.in_size = tuple(int(n) for n in in_size)
        self.out_size = tuple(int(n) for n in out_size)
        self.in_sampling_rate = in_sampling_rate
        self.out_sampling_rate = out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta

        self.affine = FullyConnectedLayer(self.w_dim, self.in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([self.out_channels, self.in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([self.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        # Upsampling filter.
        self.up_factor = int(np.rint(self.tmp_sampling_rate / self.in_sampling_rate))
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not self.is_torgb else 1
        self.register_buffer("up_filter", design_lowpass_filter(
            numtaps=self.up_taps, cutoff=in_cutoff, width=in_half_width * 2, fs=self.tmp_sampling_rate))
        # Downsampling filter (radially symmetric in config R, except in the critically sampled layers).
        self.down_factor = int(np.rint(self.tmp_sampling_rate / self.out_sampling_rate))
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not self.is_torgb else 1
        self.down_radial = use_radial_filters and not self.is_critically_sampled
        self.register_buffer("down_filter", design_lowpass_filter(
            numtaps=self.down_taps, cutoff=out_cutoff, width=out_half_width * 2, fs=self.tmp_sampling_rate,
            radial=self.down_radial))

        # Padding: the output grid sits symmetrically in the upsampled one (the paper's appendix C.3).
        pad_total = (out_size - 1) * self.down_factor + 1
        pad_total -= (in_size + self.conv_kernel - 1) * self.up_factor
        pad_total += self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """``noise_mode`` is accepted for the NVlabs calling convention; StyleGAN3 has no noise."""
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * float(1 / np.sqrt(self.in_channels * (self.conv_kernel**2)))
        x = modulated_conv2d(x.to(torch.float32), self.weight, styles, padding=self.conv_kernel - 1,
                             demodulate=not self.is_torgb, input_gain=input_gain)
        gain = 1 if self.is_torgb else np.sqrt(2)
        slope = 1 if self.is_torgb else 0.2
        return filtered_lrelu(x, fu=self.up_filter, fd=self.down_filter, b=self.bias.to(x.dtype), up=self.up_factor,
                              down=self.down_factor, padding=self.padding, gain=gain, slope=slope, clamp=self.conv_clamp)


@dataclasses.dataclass(frozen=True)
class LayerPlan:
    """One synthesis layer's sizes, rates and cutoffs, as ``SynthesisNetwork`` computes them."""

    name: str
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    is_torgb: bool
    is_critically_sampled: bool
    use_fp16: bool


def plan_layers(img_resolution: int, img_channels: int, channel_base: int, channel_max: int, num_layers: int = 14,
                num_critical: int = 2, first_cutoff: float = 2, first_stopband: float = 2**2.1,
                last_stopband_rel: float = 2**0.3, margin_size: int = 10, num_fp16_res: int = 4) -> tuple[dict, list[LayerPlan]]:
    """The official geometric progression of cutoffs and stopbands: the input's arguments and every layer's plan."""
    last_cutoff = img_resolution / 2
    last_stopband = last_cutoff * last_stopband_rel
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + margin_size * 2
    sizes[-2:] = img_resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels

    input_args = {"channels": int(channels[0]), "size": int(sizes[0]), "sampling_rate": sampling_rates[0],
                  "bandwidth": cutoffs[0]}
    plans = []
    for idx in range(num_layers + 1):
        prev = max(idx - 1, 0)
        plans.append(LayerPlan(
            name=f"L{idx}_{int(sizes[idx])}_{int(channels[idx])}",
            in_channels=int(channels[prev]), out_channels=int(channels[idx]),
            in_size=int(sizes[prev]), out_size=int(sizes[idx]),
            in_sampling_rate=int(sampling_rates[prev]), out_sampling_rate=int(sampling_rates[idx]),
            in_cutoff=cutoffs[prev], out_cutoff=cutoffs[idx],
            in_half_width=half_widths[prev], out_half_width=half_widths[idx],
            is_torgb=idx == num_layers, is_critically_sampled=idx >= num_layers - num_critical,
            use_fp16=bool(sampling_rates[idx] * (2**num_fp16_res) > img_resolution),
        ))
    return input_args, plans


class SynthesisNetwork(nn.Module):
    """ws ``(N, num_ws, w_dim)`` -> image: Fourier input, ``num_layers`` alias-free layers, ToRGB, output scale."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_layers: int = 14, num_critical: int = 2, first_cutoff: float = 2,
                 first_stopband: float = 2**2.1, last_stopband_rel: float = 2**0.3, margin_size: int = 10,
                 output_scale: float = 0.25, num_fp16_res: int = 4, **layer_kwargs):
        super().__init__()
        self.w_dim = w_dim
        self.num_ws = num_layers + 2
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.num_layers = num_layers
        self.output_scale = output_scale
        input_args, plans = plan_layers(img_resolution, img_channels, channel_base, channel_max, num_layers, num_critical,
                                        first_cutoff, first_stopband, last_stopband_rel, margin_size, num_fp16_res)
        self.input = SynthesisInput(w_dim=self.w_dim, **input_args)
        self.layer_names = []
        for plan in plans:
            layer = SynthesisLayer(
                w_dim=self.w_dim, is_torgb=plan.is_torgb, is_critically_sampled=plan.is_critically_sampled,
                use_fp16=plan.use_fp16, in_channels=plan.in_channels, out_channels=plan.out_channels,
                in_size=plan.in_size, out_size=plan.out_size, in_sampling_rate=plan.in_sampling_rate,
                out_sampling_rate=plan.out_sampling_rate, in_cutoff=plan.in_cutoff, out_cutoff=plan.out_cutoff,
                in_half_width=plan.in_half_width, out_half_width=plan.out_half_width, **layer_kwargs)
            setattr(self, plan.name, layer)
            self.layer_names.append(plan.name)

    def forward(self, ws: torch.Tensor, transform: torch.Tensor | None = None, noise_mode: str = "const") -> torch.Tensor:
        """Image ``(N, img_channels, R, R)``; ``transform`` (3x3, or N x 3 x 3) replaces the stored ``input.transform``."""
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0], transform)
        for name, w in zip(self.layer_names, ws[1:], strict=True):
            x = getattr(self, name)(x, w, noise_mode=noise_mode)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)


class Generator(nn.Module):
    """The official ``Generator``: ``synthesis`` and ``mapping``, in that order (as in the state dict)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: Mapping | None = None, **synthesis_kwargs):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **dict(mapping_kwargs or {}))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, noise_mode: str = "const",
                transform: torch.Tensor | None = None) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, transform, noise_mode=noise_mode)


# ----------------------------------------------------------------------------- config


@dataclasses.dataclass(frozen=True)
class Config:
    """Generator hyper-parameters; defaults are the released ``stylegan3-t-ffhq-1024x1024.pkl``'s.

    Config R is ``conv_kernel=1, use_radial_filters=True`` with ``channel_base`` and
    ``channel_max`` doubled (train.py ``--cfg=stylegan3-r``).
    """

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 1024
    img_channels: int = 3
    mapping_layers: int = 2
    channel_base: int = 32768
    channel_max: int = 512
    conv_kernel: int = 3
    use_radial_filters: bool = False
    num_layers: int = 14
    num_critical: int = 2
    first_cutoff: float = 2
    first_stopband: float = 2**2.1
    last_stopband_rel: float = 2**0.3
    margin_size: int = 10
    output_scale: float = 0.25
    num_fp16_res: int = 4  # CUDA float16 in the official code; float32 here, it only documents the file
    conv_clamp: float | None = 256
    filter_size: int = 6
    lrelu_upsampling: int = 2


_SYNTHESIS_FIELDS = ("channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff", "first_stopband",
                     "last_stopband_rel", "margin_size", "output_scale", "num_fp16_res")
_LAYER_FIELDS = ("conv_kernel", "filter_size", "lrelu_upsampling", "use_radial_filters", "conv_clamp")


def fixed_size(config: Config) -> int:
    """The only image size of this config."""
    return config.img_resolution


def output_size(config: Config) -> int:
    return config.img_resolution


def num_ws(config: Config) -> int:
    return config.num_layers + 2


def _synthesis_kwargs(config: Config) -> dict:
    return {name: getattr(config, name) for name in (*_SYNTHESIS_FIELDS, *_LAYER_FIELDS)}


def build(config: Config) -> Generator:
    """The generator with the official module names (``synthesis.input``, ``synthesis.L<i>_<size>_<ch>``, ``mapping.fc<i>``)."""
    return Generator(z_dim=config.z_dim, c_dim=config.c_dim, w_dim=config.w_dim, img_resolution=config.img_resolution,
                     img_channels=config.img_channels, mapping_kwargs={"num_layers": config.mapping_layers},
                     **_synthesis_kwargs(config))


def inference_networks(model: Generator, role: str = "G") -> dict[str, nn.Module]:
    """Entry points: ``mapping(z, c, truncation_psi)`` -> ws, ``synthesis(ws, transform)`` -> image."""
    return {name: getattr(model, name) for name in NETWORKS}


def init_weights(module: nn.Module) -> None:
    """The official initialisation is the layers' own (equalised learning rate): nothing to add."""


def describe(config: Config | Mapping) -> ModelInfo:
    """gen_images.py: (x * 127.5 + 128).clamp(0, 255) truncated = (x + 1) / 2 * 255 rounded; a seed is
    np.random.RandomState(seed).randn(1, z_dim); truncation psi towards the stored w_avg; a class is one-hot."""
    config = config_from(Config, config)
    side = config.img_resolution
    classes = config.c_dim
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="style",
        preprocessing={"input_range": None, "output_range": [-1.0, 1.0], "output_rounding": "round",
                       "size_multiple": None, "fixed_size": side, "output_size": side},
        labels=tuple(str(i) for i in range(classes)),
        label_kind="classes" if classes else "",
        latent=LatentSpec(size=config.z_dim, shape="flat", seed_rule="nvlabs", truncation="psi",
                          num_classes=classes, class_input="onehot"),
        native_size=side,
        # no noise inputs (every noise mode gives the same image); translate / rotate move the Fourier input
        options={"num_ws": num_ws(config), "w_dim": config.w_dim, "mapping_inputs": ["z", "c", "truncation_psi"],
                 "synthesis_inputs": ["ws", "transform"], "noise_modes": [], "input_transform": True},
    )


def init_kwargs(config: Config) -> dict:
    """The official constructor's keyword arguments for ``config`` (as a pickle's ``G_ema`` stores them)."""
    defaults = Config()
    kwargs = {"z_dim": config.z_dim, "w_dim": config.w_dim, "mapping_kwargs": {"num_layers": config.mapping_layers},
              "c_dim": config.c_dim, "img_resolution": config.img_resolution, "img_channels": config.img_channels}
    kwargs.update({name: value for name, value in _synthesis_kwargs(config).items()
                   if name in ("channel_base", "channel_max") or value != getattr(defaults, name)})
    return kwargs


_IGNORED_KWARGS = {"magnitude_ema_beta", "w_avg_beta"}  # training-time moving averages
_FIXED_KWARGS = {"lr_multiplier": 0.01}


def config_from_init_kwargs(kwargs: Mapping) -> Config:
    """A config from a pickle's ``init_kwargs`` (the synthesis arguments are top-level in StyleGAN3).

    Raises:
        CheckpointError: an argument this module does not know is set.
    """
    kwargs = dict(kwargs)
    mapping = dict(kwargs.pop("mapping_kwargs", None) or {})
    required = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
    missing = [key for key in required if key not in kwargs]
    if missing:
        raise CheckpointError(f"the pickle's G_ema init_kwargs lack {', '.join(missing)}; it is not a StyleGAN3 generator.")
    values = {key: int(kwargs.pop(key)) for key in required}
    values["mapping_layers"] = int(mapping.pop("num_layers", 2))
    for name in (*_SYNTHESIS_FIELDS, *_LAYER_FIELDS):
        if name in kwargs:
            values[name] = kwargs.pop(name)
    leftover = {key: value for key, value in {**kwargs, **mapping}.items()
                if key not in _IGNORED_KWARGS and _FIXED_KWARGS.get(key, object()) != value}
    if leftover:
        raise CheckpointError(
            f"this StyleGAN3 generator was built with {leftover}, which GAN Studio does not implement; "
            "its images would not match the official code's."
        )
    return Config(**values)


# ----------------------------------------------------------------------------- reading checkpoints

_LAYER_KEY = re.compile(r"^synthesis\.(L(\d+)_(\d+)_(\d+))\.weight$")
_FC_KEY = re.compile(r"^mapping\.fc(\d+)\.weight$")


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for a StyleGAN3 generator: ``synthesis.input.freqs``, ``mapping.fc0`` and ``mapping.w_avg``."""
    return all(key in state_dict for key in ("synthesis.input.freqs", "mapping.fc0.weight", "mapping.w_avg"))


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.`` / ``_orig_mod.``; from a flattened snapshot (``G_ema.*``, ``G.*``, ``D.*``) keep ``G_ema``'s keys."""
    state_dict = strip_prefixes(state_dict)
    if any(key.startswith("G_ema.") for key in state_dict):
        return {key[len("G_ema."):]: value for key, value in state_dict.items() if key.startswith("G_ema.")}
    return dict(state_dict)


def infer_config(state_dict: Mapping[str, torch.Tensor], *, init_kwargs: Mapping | None = None) -> Config:
    """The config from a pickle's ``init_kwargs`` or, without them, from the layer names and shapes.

    Shapes give the sizes, widths, kernel and filter kind; the hyper-parameters that do not show
    (cutoffs, margins, ``output_scale``, ``conv_clamp``) are the official defaults, checked by
    rebuilding the layer names. ``channel_base`` is the smallest power of two giving the widths.

    Raises:
        CheckpointError: not a StyleGAN3 generator, or built with options that need the pickle's init_kwargs.
    """
    found = _layers_in(state_dict)
    if init_kwargs is not None:
        config = config_from_init_kwargs(init_kwargs)
        expected = [plan.name for plan in _plans(config)]
        if expected != found:
            raise CheckpointError(f"the pickle's init_kwargs give layers {expected}, its weights have {found}.")
        _check_mapping(state_dict, config)
        return config

    names = [_LAYER_KEY.match(f"synthesis.{name}.weight") for name in found]
    last_size, img_channels = int(names[-1].group(3)), int(names[-1].group(4))
    kernel = int(state_dict[f"synthesis.{found[0]}.weight"].shape[-1])
    radial = any(key.startswith("synthesis.") and key.endswith(".down_filter") and value.ndim == 2
                 for key, value in state_dict.items())
    channel_max = max(int(name.group(4)) for name in names[:-1])
    base = {"img_resolution": last_size, "img_channels": img_channels, "num_layers": len(found) - 1,
            "conv_kernel": kernel, "use_radial_filters": radial, "channel_max": channel_max}
    for exponent in range(4, 24):
        config = Config(**base, channel_base=2**exponent)
        if [plan.name for plan in _plans(config)] == found:
            return _check_mapping(state_dict, config, infer=True)
    raise CheckpointError(
        f"StyleGAN3 layers {found} do not follow the official cutoffs and widths for any channel_base; "
        "the generator was built with other hyper-parameters. Load it from its NVlabs pickle, whose init_kwargs give them."
    )


def _layers_in(state_dict: Mapping[str, torch.Tensor]) -> list[str]:
    if not matches(state_dict):
        raise CheckpointError(
            "not a StyleGAN3 generator: expected 'synthesis.input.freqs', 'mapping.fc0.weight' and 'mapping.w_avg' "
            "(the G_ema network of an NVlabs pickle)."
        )
    layers = sorted((int(m.group(2)), m.group(1)) for key in state_dict if (m := _LAYER_KEY.match(key)))
    if not layers or [index for index, _ in layers] != list(range(len(layers))):
        raise CheckpointError(f"StyleGAN3 synthesis layers should be L0_*, L1_*, ...; found {[n for _, n in layers]}.")
    return [name for _, name in layers]


def _check_mapping(state_dict: Mapping[str, torch.Tensor], config: Config, infer: bool = False) -> Config:
    """The mapping's sizes from the shapes; with ``infer`` they complete the config, else they must agree with it."""
    fc_indices = sorted(int(m.group(1)) for key in state_dict if (m := _FC_KEY.match(key)))
    if fc_indices != list(range(len(fc_indices))):
        raise CheckpointError(f"StyleGAN3 mapping layers are not numbered fc0, fc1, ...: found {fc_indices}.")
    w_dim = int(state_dict[f"mapping.fc{len(fc_indices) - 1}.weight"].shape[0])
    embed = state_dict.get("mapping.embed.weight")
    c_dim = int(embed.shape[1]) if embed is not None else 0
    z_dim = int(state_dict["mapping.fc0.weight"].shape[1]) - (w_dim if c_dim else 0)
    shapes = {"z_dim": z_dim, "c_dim": c_dim, "w_dim": w_dim, "mapping_layers": len(fc_indices)}
    if infer:
        return dataclasses.replace(config, **shapes)
    for name, value in shapes.items():
        if getattr(config, name) != value:
            raise CheckpointError(f"the pickle's init_kwargs say {name}={getattr(config, name)}, its weights say {value}.")
    return config


def _plans(config: Config) -> list[LayerPlan]:
    return plan_layers(config.img_resolution, config.img_channels, config.channel_base, config.channel_max,
                       config.num_layers, config.num_critical, config.first_cutoff, config.first_stopband,
                       config.last_stopband_rel, config.margin_size, config.num_fp16_res)[1]


# ----------------------------------------------------------------------------- inputs as the official scripts make them


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """``np.random.RandomState(seed).randn(1, z_dim)``: float64 ``(1, z_dim)``, as gen_images.py draws it."""
    return nvlabs_z(seed, z_dim)


def example_inputs(config: Config, network: str = "synthesis", *, batch: int = 1, size: int | None = None) -> dict[str, torch.Tensor]:
    """Random valid inputs of one network: ``mapping`` (z, c, truncation_psi) or ``synthesis`` (ws, transform).

    Raises:
        ValueError: an unknown network.
    """
    generator = torch.Generator().manual_seed(0)
    if network == "mapping":
        c = torch.zeros(batch, config.c_dim)
        if config.c_dim:
            c[torch.arange(batch), torch.randint(0, config.c_dim, (batch,), generator=generator)] = 1
        return {"z": torch.randn(batch, config.z_dim, generator=generator), "c": c, "truncation_psi": torch.tensor(0.7)}
    if network == "synthesis":
        return {"ws": torch.randn(batch, num_ws(config), config.w_dim, generator=generator),
                "transform": torch.from_numpy(input_transform((0.1, -0.05), 10.0))}
    raise ValueError(f"unknown StyleGAN3 network '{network}'. Known: {', '.join(NETWORKS)}.")
