"""PatchGAN discriminators of pix2pix and CycleGAN (used for fine-tuning only).

Paper: Isola, Zhu, Zhou, Efros, "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017
(PatchGAN, and the 1x1 "PixelGAN"); CycleGAN (Zhu et al., ICCV 2017) uses the 70x70 PatchGAN.
Official code mirrored: junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``: ``get_norm_layer``,
``NLayerDiscriminator`` (``netD`` = ``basic``, i.e. n_layers=3, or ``n_layers``) and ``PixelDiscriminator``
(``netD`` = ``pixel``).

Checkpoints read: ``torch.save(net.state_dict())`` as ``BaseModel.save_networks`` writes it
(``latest_net_D.pth`` for pix2pix, ``latest_net_D_A.pth`` / ``latest_net_D_B.pth`` for CycleGAN).
The released models contain generators only; discriminators come from training runs.

Quirks:
- pix2pix's discriminator is conditional: it sees input and output concatenated, so ``input_nc`` is their
  sum (6 for RGB to RGB); CycleGAN's sees one image (3). Both are read from the first conv's shape.
- The first and last convs always have a bias; the middle ones only with InstanceNorm (the official
  ``use_bias`` rule). The output is raw logits (the official GANLoss adds the sigmoid or uses MSE).
- Old CycleGAN files written with PyTorch < 0.4 carry stale InstanceNorm statistics: dropped, as officially.
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
from ganstudio.models.spec import ArchitectureSpec, ModelInfo

SPEC = ArchitectureSpec(
    arch="patchgan",
    title="PatchGAN discriminator",
    tasks=(),  # training only
    file_names=("latest_net_D.pth", "*_net_D.pth", "latest_net_D_A.pth", "latest_net_D_B.pth"),
    exports_onnx=False,
)

NetD = Literal["n_layers", "pixel"]


class NLayerDiscriminator(nn.Module):
    """PatchGAN: ``n_layers`` strided 4x4 convs; each output logit judges one receptive-field patch (70x70 for 3)."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm_layer=nn.BatchNorm2d):
        super().__init__()
        use_bias = convs_have_bias(norm_layer)
        kw, padw = 4, 1
        sequence = [nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]
        nf_mult = 1
        for n in range(1, n_layers):
            nf_mult_prev, nf_mult = nf_mult, min(2**n, 8)
            sequence += [
                nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=2, padding=padw, bias=use_bias),
                norm_layer(ndf * nf_mult),
                nn.LeakyReLU(0.2, True),
            ]
        nf_mult_prev, nf_mult = nf_mult, min(2**n_layers, 8)
        sequence += [
            nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=1, padding=padw, bias=use_bias),
            norm_layer(ndf * nf_mult),
            nn.LeakyReLU(0.2, True),
        ]
        sequence += [nn.Conv2d(ndf * nf_mult, 1, kernel_size=kw, stride=1, padding=padw)]
        self.model = nn.Sequential(*sequence)

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - the official argument name
        return self.model(input)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN ("PixelGAN"): judges every pixel on its own; output has the input's height and width."""

    def __init__(self, input_nc: int, ndf: int = 64, norm_layer=nn.BatchNorm2d):
        super().__init__()
        use_bias = convs_have_bias(norm_layer)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1, stride=1, padding=0),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, stride=1, padding=0, bias=use_bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2, True),
            # Unlike NLayerDiscriminator, the official last conv follows use_bias too.
            nn.Conv2d(ndf * 2, 1, kernel_size=1, stride=1, padding=0, bias=use_bias),
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - the official argument name
        return self.net(input)


@dataclass(frozen=True)
class Config:
    """Discriminator hyper-parameters; defaults are CycleGAN's ``define_D(3, 64, 'basic', norm='instance')``.

    pix2pix uses ``input_nc=6, norm="batch"``. ``netD="n_layers"`` with ``n_layers=3`` is the official
    ``basic``; ``n_layers`` is ignored for ``netD="pixel"``.
    """

    input_nc: int = 3
    ndf: int = 64
    n_layers: int = 3
    norm: Norm = "instance"
    netD: NetD = "n_layers"  # noqa: N815 - the official option name

    def __post_init__(self):
        if min(self.input_nc, self.ndf, self.n_layers) < 1:
            raise ValueError(f"input_nc, ndf and n_layers must be >= 1, got {self}.")
        if self.norm not in ("batch", "instance", "none"):
            raise ValueError(f"norm must be 'batch', 'instance' or 'none', got {self.norm!r}.")
        if self.netD not in ("n_layers", "pixel"):
            raise ValueError(f"netD must be 'n_layers' or 'pixel', got {self.netD!r}.")


def build(config: Config) -> nn.Module:
    """Construct the discriminator with the official module names."""
    norm_layer = get_norm_layer(config.norm)
    if config.netD == "pixel":
        return PixelDiscriminator(config.input_nc, config.ndf, norm_layer=norm_layer)
    return NLayerDiscriminator(config.input_nc, config.ndf, config.n_layers, norm_layer=norm_layer)


def inference_networks(module: nn.Module, role: str = "D") -> dict[str, nn.Module]:
    """The discriminator under its file's role (training uses it; no task runs it)."""
    return {role: module}


def init_weights(module: nn.Module) -> None:
    """junyanz's ``init_weights(net, 'normal', 0.02)``."""
    init_normal(module, 0.02)


def describe(config: Config | Mapping) -> ModelInfo:
    """Fed the same tensors as the generators (-1..1); its output is a map of logits, not an image."""
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="",
        preprocessing={"input_range": [-1.0, 1.0], "output_range": None, "output_rounding": None,
                       "size_multiple": None, "fixed_size": None},
    )


_KEY = re.compile(r"^(model|net)\.\d+\.(weight|bias|running_mean|running_var|num_batches_tracked)$")
_CONV_KEY = re.compile(r"^(model|net)\.(\d+)\.weight$")


def _conv_indices(state_dict: Mapping[str, torch.Tensor], root: str) -> list[int]:
    found = (_CONV_KEY.match(key) for key, tensor in state_dict.items() if tensor.ndim == 4)
    return sorted(int(m.group(2)) for m in found if m and m.group(1) == root)


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for flat ``model.<i>.*`` (4x4 convs) or ``net.<i>.*`` (1x1 convs) keys ending in a 1-channel conv."""
    if not state_dict or not all(_KEY.match(key) for key in state_dict):
        return False
    roots = {key.split(".", 1)[0] for key in state_dict}
    if len(roots) != 1:
        return False
    root = roots.pop()
    convs = _conv_indices(state_dict, root)
    if len(convs) < 3 or convs[0] != 0:
        return False
    first, last = state_dict[f"{root}.0.weight"], state_dict[f"{root}.{convs[-1]}.weight"]
    kernel = (4, 4) if root == "model" else (1, 1)
    return tuple(first.shape[2:]) == kernel and last.shape[0] == 1


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.``/``_orig_mod.``, drop stale InstanceNorm statistics, complete old BatchNorm keys."""
    return add_missing_batch_counts(drop_unowned_norm_statistics(strip_prefixes(state_dict)))


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """Read every hyper-parameter from key names and shapes.

    Raises:
        CheckpointError: the keys do not form an NLayerDiscriminator or a PixelDiscriminator.
    """
    netD = "pixel" if "net.0.weight" in state_dict else "n_layers"
    root = "net" if netD == "pixel" else "model"
    convs = _conv_indices(state_dict, root)
    # Conv positions: NLayer 0, then every 3 modules (conv, norm, LeakyReLU) from 2; Pixel 0, 2, 5.
    n_layers = len(convs) - 2
    expected = [0, *range(2, 3 * n_layers + 3, 3)] if netD == "n_layers" else [0, 2, 5]
    if n_layers < 1 or convs != expected:
        raise CheckpointError(
            f"not a PatchGAN discriminator: expected 4-d conv weights at {root}.0, {root}.2, {root}.5, ... "
            f"({root}.0, .2, .5 for the pixel one), found them at {convs}. "
            "Check that the file is a discriminator state dict (latest_net_D*.pth)."
        )
    first = state_dict[f"{root}.0.weight"]
    # The first middle conv at index 2 is followed by the first norm at index 3.
    norm = infer_norm(state_dict, norm_key=f"{root}.3", conv_key=f"{root}.2")
    return Config(
        input_nc=int(first.shape[1]),
        ndf=int(first.shape[0]),
        n_layers=n_layers if netD == "n_layers" else Config.n_layers,
        norm=norm,
        netD=netD,
    )


def example_inputs(
    config: Config, network: str = "G", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """A random image batch in -1..1 (``size`` defaults to 256, the official training crop; ``network`` is unused)."""
    side = 256 if size is None else size
    generator = torch.Generator().manual_seed(0)
    return {"input": torch.rand(batch, config.input_nc, side, side, generator=generator) * 2 - 1}
