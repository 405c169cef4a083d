"""The CycleGAN-style ResNet generator of ``vintagify`` (modern photos -> vintage photos).

Package: ``vintagify`` 0.1.2 on PyPI (MIT; Yusong Zhao, Fangyi Wang). Mirrored: its ``generator.py``, classes
``ResnetGenerator`` and ``ResnetBlock``; weights ``resources/G_A2B_epoch33.pth`` (``torch.save(G_A2B.state_dict())``
after epoch 33 of its ``train.py``: the modern-to-vintage direction only). The package's ``preprocess.py``
resizes the shorter side to 542 (torchvision ``Resize``: PIL bilinear), centre-crops 512x512 and normalises to
-1..1; ``inference.py`` maps the output back with ``(x + 1) / 2`` and torchvision's ``save_image``
(``* 255 + 0.5``, clamp, ``uint8``: rounding).

It is junyanz's ResnetGenerator (``cyclegan_resnet``: 7x7 conv, two stride-2 convs, n ResNet blocks, two
stride-2 transposed convs with output padding, 7x7 conv, tanh, reflection padding) written again, with
differences that change the state dict, so it is a file of its own rather than an option there:

- every norm is ``InstanceNorm2d(affine=True)``: each carries a weight and a bias (junyanz: no parameters);
- every conv has a bias too, although a norm follows (junyanz drops it for BatchNorm, keeps it for InstanceNorm);
- a ResNet block's Sequential is called ``block`` (junyanz: ``conv_block``), with no Dropout.

Keys: ``model.1`` (7x7 conv), ``model.2`` (norm), ``model.4/5``, ``model.7/8`` (downsampling),
``model.10 ... model.(9 + n_blocks)`` with ``block.1/2/5/6``, then the transposed convs and their norms, and the
last conv at ``model.(n_blocks + 17)``.

Quirks:
- ``inference.py`` refuses images smaller than 500x500 and always works on a 512x512 centre crop of the photo
  resized to 542 on its shorter side, so the result is a square crop. The studio keeps the whole photo: it
  scales it so that the shorter side is 512 (bilinear, as the package resizes; ``short_side``), runs the
  network at that size (it takes any multiple of 4) and resizes the result back. A 512 px crop made as the
  package makes it goes through unchanged and gives the package's pixels.
- InstanceNorm without running statistics: train and eval mode give the same output.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models.keys import strip_prefixes
from ganstudio.models.spec import ArchitectureSpec, ModelInfo

SPEC = ArchitectureSpec(
    arch="vintagify_resnet",
    title="vintagify ResNet generator (affine InstanceNorm)",
    tasks=("translate",),
    file_names=("G_A2B_epoch*.pth", "G_B2A_epoch*.pth"),
)

N_DOWNSAMPLING = 2
_FIRST_BLOCK_INDEX = 4 + 3 * N_DOWNSAMPLING  # pad, conv, norm, relu, then conv, norm, relu per downsampling
_BLOCK_CONVS = (1, 5)  # pad, conv, norm, relu, pad, conv, norm


class ResnetBlock(nn.Module):
    """Two 3x3 convs with affine InstanceNorm and a residual connection (the package's ``ResnetBlock``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, stride=1, padding=0),
            nn.InstanceNorm2d(dim, affine=True),
            nn.ReLU(inplace=False),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, stride=1, padding=0),
            nn.InstanceNorm2d(dim, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """7x7 conv, two stride-2 downsamplings, ``n_blocks`` ResNet blocks, two transposed-conv upsamplings, tanh."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9):
        super().__init__()
        model: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0),
            nn.InstanceNorm2d(ngf, affine=True),
            nn.ReLU(inplace=False),
        ]
        width = ngf
        for _ in range(N_DOWNSAMPLING):
            model += [
                nn.Conv2d(width, width * 2, kernel_size=3, stride=2, padding=1),
                nn.InstanceNorm2d(width * 2, affine=True),
                nn.ReLU(inplace=False),
            ]
            width *= 2
        model += [ResnetBlock(width) for _ in range(n_blocks)]
        for _ in range(N_DOWNSAMPLING):
            model += [
                nn.ConvTranspose2d(width, width // 2, kernel_size=3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(width // 2, affine=True),
                nn.ReLU(inplace=False),
            ]
            width //= 2
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@dataclass(frozen=True)
class Config:
    """Hyper-parameters; the defaults are the package's ``ResnetGenerator()``."""

    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    n_blocks: int = 9

    def __post_init__(self):
        if min(self.input_nc, self.output_nc, self.ngf) < 1 or self.n_blocks < 0:
            raise ValueError(f"input_nc, output_nc and ngf must be >= 1 and n_blocks >= 0, got {self}.")


def build(config: Config) -> ResnetGenerator:
    """The generator with the package's module names (``model.<i>``, ``block.<j>``)."""
    return ResnetGenerator(config.input_nc, config.output_nc, config.ngf, config.n_blocks)


_KEY = re.compile(r"^model\.\d+\.(block\.\d+\.)?(weight|bias)$")
_BLOCK_KEY = re.compile(r"^model\.(\d+)\.block\.(\d+)\.weight$")


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for only ``model.<i>[.block.<j>].weight/bias`` keys, a 7x7 first conv at ``model.1`` and an affine norm
    at ``model.2`` (junyanz's ResNet generator has ``conv_block`` and no norm parameters there)."""
    first, norm = state_dict.get("model.1.weight"), state_dict.get("model.2.weight")
    if first is None or first.ndim != 4 or tuple(first.shape[2:]) != (7, 7) or norm is None or norm.ndim != 1:
        return False
    return all(_KEY.match(key) for key in state_dict)


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.`` / ``_orig_mod.`` (the package's train.py imports DataParallel)."""
    return strip_prefixes(state_dict)


def _conv(state_dict: Mapping[str, torch.Tensor], key: str, what: str) -> torch.Tensor:
    tensor = state_dict.get(key)
    if tensor is None or tensor.ndim != 4:
        raise CheckpointError(
            f"not a vintagify ResNet generator: expected '{key}' ({what}), a 4-d conv weight. "
            "Check that the file is a G_A2B_epoch<N>.pth / G_B2A_epoch<N>.pth state dict."
        )
    return tensor


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """input_nc and ngf from the first conv, n_blocks from the ``block`` indices, output_nc from the last conv.

    Raises:
        CheckpointError: the keys do not form the package's ResnetGenerator.
    """
    first = _conv(state_dict, "model.1.weight", "the first 7x7 conv")
    convs_by_block: dict[int, list[int]] = {}
    for key, tensor in state_dict.items():
        found = _BLOCK_KEY.match(key)
        if found and tensor.ndim == 4:
            convs_by_block.setdefault(int(found.group(1)), []).append(int(found.group(2)))
    n_blocks = len(convs_by_block)
    if sorted(convs_by_block) != list(range(_FIRST_BLOCK_INDEX, _FIRST_BLOCK_INDEX + n_blocks)):
        raise CheckpointError(
            f"not a vintagify ResNet generator: ResNet blocks must be model.{_FIRST_BLOCK_INDEX}, "
            f"model.{_FIRST_BLOCK_INDEX + 1}, ... without gaps, found {sorted(convs_by_block)}."
        )
    if any(tuple(sorted(convs)) != _BLOCK_CONVS for convs in convs_by_block.values()):
        raise CheckpointError(
            "not a vintagify ResNet generator: each block's convs are expected at block.1 and block.5, found "
            f"{sorted({tuple(sorted(c)) for c in convs_by_block.values()})}."
        )
    last_index = _FIRST_BLOCK_INDEX + n_blocks + 3 * N_DOWNSAMPLING + 1  # after the ups and the ReflectionPad2d
    last = _conv(state_dict, f"model.{last_index}.weight", f"the final 7x7 conv after {n_blocks} ResNet blocks")
    return Config(input_nc=int(first.shape[1]), output_nc=int(last.shape[0]), ngf=int(first.shape[0]), n_blocks=n_blocks)


def inference_networks(module: ResnetGenerator, role: str = "G") -> dict[str, nn.Module]:
    """The generator under its file's role (instance statistics in either mode)."""
    return {role: module}


def init_weights(module: nn.Module) -> None:
    """PyTorch's default initialisation: the package sets none."""


def describe(config: Config | Mapping) -> ModelInfo:
    """The package's conventions: preprocess.py's ToTensor + Normalize(0.5, 0.5); inference.py's (x + 1) / 2 and
    save_image (x * 255 + 0.5, rounding). Multiples of 4 come back unchanged; trained on 512 px crops of photos
    whose shorter side was resized (PIL bilinear) to 542, so photos are scaled to a 512 px short side."""
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="image",
        preprocessing={"input_range": [-1.0, 1.0], "output_range": [-1.0, 1.0], "output_rounding": "round",
                       "size_multiple": 4, "fixed_size": None, "short_side": 512, "resample": "bilinear"},
        native_size=512,
    )


def example_inputs(
    config: Config, network: str = "G", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """A random image batch in -1..1 (``size`` defaults to 64: any multiple of 4 works)."""
    side = 64 if size is None else size
    generator = torch.Generator().manual_seed(0)
    return {"input": torch.rand(batch, config.input_nc, side, side, generator=generator) * 2 - 1}
