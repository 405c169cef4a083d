"""Pieces that several architectures share exactly: junyanz's norm-layer factory and bias rule, and their inverse.

The CycleGAN ResNet generator, the pix2pix U-Net and the PatchGAN discriminator all come from
``models/networks.py`` of junyanz/pytorch-CycleGAN-and-pix2pix and build their norms and conv
biases the same way; the state-dict layout depends on both.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Literal

from torch import nn

Norm = Literal["batch", "instance", "none"]


def get_norm_layer(norm: Norm):
    """The official ``get_norm_layer``: a constructor taking the channel count."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"norm must be 'batch', 'instance' or 'none', got {norm!r}.")


def convs_have_bias(norm_layer) -> bool:
    """Official rule: convs followed by InstanceNorm (no affine parameters) get a bias, otherwise none."""
    return getattr(norm_layer, "func", norm_layer) is nn.InstanceNorm2d


def infer_norm(state_dict: Mapping[str, object], *, norm_key: str, conv_key: str) -> Norm:
    """The norm a state dict was built with, read back through the two rules above.

    ``conv_key`` is a conv followed by a norm layer at ``norm_key``: BatchNorm stores a weight there;
    InstanceNorm stores nothing but gives the conv a bias; with no norm, neither is present.
    """
    if f"{norm_key}.weight" in state_dict:
        return "batch"
    if f"{conv_key}.bias" in state_dict:
        return "instance"
    return "none"


def init_normal(module: nn.Module, gain: float = 0.02) -> None:
    """The official ``init_weights(net, 'normal', gain)``: conv and linear weights N(0, gain), norm weights
    N(1, gain), biases 0 (DCGAN's initialisation too)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.InstanceNorm2d)) and layer.weight is not None:
            nn.init.normal_(layer.weight, 1.0, gain)
            nn.init.zeros_(layer.bias)
