"""Class-conditional DCGAN with a one-hot label: the eye generator of ``omniart-eye-generator``.

Package: ``omniart-eye-generator`` 0.1 on PyPI (MIT; Rogier Knoester, part of a Master's thesis at the
University of Amsterdam; github.com/rogierknoester/omniart_eye_generator). Mirrored: its ``generator.py``,
class ``Generator``; weights ``generator_model_state.pth`` (a plain state dict in PyTorch's legacy, pre-1.6
serialization), trained on the OmniArt Eye Dataset (eyes cut out of paintings) in eight colour classes,
``eye_generator.classes``: amber, blue, brown, gray, grayscale, green, hazel, red.

The network is pytorch/examples' DCGAN generator (``dcgan.generator_layers``) one layer deeper, 128x128 from
six ConvTranspose2d layers (ngf * 16 channels first), whose input is z concatenated with the one-hot class
vector, plus one module: ``nn.Dropout(0.2)`` after the first ReLU. That Dropout takes Sequential index 3 and
shifts every later key by one (``main.4.weight`` where a DCGAN has ``main.3.weight``), which tells this file
apart from an unconditional DCGAN; ``cgan`` (our own) embeds the label instead (``embed.weight``).

Quirks:
- nz and the number of classes are not stored: ``main.0.weight`` takes ``nz + num_classes`` input channels.
  ``infer_config`` takes nz = 100 (the package's ``latent_space_size``, DCGAN's default) and the rest as
  classes, and refuses a file with 100 input channels or fewer rather than guess.
- The weights were saved from CUDA tensors and the package loads them on import with a bare ``torch.load``, so
  ``import omniart_eye_generator`` fails on a machine without a GPU. The studio reads the file with
  ``map_location="cpu"`` and never imports the package.
- ``generate_eye`` samples in eval mode (BatchNorm running statistics, Dropout off), as the studio does.
- The package turns the tanh output into pixels with ``np.clip((x + 1) / 2 * 256, 0, 255)`` then ``uint8``
  (truncation): 256 where the usual mapping has 255, so a pixel is up to one level brighter than
  ``(x + 1) / 2 * 255`` gives and the top 1/256 of the range saturates at 255. The studio follows the package
  (``output_scale`` 256, truncation).
- Its ``forward`` squeezes z, so (N, nz) and (N, nz, 1, 1) both work, and takes the one-hot labels as floats
  (N, num_classes). Here labels may also be class indices (N,) int64, as the studio's generate task and the
  ONNX export pass them; they become the same one-hot vector.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models import dcgan
from ganstudio.models.spec import ArchitectureSpec, LatentSpec, ModelInfo, config_from

SPEC = ArchitectureSpec(
    arch="cdcgan",
    title="conditional DCGAN with one-hot labels (omniart-eye-generator)",
    tasks=("generate",),
)

DEFAULT_NZ = 100  # the package's latent_space_size; not recoverable from the weights
DROPOUT_INDEX = 3  # after the first ConvTranspose2d, BatchNorm2d and ReLU

_MAIN_KEY = re.compile(r"^main\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)$")


def generator_layers(in_channels: int, ngf: int, nc: int, n_layers: int, dropout: float) -> list[nn.Module]:
    """DCGAN's generator Sequential with ``nn.Dropout(dropout)`` inserted after the first ReLU (index 3)."""
    layers = dcgan.generator_layers(in_channels, ngf, nc, n_layers)
    layers.insert(DROPOUT_INDEX, nn.Dropout(dropout))
    return layers


def conv_indices(n_layers: int) -> list[int]:
    """Sequential indices of the ConvTranspose2d layers: 0, then 4, 7, 10, ... (the Dropout shifts them by one)."""
    return [0] + [DROPOUT_INDEX + 1 + 3 * k for k in range(n_layers - 1)]


class Generator(nn.Module):
    """(noise (N, nz[, 1, 1]), labels (N,) int64 or one-hot (N, num_classes)) -> image (N, nc, S, S) in -1..1."""

    def __init__(self, nz: int = DEFAULT_NZ, num_classes: int = 8, ngf: int = 64, nc: int = 3, n_layers: int = 6,
                 dropout: float = 0.2):
        super().__init__()
        self.num_classes = num_classes
        self.main = nn.Sequential(*generator_layers(nz + num_classes, ngf, nc, n_layers, dropout))

    def forward(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        noise = noise.reshape(noise.shape[0], -1)
        if labels.dim() == 1:  # class indices -> the package's one-hot vectors
            labels = labels[:, None] == torch.arange(self.num_classes, device=labels.device)
        x = torch.cat([noise, labels.to(noise.dtype)], dim=1)
        return self.main(x[:, :, None, None])


@dataclass(frozen=True)
class Config:
    """Hyper-parameters; the defaults are the package's (``generator.py``'s module constants)."""

    nz: int = DEFAULT_NZ
    num_classes: int = 8
    ngf: int = 64
    nc: int = 3
    n_layers: int = 6  # ConvTranspose2d layers: 6 -> 128x128
    dropout: float = 0.2  # only acts in train mode; not stored in the weights


def output_size(config: Config) -> int:
    """Side of the generated images: 4 after the first layer, doubled by each next one."""
    return 4 * 2 ** (config.n_layers - 1)


def fixed_size(config: Config) -> int:
    """The only image size of this config."""
    return output_size(config)


def _layout(state_dict: Mapping[str, torch.Tensor]) -> tuple[int, int, int, int]:
    """``(in_channels, ngf, nc, n_layers)`` read from the conv shapes.

    Raises:
        CheckpointError: the ``main.*`` keys are not laid out like this generator.
    """
    indices = dcgan.conv_layer_indices(state_dict)
    n_layers = len(indices)
    if n_layers < 2 or indices != conv_indices(n_layers):
        raise CheckpointError(
            f"not a '{SPEC.arch}' generator: expected ConvTranspose2d weights at main.0, main.4, main.7, main.10, ... "
            f"(a Dropout at main.3), found 4-D weights at indices {indices or 'none'}."
        )
    first, last = state_dict["main.0.weight"], state_dict[f"main.{indices[-1]}.weight"]
    ngf = int(last.shape[0])
    for index in indices:
        if tuple(state_dict[f"main.{index}.weight"].shape[2:]) != (4, 4):
            raise CheckpointError(f"not a '{SPEC.arch}' generator: main.{index}.weight is not a 4x4 kernel.")
    if int(first.shape[1]) != ngf * 2 ** (n_layers - 2):
        raise CheckpointError(
            f"not a '{SPEC.arch}' generator: main.0.weight has {int(first.shape[1])} output channels; with {n_layers} "
            f"layers and ngf={ngf} (from the last layer) the DCGAN widths give {ngf * 2 ** (n_layers - 2)}."
        )
    return int(first.shape[0]), ngf, int(last.shape[1]), n_layers


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for only ``main.<i>`` keys with 4x4 transposed convs at 0, 4, 7, 10, ... and BatchNorm at main.1."""
    if not state_dict or not all(_MAIN_KEY.match(key) for key in state_dict):
        return False
    if "main.1.running_mean" not in state_dict:
        return False
    try:
        _layout(state_dict)
    except CheckpointError:
        return False
    return True


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """As for DCGAN: strip ``module.`` / ``_orig_mod.``, add a missing BatchNorm ``num_batches_tracked``."""
    return dcgan.normalize_keys(state_dict)


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """ngf, nc and n_layers from the convs; nz = 100 and num_classes = the first conv's other input channels.

    Raises:
        CheckpointError: the keys are not this generator's, or the first conv takes 100 inputs or fewer
            (z and the classes cannot be told apart).
    """
    in_channels, ngf, nc, n_layers = _layout(state_dict)
    if in_channels <= DEFAULT_NZ:
        raise CheckpointError(
            f"'{SPEC.arch}' generator: main.0.weight takes {in_channels} input channels, z and the one-hot classes "
            f"together; the studio reads z as {DEFAULT_NZ} (the usual size, which the weights do not record), "
            "which leaves no room for the classes, so it cannot tell how to split them."
        )
    return Config(nz=DEFAULT_NZ, num_classes=in_channels - DEFAULT_NZ, ngf=ngf, nc=nc, n_layers=n_layers)


def build(config: Config) -> Generator:
    """The generator with the package's module names (``main.<i>``)."""
    return Generator(nz=config.nz, num_classes=config.num_classes, ngf=config.ngf, nc=config.nc,
                     n_layers=config.n_layers, dropout=config.dropout)


def inference_networks(module: Generator, role: str = "G") -> dict[str, nn.Module]:
    """The generator under its file's role (eval mode: running statistics, Dropout off, as the package samples)."""
    return {role: module}


def init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation (the package trains from it)."""
    module.apply(dcgan.weights_init)


def describe(config: Config | Mapping) -> ModelInfo:
    """z (nz, 1, 1) plus a class index; the package's conversion: ``clip((x + 1) / 2 * 256)`` cast to uint8."""
    config = config_from(Config, config)
    side = output_size(config)
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="latent",
        # eye_generator.__to_image: np.clip(((x + 1) / 2.0) * 256, 0, 255), then np.uint8 (truncation)
        preprocessing={**dcgan.image_conventions(side), "output_scale": 256, "output_rounding": "truncate"},
        labels=tuple(str(i) for i in range(config.num_classes)),
        label_kind="classes",
        latent=LatentSpec(size=config.nz, shape="nchw", num_classes=config.num_classes, class_input="index"),
        native_size=side,
        channels=config.nc,
    )


def example_inputs(
    config: Config, network: str = "G", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """``{"z": (batch, nz, 1, 1), "labels": (batch,) int64}``; ``network`` and ``size`` are ignored."""
    generator = torch.Generator().manual_seed(0)
    return {
        "z": torch.randn(batch, config.nz, 1, 1, generator=generator),
        "labels": torch.randint(0, config.num_classes, (batch,), generator=generator),
    }
