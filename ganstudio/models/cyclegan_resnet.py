"""CycleGAN's ResNet generator.

Paper: Zhu, Park, Isola, Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks", ICCV 2017 (the generator follows Johnson et al.'s fast style transfer network).
Official code mirrored: junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``: ``get_norm_layer``,
``ResnetGenerator`` and ``ResnetBlock`` (``netG`` = ``resnet_9blocks`` / ``resnet_6blocks``).

Checkpoints read: ``torch.save(net.state_dict())`` as ``BaseModel.save_networks`` writes it
(``latest_net_G_A.pth``, ``latest_net_G_B.pth``; released models as ``<name>.pth`` / ``latest_net_G.pth``),
both the zip serialization and the legacy one of files written before PyTorch 1.6.

Quirks:
- No hyper-parameter is stored: everything is read from key names and shapes. Padding, ReLU, Dropout and
  Tanh modules hold no keys but take Sequential indices, so the index of a ResNet block's second conv tells
  the padding type and whether dropout was used (see ``infer_config``).
- ``use_bias`` is True exactly when the norm is InstanceNorm (it has no affine parameters); with BatchNorm
  or no norm, only the final 7x7 conv has a bias.
- Releases written with PyTorch < 0.4 (the 2017-18 models) carry ``running_mean``/``running_var`` for their
  InstanceNorm layers. Today's ``InstanceNorm2d(track_running_stats=False)`` has none, and the official
  ``BaseModel.__patch_instance_norm_state_dict`` pops them before loading; so does ``normalize_keys``.
  Using them as running statistics would give a different image.
- The official ``test.py`` runs train mode unless ``--eval``; for this network the mode changes nothing
  (InstanceNorm without statistics, CycleGAN is tested with ``--no_dropout``), so plain ``eval()`` is exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models.keys import (
    add_missing_batch_counts,
    drop_unowned_norm_statistics,
    strip_prefixes,
)
from ganstudio.models.layers import (
    Norm,
    convs_have_bias,
    get_norm_layer,
    infer_norm,
    init_normal,
)
from ganstudio.models.spec import ArchitectureSpec, ModelInfo, config_from

SPEC = ArchitectureSpec(
    arch="cyclegan_resnet",
    title="CycleGAN ResNet generator",
    tasks=("translate",),
    file_names=("latest_net_G.pth", "*_net_G.pth"),
    # a CycleGAN training run (or this studio's export) keeps both directions side by side
    folder_layouts=({"G_A": ("latest_net_G_A.pth", "*_net_G_A.pth", "G_A.safetensors"),
                     "G_B": ("latest_net_G_B.pth", "*_net_G_B.pth", "G_B.safetensors")},),
    networks=("G_A", "G_B"),
    training_kind="cyclegan",
)

PaddingType = Literal["reflect", "replicate", "zero"]

N_DOWNSAMPLING = 2  # fixed in the official ResnetGenerator
_FIRST_BLOCK_INDEX = 4 + 3 * N_DOWNSAMPLING  # pad, conv, norm, relu, then conv, norm, relu per downsampling


class ResnetBlock(nn.Module):
    """Two 3x3 convs with a residual connection (official ``ResnetBlock``)."""

    def __init__(self, dim: int, padding_type: PaddingType, norm_layer, use_dropout: bool, use_bias: bool):
        super().__init__()
        self.conv_block = self.build_conv_block(dim, padding_type, norm_layer, use_dropout, use_bias)

    @staticmethod
    def _padding(padding_type: PaddingType) -> tuple[list[nn.Module], int]:
        if padding_type == "reflect":
            return [nn.ReflectionPad2d(1)], 0
        if padding_type == "replicate":
            return [nn.ReplicationPad2d(1)], 0
        if padding_type == "zero":
            return [], 1
        raise ValueError(f"padding_type must be 'reflect', 'replicate' or 'zero', got {padding_type!r}.")

    def build_conv_block(self, dim, padding_type, norm_layer, use_dropout, use_bias) -> nn.Sequential:
        pad, p = self._padding(padding_type)
        conv_block = [*pad, nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim)]
        conv_block += [nn.ReLU(True)]
        if use_dropout:
            conv_block += [nn.Dropout(0.5)]
        pad, p = self._padding(padding_type)
        conv_block += [*pad, nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim)]
        return nn.Sequential(*conv_block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """7x7 conv, two stride-2 downsamplings, ``n_blocks`` ResNet blocks, two transposed-conv upsamplings, tanh."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        ngf: int = 64,
        norm_layer=nn.BatchNorm2d,
        use_dropout: bool = False,
        n_blocks: int = 6,
        padding_type: PaddingType = "reflect",
    ):
        super().__init__()
        use_bias = convs_have_bias(norm_layer)
        model = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
            norm_layer(ngf),
            nn.ReLU(True),
        ]
        for i in range(N_DOWNSAMPLING):
            mult = 2**i
            model += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                norm_layer(ngf * mult * 2),
                nn.ReLU(True),
            ]
        mult = 2**N_DOWNSAMPLING
        for _ in range(n_blocks):
            model += [ResnetBlock(ngf * mult, padding_type, norm_layer, use_dropout, use_bias)]
        for i in range(N_DOWNSAMPLING):
            mult = 2 ** (N_DOWNSAMPLING - i)
            model += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, kernel_size=3, stride=2, padding=1, output_padding=1, bias=use_bias
                ),
                norm_layer(ngf * mult // 2),
                nn.ReLU(True),
            ]
        # The last conv always has a bias: no norm follows it.
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - the official argument name
        return self.model(input)


@dataclass(frozen=True)
class Config:
    """ResnetGenerator hyper-parameters; defaults are ``define_G(3, 3, 64, 'resnet_9blocks', norm='instance')``."""

    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    n_blocks: int = 9
    norm: Norm = "instance"
    use_dropout: bool = False
    padding_type: PaddingType = "reflect"

    def __post_init__(self):
        if min(self.input_nc, self.output_nc, self.ngf) < 1 or self.n_blocks < 0:
            raise ValueError(f"input_nc, output_nc and ngf must be >= 1 and n_blocks >= 0, got {self}.")
        if self.norm not in ("instance", "batch", "none"):
            raise ValueError(f"norm must be 'instance', 'batch' or 'none', got {self.norm!r}.")
        if self.padding_type not in ("reflect", "replicate", "zero"):
            raise ValueError(f"padding_type must be 'reflect', 'replicate' or 'zero', got {self.padding_type!r}.")


def build(config: Config) -> nn.Module:
    """Construct the ResnetGenerator with the official module names."""
    return ResnetGenerator(
        config.input_nc,
        config.output_nc,
        config.ngf,
        norm_layer=get_norm_layer(config.norm),
        use_dropout=config.use_dropout,
        n_blocks=config.n_blocks,
        padding_type=config.padding_type,
    )


def inference_networks(module: nn.Module, role: str = "G") -> dict[str, nn.Module]:
    """The generator under its file's role ("G_A" translates A to B, "G_B" back); the mode makes no difference."""
    return {role: module}


def init_weights(module: nn.Module) -> None:
    """junyanz's ``init_weights(net, 'normal', 0.02)``, as CycleGAN trains."""
    init_normal(module, 0.02)


def describe(config: Config | Mapping) -> ModelInfo:
    """test.py's conventions: -1..1 in, (x + 1) / 2 * 255 cast to uint8 out (truncation); two stride-2 convs
    down and two up, so sides that are multiples of 4 come back unchanged."""
    config_from(Config, config)  # validates the values
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="image",
        preprocessing={"input_range": [-1.0, 1.0], "output_range": [-1.0, 1.0], "output_rounding": "truncate",
                       "size_multiple": 2**N_DOWNSAMPLING, "fixed_size": None},
    )


_KEY = re.compile(r"^model\.\d+\.(conv_block\.\d+\.)?(weight|bias|running_mean|running_var|num_batches_tracked)$")
_BLOCK_KEY = re.compile(r"^model\.(\d+)\.conv_block\.(\d+)\.weight$")


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for keys ``model.<i>[.conv_block.<j>].*`` with a 7x7 first conv at ``model.1``."""
    first = state_dict.get("model.1.weight")
    if first is None or first.ndim != 4 or tuple(first.shape[2:]) != (7, 7):
        return False
    return all(_KEY.match(key) for key in state_dict)


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.``/``_orig_mod.``, drop stale InstanceNorm statistics, complete old BatchNorm keys."""
    return add_missing_batch_counts(drop_unowned_norm_statistics(strip_prefixes(state_dict)))


def _weight(state_dict: Mapping[str, torch.Tensor], key: str, what: str) -> torch.Tensor:
    tensor = state_dict.get(key)
    if tensor is None or tensor.ndim != 4:
        raise CheckpointError(
            f"not a CycleGAN ResNet generator: expected '{key}' ({what}), a 4-d conv weight. "
            "Check that the file is a ResnetGenerator state dict (latest_net_G*.pth)."
        )
    return tensor


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """Read every hyper-parameter from key names and shapes.

    Raises:
        CheckpointError: the keys do not form a ResnetGenerator.
    """
    first = _weight(state_dict, "model.1.weight", "the first 7x7 conv")
    ngf, input_nc = first.shape[0], first.shape[1]

    convs_by_block: dict[int, list[int]] = {}
    for key, tensor in state_dict.items():
        found = _BLOCK_KEY.match(key)
        if found and tensor.ndim == 4:
            convs_by_block.setdefault(int(found.group(1)), []).append(int(found.group(2)))
    n_blocks = len(convs_by_block)
    if sorted(convs_by_block) != list(range(_FIRST_BLOCK_INDEX, _FIRST_BLOCK_INDEX + n_blocks)):
        raise CheckpointError(
            f"not a CycleGAN ResNet generator: ResNet blocks must be model.{_FIRST_BLOCK_INDEX}, "
            f"model.{_FIRST_BLOCK_INDEX + 1}, ... without gaps, found {sorted(convs_by_block)}."
        )

    # Where the two 3x3 convs of a block sit: pad modules (reflect/replicate) shift them by one, a Dropout
    # between them shifts the second one more. Reflect and replicate look the same; official nets use reflect.
    layouts = {(1, 5): ("reflect", False), (1, 6): ("reflect", True), (0, 3): ("zero", False), (0, 4): ("zero", True)}
    padding_type, use_dropout = "reflect", False
    if n_blocks:
        positions = {tuple(sorted(p)) for p in convs_by_block.values()}
        if len(positions) != 1 or next(iter(positions)) not in layouts:
            raise CheckpointError(
                "not a CycleGAN ResNet generator: block convs expected at conv_block.1/.5 (reflect), .1/.6 "
                f"(reflect + dropout), .0/.3 (zero) or .0/.4 (zero + dropout), found {sorted(positions)}."
            )
        padding_type, use_dropout = layouts[next(iter(positions))]

    norm = infer_norm(state_dict, norm_key="model.2", conv_key="model.1")  # the first conv and its norm

    last_index = _FIRST_BLOCK_INDEX + n_blocks + 3 * N_DOWNSAMPLING + 1
    last = _weight(state_dict, f"model.{last_index}.weight", f"the final 7x7 conv after {n_blocks} ResNet blocks")
    return Config(
        input_nc=int(input_nc),
        output_nc=int(last.shape[0]),
        ngf=int(ngf),
        n_blocks=n_blocks,
        norm=norm,
        use_dropout=use_dropout,
        padding_type=padding_type,
    )


def example_inputs(
    config: Config, network: str = "G", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """A random image batch in -1..1 (``size`` defaults to 256, the official test size)."""
    side = 256 if size is None else size
    generator = torch.Generator().manual_seed(0)
    return {"input": torch.rand(batch, config.input_nc, side, side, generator=generator) * 2 - 1}
