"""InfoGAN: a generator whose input holds latent codes that learn, unsupervised, what varies in the data.

Paper: Chen, Duan, Houthooft, Schulman, Sutskever, Abbeel, "InfoGAN: Interpretable Representation
Learning by Information Maximizing Generative Adversarial Nets", NeurIPS 2016 (arXiv:1606.03657).
The official code (openai/InfoGAN) is TensorFlow. The networks and their attribute names mirror
the widely used PyTorch port Natsu6767/InfoGAN-PyTorch, ``models/mnist_model.py`` (``Generator``:
``tconv1`` ... ``tconv4``, ``bn1`` ... ``bn3``; ``Discriminator``, ``DHead``, ``QHead``), the paper's
MNIST networks written as convolutions: the fully connected layers are 1x1 and 7x7 convolutions.

The generator's input is (N, nz + K + C, 1, 1): the noise z (62 values in the paper), one categorical
code as a one-hot vector of K values (10), then C continuous codes (2), uniform on -1..1 in training,
in that order (the port's ``noise_sample``). ``describe`` names the codes ("cat", "c1", "c2") in
``LatentSpec.codes``, so the Generate tab and ``generate --codes`` set them without knowing the family.

Generalised: ``base`` is tconv2's kernel and the side after it; two stride-2 layers make the image
``4 * base``: 7 gives the paper's 28x28, 8 the studio's 32x32 (MNIST padded by 2). The widths
(``fc_dim`` = 1024 and ``ngf`` = 64 in the paper, tconv2 has ``2 * ngf``) are options, so a small
model ships in a small file.

Quirks:
- The output is a sigmoid (0..1), as in the paper and the port, not a tanh.
- How the input splits into z and codes is not stored in the weights: ``infer_config`` takes the
  paper's MNIST codes (K = 10, C = 2) and the rest as z; a manifest entry states other splits.
- The port never calls ``eval()`` when it samples in training; the studio samples in eval mode
  (BatchNorm running statistics), so one image does not depend on the rest of its batch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models.keys import add_missing_batch_counts, strip_prefixes
from ganstudio.models.spec import (
    ArchitectureSpec,
    LatentCode,
    LatentSpec,
    ModelInfo,
    config_from,
)

SPEC = ArchitectureSpec(
    arch="infogan",
    title="InfoGAN (latent codes)",
    tasks=("generate",),
    training_kind="infogan",
)

_GENERATOR_KEY = re.compile(r"^(tconv[1-4]\.weight|bn[1-3]\.(weight|bias|running_mean|running_var|num_batches_tracked))$")
LEAK = 0.1  # the port's leaky ReLU slope in D and Q


def weights_init(module: nn.Module) -> None:
    """The port's initialisation: convs N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# --------------------------------------------------------------------------- networks


class Generator(nn.Module):
    """(z and codes (N, nz + K + C, 1, 1) or (N, nz + K + C)) -> image (N, nc, 4 * base, 4 * base) in 0..1."""

    def __init__(self, in_channels: int = 74, fc_dim: int = 1024, ngf: int = 64, nc: int = 1, base: int = 7):
        super().__init__()
        self.tconv1 = nn.ConvTranspose2d(in_channels, fc_dim, 1, 1, bias=False)  # the paper's FC 1024
        self.bn1 = nn.BatchNorm2d(fc_dim)
        self.tconv2 = nn.ConvTranspose2d(fc_dim, ngf * 2, base, 1, bias=False)  # FC 7x7x128
        self.bn2 = nn.BatchNorm2d(ngf * 2)
        self.tconv3 = nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(ngf)
        self.tconv4 = nn.ConvTranspose2d(ngf, nc, 4, 2, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x[:, :, None, None]
        x = F.relu(self.bn1(self.tconv1(x)))
        x = F.relu(self.bn2(self.tconv2(x)))
        x = F.relu(self.bn3(self.tconv3(x)))
        return torch.sigmoid(self.tconv4(x))


class Discriminator(nn.Module):
    """The body D and Q share: image (N, nc, S, S) -> features (N, fc_dim, 1, 1). Used for training only."""

    def __init__(self, nc: int = 1, ndf: int = 64, fc_dim: int = 1024, base: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(nc, ndf, 4, 2, 1)
        self.conv2 = nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(ndf * 2)
        self.conv3 = nn.Conv2d(ndf * 2, fc_dim, base, bias=False)  # the paper's FC 1024
        self.bn3 = nn.BatchNorm2d(fc_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv1(x), LEAK)
        x = F.leaky_relu(self.bn2(self.conv2(x)), LEAK)
        return F.leaky_relu(self.bn3(self.conv3(x)), LEAK)


class DHead(nn.Module):
    """Features -> real/fake logit (N,). The port ends with a sigmoid for BCELoss; the studio's losses take logits."""

    def __init__(self, fc_dim: int = 1024):
        super().__init__()
        self.conv = nn.Conv2d(fc_dim, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten()


class QHead(nn.Module):
    """Features -> Q(c | x): logits of the categorical code (N, K) and the means of the continuous codes (N, C).

    The port also predicts a variance per continuous code (``conv_var``); the official code fixes the
    standard deviation at 1 for MNIST, so the negative log-likelihood is half the squared error, as here.
    """

    def __init__(self, fc_dim: int = 1024, num_categories: int = 10, num_continuous: int = 2, width: int = 128):
        super().__init__()
        self.conv1 = nn.Conv2d(fc_dim, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        # a model without one kind of code keeps a one-channel output for it, which no loss reads
        self.conv_disc = nn.Conv2d(width, max(num_categories, 1), 1)
        self.conv_mu = nn.Conv2d(width, max(num_continuous, 1), 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.leaky_relu(self.bn1(self.conv1(x)), LEAK)
        return self.conv_disc(x).flatten(1), self.conv_mu(x).flatten(1)


# --------------------------------------------------------------------------- config and loading


@dataclass(frozen=True)
class Config:
    """The generator's hyper-parameters; defaults are the paper's MNIST model (28x28)."""

    nz: int = 62  # incompressible noise
    num_categories: int = 10  # values of the one categorical code (0: none)
    num_continuous: int = 2  # continuous codes, uniform on -1..1
    fc_dim: int = 1024  # tconv1's channels (the paper's FC 1024)
    ngf: int = 64  # tconv3's channels; tconv2 has twice as many (the paper's 7x7x128)
    nc: int = 1
    base: int = 7  # tconv2's kernel and the side after it: the image is 4 * base (7 -> 28, 8 -> 32)


def output_size(config: Config) -> int:
    """Side of the generated images: two stride-2 layers after a base x base one."""
    return 4 * config.base


def input_channels(config: Config) -> int:
    return config.nz + config.num_categories + config.num_continuous


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for exactly the generator's keys (``tconv1..4``, ``bn1..3``) with 4-D transposed-conv weights."""
    if not state_dict or not all(_GENERATOR_KEY.match(key) for key in state_dict):
        return False
    return all(key in state_dict and state_dict[key].dim() == 4 for key in (f"tconv{i}.weight" for i in range(1, 5)))


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.`` / ``_orig_mod.``; add BatchNorm's ``num_batches_tracked`` where an old file lacks it."""
    return add_missing_batch_counts(strip_prefixes(state_dict))


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """Widths, channels and base from the transposed convs; the codes are taken as the paper's (K = 10, C = 2).

    Raises:
        CheckpointError: a weight is missing or of another shape than this generator's, or the input has no
            room for z next to the paper's codes.
    """
    weights = {}
    for index in range(1, 5):
        weight = state_dict.get(f"tconv{index}.weight")
        if weight is None or weight.dim() != 4:
            raise CheckpointError(f"not an '{SPEC.arch}' generator: 'tconv{index}.weight' is missing or not 4-D.")
        weights[index] = tuple(int(n) for n in weight.shape)
    in_channels, fc_dim = weights[1][:2]
    ngf2, base = weights[2][1], weights[2][2]
    ngf, nc = weights[4][0], weights[4][1]
    expected = {1: (in_channels, fc_dim, 1, 1), 2: (fc_dim, 2 * ngf, base, base), 3: (2 * ngf, ngf, 4, 4),
                4: (ngf, nc, 4, 4)}
    for index, shape in expected.items():
        if weights[index] != shape:
            raise CheckpointError(
                f"not an '{SPEC.arch}' generator: 'tconv{index}.weight' has shape {weights[index]}, expected {shape} "
                f"(fc_dim={fc_dim}, ngf={ngf}, base={base} read from the other layers)."
            )
    if ngf2 != 2 * ngf:
        raise CheckpointError(f"not an '{SPEC.arch}' generator: tconv2 has {ngf2} channels, not twice tconv3's {ngf}.")
    defaults = Config()
    codes = defaults.num_categories + defaults.num_continuous
    if in_channels <= codes:
        raise CheckpointError(
            f"'{SPEC.arch}' generator: tconv1 takes {in_channels} inputs, no more than the {codes} values of the "
            "paper's codes; state nz, num_categories and num_continuous in the model's config."
        )
    return Config(nz=in_channels - codes, fc_dim=fc_dim, ngf=ngf, nc=nc, base=base)


def build(config: Config) -> Generator:
    """The generator, with the port's module names."""
    return Generator(input_channels(config), fc_dim=config.fc_dim, ngf=config.ngf, nc=config.nc, base=config.base)


def build_discriminator(config: Config, *, ndf: int = 64, fc_dim: int | None = None) -> tuple[Discriminator, DHead, QHead]:
    """The shared body, D's head and Q's head for images of ``output_size(config)``, for training."""
    width = fc_dim or config.fc_dim
    return (Discriminator(nc=config.nc, ndf=ndf, fc_dim=width, base=config.base), DHead(width),
            QHead(width, config.num_categories, config.num_continuous))


def inference_networks(module: Generator, role: str = "G") -> dict[str, nn.Module]:
    """The generator under its file's role."""
    return {role: module}


def init_weights(module: nn.Module) -> None:
    """The port's initialisation, on every layer."""
    module.apply(weights_init)


def describe(config: Config | Mapping) -> ModelInfo:
    """z ~ N(0, 1) from the seed, then the codes (one-hot "cat", uniform "c1", "c2"); a sigmoid image of one side."""
    config = config_from(Config, config)
    side = output_size(config)
    codes = []
    if config.num_categories:
        codes.append(LatentCode("cat", "categorical", categories=config.num_categories))
    codes += [LatentCode(f"c{index}", "continuous") for index in range(1, config.num_continuous + 1)]
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="latent",
        preprocessing={"input_range": None, "output_range": [0.0, 1.0], "output_rounding": "round",
                       "size_multiple": None, "fixed_size": side, "output_size": side},
        latent=LatentSpec(size=config.nz, shape="nchw", codes=tuple(codes)),
        native_size=side,
        channels=config.nc,
    )


def example_inputs(
    config: Config, network: str = "G", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """``{"z": (batch, nz + K + C, 1, 1)}``: noise, a one-hot code and uniform codes, as the port's ``noise_sample``.

    ``network`` and ``size`` are ignored: there is one network and its output size is fixed by the config.
    """
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(batch, config.nz, generator=generator)
    onehot = F.one_hot(torch.randint(0, max(config.num_categories, 1), (batch,), generator=generator),
                       max(config.num_categories, 1)).float()[:, : config.num_categories]
    continuous = torch.rand(batch, config.num_continuous, generator=generator) * 2 - 1
    return {"z": torch.cat([z, onehot, continuous], dim=1)[:, :, None, None]}
