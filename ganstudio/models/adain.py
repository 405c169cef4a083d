"""Arbitrary style transfer with adaptive instance normalisation (AdaIN).

Paper: Huang, Belongie, "Arbitrary Style Transfer in Real-time with Adaptive
Instance Normalization", ICCV 2017 (arXiv:1703.06868). Mirrors the PyTorch port
naoto0804/pytorch-AdaIN: ``net.py`` (module-level ``vgg`` and ``decoder``
Sequentials), ``function.py`` (``calc_mean_std``, ``adaptive_instance_normalization``)
and ``test.py`` (``style_transfer``, and the loading).

A model is two files, each a plain state dict keyed by Sequential index
(``0.weight``, ...), in the legacy non-zip serialization for the releases:
``vgg_normalised.pth`` (the README spells it ``vgg_normalized.pth``) and
``decoder.pth`` (training writes ``decoder_iter_<N>.pth.tar``). The registry
merges them under the roles ``vgg.`` and ``decoder.``; the container built here
holds ``vgg`` (the encoder up to relu4_1) and ``decoder`` under those names.

Quirks:
- ``vgg_normalised.pth`` is the whole 53-module VGG-19 (keys up to ``51.*``).
  ``test.py`` loads it strictly into the full Sequential, then keeps the first 31
  modules (up to relu4_1); ``normalize_keys`` drops the keys of modules 31..52.
- Inputs are RGB in 0..1 with no normalisation: the first 1x1 conv of the
  normalised VGG turns them into mean-subtracted BGR in 0..255 internally.
- ``calc_mean_std`` adds eps = 1e-5 to the *unbiased* variance (``Tensor.var``'s
  default, dividing by H*W - 1) before the square root. The difference from the
  biased variance only shows when content and style differ in size.
- ``alpha`` blends in feature space (``alpha * AdaIN(c, s) + (1 - alpha) * c``,
  then decode), not in image space.
- The pools use ``ceil_mode=True``: three pools then three x2 upsamples make the
  output side ``8 * ceil(side / 8)`` (100 -> 104; see ``output_shape``). The
  official script saves that larger image as it is. Sides below 9 fail (the
  reflection padding at relu4_1 needs at least 2 positions).
- The decoder has no output activation: the official ``save_image`` clamps to
  0..1 and rounds.
- No norm or dropout layers: eval() and train() agree.
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
    arch="adain",
    title="AdaIN arbitrary style transfer",
    tasks=("stylize",),
    container=True,
    networks=("style_transfer",),
    folder_layouts=({"vgg": ("vgg_normalised.pth", "vgg_normalized.pth"),
                     "decoder": ("decoder.pth", "decoder_iter_*.pth.tar", "decoder*.pth")},),
)

# test.py keeps vgg[:31]: up to relu4_1.
ENCODER_LENGTH = 31
# Net (train) splits the encoder at relu1_1, relu2_1, relu3_1, relu4_1 for the style loss.
_ENCODER_STAGES = ((0, 4), (4, 11), (11, 18), (18, 31))
_VGG_KEY = re.compile(r"^vgg\.(\d+)\.")


# --------------------------------------------------------------------------- AdaIN (function.py)


def calc_mean_std(feat: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel mean and ``sqrt(unbiased var + eps)``, each shaped (N, C, 1, 1)."""
    flat = feat.flatten(2)
    feat_var = flat.var(dim=2) + eps  # unbiased, as torch's default and the official code
    feat_std = feat_var.sqrt()[:, :, None, None]
    feat_mean = flat.mean(dim=2)[:, :, None, None]
    return feat_mean, feat_std


def adaptive_instance_normalization(content_feat: torch.Tensor, style_feat: torch.Tensor) -> torch.Tensor:
    """Give the content features the style features' per-channel mean and std. The two may differ in size."""
    style_mean, style_std = calc_mean_std(style_feat)
    content_mean, content_std = calc_mean_std(content_feat)
    normalized_feat = (content_feat - content_mean) / content_std
    return normalized_feat * style_std + style_mean


# --------------------------------------------------------------------------- networks (net.py)


def make_vgg() -> nn.Sequential:
    """The official 53-module normalised VGG-19 (``net.vgg``); test.py keeps its first 31 modules."""
    return nn.Sequential(
        nn.Conv2d(3, 3, (1, 1)),  # RGB 0..1 -> BGR 0..255 minus the Caffe mean
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(3, 64, (3, 3)),
        nn.ReLU(),  # relu1-1
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(64, 64, (3, 3)),
        nn.ReLU(),  # relu1-2
        nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(64, 128, (3, 3)),
        nn.ReLU(),  # relu2-1
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(128, 128, (3, 3)),
        nn.ReLU(),  # relu2-2
        nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(128, 256, (3, 3)),
        nn.ReLU(),  # relu3-1
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(256, 256, (3, 3)),
        nn.ReLU(),  # relu3-2
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(256, 256, (3, 3)),
        nn.ReLU(),  # relu3-3
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(256, 256, (3, 3)),
        nn.ReLU(),  # relu3-4
        nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(256, 512, (3, 3)),
        nn.ReLU(),  # relu4-1, the last layer used
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(512, 512, (3, 3)),
        nn.ReLU(),  # relu4-2
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(512, 512, (3, 3)),
        nn.ReLU(),  # relu4-3
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(512, 512, (3, 3)),
        nn.ReLU(),  # relu4-4
        nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(512, 512, (3, 3)),
        nn.ReLU(),  # relu5-1
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(512, 512, (3, 3)),
        nn.ReLU(),  # relu5-2
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(512, 512, (3, 3)),
        nn.ReLU(),  # relu5-3
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(512, 512, (3, 3)),
        nn.ReLU(),  # relu5-4
    )


def make_decoder() -> nn.Sequential:
    """The official 29-module decoder (``net.decoder``): relu4_1 features back to RGB, no output activation."""
    return nn.Sequential(
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(512, 256, (3, 3)),
        nn.ReLU(),
        nn.UpsamplingNearest2d(scale_factor=2),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(256, 256, (3, 3)),
        nn.ReLU(),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(256, 256, (3, 3)),
        nn.ReLU(),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(256, 256, (3, 3)),
        nn.ReLU(),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(256, 128, (3, 3)),
        nn.ReLU(),
        nn.UpsamplingNearest2d(scale_factor=2),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(128, 128, (3, 3)),
        nn.ReLU(),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(128, 64, (3, 3)),
        nn.ReLU(),
        nn.UpsamplingNearest2d(scale_factor=2),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(64, 64, (3, 3)),
        nn.ReLU(),
        nn.ReflectionPad2d((1, 1, 1, 1)),
        nn.Conv2d(64, 3, (3, 3)),
    )


class AdaINStyleTransfer(nn.Module):
    """The two official networks together: ``vgg`` (encoder up to relu4_1) and ``decoder``.

    ``forward(content, style, alpha)`` is test.py's ``style_transfer``: content and style
    RGB in 0..1 (N, 3, H, W) and (N or 1, 3, H', W'), alpha in 0..1 as a float or a 0-d,
    (1,) or (N,) float32 tensor. Returns (N, 3, 8*ceil(H/8), 8*ceil(W/8)), unclamped.
    """

    def __init__(self):
        super().__init__()
        self.vgg = nn.Sequential(*list(make_vgg().children())[:ENCODER_LENGTH])
        self.decoder = make_decoder()

    def encode_with_intermediate(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Features at relu1_1, relu2_1, relu3_1 and relu4_1, as the official ``Net`` computes for the style loss."""
        features = []
        for start, end in _ENCODER_STAGES:
            image = self.vgg[start:end](image)
            features.append(image)
        return features

    def forward(self, content: torch.Tensor, style: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
        content_f = self.vgg(content)
        style_f = self.vgg(style)
        feat = adaptive_instance_normalization(content_f, style_f)
        if isinstance(alpha, torch.Tensor):
            alpha = alpha.to(feat.dtype).reshape(-1, 1, 1, 1)  # 0-d, (1,) or one per sample
        feat = feat * alpha + content_f * (1 - alpha)
        return self.decoder(feat)


# --------------------------------------------------------------------------- config and loading


@dataclass(frozen=True)
class Config:
    """AdaIN has no hyper-parameters: the official architecture fixes every width."""


def output_shape(height: int, width: int) -> tuple[int, int]:
    """Output (height, width) for a content image of that size: each side rounded up to a multiple of 8."""
    return 8 * math.ceil(height / 8), 8 * math.ceil(width / 8)


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for the merged files: ``vgg.0.weight`` (the 3x3x1x1 normalising conv) and the decoder's last conv."""
    first = state_dict.get("vgg.0.weight")
    last = state_dict.get("decoder.28.weight")
    return first is not None and tuple(first.shape) == (3, 3, 1, 1) and last is not None and last.shape[0] == 3


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.`` / ``_orig_mod.``, and drop the VGG keys after relu4_1 (modules 31..52), which test.py
    loads and then cuts off."""
    result = {}
    for key, value in strip_prefixes(state_dict).items():
        vgg_key = _VGG_KEY.match(key)
        if vgg_key and int(vgg_key.group(1)) >= ENCODER_LENGTH:
            continue
        result[key] = value
    return result


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """Nothing to read: checks that every key and shape of the encoder and the decoder is there.

    Raises:
        CheckpointError: a key is missing or a shape differs (not the official VGG/decoder pair).
    """
    with torch.device("meta"):  # shapes only, no memory
        expected = AdaINStyleTransfer().state_dict()
    for key, tensor in expected.items():
        if key not in state_dict:
            raise CheckpointError(
                f"not an AdaIN model: key '{key}' is missing. Expected the official vgg_normalised.pth as role "
                "'vgg' and decoder.pth as role 'decoder'."
            )
        if tuple(state_dict[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"not an AdaIN model: '{key}' has shape {tuple(state_dict[key].shape)}, expected {tuple(tensor.shape)}."
            )
    return Config()


def build(config: Config) -> AdaINStyleTransfer:
    """The container, with ``vgg`` and ``decoder`` keyed by the official Sequential indices."""
    return AdaINStyleTransfer()


def inference_networks(model: AdaINStyleTransfer, role: str = "style_transfer") -> dict[str, nn.Module]:
    """One entry point: ``style_transfer(content, style, alpha)``."""
    return {"style_transfer": model}


def init_weights(module: nn.Module) -> None:
    """PyTorch's default initialisation (the official decoder trains from it; the VGG comes pretrained)."""


def describe(config: Config | Mapping) -> ModelInfo:
    """test.py's conventions: 0..1 in, no normalisation (the VGG's first 1x1 conv does it); the output is clamped
    to 0..1 and saved with save_image (rounding). Any side >= 9 runs; the output side is 8 * ceil(side / 8)."""
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="feature_blend",
        preprocessing={"input_range": [0.0, 1.0], "output_range": [0.0, 1.0], "output_rounding": "round",
                       "size_multiple": None, "fixed_size": None},
    )


def example_inputs(
    config: Config, network: str = "style_transfer", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """``{"content", "style"}`` (batch, 3, size, size) in 0..1 (size 64 by default) and ``"alpha"`` (1,) in 0..1.

    Raises:
        ValueError: ``network`` is not ``"style_transfer"``.
    """
    if network != "style_transfer":
        raise ValueError(f"AdaIN has one network, 'style_transfer', not '{network}'.")
    side = 64 if size is None else size
    generator = torch.Generator().manual_seed(0)
    return {
        "content": torch.rand(batch, 3, side, side, generator=generator),
        "style": torch.rand(batch, 3, side, side, generator=generator),
        "alpha": torch.rand(1, generator=generator),
    }
