"""Class-conditional DCGAN (our own, no official release).

Papers: Mirza, Osindero, "Conditional Generative Adversarial Nets" (arXiv:1411.1784)
for conditioning the generator on a label; Miyato, Koyama, "cGANs with Projection
Discriminator", ICLR 2018 (arXiv:1802.05637) for the discriminator.

The generator is the DCGAN generator of ``dcgan.py`` (same ``main`` Sequential,
same widths and key indices) whose input is ``z`` concatenated with a learned
label embedding: ``main(cat(z, embed(label)))``. The checkpoint is a plain state
dict with ``embed.weight`` (num_classes, embed_dim) and ``main.<i>.*``; the
``embed.weight`` key is what tells it apart from an unconditional DCGAN.

The discriminator is the DCGAN trunk followed by a projection head: the
features summed over space, ``phi``, give the logit ``linear(phi) + <embed(y), phi>``.
It returns logits (train it with ``BCEWithLogitsLoss`` or a hinge loss).

Generation runs in eval mode (BatchNorm running statistics), like ``dcgan``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models import dcgan
from ganstudio.models.spec import ArchitectureSpec, LatentSpec, ModelInfo, config_from

SPEC = ArchitectureSpec(
    arch="cgan",
    title="class-conditional DCGAN",
    tasks=("generate",),
    training_kind="cgan",
)


class Generator(nn.Module):
    """(z (N, nz, 1, 1) or (N, nz), labels int64 (N,)) -> image (N, nc, S, S) in -1..1."""

    def __init__(
        self, nz: int = 100, ngf: int = 64, nc: int = 1, num_classes: int = 10, embed_dim: int = 10, n_layers: int = 4
    ):
        super().__init__()
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.main = nn.Sequential(*dcgan.generator_layers(nz + embed_dim, ngf, nc, n_layers))

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z[:, :, None, None]
        condition = self.embed(labels)[:, :, None, None]
        return self.main(torch.cat([z, condition], dim=1))


class ProjectionDiscriminator(nn.Module):
    """(image (N, nc, S, S), labels int64 (N,)) -> real/fake logit (N,). Used for training only."""

    def __init__(self, nc: int = 1, ndf: int = 64, num_classes: int = 10, n_layers: int = 4):
        super().__init__()
        width = ndf * 2 ** (n_layers - 2)
        self.main = nn.Sequential(*dcgan.discriminator_layers(nc, ndf, n_layers))
        self.linear = nn.Linear(width, 1)
        self.embed = nn.Embedding(num_classes, width)

    def forward(self, image: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = self.main(image).sum(dim=(2, 3))  # phi(x): (N, width)
        # The projection term is the inner product of the class embedding with phi(x).
        return self.linear(features).squeeze(1) + (self.embed(labels) * features).sum(dim=1)


@dataclass(frozen=True)
class Config:
    """Hyper-parameters; the defaults fit 32x32 single-channel digits (MNIST padded from 28 to 32)."""

    nz: int = 100
    ngf: int = 64
    nc: int = 1
    num_classes: int = 10
    embed_dim: int = 10
    n_layers: int = 4  # ConvTranspose2d layers: 4 -> 32x32, 5 -> 64x64


def output_size(config: Config) -> int:
    """Side of the generated images."""
    return 4 * 2 ** (config.n_layers - 1)


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for ``embed.weight`` (2-D) plus a DCGAN-style ``main`` Sequential and nothing else."""
    embed = state_dict.get("embed.weight")
    if embed is None or embed.dim() != 2:
        return False
    main_keys = {key: value for key, value in state_dict.items() if key != "embed.weight"}
    return dcgan.matches(main_keys)


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """As for DCGAN: strip ``module.`` / ``_orig_mod.``, add a missing BatchNorm ``num_batches_tracked``."""
    return dcgan.normalize_keys(state_dict)


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """num_classes and embed_dim from ``embed.weight``; nz (first conv's inputs minus embed_dim), ngf, nc and
    n_layers from the ``main`` convs, as for DCGAN.

    Raises:
        CheckpointError: ``embed.weight`` is missing, or the ``main`` keys are not a DCGAN generator's.
    """
    embed = state_dict.get("embed.weight")
    if embed is None or embed.dim() != 2:
        raise CheckpointError(
            "not a class-conditional DCGAN ('cgan') generator: expected a 2-D 'embed.weight' (num_classes, embed_dim)."
        )
    num_classes, embed_dim = (int(n) for n in embed.shape)
    in_channels, ngf, nc, n_layers = dcgan.infer_generator_layout(state_dict, arch=SPEC.arch)
    nz = in_channels - embed_dim
    if nz < 1:
        raise CheckpointError(
            f"not a 'cgan' generator: main.0.weight takes {in_channels} input channels, no more than the "
            f"{embed_dim} of the label embedding, so no room is left for z."
        )
    return Config(nz=nz, ngf=ngf, nc=nc, num_classes=num_classes, embed_dim=embed_dim, n_layers=n_layers)


def build(config: Config) -> Generator:
    """The conditional generator (``embed``, ``main.<i>``)."""
    return Generator(
        nz=config.nz,
        ngf=config.ngf,
        nc=config.nc,
        num_classes=config.num_classes,
        embed_dim=config.embed_dim,
        n_layers=config.n_layers,
    )


def inference_networks(module: Generator, role: str = "G") -> dict[str, nn.Module]:
    """The generator under its file's role."""
    return {role: module}


def init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation for the convs and norms; the embedding keeps PyTorch's N(0, 1)."""
    module.apply(dcgan.weights_init)


def describe(config: Config | Mapping) -> ModelInfo:
    """As DCGAN, plus a class index (int64) fed next to z; the classes are named by their index."""
    config = config_from(Config, config)
    side = output_size(config)
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="latent",
        preprocessing=dcgan.image_conventions(side),
        labels=tuple(str(i) for i in range(config.num_classes)),
        label_kind="classes",
        latent=LatentSpec(size=config.nz, shape="nchw", num_classes=config.num_classes, class_input="index"),
        native_size=side,
        channels=config.nc,
    )


def build_discriminator(config: Config, *, ndf: int = 64) -> ProjectionDiscriminator:
    """The projection discriminator for images of ``output_size(config)``, for training."""
    return ProjectionDiscriminator(nc=config.nc, ndf=ndf, num_classes=config.num_classes, n_layers=config.n_layers)


def example_inputs(
    config: Config, network: str = "G", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """``{"z": (batch, nz, 1, 1), "labels": (batch,) int64}``; ``network`` and ``size`` are ignored."""
    generator = torch.Generator().manual_seed(0)
    return {
        "z": torch.randn(batch, config.nz, 1, 1, generator=generator),
        "labels": torch.randint(0, config.num_classes, (batch,), generator=generator),
    }
