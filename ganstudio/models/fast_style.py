"""Fast neural style transfer network (TransformerNet), as in pytorch/examples.

Papers: Johnson, Alahi, Fei-Fei, "Perceptual Losses for Real-Time Style Transfer
and Super-Resolution", ECCV 2016 (arXiv:1603.08155), with instance normalisation
(Ulyanov, Vedaldi, Lempitsky, arXiv:1607.08022) and nearest-upsample + conv in
place of transposed convs (Odena et al., distill.pub/2016/deconv-checkerboard).
Mirrors pytorch/examples ``fast_neural_style/neural_style/transformer_net.py``
(``TransformerNet``, ``ConvLayer``, ``ResidualBlock``, ``UpsampleConvLayer``) and
the loading in ``neural_style.py`` ``stylize()``. One network per style; the
released files are ``mosaic.pth``, ``candy.pth``, ``rain_princess.pth``,
``udnie.pth`` (plain state dicts in the legacy non-zip serialization); training
writes ``*.model`` and ``ckpt_epoch_*.pth`` files of the same layout.

Quirks:
- The network takes RGB in 0..255 with no mean/std normalisation (the ImageNet
  normalisation in the repo is only for the VGG loss in training) and returns
  0..255 units, unbounded: the official ``save_image`` clamps to 0..255 and
  truncates (``astype("uint8")``).
- The released files were written by PyTorch < 0.4 and carry InstanceNorm
  ``running_mean`` / ``running_var`` keys. Today's InstanceNorm keeps no
  statistics; ``stylize()`` deletes every key matching
  ``in\\d+\\.running_(mean|var)$`` before a strict load, and so does
  ``normalize_keys``. Using them as running statistics gives another image.
- Any input size runs, but not every size comes back: the two stride-2 convs
  take a side ``s`` to ``ceil(s / 4)`` and the two x2 upsamples give back
  ``4 * ceil(s / 4)``, so a side that is not a multiple of 4 comes out larger
  (130 -> 132; see ``output_shape``). The official script saves that larger image
  as it is. Sides below 5 fail (the 9x9 conv's reflection padding of 4 needs more).
- InstanceNorm has no running statistics here, so eval() and train() agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models.keys import strip_prefixes
from ganstudio.models.spec import ArchitectureSpec, ModelInfo

SPEC = ArchitectureSpec(
    arch="fast_style",
    title="fast neural style (Johnson et al.)",
    tasks=("stylize",),
    file_names=("*.model",),
    training_kind="fast_style",
)

# The stale InstanceNorm statistics that stylize() deletes, with the official pattern.
_STALE_INSTANCE_NORM_KEY = re.compile(r"in\d+\.running_(mean|var)$")


# --------------------------------------------------------------------------- building blocks


class ConvLayer(nn.Module):
    """Reflection padding of kernel_size // 2, then a conv: the side is kept (stride 1) or halved, rounded up."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int):
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    """conv-IN-ReLU-conv-IN plus the input (He et al. 2015; no ReLU after the sum)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        return out + residual


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour upsampling, then a reflection-padded conv (avoids transposed-conv checkerboards)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, upsample: int | None = None):
        super().__init__()
        self.upsample = upsample
        if upsample:
            self.upsample_layer = nn.Upsample(mode="nearest", scale_factor=upsample)
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = self.upsample_layer(x)
        return self.conv2d(self.reflection_pad(x))


# --------------------------------------------------------------------------- network


class TransformerNet(nn.Module):
    """RGB image in 0..255 (N, 3, H, W) -> stylised image in 0..255 units (N, 3, 4*ceil(H/4), 4*ceil(W/4)).

    The official net has ``channels=32`` (widths 32, 64, 128) and five residual blocks.
    """

    def __init__(self, channels: int = 32, n_residual: int = 5):
        super().__init__()
        self.n_residual = n_residual
        # Initial convolution layers
        self.conv1 = ConvLayer(3, channels, kernel_size=9, stride=1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels * 2, kernel_size=3, stride=2)
        self.in2 = nn.InstanceNorm2d(channels * 2, affine=True)
        self.conv3 = ConvLayer(channels * 2, channels * 4, kernel_size=3, stride=2)
        self.in3 = nn.InstanceNorm2d(channels * 4, affine=True)
        # Residual layers: res1 ... res5 in the official net
        for i in range(1, n_residual + 1):
            setattr(self, f"res{i}", ResidualBlock(channels * 4))
        # Upsampling layers
        self.deconv1 = UpsampleConvLayer(channels * 4, channels * 2, kernel_size=3, stride=1, upsample=2)
        self.in4 = nn.InstanceNorm2d(channels * 2, affine=True)
        self.deconv2 = UpsampleConvLayer(channels * 2, channels, kernel_size=3, stride=1, upsample=2)
        self.in5 = nn.InstanceNorm2d(channels, affine=True)
        self.deconv3 = ConvLayer(channels, 3, kernel_size=9, stride=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        for i in range(1, self.n_residual + 1):
            y = getattr(self, f"res{i}")(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)  # no output activation: 0..255 units, unbounded


# --------------------------------------------------------------------------- config and loading


@dataclass(frozen=True)
class Config:
    """The official TransformerNet takes no arguments; these are its fixed widths."""

    channels: int = 32  # conv1's output channels; conv2 and conv3 double it twice
    n_residual: int = 5


def output_shape(height: int, width: int) -> tuple[int, int]:
    """Output (height, width) for an input of that size: each side rounded up to a multiple of 4."""
    return 4 * math.ceil(height / 4), 4 * math.ceil(width / 4)


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for TransformerNet keys: ``conv1.conv2d``, ``res1.conv1.conv2d`` and ``deconv3.conv2d`` weights."""
    return all(
        key in state_dict for key in ("conv1.conv2d.weight", "res1.conv1.conv2d.weight", "deconv3.conv2d.weight")
    )


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.`` / ``_orig_mod.``, and drop the stale InstanceNorm statistics exactly as ``stylize()`` does."""
    return {key: value for key, value in strip_prefixes(state_dict).items() if not _STALE_INSTANCE_NORM_KEY.search(key)}


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """channels from ``conv1.conv2d.weight`` (channels, 3, 9, 9), n_residual from the ``res<i>`` blocks; then every
    shape is checked against the TransformerNet those values build.

    Raises:
        CheckpointError: a key is missing or a shape is not a TransformerNet's.
    """
    conv1 = state_dict.get("conv1.conv2d.weight")
    if conv1 is None or tuple(conv1.shape[1:]) != (3, 9, 9):
        found = "missing" if conv1 is None else f"of shape {tuple(conv1.shape)}"
        raise CheckpointError(
            f"not a fast neural style TransformerNet: 'conv1.conv2d.weight' is {found}, expected (channels, 3, 9, 9), "
            "(32, 3, 9, 9) in the official net."
        )
    n_residual = 0
    while f"res{n_residual + 1}.conv1.conv2d.weight" in state_dict:
        n_residual += 1
    config = Config(channels=int(conv1.shape[0]), n_residual=n_residual)
    with torch.device("meta"):  # shapes only, no memory
        expected = build(config).state_dict()
    for key, tensor in expected.items():
        if key not in state_dict:
            raise CheckpointError(f"not a fast neural style TransformerNet: key '{key}' is missing.")
        if tuple(state_dict[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"not a fast neural style TransformerNet: '{key}' has shape {tuple(state_dict[key].shape)}, "
                f"expected {tuple(tensor.shape)}."
            )
    return config


def build(config: Config) -> TransformerNet:
    """The network, with the official module names."""
    return TransformerNet(channels=config.channels, n_residual=config.n_residual)


def inference_networks(module: TransformerNet, role: str = "G") -> dict[str, nn.Module]:
    """The network under its file's role."""
    return {role: module}


def init_weights(module: nn.Module) -> None:
    """PyTorch's default initialisation: the official code sets none."""


def describe(config: Config | Mapping) -> ModelInfo:
    """neural_style.py's conventions: 0..255 in with no normalisation; the output, in 0..255 units, is clamped and
    cast to uint8 (truncation). Other sides run but come out rounded up to a multiple of 4."""
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="image",
        preprocessing={"input_range": [0.0, 255.0], "output_range": [0.0, 255.0], "output_rounding": "truncate",
                       "size_multiple": 4, "fixed_size": None},
    )


def example_inputs(
    config: Config, network: str = "G", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """``{"image": (batch, 3, size, size)}``, integers in 0..255 as ``stylize()`` feeds them; size 64 by default."""
    side = 64 if size is None else size
    generator = torch.Generator().manual_seed(0)
    return {"image": torch.randint(0, 256, (batch, 3, side, side), generator=generator).float()}
