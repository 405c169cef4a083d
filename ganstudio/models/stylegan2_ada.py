"""StyleGAN2 as NVlabs' stylegan2-ada-pytorch builds it: mapping network and synthesis network.

Papers: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
(arXiv:1912.04958); Karras et al., "Training Generative Adversarial Networks with Limited Data",
NeurIPS 2020 (arXiv:2006.06676).
Official code mirrored: https://github.com/NVlabs/stylegan2-ada-pytorch at d72cc7d,
``training/networks.py`` (``FullyConnectedLayer``, ``Conv2dLayer``, ``MappingNetwork``,
``SynthesisLayer``, ``ToRGBLayer``, ``SynthesisBlock``, ``SynthesisNetwork``, ``Generator``), with
the official attribute names, so ``G_ema``'s state dict loads with ``strict=True``. The StyleGAN3
repository's ``training/networks_stylegan2.py`` (``--cfg=stylegan2``) is the same network.

Checkpoints read: NVlabs network pickles (``network-snapshot-<kimg>.pkl``, the released
``ffhq.pkl``, ``metfaces.pkl``, ...) through ``ganstudio.nvlabs_pickle``, which never runs the code
stored in them; ``infer_config`` takes the pickle's ``init_kwargs`` and checks them against the
shapes. A bare state dict works too: every size is read from the shapes.

Use: ``ws = G.mapping(z, c, truncation_psi)`` -> ``(N, num_ws, w_dim)``; ``img = G.synthesis(ws)``
-> ``(N, img_channels, R, R)`` in about -1..1. ``c`` is one-hot ``(N, c_dim)``, ``(N, 0)`` for an
unconditional network, as ``generate.py`` passes it. ``z_from_seed`` and ``class_labels`` make the
inputs as the official scripts do.

Quirks:
- Seeds: ``generate.py`` draws ``np.random.RandomState(seed).randn(1, z_dim)`` (float64, NumPy's
  legacy generator); the mapping casts to float32. ``torch.randn`` gives other images.
- Truncation: ``w_avg.lerp(w, psi)`` on all ``num_ws`` copies (``truncation_cutoff`` limits it to
  the first k); ``w_avg`` is a buffer of the checkpoint, not the mean of fresh samples.
  ``style_mixing.py`` truncates with its own ``w_avg + (w - w_avg) * psi`` (``truncate_ws``).
- Noise: ``noise_mode="const"`` (the scripts' default, and the default here) adds each layer's
  stored ``noise_const * noise_strength``; ``"random"`` fresh noise; ``"none"`` nothing. The
  official module's own default is ``"random"``; here it is ``"const"`` so that a call without
  options, and an exported graph, give the scripts' images.
- fp16: ``train.py`` sets ``num_fp16_res=4, conv_clamp=256``; the official blocks then run in
  float16 unless ``force_fp32``. Here everything runs in float32 (``force_fp32=True``), with
  ``conv_clamp`` applied as in float16 (clamp to +-conv_clamp after bias, activation and gain).
- The official eval-mode blocks use the fused (grouped) modulated convolution; so does this one,
  except while exporting to ONNX (see ``stylegan_ops``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models.inputs import NOISE_MODES, class_labels, noise_weights, nvlabs_z  # noqa: F401 - re-exported
from ganstudio.models.keys import strip_prefixes
from ganstudio.models.spec import ArchitectureSpec, LatentSpec, ModelInfo, config_from
from ganstudio.models.stylegan_ops import (
    ACTIVATIONS,
    bias_act,
    conv2d_resample,
    exporting,
    modulated_conv2d,
    setup_filter,
    truncate,
    upsample2d,
    weighted_noise,
)

SPEC = ArchitectureSpec(
    arch="stylegan2_ada",
    title="StyleGAN2-ADA (NVlabs/stylegan2-ada-pytorch)",
    tasks=("generate",),
    container=True,
    networks=("mapping", "synthesis"),
    file_names=("network-snapshot-*.pkl", "*.pkl"),
    takes_init_kwargs=True,
)
NETWORKS = SPEC.networks


# ----------------------------------------------------------------------------- layers


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """Linear layer with equalized learning rate: weights stored / lr_multiplier, scaled back at run time."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1, bias_init: float = 0):
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], np.float32(bias_init))) if bias else None
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


class Conv2dLayer(nn.Module):
    """Equalized-learning-rate convolution with optional FIR resampling (the skip path of 'resnet' blocks)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True, activation: str = "linear",
                 up: int = 1, down: int = 1, resample_filter: Sequence[int] = (1, 3, 3, 1), conv_clamp: float | None = None):
        super().__init__()
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = float(1 / np.sqrt(in_channels * (kernel_size**2)))
        self.act_gain = ACTIVATIONS[activation][2]
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        flip_weight = self.up == 1  # the official choice: correlation unless upsampling
        x = conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, flip_weight=flip_weight)
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=act_clamp)


class MappingNetwork(nn.Module):
    """z (and a class embedding) -> w, broadcast to ``num_ws`` copies, truncated towards ``w_avg``."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None, activation: str = "lrelu",
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta

        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features_list = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]

        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features_list[idx], features_list[idx + 1], activation=activation,
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float | torch.Tensor = 1,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """ws ``(N, num_ws, w_dim)`` for z ``(N, z_dim)`` (float64 or float32) and one-hot c ``(N, c_dim)``."""
        x = None
        if self.z_dim > 0:
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        if self.c_dim == 0 and c is not None and exporting():
            # The exporter drops an unused input; adding c's empty sum (0) keeps an unconditional
            # mapping's graph taking (z, c, truncation_psi) like a conditional one's.
            x = x + c.to(torch.float32).sum(dim=1, keepdim=True)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        return truncate(x, self.w_avg, truncation_psi, truncation_cutoff)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution (optionally 2x upsampling), noise, bias, leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: Sequence[int] = (1, 3, 3, 1), conv_clamp: float | None = None):
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation][2]

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str | torch.Tensor = "const",
                fused_modconv: bool = True, gain: float = 1) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and isinstance(noise_mode, torch.Tensor):  # (N, 2) weights of stored and fresh noise
            noise = weighted_noise(noise_mode, self.noise_const) * self.noise_strength
        elif self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        flip_weight = self.up == 1
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=flip_weight, fused_modconv=fused_modconv)
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain, clamp=act_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = float(1 / np.sqrt(in_channels * (kernel_size**2)))

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: (upsampling conv0,) conv1, and ToRGB added to the upsampled image ('skip' architecture)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter: Sequence[int] = (1, 3, 3, 1),
                 conv_clamp: float | None = None, use_fp16: bool = False, **layer_kwargs):
        super().__init__()
        self.in_channels = in_channels
        self.w_dim = w_dim
        self.resolution = resolution
        self.img_channels = img_channels
        self.is_last = is_last
        self.architecture = architecture
        self.use_fp16 = use_fp16  # kept for reference only: the studio always computes in float32
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.num_conv = 0
        self.num_torgb = 0

        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        if in_channels != 0:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str | torch.Tensor = "const", fused_modconv: bool | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        w_iter = iter(ws.unbind(dim=1))
        if fused_modconv is None:
            # official: fused in eval mode when computing in float32 (always, here)
            fused_modconv = not self.training

        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
        else:
            x = x.to(torch.float32)

        if self.in_channels == 0:
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv, gain=np.sqrt(0.5))
            x = y + x
        else:
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)

        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> image, one ``b<res>`` block per resolution from 4 to ``img_resolution``."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, **block_kwargs):
        super().__init__()
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.img_channels = img_channels
        self.block_resolutions = [2**i for i in range(2, self.img_resolution_log2 + 1)]
        channels_dict = channel_widths(img_resolution, channel_base, channel_max)
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)

        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels_dict[res // 2] if res > 4 else 0
            is_last = res == self.img_resolution
            block = SynthesisBlock(in_channels, channels_dict[res], w_dim=w_dim, resolution=res,
                                   img_channels=img_channels, is_last=is_last, use_fp16=res >= fp16_resolution,
                                   **block_kwargs)
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor, noise_mode: str | torch.Tensor = "const",
                fused_modconv: bool | None = None) -> torch.Tensor:
        """Image ``(N, img_channels, R, R)`` from ws ``(N, num_ws, w_dim)``; ``noise_mode`` const, random or none,
        or ``(N, 2)`` weights of the stored and of fresh noise (``stylegan_ops.weighted_noise``; an exported
        graph takes them as its ``noise`` input)."""
        if isinstance(noise_mode, str) and noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, not {noise_mode!r}.")
        ws = ws.to(torch.float32)
        block_ws = []
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            # consecutive blocks share a w: each block's ToRGB uses the next block's first
            block_ws.append(ws.narrow(1, w_idx, block.num_conv + block.num_torgb))
            w_idx += block.num_conv
        x = img = None
        for res, cur_ws in zip(self.block_resolutions, block_ws, strict=True):
            x, img = getattr(self, f"b{res}")(x, img, cur_ws, noise_mode=noise_mode, fused_modconv=fused_modconv)
        return img


class Generator(nn.Module):
    """The official ``Generator``: ``synthesis`` and ``mapping``, in that order (as in the state dict)."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: Mapping | None = None, synthesis_kwargs: Mapping | None = None):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **dict(synthesis_kwargs or {}))
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **dict(mapping_kwargs or {}))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, noise_mode: str = "const") -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode)


def channel_widths(img_resolution: int, channel_base: int, channel_max: int) -> dict[int, int]:
    """The official rule: ``min(channel_base // res, channel_max)`` channels at each resolution."""
    resolutions = [2**i for i in range(2, int(np.log2(img_resolution)) + 1)]
    return {res: min(channel_base // res, channel_max) for res in resolutions}


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class Config:
    """Generator hyper-parameters; defaults are the released FFHQ 1024 pickle's (``train.py --cfg=stylegan2``)."""

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 1024
    img_channels: int = 3
    mapping_layers: int = 8
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 4  # train.py's mixed precision; computed in float32 here, it only documents the file
    conv_clamp: float | None = 256  # train.py's; None for --fp32 runs. Applied here as in float16.
    architecture: str = "skip"  # the generator's default; 'orig' and 'resnet' also exist
    embed_features: int | None = None  # None = w_dim
    layer_features: int | None = None  # None = w_dim


def fixed_size(config: Config) -> int:
    """The only image size of this config."""
    return config.img_resolution


def output_size(config: Config) -> int:
    return config.img_resolution


def num_ws(config: Config) -> int:
    """Number of w vectors the synthesis network takes: two per resolution above 4, plus 2."""
    return 2 * int(np.log2(config.img_resolution)) - 2


def build(config: Config) -> Generator:
    """The generator with the official module names (``synthesis.b<res>.*``, ``mapping.fc<i>.*``)."""
    return Generator(
        z_dim=config.z_dim, c_dim=config.c_dim, w_dim=config.w_dim, img_resolution=config.img_resolution,
        img_channels=config.img_channels,
        mapping_kwargs={"num_layers": config.mapping_layers, "embed_features": config.embed_features,
                        "layer_features": config.layer_features},
        synthesis_kwargs={"channel_base": config.channel_base, "channel_max": config.channel_max,
                          "num_fp16_res": config.num_fp16_res, "conv_clamp": config.conv_clamp,
                          "architecture": config.architecture},
    )


def inference_networks(model: Generator, role: str = "G") -> dict[str, nn.Module]:
    """Entry points: ``mapping(z, c, truncation_psi)`` -> ws, ``synthesis(ws, noise)`` -> image (``noise``:
    the ``(N, 2)`` weights of the stored and of fresh noise; without it, the stored noise)."""
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
        options={"num_ws": num_ws(config), "w_dim": config.w_dim, "mapping_inputs": ["z", "c", "truncation_psi"],
                 "synthesis_inputs": ["ws", "noise"], "noise_modes": list(NOISE_MODES), "input_transform": False},
    )


def init_kwargs(config: Config) -> dict:
    """The official constructor's keyword arguments for ``config`` (as a pickle's ``G_ema`` stores them)."""
    mapping = {"num_layers": config.mapping_layers}
    if config.embed_features is not None:
        mapping["embed_features"] = config.embed_features
    if config.layer_features is not None:
        mapping["layer_features"] = config.layer_features
    synthesis = {"channel_base": config.channel_base, "channel_max": config.channel_max,
                 "num_fp16_res": config.num_fp16_res, "conv_clamp": config.conv_clamp}
    if config.architecture != "skip":
        synthesis["architecture"] = config.architecture
    return {"z_dim": config.z_dim, "w_dim": config.w_dim, "mapping_kwargs": mapping, "synthesis_kwargs": synthesis,
            "c_dim": config.c_dim, "img_resolution": config.img_resolution, "img_channels": config.img_channels}


# Arguments that change nothing at inference (training-only, or memory layout).
_IGNORED_KWARGS = {"w_avg_beta", "fp16_channels_last", "fused_modconv_default", "channels_last"}
# Arguments this module does not implement; a pickle that sets them to other values is refused.
_FIXED_KWARGS = {"activation": "lrelu", "lr_multiplier": 0.01, "resample_filter": [1, 3, 3, 1], "use_noise": True,
                 "kernel_size": 3}


def config_from_init_kwargs(kwargs: Mapping) -> Config:
    """A config from a pickle's ``init_kwargs``: nested (stylegan2-ada-pytorch) or flat (the StyleGAN3 repository's copy).

    The two repositories' classes default differently when an argument is absent: ADA
    ``num_fp16_res=0, conv_clamp=None``; StyleGAN3's ``networks_stylegan2`` ``4`` and ``256``.

    Raises:
        CheckpointError: an argument this module does not implement is set to another value.
    """
    kwargs = dict(kwargs)
    nested = "synthesis_kwargs" in kwargs
    synthesis = dict(kwargs.pop("synthesis_kwargs", None) or {})
    mapping = dict(kwargs.pop("mapping_kwargs", None) or {})
    required = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
    missing = [key for key in required if key not in kwargs]
    if missing:
        raise CheckpointError(f"the pickle's G_ema init_kwargs lack {', '.join(missing)}; it is not a StyleGAN2 generator.")
    values = {key: int(kwargs.pop(key)) for key in required}
    if not nested:  # flat: every remaining argument is a synthesis argument
        synthesis.update(kwargs)
        kwargs = {}
    fp16_default, clamp_default = (0, None) if nested else (4, 256)
    config = Config(
        **values,
        mapping_layers=int(mapping.pop("num_layers", 8)),
        embed_features=mapping.pop("embed_features", None),
        layer_features=mapping.pop("layer_features", None),
        channel_base=int(synthesis.pop("channel_base", 32768)),
        channel_max=int(synthesis.pop("channel_max", 512)),
        num_fp16_res=int(synthesis.pop("num_fp16_res", fp16_default)),
        conv_clamp=synthesis.pop("conv_clamp", clamp_default),
        architecture=str(synthesis.pop("architecture", "skip")),
    )
    leftover = {**kwargs, **mapping, **synthesis}
    unsupported = {key: value for key, value in leftover.items()
                   if key not in _IGNORED_KWARGS and not (key in _FIXED_KWARGS and _same(value, _FIXED_KWARGS[key]))}
    if unsupported:
        raise CheckpointError(
            f"this StyleGAN2 generator was built with {unsupported}, which GAN Studio does not implement "
            "(only the official training options are); its images would not match the official code's."
        )
    return config


def _same(value, expected) -> bool:
    if isinstance(expected, list):
        return isinstance(value, list | tuple) and [float(v) for v in value] == [float(v) for v in expected]
    return value == expected


# ----------------------------------------------------------------------------- reading checkpoints

_BLOCK_KEY = re.compile(r"^synthesis\.b(\d+)\.")
_FC_KEY = re.compile(r"^mapping\.fc(\d+)\.weight$")


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for a stylegan2-ada generator: ``mapping.fc0``, ``mapping.w_avg`` and ``synthesis.b4.const``."""
    return all(key in state_dict for key in ("mapping.fc0.weight", "mapping.w_avg", "synthesis.b4.const"))


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.`` / ``_orig_mod.``; from a flattened snapshot (``G_ema.*``, ``G.*``, ``D.*``) keep ``G_ema``'s keys."""
    state_dict = strip_prefixes(state_dict)
    if any(key.startswith("G_ema.") for key in state_dict):
        return {key[len("G_ema."):]: value for key, value in state_dict.items() if key.startswith("G_ema.")}
    return dict(state_dict)


def infer_config(state_dict: Mapping[str, torch.Tensor], *, init_kwargs: Mapping | None = None) -> Config:
    """The config from a pickle's ``init_kwargs`` (checked against the shapes) or, without them, from the shapes.

    Shapes alone cannot tell ``num_fp16_res`` and ``conv_clamp``: they are then ``train.py``'s
    defaults (4, 256). Widths give ``channel_max``; ``channel_base`` is the smallest power of two
    (else the smallest value) that gives the same widths, which builds the same network.

    Raises:
        CheckpointError: the keys are not a StyleGAN2 generator's, or the init kwargs contradict the shapes.
    """
    from_shapes = _config_from_shapes(state_dict)
    if init_kwargs is None:
        return from_shapes
    config = config_from_init_kwargs(init_kwargs)
    for name in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_layers", "architecture"):
        if getattr(config, name) != getattr(from_shapes, name):
            raise CheckpointError(
                f"the pickle's init_kwargs say {name}={getattr(config, name)}, its weights say {getattr(from_shapes, name)}."
            )
    widths = channel_widths(config.img_resolution, config.channel_base, config.channel_max)
    if widths != channel_widths(from_shapes.img_resolution, from_shapes.channel_base, from_shapes.channel_max):
        raise CheckpointError(f"the pickle's channel_base/channel_max give widths {widths}, which its weights do not have.")
    return config


def _config_from_shapes(state_dict: Mapping[str, torch.Tensor]) -> Config:
    if not matches(state_dict):
        raise CheckpointError(
            "not a StyleGAN2-ADA generator: expected 'mapping.fc0.weight', 'mapping.w_avg' and 'synthesis.b4.const' "
            "(the G_ema network of an NVlabs pickle)."
        )
    fc_indices = sorted(int(m.group(1)) for key in state_dict if (m := _FC_KEY.match(key)))
    if fc_indices != list(range(len(fc_indices))):
        raise CheckpointError(f"StyleGAN2 mapping layers are not numbered fc0, fc1, ...: found {fc_indices}.")
    mapping_layers = len(fc_indices)
    w_dim = int(state_dict[f"mapping.fc{mapping_layers - 1}.weight"].shape[0])
    embed = state_dict.get("mapping.embed.weight")
    c_dim = int(embed.shape[1]) if embed is not None else 0
    embed_features = int(embed.shape[0]) if embed is not None else 0
    z_dim = int(state_dict["mapping.fc0.weight"].shape[1]) - embed_features
    layer_features = int(state_dict["mapping.fc0.weight"].shape[0]) if mapping_layers > 1 else w_dim

    resolutions = sorted({int(m.group(1)) for key in state_dict if (m := _BLOCK_KEY.match(key))})
    expected = [2**i for i in range(2, 2 + len(resolutions))]
    if resolutions != expected:
        raise CheckpointError(f"StyleGAN2 synthesis blocks should be b4, b8, b16, ... up to the image size; found {resolutions}.")
    widths = {res: int(state_dict[f"synthesis.b{res}.conv1.weight"].shape[0]) for res in resolutions}
    img_resolution = resolutions[-1]
    img_channels = int(state_dict[f"synthesis.b{img_resolution}.torgb.weight"].shape[0])
    if f"synthesis.b{img_resolution}.skip.weight" in state_dict:
        architecture = "resnet"
    elif len(resolutions) > 1 and f"synthesis.b{resolutions[0]}.torgb.weight" not in state_dict:
        architecture = "orig"
    else:
        architecture = "skip"
    channel_max = max(widths.values())
    return Config(
        z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
        mapping_layers=mapping_layers, channel_base=_channel_base(widths, channel_max), channel_max=channel_max,
        architecture=architecture,
        embed_features=None if embed is None or embed_features == w_dim else embed_features,
        layer_features=None if layer_features == w_dim else layer_features,
    )


def _channel_base(widths: Mapping[int, int], channel_max: int) -> int:
    """A channel_base that gives ``widths`` under ``min(base // res, channel_max)``: the smallest power of two, else the smallest."""
    low, high = 1, 2**40
    for res, width in widths.items():
        if width < channel_max:  # base // res == width
            low, high = max(low, width * res), min(high, (width + 1) * res - 1)
        else:  # base // res >= channel_max
            low = max(low, channel_max * res)
    if low > high:
        raise CheckpointError(f"StyleGAN2 channel widths {dict(widths)} do not follow min(channel_base // res, channel_max).")
    power = 1 << (low - 1).bit_length()
    return power if power <= high else low


# ----------------------------------------------------------------------------- inputs as the official scripts make them


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """``np.random.RandomState(seed).randn(1, z_dim)``: float64 ``(1, z_dim)``, as generate.py and style_mixing.py draw it."""
    return nvlabs_z(seed, z_dim)


def truncate_ws(ws: np.ndarray, w_avg: np.ndarray, psi: float) -> np.ndarray:
    """style_mixing.py's own truncation: ``w_avg + (ws - w_avg) * psi`` (float32)."""
    ws = np.asarray(ws, dtype=np.float32)
    w_avg = np.asarray(w_avg, dtype=np.float32)
    return w_avg + (ws - w_avg) * np.float32(psi)


def mix_styles(ws_row: np.ndarray, ws_col: np.ndarray, col_styles: Sequence[int]) -> np.ndarray:
    """style_mixing.py: the row seed's ws with the entries at ``col_styles`` taken from the column seed's."""
    mixed = np.array(ws_row, copy=True)
    mixed[..., list(col_styles), :] = np.asarray(ws_col)[..., list(col_styles), :]
    return mixed


def example_inputs(config: Config, network: str = "synthesis", *, batch: int = 1, size: int | None = None) -> dict[str, torch.Tensor]:
    """Random valid inputs of one network: ``mapping`` (z, c, truncation_psi) or ``synthesis`` (ws).

    ``size`` is ignored: the output size is fixed by the config.

    Raises:
        ValueError: an unknown network.
    """
    generator = torch.Generator().manual_seed(0)
    if network == "mapping":
        c = torch.zeros(batch, config.c_dim)
        if config.c_dim:
            c[torch.arange(batch), torch.randint(0, config.c_dim, (batch,), generator=generator)] = 1
        return {"z": torch.randn(batch, config.z_dim, generator=generator), "c": c,
                "truncation_psi": torch.tensor(0.7)}
    if network == "synthesis":
        return {"ws": torch.randn(batch, num_ws(config), config.w_dim, generator=generator),
                "noise": torch.from_numpy(noise_weights("const", batch))}
    raise ValueError(f"unknown StyleGAN2 network '{network}'. Known: {', '.join(NETWORKS)}.")
