"""pix2pix's U-Net generator.

Paper: Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017.
Official code mirrored: junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``: ``get_norm_layer``,
``UnetGenerator`` and ``UnetSkipConnectionBlock`` (``netG`` = ``unet_256`` (num_downs=8) / ``unet_128`` (7)).

Checkpoints read: ``torch.save(net.state_dict())`` as ``BaseModel.save_networks`` writes it
(``latest_net_G.pth``; released models as ``<name>.pth``), zip or legacy serialization.

Quirks:
- The network is built inside out: each ``UnetSkipConnectionBlock`` wraps the next one in its Sequential
  ``model``, so keys nest one ``.model.<k>`` level per downsampling (``model.model.0`` is the outermost
  down-conv, ``model.model.1.model.1`` the next one...). ``num_downs`` is the nesting depth.
- With BatchNorm no conv has a bias except the outermost up-conv, even the outermost and innermost
  down-convs that no norm follows; with InstanceNorm every conv has one.
- ``use_dropout`` appends Dropout(0.5) at the end of the ``ngf * 8`` middle blocks, so it shifts no index and
  cannot be read from a checkpoint; it only matters in train mode.
- The official ``test.py`` only calls ``eval()`` with ``--eval``, and the pix2pix scripts do not pass it: as in
  the paper, the generator runs with BatchNorm on the statistics of the image itself and Dropout active (so the
  output is random). We load in ``eval()`` (running statistics, no dropout); ``set_paper_test_mode`` offers the
  paper's behaviour as an explicit option.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

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
    arch="pix2pix_unet",
    title="pix2pix U-Net",
    tasks=("translate",),
    file_names=("latest_net_G.pth", "*_net_G.pth"),
    training_kind="pix2pix",
)


class UnetSkipConnectionBlock(nn.Module):
    """Down-conv, the inner submodule, up-conv; the input is concatenated to the output (except outermost).

    ::

        X -------------------identity---------------------- X
          |-- downsampling -- |submodule| -- upsampling --|
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm_layer=nn.BatchNorm2d,
        use_dropout: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        use_bias = convs_have_bias(norm_layer)
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)

        if outermost:
            # Has a bias whatever the norm: no norm follows it.
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, norm_layer(inner_nc), submodule, uprelu, upconv, norm_layer(outer_nc)]
            if use_dropout:
                model += [nn.Dropout(0.5)]  # appended last: shifts no index, invisible in the state dict
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net of ``num_downs`` nested skip blocks: a 2**num_downs image reaches 1x1 at the bottleneck."""

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        num_downs: int,
        ngf: int = 64,
        norm_layer=nn.BatchNorm2d,
        use_dropout: bool = False,
    ):
        super().__init__()
        # Built from the innermost block outwards, as in the official code.
        unet_block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, norm_layer=norm_layer)
        for _ in range(num_downs - 5):
            unet_block = UnetSkipConnectionBlock(
                ngf * 8, ngf * 8, submodule=unet_block, norm_layer=norm_layer, use_dropout=use_dropout
            )
        unet_block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=unet_block, norm_layer=norm_layer)
        unet_block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=unet_block, norm_layer=norm_layer)
        unet_block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=unet_block, norm_layer=norm_layer)
        self.model = UnetSkipConnectionBlock(
            output_nc, ngf, input_nc=input_nc, submodule=unet_block, outermost=True, norm_layer=norm_layer
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - the official argument name
        return self.model(input)


@dataclass(frozen=True)
class Config:
    """UnetGenerator hyper-parameters; defaults are pix2pix's ``define_G(3, 3, 64, 'unet_256', norm='batch')``.

    ``use_dropout`` is not stored in checkpoints; it defaults to True as pix2pix trains (it acts in train mode only).
    """

    input_nc: int = 3
    output_nc: int = 3
    num_downs: int = 8
    ngf: int = 64
    norm: Norm = "batch"
    use_dropout: bool = True

    def __post_init__(self):
        if min(self.input_nc, self.output_nc, self.ngf) < 1:
            raise ValueError(f"input_nc, output_nc and ngf must be >= 1, got {self}.")
        # The official constructor always builds 5 levels; fewer num_downs would silently build 5.
        if self.num_downs < 5:
            raise ValueError(f"num_downs must be >= 5 (unet_128 = 7, unet_256 = 8), got {self.num_downs}.")
        if self.norm not in ("batch", "instance", "none"):
            raise ValueError(f"norm must be 'batch', 'instance' or 'none', got {self.norm!r}.")


def size_multiple(config: Config) -> int:
    """Height and width must be multiples of 2**num_downs (each level halves them)."""
    return 2**config.num_downs


def build(config: Config) -> nn.Module:
    """Construct the UnetGenerator with the official module names."""
    return UnetGenerator(
        config.input_nc,
        config.output_nc,
        config.num_downs,
        config.ngf,
        norm_layer=get_norm_layer(config.norm),
        use_dropout=config.use_dropout,
    )


def inference_networks(module: nn.Module, role: str = "G") -> dict[str, nn.Module]:
    """The generator under its file's role, in eval mode (``set_paper_test_mode`` gives the paper's test mode)."""
    return {role: module}


def init_weights(module: nn.Module) -> None:
    """junyanz's ``init_weights(net, 'normal', 0.02)``, as pix2pix trains."""
    init_normal(module, 0.02)


def describe(config: Config | Mapping) -> ModelInfo:
    """test.py's conventions: -1..1 in, (x + 1) / 2 * 255 cast to uint8 out (truncation); sides a multiple of 2**num_downs."""
    config = config_from(Config, config)
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="image",
        preprocessing={"input_range": [-1.0, 1.0], "output_range": [-1.0, 1.0], "output_rounding": "truncate",
                       "size_multiple": size_multiple(config), "fixed_size": None},
        native_size=size_multiple(config),
    )


def set_paper_test_mode(model: nn.Module, *, batch_statistics: bool, dropout: bool) -> None:
    """Run as the official ``test.py`` without ``--eval`` does (the pix2pix paper's test setting), or part of it.

    Args:
        model: a loaded generator (after ``eval()``).
        batch_statistics: BatchNorm normalises with the statistics of the current batch (the image itself at
            batch size 1) instead of the running statistics.
        dropout: Dropout(0.5) stays active, so the output is random.

    The running statistics are left untouched: the official train-mode pass also updates them, which does not
    change its outputs but would change every later ``eval()`` result of a cached model.
    """
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.train(batch_statistics)
            # In train mode, track_running_stats=False means "use batch statistics, update nothing".
            module.track_running_stats = not batch_statistics
        elif isinstance(module, nn.Dropout):
            module.train(dropout)


_KEY = re.compile(r"^model\.model\.(\d+\.model\.)*\d+\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for nested ``model.model.<k>[.model.<k>...]`` keys with a 4x4 outermost down-conv."""
    first = state_dict.get("model.model.0.weight")
    if first is None or first.ndim != 4 or tuple(first.shape[2:]) != (4, 4):
        return False
    return "model.model.1.model.1.weight" in state_dict and all(_KEY.match(key) for key in state_dict)


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.``/``_orig_mod.``, drop stale InstanceNorm statistics, complete old BatchNorm keys."""
    return add_missing_batch_counts(drop_unowned_norm_statistics(strip_prefixes(state_dict)))


def _weight(state_dict: Mapping[str, torch.Tensor], key: str, what: str) -> torch.Tensor:
    tensor = state_dict.get(key)
    if tensor is None or tensor.ndim != 4:
        raise CheckpointError(
            f"not a pix2pix U-Net generator: expected '{key}' ({what}), a 4-d conv weight. "
            "Check that the file is a UnetGenerator state dict (latest_net_G.pth)."
        )
    return tensor


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """Read every hyper-parameter from key names and shapes (``use_dropout`` cannot be: it stays True).

    Raises:
        CheckpointError: the keys do not form a UnetGenerator.
    """
    first = _weight(state_dict, "model.model.0.weight", "the outermost down-conv")
    ngf, input_nc = first.shape[0], first.shape[1]
    # ConvTranspose2d weights are (in, out, k, k).
    output_nc = _weight(state_dict, "model.model.3.weight", "the outermost up-conv").shape[1]

    # Level 1 is the outermost block; its submodule sits at index 1, every deeper block's at index 3.
    num_downs, prefix = 1, "model.model.1.model."
    while f"{prefix}1.weight" in state_dict:
        num_downs += 1
        prefix += "3.model."
    if num_downs < 5:
        raise CheckpointError(
            f"not a pix2pix U-Net generator: found {num_downs} nested down-convs "
            "(model.model.1.model.1, ...3.model.1, ...), expected at least 5 (unet_256 has 8)."
        )

    # The second level's down-conv is the first one followed by a norm.
    norm = infer_norm(state_dict, norm_key="model.model.1.model.2", conv_key="model.model.1.model.1")
    return Config(input_nc=int(input_nc), output_nc=int(output_nc), num_downs=num_downs, ngf=int(ngf), norm=norm)


def example_inputs(
    config: Config, network: str = "G", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """A random image batch in -1..1 (``size`` defaults to 2**num_downs, the smallest valid side)."""
    side = size_multiple(config) if size is None else size
    generator = torch.Generator().manual_seed(0)
    return {"input": torch.rand(batch, config.input_nc, side, side, generator=generator) * 2 - 1}
