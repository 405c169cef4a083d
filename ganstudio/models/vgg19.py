"""VGG-19 as a feature network: the loss network of style transfer by optimisation and of perceptual-loss training.

Paper: Simonyan, Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015 (arXiv:1409.1556), configuration "E". Gatys, Ecker, Bethge,
"Image Style Transfer Using Convolutional Neural Networks", CVPR 2016, and Johnson et
al. (arXiv:1603.08155) read its activations at named layers. Not a model the registry
serves (it is not in ``ARCHITECTURES``): tasks and trainers load it with ``load_vgg19``.

Two files people already have are read, each with the layout of the code that wrote it:

- ``torchvision``: ``vgg19-dcbb9e9d.pth``, the state dict of torchvision's ``vgg19``
  (``torchvision/models/vgg.py``, ``make_layers(cfgs["E"])``). Keys ``features.<i>.*``
  for the 16 convs (3x3, zero padding 1), then ``classifier.*`` (about 400 MB of the
  548 MB file), which is accepted and dropped. Input: RGB in 0..1 normalised with the
  ImageNet mean and std, which ``VGG19Features`` applies itself. torchvision keeps the
  file in the torch hub cache, ``$TORCH_HOME/hub/checkpoints/`` (``find_vgg19``).
- ``adain``: AdaIN's ``vgg_normalised.pth`` (naoto0804/pytorch-AdaIN ``net.py`` ``vgg``,
  here ``adain.make_vgg``): Gatys' normalised VGG-19 converted from Caffe, keys are plain
  Sequential indices. Module 0 is a 1x1 conv that turns RGB in 0..1 into mean-subtracted
  BGR in 0..255, so the input is 0..1 RGB fed straight in. Each 3x3 conv has its own
  ``ReflectionPad2d`` module before it, so every ReLU sits at another index than in
  torchvision's layout (relu4_1 is module 30, not 20), and the pools use ``ceil_mode=True``.
  The file stops at relu5_4 (53 modules, no pool5). A file cut at relu4_1 (31 modules)
  loads too, with only the layers it has.

Each layout has one name -> index table (``LAYERS``), built from the same walk over the
VGG-19 widths that builds the network, so ``relu4_2`` is the ReLU after ``conv4_2`` in
both. The ReLUs are not in-place (torchvision's are), so a ``conv4_2`` tap keeps its
pre-activation values.

Quirks:
- Gatys et al. replaced max pooling by average pooling ("slightly more appealing
  results"). ``pooling="max"`` is the default here, as in most reimplementations (the
  PyTorch tutorial, jcjohnson/neural-style, pytorch/examples' perceptual loss);
  ``pooling="avg"`` swaps each pool for an ``AvgPool2d`` of the same size, stride and
  ceil mode. The weights are the same either way.
- No norm or dropout layers in ``features``: eval() and train() agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models.keys import strip_prefixes

ARCH = "vgg19"

Layout = Literal["torchvision", "adain"]
Pooling = Literal["max", "avg"]

TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's VGG19_Weights.IMAGENET1K_V1, name kept by torch.hub
TORCHVISION_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
ADAIN_FILES = ("vgg_normalised.pth", "vgg_normalized.pth")  # the README spells it with a z

# torchvision's transforms for its ImageNet weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# VGG-19 (configuration "E"): the conv widths of each block; a pool closes every block.
_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))

_INDEX_KEY = re.compile(r"^(\d+)\.")
_FEATURE_KEY = re.compile(r"^features\.(\d+)\.")


# --------------------------------------------------------------------------- layouts


def layer_names(layout: Layout) -> tuple[str, ...]:
    """The name of every module of the layout's Sequential, in order (``conv1_1``, ``relu1_1``, ..., ``pool5``).

    Modules without a tap of their own are named too: ``normalise`` (AdaIN's 1x1 conv) and
    ``pad<b>_<i>`` (AdaIN's reflection padding before ``conv<b>_<i>``).
    """
    names = ["normalise"] if layout == "adain" else []
    for block, widths in enumerate(_BLOCKS, start=1):
        for i in range(1, len(widths) + 1):
            if layout == "adain":
                names.append(f"pad{block}_{i}")
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    if layout == "adain":
        names.pop()  # vgg_normalised ends at relu5_4: 53 modules, no pool5
    return tuple(names)


# One table per layout: layer name -> index in the Sequential (torchvision relu4_1 = 20, AdaIN relu4_1 = 30).
LAYERS: dict[str, dict[str, int]] = {
    layout: {name: index for index, name in enumerate(layer_names(layout))} for layout in ("torchvision", "adain")
}

# Tap names people use: Gatys' style and content layers, Johnson's (pytorch/examples) relu1_2 ... relu4_3.
GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
GATYS_CONTENT_LAYER = "relu4_2"
JOHNSON_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
JOHNSON_CONTENT_LAYER = "relu2_2"


def make_features(layout: Layout, pooling: Pooling = "max", depth: int | None = None) -> nn.Sequential:
    """The layout's Sequential (up to module ``depth``), with torchvision's or AdaIN's padding and pools."""
    pool_type = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
    modules: list[nn.Module] = []
    in_channels = 3
    if layout == "adain":
        modules.append(nn.Conv2d(3, 3, (1, 1)))  # RGB 0..1 -> BGR 0..255 minus the Caffe mean
    for widths in _BLOCKS:
        for width in widths:
            if layout == "adain":
                modules += [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(in_channels, width, (3, 3))]
            else:
                modules.append(nn.Conv2d(in_channels, width, kernel_size=3, padding=1))
            modules.append(nn.ReLU())  # not in-place: a conv tap must keep its values
            in_channels = width
        # torchvision: MaxPool2d(kernel_size=2, stride=2); AdaIN: MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True)
        modules.append(pool_type(2, 2, ceil_mode=layout == "adain"))
    names = layer_names(layout)
    return nn.Sequential(*modules[: len(names)][:depth])


# --------------------------------------------------------------------------- network


class VGG19Features(nn.Module):
    """VGG-19's convolutional part, read at named layers.

    ``forward(image, layers)`` takes RGB in 0..1 (N, 3, H, W), applies the layout's own input
    normalisation, runs only as deep as the deepest layer asked for, and returns
    ``{name: activations}``. Parameters do not need gradients; the input may.
    """

    def __init__(self, layout: Layout = "torchvision", *, pooling: Pooling = "max", depth: int | None = None):
        super().__init__()
        if layout not in LAYERS:
            raise ValueError(f"layout must be 'torchvision' or 'adain', not {layout!r}")
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        self.layout = layout
        self.pooling = pooling
        self.features = make_features(layout, pooling, depth)
        # Not persistent: the official files have no such keys, and strict loading must still pass.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)

    @property
    def available_layers(self) -> tuple[str, ...]:
        """The tap names this network has (``conv*``, ``relu*``, ``pool*``), shallowest first."""
        names = layer_names(self.layout)[: len(self.features)]
        return tuple(name for name in names if name.startswith(("conv", "relu", "pool")))

    def layer_index(self, name: str) -> int:
        """The Sequential index of a tap.

        Raises:
            KeyError: the layer does not exist in this network (unknown, or past a truncated file's end).
        """
        if name not in self.available_layers:
            raise KeyError(f"VGG-19 ({self.layout} layout) has no layer {name!r}. Known: {', '.join(self.available_layers)}.")
        return LAYERS[self.layout][name]

    def normalize_input(self, image: torch.Tensor) -> torch.Tensor:
        """RGB in 0..1 -> what the first conv was trained on: ImageNet mean/std (torchvision), unchanged (AdaIN)."""
        if self.layout == "torchvision":
            return (image - self.mean) / self.std
        return image  # AdaIN's module 0 (a 1x1 conv) does its own conversion to Caffe's BGR 0..255

    def forward(self, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        if not layers:
            raise ValueError("name at least one layer to read, e.g. 'relu4_2'.")
        wanted = {self.layer_index(name): name for name in layers}
        outputs = {}
        x = self.normalize_input(image)
        for index, module in enumerate(self.features[: max(wanted) + 1]):
            x = module(x)
            if index in wanted:
                outputs[wanted[index]] = x
        return {name: outputs[name] for name in layers}


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) activations -> (N, C, C) Gram matrices divided by C*H*W.

    The PyTorch tutorial's and pytorch/examples' normalisation (``G / (c * h * w)``), as
    jcjohnson/neural-style's. Gatys et al. keep G unnormalised and put ``1 / (4 N^2 M^2)``
    in the loss instead, which only rescales the style weight (by a factor per layer).
    """
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


# --------------------------------------------------------------------------- config and keys


@dataclass(frozen=True)
class Config:
    """Which file layout, which pooling, and how many modules the file has (None: all of them)."""

    layout: Layout = "torchvision"
    pooling: Pooling = "max"
    depth: int | None = None


def detect_layout(state_dict: Mapping[str, torch.Tensor]) -> Layout:
    """``torchvision`` for ``features.0.weight`` (64, 3, 3, 3); ``adain`` for ``0.weight`` (3, 3, 1, 1).

    Raises:
        CheckpointError: neither (another network, or VGG-19 with batch norm).
    """
    first = state_dict.get("features.0.weight")
    if first is not None and tuple(first.shape) == (64, 3, 3, 3):
        if "features.1.running_mean" in state_dict:
            raise CheckpointError(
                "this is VGG-19 with batch norm (vgg19_bn); style transfer uses plain VGG-19. "
                f"Use torchvision's {TORCHVISION_FILE} or AdaIN's vgg_normalised.pth."
            )
        return "torchvision"
    first = state_dict.get("0.weight")
    if first is not None and tuple(first.shape) == (3, 3, 1, 1):
        return "adain"
    found = ", ".join(list(state_dict)[:3]) or "no tensors"
    raise CheckpointError(
        "not a VGG-19 file: expected torchvision's 'features.0.weight' of shape (64, 3, 3, 3) or AdaIN's "
        f"'0.weight' of shape (3, 3, 1, 1); found {found}. Use torchvision's {TORCHVISION_FILE} or AdaIN's "
        "vgg_normalised.pth."
    )


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.`` / ``_orig_mod.``; drop torchvision's ``classifier.*``; put AdaIN's indices under ``features.``."""
    state_dict = strip_prefixes(state_dict)
    if detect_layout(state_dict) == "torchvision":
        return {key: value for key, value in state_dict.items() if not key.startswith("classifier.")}
    return {f"features.{key}" if _INDEX_KEY.match(key) else key: value for key, value in state_dict.items()}


def infer_config(state_dict: Mapping[str, torch.Tensor], *, pooling: Pooling = "max") -> Config:
    """Layout from the first conv; depth from the last conv in the file (its ReLU included).

    Expects normalised keys. Pooling is not stored in a file: it is a choice.

    Raises:
        CheckpointError: not a VGG-19 layout.
    """
    first = state_dict.get("features.0.weight")
    shape = None if first is None else tuple(first.shape)
    if shape not in ((64, 3, 3, 3), (3, 3, 1, 1)):
        raise CheckpointError(
            f"not a VGG-19 file: 'features.0.weight' is {'missing' if shape is None else f'of shape {shape}'}, "
            f"expected (64, 3, 3, 3) or (3, 3, 1, 1). Use torchvision's {TORCHVISION_FILE} or AdaIN's vgg_normalised.pth."
        )
    layout: Layout = "torchvision" if shape == (64, 3, 3, 3) else "adain"
    last_conv = max(int(match.group(1)) for key in state_dict if (match := _FEATURE_KEY.match(key)))
    depth = last_conv + 2  # the ReLU after it
    # A whole file ends at relu5_4: the last module (AdaIN) or the one before torchvision's weightless pool5.
    whole = depth >= len(layer_names(layout)) - (layout == "torchvision")
    return Config(layout=layout, pooling=pooling, depth=None if whole else depth)


def build(config: Config) -> VGG19Features:
    """The network for a layout, with the layout's module indices under ``features``."""
    return VGG19Features(config.layout, pooling=config.pooling, depth=config.depth)
