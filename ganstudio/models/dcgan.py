"""DCGAN generator and discriminator, as in pytorch/examples.

Paper: Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016 (arXiv:1511.06434).
Mirrors pytorch/examples ``dcgan/main.py``, classes ``Generator`` and
``Discriminator`` (``self.main`` = one ``nn.Sequential``), so the files that
script writes (``netG_epoch_<N>.pth``, ``netD_epoch_<N>.pth``: plain state dicts
with keys ``main.<i>.*``) load with ``strict=True``.

The official network makes 64x64 images from five ConvTranspose2d layers. The
number of layers is generalised (``n_layers``): each layer doubles the side, so
four layers make 32x32 (e.g. MNIST padded from 28 to 32), five make 64x64. The
widths follow the official rule (the first layer has ``ngf * 2**(n_layers - 2)``
channels, halving down to ``ngf``), so the official 64x64 layout keeps its exact
key indices ``main.0, main.1, main.3, ..., main.12``.

Quirks:
- The official script never calls ``eval()``: every image it writes comes from
  the generator in train mode, BatchNorm normalising with the statistics of the
  current batch of z (so a sample depends on the rest of its batch). The studio
  samples in eval mode (BatchNorm running statistics, one sample independent of
  the others); ``model.train()`` reproduces the official behaviour.
- The script saves sample grids with min-max normalisation over the whole batch;
  the studio maps the tanh output -1..1 to 0..255 itself.
- The official file has no ``module.`` prefix (``main.`` is the Sequential's
  attribute); third-party retrainings sometimes carry one: it is stripped.
- gan-face-generate (MIT, PyPI) ships this generator, trained on DigiFace-1M, as ``weights.tar`` =
  ``{"netG_state_dict": ...}`` (the PyTorch DCGAN tutorial's checkpoint); ``checkpoints.read_network_state_dict``
  takes it out of that container. Its command shows a face through ``make_grid(normalize=True)``, a min-max
  stretch: the built-in ``faces-dcgan`` entry asks for the same (``output_normalize``).
- Files written with PyTorch < 0.4 have no BatchNorm ``num_batches_tracked``;
  ``normalize_keys`` adds it as 0, as PyTorch's own loader does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models.keys import add_missing_batch_counts, strip_prefixes
from ganstudio.models.spec import ArchitectureSpec, LatentSpec, ModelInfo, config_from

SPEC = ArchitectureSpec(
    arch="dcgan",
    title="DCGAN (pytorch/examples)",
    tasks=("generate",),
    file_names=("netG_epoch_*.pth",),
    training_kind="dcgan",
)

# Every key of a DCGAN generator: a ConvTranspose2d weight or BatchNorm2d state at one Sequential index.
_MAIN_KEY = re.compile(r"^main\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


# --------------------------------------------------------------------------- layers


def generator_layers(in_channels: int, ngf: int, nc: int, n_layers: int) -> list[nn.Module]:
    """The official generator's Sequential, generalised to ``n_layers`` ConvTranspose2d layers.

    Layer ``k`` sits at index ``3 * k`` (ConvTranspose2d, BatchNorm2d, ReLU); the last
    ConvTranspose2d is followed by Tanh. The first layer maps a 1x1 input to 4x4, each
    next one doubles the side.
    """
    widths = [ngf * 2 ** (n_layers - 2 - i) for i in range(n_layers - 1)]  # 64x64: ngf*8, *4, *2, *1
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(in_channels, widths[0], 4, 1, 0, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(True),
    ]
    for width_in, width_out in pairwise(widths):
        layers += [
            nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width_out),
            nn.ReLU(True),
        ]
    layers += [nn.ConvTranspose2d(widths[-1], nc, 4, 2, 1, bias=False), nn.Tanh()]
    return layers


def discriminator_layers(nc: int, ndf: int, n_layers: int) -> list[nn.Module]:
    """The official discriminator's convolutional trunk, without its last 4x4 conv and Sigmoid.

    ``n_layers - 1`` stride-2 convs take a side of ``output_size`` down to 4x4 with
    ``ndf * 2**(n_layers - 2)`` channels. No BatchNorm after the first conv (as in the paper).
    """
    widths = [ndf * 2**i for i in range(n_layers - 1)]  # 64x64: ndf, *2, *4, *8
    layers: list[nn.Module] = [nn.Conv2d(nc, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    for width_in, width_out in pairwise(widths):
        layers += [
            nn.Conv2d(width_in, width_out, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width_out),
            nn.LeakyReLU(0.2, inplace=True),
        ]
    return layers


def weights_init(module: nn.Module) -> None:
    """The official initialisation (``netG.apply(weights_init)``): convs N(0, 0.02), BatchNorm N(1, 0.02) and 0."""
    classname = module.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# --------------------------------------------------------------------------- networks


class Generator(nn.Module):
    """z (N, nz, 1, 1) or (N, nz) -> image (N, nc, S, S) in -1..1, S = 4 * 2**(n_layers - 1)."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 3, n_layers: int = 5):
        super().__init__()
        self.main = nn.Sequential(*generator_layers(nz, ngf, nc, n_layers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        return self.main(z)


class Discriminator(nn.Module):
    """image (N, nc, S, S) -> probability that it is real, shape (N,). Used for training only.

    Kept as in the official script (Sigmoid output, for ``nn.BCELoss``) so that its
    ``netD_epoch_<N>.pth`` files load and training can resume from them.
    """

    def __init__(self, nc: int = 3, ndf: int = 64, n_layers: int = 5):
        super().__init__()
        width = ndf * 2 ** (n_layers - 2)
        self.main = nn.Sequential(
            *discriminator_layers(nc, ndf, n_layers),
            nn.Conv2d(width, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.main(image).view(-1, 1).squeeze(1)


# --------------------------------------------------------------------------- config and loading


@dataclass(frozen=True)
class Config:
    """Hyper-parameters of the generator; defaults are the official script's (64x64 RGB)."""

    nz: int = 100
    ngf: int = 64
    nc: int = 3
    n_layers: int = 5  # ConvTranspose2d layers: 5 -> 64x64, 4 -> 32x32


def output_size(config: Config) -> int:
    """Side of the generated images: 4 after the first layer, doubled by each next one."""
    return 4 * 2 ** (config.n_layers - 1)


def conv_layer_indices(state_dict: Mapping[str, torch.Tensor], prefix: str = "main.") -> list[int]:
    """Sequential indices of the 4-D weights (the ConvTranspose2d layers) under ``prefix``, sorted."""
    indices = []
    for key, tensor in state_dict.items():
        if key.startswith(prefix) and key.endswith(".weight") and tensor.dim() == 4:
            index = key[len(prefix) : -len(".weight")]
            if index.isdigit():
                indices.append(int(index))
    return sorted(indices)


def infer_generator_layout(state_dict: Mapping[str, torch.Tensor], *, arch: str = SPEC.arch) -> tuple[int, int, int, int]:
    """``(in_channels, ngf, nc, n_layers)`` of a DCGAN-style ``main`` Sequential, read from its conv shapes.

    Shared with the class-conditional variant (``cgan``), whose ``main`` has the same layout.

    Raises:
        CheckpointError: the ``main.*`` keys are not laid out like a DCGAN generator.
    """
    indices = conv_layer_indices(state_dict)
    n_layers = len(indices)
    expected = [3 * k for k in range(n_layers)]
    if n_layers < 2 or indices != expected:
        raise CheckpointError(
            f"not a '{arch}' generator: expected ConvTranspose2d weights at main.0.weight, main.3.weight, "
            f"main.6.weight, ... (at least two), found 4-D weights at indices {indices or 'none'}."
        )
    first = state_dict["main.0.weight"].shape
    last = state_dict[f"main.{expected[-1]}.weight"].shape
    in_channels, ngf, nc = int(first[0]), int(last[0]), int(last[1])
    for index in expected:
        shape = tuple(state_dict[f"main.{index}.weight"].shape)
        if shape[2:] != (4, 4):
            raise CheckpointError(
                f"not a '{arch}' generator: main.{index}.weight has a {shape[2:]} kernel, expected 4x4."
            )
    if int(first[1]) != ngf * 2 ** (n_layers - 2):
        raise CheckpointError(
            f"not a '{arch}' generator: main.0.weight has {int(first[1])} output channels; with {n_layers} layers "
            f"and ngf={ngf} (from the last layer) the official widths give {ngf * 2 ** (n_layers - 2)}."
        )
    return in_channels, ngf, nc, n_layers


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for a DCGAN generator: only ``main.<i>`` keys, 4x4 transposed convs at 0, 3, 6, ... with BatchNorm after.

    StarGAN's generator also uses ``main.<i>`` with BatchNorm-like keys, but with 7x7 convs
    and nested residual blocks; the DCGAN discriminator has no norm at ``main.1``; the
    class-conditional ``cgan`` has an ``embed.weight`` key.
    """
    if not state_dict or not all(_MAIN_KEY.match(key) for key in state_dict):
        return False
    if "main.1.running_mean" not in state_dict:
        return False
    try:
        infer_generator_layout(state_dict)
    except CheckpointError:
        return False
    return True


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.`` / ``_orig_mod.`` prefixes and complete BatchNorm keys of files from PyTorch < 0.4."""
    # the script dates from 2017: files from PyTorch < 0.4 lack num_batches_tracked
    return add_missing_batch_counts(strip_prefixes(state_dict))


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """nz from the first ConvTranspose2d's input channels, ngf and nc from the last one's, n_layers from their count.

    Raises:
        CheckpointError: the keys are not a DCGAN generator's.
    """
    nz, ngf, nc, n_layers = infer_generator_layout(state_dict)
    return Config(nz=nz, ngf=ngf, nc=nc, n_layers=n_layers)


def build(config: Config) -> Generator:
    """The generator, with the official module names (``main.<i>``)."""
    return Generator(nz=config.nz, ngf=config.ngf, nc=config.nc, n_layers=config.n_layers)


def inference_networks(module: Generator, role: str = "G") -> dict[str, nn.Module]:
    """The generator under its file's role, in eval mode (the official script samples in train mode: see above)."""
    return {role: module}


def init_weights(module: nn.Module) -> None:
    """The official initialisation, on every layer."""
    module.apply(weights_init)


def describe(config: Config | Mapping) -> ModelInfo:
    """A seed becomes z ~ N(0, 1) of shape (nz, 1, 1); the output is a tanh image of one fixed side."""
    config = config_from(Config, config)
    side = output_size(config)
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="latent",
        preprocessing=image_conventions(side),
        latent=LatentSpec(size=config.nz, shape="nchw"),
        native_size=side,
        channels=config.nc,
    )


def image_conventions(side: int) -> dict:
    """A tanh image of one fixed side, rounded to 0..255; the input is a latent, not an image."""
    return {"input_range": None, "output_range": [-1.0, 1.0], "output_rounding": "round",
            "size_multiple": None, "fixed_size": side, "output_size": side}


def build_discriminator(config: Config, *, ndf: int = 64) -> Discriminator:
    """The official discriminator for images of ``output_size(config)``, for training."""
    return Discriminator(nc=config.nc, ndf=ndf, n_layers=config.n_layers)


def infer_ndf(state_dict: Mapping[str, torch.Tensor]) -> int:
    """ndf of an official ``netD_epoch_<N>.pth`` (the first conv's output channels), after normalize_keys.

    Raises:
        CheckpointError: there is no 4-D ``main.0.weight``.
    """
    weight = state_dict.get("main.0.weight")
    if weight is None or weight.dim() != 4:
        raise CheckpointError("not a DCGAN discriminator: expected a 4-D 'main.0.weight' (Conv2d nc -> ndf).")
    return int(weight.shape[0])


def example_inputs(
    config: Config, network: str = "G", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """``{"z": (batch, nz, 1, 1)}`` from a standard normal, as the official script draws it.

    ``network`` and ``size`` are ignored: there is one network and its output size is fixed by the config.
    """
    generator = torch.Generator().manual_seed(0)
    return {"z": torch.randn(batch, config.nz, 1, 1, generator=generator)}
