"""StyleGAN2 as rosinality/stylegan2-pytorch builds it, the most used PyTorch port of StyleGAN2.

Paper: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
(arXiv:1912.04958).
Official code mirrored: https://github.com/rosinality/stylegan2-pytorch at bef283a, ``model.py``
(``PixelNorm``, ``EqualLinear``, ``ModulatedConv2d``, ``NoiseInjection``, ``ConstantInput``,
``StyledConv``, ``ToRGB``, ``Upsample``, ``Blur``, ``Generator``) and ``op/fused_act.py``
(``FusedLeakyReLU``, its CPU branch), with the official attribute names, so ``g_ema`` loads with
``strict=True``. ``op/upfirdn2d.py``'s CPU branch is ``stylegan_ops.upfirdn2d`` with a 2-D kernel.

Checkpoints read (``torch.load(weights_only=True)``, see ``ganstudio.checkpoints``):
- ``train.py``'s ``checkpoint/<iter>.pt`` = ``{g, d, g_ema, g_optim, d_optim, args, ada_aug_p}``;
  ``args`` is an ``argparse.Namespace``, the one class the safe reader allows besides tensors.
  ``g_ema`` is the network every script samples from; ``normalize_keys`` keeps it.
- ``convert_weight.py``'s ``<name>.pt`` = ``{g_ema, latent_avg}`` (the converted NVIDIA releases,
  e.g. ``stylegan2-ffhq-config-f.pt``); ``latent_avg`` becomes a buffer of the built generator.
- A bare ``g_ema`` state dict.
Nothing else is stored: ``size``, ``n_mlp``, ``style_dim`` and every width come from the shapes.

Use: ``networks(model)`` gives ``mapping(z, truncation_psi, truncation_latent)`` -> ws
``(N, n_latent, style_dim)`` and ``synthesis(ws)`` -> image ``(N, 3, size, size)`` in about -1..1.
``Generator.forward`` keeps the official signature (a list of styles, ``inject_index``,
``truncation``, ``randomize_noise``, ...).

Quirks:
- Widths: ``model.py`` hard-codes 512 channels up to 32 px and ``channel_multiplier`` x 256 / 128 /
  64 / 32 / 16 above; files made from an edited ``model.py`` have other widths, so ``Config.channels``
  (our addition) holds them when they break the rule.
- Seeds: ``generate.py`` has none (``torch.randn`` on CUDA); the studio uses
  ``torch.manual_seed(seed); torch.randn(n, style_dim)`` on the CPU. ``TorchCPURandom`` replays
  that generator in NumPy, so a seed gives the same z without torch (e.g. with ONNX Runtime).
- Truncation: ``truncation_latent + psi * (w - truncation_latent)`` on every style, before mixing.
  ``generate.py`` computes ``truncation_latent = g_ema.mean_latent(4096)`` after seeding and BEFORE
  drawing z (``generate_py_latents``); only ``convert_weight.py`` files carry ``latent_avg``.
- Noise: the official forward defaults to ``randomize_noise=True`` (fresh noise, not
  reproducible); the stored ``noises.noise_<i>`` are used with ``randomize_noise=False``, which is
  ``noise_mode="const"``, the default of the ``synthesis`` entry point.
- Mapping layers scale weight and bias by ``lr_mul=0.01`` at run time.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models.inputs import (  # noqa: F401 - re-exported
    NOISE_MODES,
    TorchCPURandom,
    generate_py_latents,
    noise_weights,
    rosinality_z,
)
from ganstudio.models.keys import strip_prefixes
from ganstudio.models.spec import ArchitectureSpec, LatentSpec, ModelInfo, config_from
from ganstudio.models.stylegan_ops import exporting, upfirdn2d, weighted_noise

SPEC = ArchitectureSpec(
    arch="stylegan2",
    title="StyleGAN2 (rosinality/stylegan2-pytorch)",
    tasks=("generate",),
    container=True,
    networks=("mapping", "synthesis"),
    file_names=("checkpoint.pt", "*.pt"),
)
NETWORKS = SPEC.networks
BLUR_KERNEL = (1, 3, 3, 1)
GENERATE_PY_TRUNCATION_MEAN = 4096  # generate.py's --truncation_mean: z drawn for mean_latent


# ----------------------------------------------------------------------------- layers


class PixelNorm(nn.Module):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return input * torch.rsqrt(torch.mean(input**2, dim=1, keepdim=True) + 1e-8)


def make_kernel(k: Sequence[int]) -> torch.Tensor:
    k = torch.tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    k /= k.sum()
    return k


class Upsample(nn.Module):
    """2x FIR upsampling of the skip image (ToRGB); the kernel is a buffer of the state dict."""

    def __init__(self, kernel: Sequence[int], factor: int = 2):
        super().__init__()
        self.factor = factor
        kernel = make_kernel(kernel) * (factor**2)
        self.register_buffer("kernel", kernel)
        p = kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(input, self.kernel, up=self.factor, padding=[*self.pad, *self.pad])


class Blur(nn.Module):
    """FIR filter after a transposed convolution; the kernel is a buffer of the state dict."""

    def __init__(self, kernel: Sequence[int], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        kernel = make_kernel(kernel)
        if upsample_factor > 1:
            kernel = kernel * (upsample_factor**2)
        self.register_buffer("kernel", kernel)
        self.pad = pad

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(input, self.kernel, padding=[*self.pad, *self.pad])


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate: weight and bias scaled by ``lr_mul`` at run time."""

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0, lr_mul: float = 1,
                 activation: str | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init)) if bias else None
        self.activation = activation
        self.scale = (1 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if self.activation:
            out = F.linear(input, self.weight * self.scale)
            return fused_leaky_relu(out, self.bias * self.lr_mul)
        return F.linear(input, self.weight * self.scale, bias=self.bias * self.lr_mul)


def fused_leaky_relu(input: torch.Tensor, bias: torch.Tensor | None = None, negative_slope: float = 0.2,
                     scale: float = 2**0.5) -> torch.Tensor:
    """The CPU branch of the official op: ``leaky_relu(x + bias, 0.2) * sqrt(2)`` (the slope is always 0.2 there)."""
    if bias is not None:
        rest_dim = [1] * (input.ndim - bias.ndim - 1)
        return F.leaky_relu(input + bias.view(1, bias.shape[0], *rest_dim), negative_slope=0.2) * scale
    return F.leaky_relu(input, negative_slope=0.2) * scale


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel: int, bias: bool = True, negative_slope: float = 0.2, scale: float = 2**0.5):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel)) if bias else None
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(input, self.bias, self.negative_slope, self.scale)


class ModulatedConv2d(nn.Module):
    """Convolution whose weight is scaled per sample by the style (and demodulated), optionally 2x upsampling."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False, blur_kernel: Sequence[int] = BLUR_KERNEL):
        super().__init__()
        self.eps = 1e-8
        self.kernel_size = kernel_size
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.upsample = upsample
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)
        self.scale = 1 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)
        self.demodulate = demodulate

    def forward(self, input: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if exporting():
            return self._forward_per_layer(input, style)
        batch, in_channel, height, width = (int(n) for n in input.shape)
        style = self.modulation(style).view(batch, 1, in_channel, 1, 1)
        weight = self.scale * self.weight * style
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)
            weight = weight * demod.view(batch, self.out_channel, 1, 1, 1)
        weight = weight.view(batch * self.out_channel, in_channel, self.kernel_size, self.kernel_size)

        # the official fused path: the batch as one grouped convolution
        input = input.view(1, batch * in_channel, height, width)
        if self.upsample:
            weight = weight.view(batch, self.out_channel, in_channel, self.kernel_size, self.kernel_size)
            weight = weight.transpose(1, 2).reshape(batch * in_channel, self.out_channel, self.kernel_size, self.kernel_size)
            out = F.conv_transpose2d(input, weight, padding=0, stride=2, groups=batch)
            out = out.view(batch, self.out_channel, *out.shape[2:])
            return self.blur(out)
        out = F.conv2d(input, weight, padding=self.padding, groups=batch)
        return out.view(batch, self.out_channel, *out.shape[2:])

    def _forward_per_layer(self, input: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        # the official fused=False path: one shared convolution, so an exported graph keeps a symbolic batch
        weight = self.scale * self.weight.squeeze(0)
        style = self.modulation(style)
        if self.demodulate:
            w = weight.unsqueeze(0) * style[:, None, :, None, None]
            dcoefs = (w.square().sum((2, 3, 4)) + 1e-8).rsqrt()
        input = input * style[:, :, None, None]
        if self.upsample:
            out = self.blur(F.conv_transpose2d(input, weight.transpose(0, 1), padding=0, stride=2))
        else:
            out = F.conv2d(input, weight, padding=self.padding)
        if self.demodulate:
            out = out * dcoefs[:, :, None, None]
        return out


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            batch, _, height, width = image.shape
            noise = image.new_empty(batch, 1, height, width).normal_()
        return image + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.input.repeat(input.shape[0], 1, 1, 1)


class StyledConv(nn.Module):
    """Modulated 3x3 convolution, noise, then bias and leaky ReLU."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int, upsample: bool = False,
                 blur_kernel: Sequence[int] = BLUR_KERNEL, demodulate: bool = True):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel, demodulate=demodulate)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, input: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(input, style)
        out = self.noise(out, noise=noise)
        return self.activate(out)


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to RGB, plus the upsampled image of the previous resolution."""

    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True, blur_kernel: Sequence[int] = BLUR_KERNEL):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, input: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(input, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


# ----------------------------------------------------------------------------- the generator


def official_widths(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """``model.py``'s ``self.channels``, for the resolutions 4..size."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
             256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    return {res: width for res, width in table.items() if res <= size}


class Generator(nn.Module):
    """The official ``Generator``; ``channels`` (other widths) and ``latent_avg`` (convert_weight.py's) are ours."""

    def __init__(self, size: int, style_dim: int, n_mlp: int, channel_multiplier: int = 2,
                 blur_kernel: Sequence[int] = BLUR_KERNEL, lr_mlp: float = 0.01,
                 channels: Mapping[int, int] | None = None, latent_avg: bool = False):
        super().__init__()
        self.size = size
        self.style_dim = style_dim
        layers: list[nn.Module] = [PixelNorm()]
        for _ in range(n_mlp):
            layers.append(EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu"))
        self.style = nn.Sequential(*layers)
        self.channels = dict(channels) if channels is not None else official_widths(size, channel_multiplier)

        self.input = ConstantInput(self.channels[4])
        self.conv1 = StyledConv(self.channels[4], self.channels[4], 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(self.channels[4], style_dim, upsample=False)
        self.log_size = int(math.log2(size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs = nn.ModuleList()
        self.upsamples = nn.ModuleList()  # unused, as in the official class
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()

        in_channel = self.channels[4]
        for layer_idx in range(self.num_layers):
            res = (layer_idx + 5) // 2
            self.noises.register_buffer(f"noise_{layer_idx}", torch.randn(1, 1, 2**res, 2**res))
        for i in range(3, self.log_size + 1):
            out_channel = self.channels[2**i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_channel, out_channel, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_channel, style_dim))
            in_channel = out_channel
        self.n_latent = self.log_size * 2 - 2
        if latent_avg:
            self.register_buffer("latent_avg", torch.zeros(style_dim))

    def mean_latent(self, n_latent: int) -> torch.Tensor:
        latent_in = torch.randn(n_latent, self.style_dim, device=self.input.input.device)
        return self.style(latent_in).mean(0, keepdim=True)

    def get_latent(self, input: torch.Tensor) -> torch.Tensor:
        return self.style(input)

    def forward(self, styles: list[torch.Tensor], return_latents: bool = False, inject_index: int | None = None,
                truncation: float = 1, truncation_latent: torch.Tensor | None = None, input_is_latent: bool = False,
                noise: list[torch.Tensor | None] | None = None, randomize_noise: bool = True):
        """The official forward: ``(image, latent if return_latents else None)``."""
        if not input_is_latent:
            styles = [self.style(s) for s in styles]
        if noise is None:
            if randomize_noise:
                noise = [None] * self.num_layers
            else:
                noise = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        if truncation < 1:
            styles = [truncation_latent + truncation * (style - truncation_latent) for style in styles]

        if len(styles) < 2:
            inject_index = self.n_latent
            latent = styles[0].unsqueeze(1).repeat(1, inject_index, 1) if styles[0].ndim < 3 else styles[0]
        else:
            if inject_index is None:
                inject_index = random.randint(1, self.n_latent - 1)
            latent = styles[0].unsqueeze(1).repeat(1, inject_index, 1)
            latent2 = styles[1].unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)
            latent = torch.cat([latent, latent2], 1)

        out = self.input(latent)
        out = self.conv1(out, latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for conv1, conv2, noise1, noise2, to_rgb in zip(self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2],
                                                         self.to_rgbs, strict=False):
            out = conv1(out, latent[:, i], noise=noise1)
            out = conv2(out, latent[:, i + 1], noise=noise2)
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return (skip, latent) if return_latents else (skip, None)


class MappingEntry(nn.Module):
    """Entry point z -> ws ``(N, n_latent, style_dim)``, truncated towards ``truncation_latent``.

    A float ``truncation_psi`` truncates only below 1, as the official forward; a tensor (an
    exported graph's input) always applies ``latent + psi * (w - latent)``, which psi 1 leaves
    equal up to float rounding, and psi 0 turns into the latent itself. Without ``truncation_latent``
    the generator's ``latent_avg`` is used. None (the default) does not truncate: the ONNX exporter
    turns a numeric default into a graph input, None it leaves out.
    """

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, truncation_psi: float | torch.Tensor | None = None,
                truncation_latent: torch.Tensor | None = None) -> torch.Tensor:
        w = self.generator.style(z.to(torch.float32))
        if truncation_psi is not None and (isinstance(truncation_psi, torch.Tensor) or truncation_psi < 1):
            if truncation_latent is None:
                truncation_latent = getattr(self.generator, "latent_avg", None)
            if truncation_latent is None:
                raise ValueError("truncation needs a truncation_latent: this file has no latent_avg; "
                                 "pass mean_latent_like_generate_py(...) as generate.py computes it.")
            w = truncation_latent + truncation_psi * (w - truncation_latent)
        return w.unsqueeze(1).repeat(1, self.generator.n_latent, 1)


class SynthesisEntry(nn.Module):
    """Entry point ws ``(N, n_latent, style_dim)`` -> image.

    ``noise_mode`` is const (the stored ``noises.noise_<i>``), random or none, or ``(N, 2)``
    weights of the stored and of fresh noise (``stylegan_ops.weighted_noise``), which an exported
    graph takes as its ``noise`` input.
    """

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator

    def forward(self, ws: torch.Tensor, noise_mode: str | torch.Tensor = "const") -> torch.Tensor:
        stored = [getattr(self.generator.noises, f"noise_{i}") for i in range(self.generator.num_layers)]
        if isinstance(noise_mode, torch.Tensor):
            noise = [weighted_noise(noise_mode, layer) for layer in stored]
        elif noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, not {noise_mode!r}.")
        else:
            noise = [torch.zeros_like(layer) for layer in stored] if noise_mode == "none" else None
        image, _ = self.generator([ws.to(torch.float32)], input_is_latent=True, noise=noise,
                                  randomize_noise=isinstance(noise_mode, str) and noise_mode == "random")
        return image


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Config:
    """Generator hyper-parameters; defaults are the converted FFHQ config-f release's (``stylegan2-ffhq-config-f.pt``)."""

    size: int = 1024
    style_dim: int = 512
    n_mlp: int = 8
    channel_multiplier: int = 2  # only shows in the widths at >= 64 px
    channels: tuple[int, ...] | None = None  # widths at 4, 8, ..., size when they are not model.py's
    latent_avg: bool = False  # convert_weight.py's files carry the TF release's average w


def fixed_size(config: Config) -> int:
    """The only image size of this config."""
    return config.size


def output_size(config: Config) -> int:
    return config.size


def n_latent(config: Config) -> int:
    """Number of w vectors the synthesis takes (style-mixing ``inject_index`` counts these)."""
    return 2 * int(math.log2(config.size)) - 2


def widths(config: Config) -> dict[int, int]:
    """Channels at each resolution 4..size."""
    if config.channels is None:
        return official_widths(config.size, config.channel_multiplier)
    return {4 * 2**i: width for i, width in enumerate(config.channels)}


def build(config: Config) -> Generator:
    """The generator with the official module names (``style``, ``conv1``, ``convs``, ``to_rgbs``, ``noises``)."""
    return Generator(config.size, config.style_dim, config.n_mlp, channel_multiplier=config.channel_multiplier,
                     channels=widths(config), latent_avg=config.latent_avg)


def inference_networks(model: Generator, role: str = "G") -> dict[str, nn.Module]:
    """Entry points: ``mapping(z, truncation_psi, truncation_latent)`` -> ws, ``synthesis(ws, noise)`` -> image
    (``noise``: the ``(N, 2)`` weights of the stored and of fresh noise; without it, the stored noise)."""
    return {"mapping": MappingEntry(model), "synthesis": SynthesisEntry(model)}


def init_weights(module: nn.Module) -> None:
    """The official initialisation is the layers' own (equalised learning rate): nothing to add."""


def describe(config: Config | Mapping) -> ModelInfo:
    """generate.py: save_image(normalize=True, range=(-1, 1)) = clamp, (x + 1) / 2 * 255 + 0.5, truncated
    (rounding); a seed is torch.manual_seed(seed); torch.randn(1, style_dim); truncation moves w towards
    the file's latent_avg (or the mean of 4096 mapped samples, generate.py's own order)."""
    config = config_from(Config, config)
    side = config.size
    classes = 0
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="style",
        preprocessing={"input_range": None, "output_range": [-1.0, 1.0], "output_rounding": "round",
                       "size_multiple": None, "fixed_size": side, "output_size": side},
        labels=tuple(str(i) for i in range(classes)),
        label_kind="classes" if classes else "",
        latent=LatentSpec(size=config.style_dim, shape="flat", seed_rule="rosinality", truncation="psi",
                          num_classes=classes, class_input="onehot"),
        native_size=side,
        # Without convert_weight.py's latent_avg, truncation goes towards generate.py's mean_latent(4096).
        options={"num_ws": n_latent(config), "w_dim": config.style_dim,
                 "mapping_inputs": ["z", "truncation_psi"] if config.latent_avg else ["z"],
                 "synthesis_inputs": ["ws", "noise"], "noise_modes": list(NOISE_MODES), "input_transform": False,
                 "truncation_mean": 0 if config.latent_avg else GENERATE_PY_TRUNCATION_MEAN},
    )


# ----------------------------------------------------------------------------- reading checkpoints

_STYLE_KEY = re.compile(r"^style\.(\d+)\.weight$")
_TO_RGB_KEY = re.compile(r"^to_rgbs\.(\d+)\.conv\.weight$")


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for rosinality's generator: ``style.1.weight``, ``input.input`` and ``to_rgb1.conv.weight``."""
    return all(key in state_dict for key in ("style.1.weight", "input.input", "to_rgb1.conv.weight"))


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """From a flattened ``train.py`` or ``convert_weight.py`` file keep ``g_ema.*`` (and ``latent_avg``); strip ``module.``.

    ``g_ema`` is the network generate.py, projector.py and the others load; ``g`` (the training
    generator, with its own noise buffers) is used only when there is no ``g_ema``.
    """
    state_dict = strip_prefixes(state_dict)
    for prefix in ("g_ema.", "g."):
        if any(key.startswith(prefix) for key in state_dict):
            result = {key[len(prefix):]: value for key, value in state_dict.items() if key.startswith(prefix)}
            if "latent_avg" in state_dict:
                result["latent_avg"] = state_dict["latent_avg"].reshape(-1)
            return result
    return dict(state_dict)


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """size from the number of ``to_rgbs``, n_mlp and style_dim from ``style.<i>``, widths from the conv shapes.

    Raises:
        CheckpointError: the keys are not a rosinality generator's.
    """
    if not matches(state_dict):
        raise CheckpointError(
            "not a rosinality StyleGAN2 generator: expected 'style.1.weight', 'input.input' and 'to_rgb1.conv.weight' "
            "(train.py's 'g_ema' or convert_weight.py's file)."
        )
    style_indices = sorted(int(m.group(1)) for key in state_dict if (m := _STYLE_KEY.match(key)))
    if style_indices != list(range(1, len(style_indices) + 1)):
        raise CheckpointError(f"mapping layers should be style.1, style.2, ... (style.0 is the PixelNorm); found {style_indices}.")
    style_dim = int(state_dict["style.1.weight"].shape[0])
    rgb_indices = sorted(int(m.group(1)) for key in state_dict if (m := _TO_RGB_KEY.match(key)))
    if rgb_indices != list(range(len(rgb_indices))):
        raise CheckpointError(f"to_rgbs should be numbered 0, 1, ...; found {rgb_indices}.")
    size = 4 * 2 ** len(rgb_indices)
    found = (int(state_dict["input.input"].shape[1]),
             *(int(state_dict[f"to_rgbs.{k}.conv.weight"].shape[2]) for k in rgb_indices))
    missing = [f"convs.{i}.conv.weight" for i in range(2 * len(rgb_indices)) if f"convs.{i}.conv.weight" not in state_dict]
    missing += [f"noises.noise_{i}" for i in range(2 * len(rgb_indices) + 1) if f"noises.noise_{i}" not in state_dict]
    if missing:
        raise CheckpointError(f"rosinality StyleGAN2 generator of size {size} is incomplete: no '{missing[0]}'.")

    config = Config(size=size, style_dim=style_dim, n_mlp=len(style_indices), latent_avg="latent_avg" in state_dict)
    # channel_multiplier shows at >= 64 px (256 * cm); below, every width is 512 whatever it is
    multiplier = found[4] // 256 if len(found) > 4 and found[4] % 256 == 0 else config.channel_multiplier
    if tuple(official_widths(size, multiplier).values()) == found:
        return Config(size=size, style_dim=style_dim, n_mlp=len(style_indices), channel_multiplier=multiplier,
                      latent_avg=config.latent_avg)
    return Config(size=size, style_dim=style_dim, n_mlp=len(style_indices), channels=found, latent_avg=config.latent_avg)


# ----------------------------------------------------------------------------- inputs as the scripts make them


def z_from_seed(seed: int, style_dim: int, n: int = 1) -> np.ndarray:
    """``torch.manual_seed(seed); torch.randn(n, style_dim)`` on the CPU, as float32 ``(n, style_dim)``, without torch."""
    return rosinality_z(seed, style_dim, n)


def mean_latent_like_generate_py(generator: Generator, mean_z: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``g_ema.mean_latent``'s value for the given draws: the mapping's mean over them, ``(1, style_dim)``."""
    mean_z = torch.as_tensor(mean_z, dtype=torch.float32, device=generator.input.input.device)
    return generator.style(mean_z).mean(0, keepdim=True)


def mix_latents(ws: np.ndarray | torch.Tensor, ws_mix: np.ndarray | torch.Tensor, inject_index: int):
    """``g([z1, z2], inject_index=k)``: the first k of the ``n_latent`` ws from the first latent, the rest from the second."""
    mixed = ws.clone() if isinstance(ws, torch.Tensor) else np.array(ws, copy=True)
    mixed[:, inject_index:] = ws_mix[:, inject_index:]
    return mixed


def example_inputs(config: Config, network: str = "synthesis", *, batch: int = 1, size: int | None = None) -> dict[str, torch.Tensor]:
    """Random valid inputs of one network: ``mapping`` (z, and truncation_psi when the file has ``latent_avg``) or
    ``synthesis`` (ws, noise).

    Raises:
        ValueError: an unknown network.
    """
    generator = torch.Generator().manual_seed(0)
    if network == "mapping":
        z = torch.randn(batch, config.style_dim, generator=generator)
        # a truncation towards latent_avg needs the file's; without it, the pipeline truncates itself
        return {"z": z, "truncation_psi": torch.tensor(0.7)} if config.latent_avg else {"z": z}
    if network == "synthesis":
        return {"ws": torch.randn(batch, n_latent(config), config.style_dim, generator=generator),
                "noise": torch.from_numpy(noise_weights("const", batch))}
    raise ValueError(f"unknown StyleGAN2 network '{network}'. Known: {', '.join(NETWORKS)}.")
