"""StarGAN (v1): multi-domain image-to-image translation with one generator.

Paper: Choi et al., "StarGAN: Unified Generative Adversarial Networks for Multi-Domain
Image-to-Image Translation", CVPR 2018 (https://arxiv.org/abs/1711.09020).
Official code mirrored: https://github.com/yunjey/stargan, ``model.py`` (``ResidualBlock``,
``Generator``, ``Discriminator``), with the attribute names kept (``main`` everywhere) so the
official state dicts load with ``strict=True``.

Checkpoints read: the generator file ``solver.py`` writes, ``{iteration}-G.ckpt`` (the released
CelebA model is ``200000-G.ckpt``): a plain state dict, keys ``main.<i>.*``, residual blocks
``main.<i>.main.<j>.*``. ``{iteration}-D.ckpt`` is the discriminator (training only).

Quirks:
- The target label vector ``c`` (``c_dim`` values, 0/1) is tiled over the image and
  concatenated as extra input channels, so the first conv takes ``3 + c_dim`` channels.
- The InstanceNorm layers are ``affine=True, track_running_stats=True`` and the official
  ``solver.test()`` never calls ``G.eval()``: the generator runs in train mode, so every image
  is normalised with its own statistics and the running statistics stored in the checkpoint
  never touch the output. ``prepare_for_inference`` reproduces that in eval mode.
- CelebA's five default attributes are ``DEFAULT_ATTRIBUTES``; the official ``create_labels``
  treats the hair colours (``HAIR_COLOR_GROUP``) as one-hot and flips the others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models.keys import strip_prefixes
from ganstudio.models.spec import ArchitectureSpec, ModelInfo, config_from

SPEC = ArchitectureSpec(
    arch="stargan",
    title="StarGAN",
    tasks=("edit",),
    file_names=("*-G.ckpt",),
    training_kind="stargan",
)

# The CelebA attributes of the released model (main.py --selected_attrs), in label order.
DEFAULT_ATTRIBUTES = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
# solver.create_labels sets exactly one of these to 1 when it targets a hair colour.
HAIR_COLOR_GROUP = ("Black_Hair", "Blond_Hair", "Brown_Hair")


class ResidualBlock(nn.Module):
    """Residual block with instance normalisation (official ``ResidualBlock``)."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim_in, dim_out, kernel_size=3, stride=1, padding=1, bias=False),
            nn.InstanceNorm2d(dim_out, affine=True, track_running_stats=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim_out, dim_out, kernel_size=3, stride=1, padding=1, bias=False),
            nn.InstanceNorm2d(dim_out, affine=True, track_running_stats=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class Generator(nn.Module):
    """Official generator: 7x7 conv, 2 downsamplings, ``repeat_num`` residual blocks, 2 upsamplings, 7x7 conv, tanh."""

    def __init__(self, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3 + c_dim, conv_dim, kernel_size=7, stride=1, padding=3, bias=False),
            nn.InstanceNorm2d(conv_dim, affine=True, track_running_stats=True),
            nn.ReLU(inplace=True),
        ]
        curr_dim = conv_dim
        for _ in range(2):
            layers += [
                nn.Conv2d(curr_dim, curr_dim * 2, kernel_size=4, stride=2, padding=1, bias=False),
                nn.InstanceNorm2d(curr_dim * 2, affine=True, track_running_stats=True),
                nn.ReLU(inplace=True),
            ]
            curr_dim *= 2
        layers += [ResidualBlock(curr_dim, curr_dim) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(curr_dim, curr_dim // 2, kernel_size=4, stride=2, padding=1, bias=False),
                nn.InstanceNorm2d(curr_dim // 2, affine=True, track_running_stats=True),
                nn.ReLU(inplace=True),
            ]
            curr_dim //= 2
        layers += [nn.Conv2d(curr_dim, 3, kernel_size=7, stride=1, padding=3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Translate images ``x`` (N, 3, H, W) in -1..1 to the target labels ``c`` (N, c_dim)."""
        # Replicate the labels spatially and concatenate them as constant channels.
        c = c.view(c.size(0), c.size(1), 1, 1).expand(-1, -1, x.size(2), x.size(3))
        return self.main(torch.cat([x, c.to(x.dtype)], dim=1))


class Discriminator(nn.Module):
    """Official PatchGAN discriminator with an auxiliary attribute classifier (training only).

    ``conv1`` gives the real/fake patch map, ``conv2`` the ``c_dim`` attribute logits; its kernel
    covers the whole final feature map, so the discriminator only works at ``image_size``.
    """

    def __init__(self, image_size: int = 128, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.01)]
        curr_dim = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(curr_dim, curr_dim * 2, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.01)]
            curr_dim *= 2
        kernel_size = image_size // 2**repeat_num
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(curr_dim, 1, kernel_size=3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(curr_dim, c_dim, kernel_size=kernel_size, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        out_src = self.conv1(h)
        out_cls = self.conv2(h)
        return out_src, out_cls.view(out_cls.size(0), out_cls.size(1))


@dataclass(frozen=True)
class Config:
    """Generator hyper-parameters (official ``main.py``: ``--g_conv_dim``, ``--c_dim``, ``--g_repeat_num``)."""

    conv_dim: int = 64
    c_dim: int = 5
    repeat_num: int = 6


_RESIDUAL_KEY = re.compile(r"^main\.(\d+)\.main\.0\.weight$")
_NORM_WEIGHT_KEY = re.compile(r"^(main\.\d+(?:\.main\.\d+)?)\.weight$")


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True for a StarGAN generator: a 7x7 first conv on 3 + c_dim channels, residual blocks ``main.<i>.main.*``."""
    first = state_dict.get("main.0.weight")
    if first is None or first.ndim != 4 or tuple(first.shape[2:]) != (7, 7) or first.shape[1] <= 3:
        return False
    return any(_RESIDUAL_KEY.match(key) for key in state_dict)


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.``/``_orig_mod.`` and complete the InstanceNorm statistics buffers.

    The official layers track running statistics, so a strict load wants ``running_mean``,
    ``running_var`` and ``num_batches_tracked`` for every norm layer. Files from PyTorch 0.4.0
    (the code the model was released with) lack ``num_batches_tracked``; PyTorch itself fills it
    in for such files, but that relies on the ``_metadata`` a flattened dict no longer has, so it
    is filled in here. Files saved without statistics (a retraining with
    ``track_running_stats=False``, or a model after ``prepare_for_inference``) get neutral ones.
    Neither changes an output: the official test never uses the statistics.
    """
    result = strip_prefixes(state_dict)
    for key in list(result):
        found = _NORM_WEIGHT_KEY.match(key)
        # A 1-D weight in this network can only belong to a norm layer (every conv weight is 4-D).
        if found is None or result[key].ndim != 1:
            continue
        prefix, channels = found.group(1), result[key].shape[0]
        result.setdefault(f"{prefix}.running_mean", torch.zeros(channels))
        result.setdefault(f"{prefix}.running_var", torch.ones(channels))
        result.setdefault(f"{prefix}.num_batches_tracked", torch.tensor(0, dtype=torch.long))
    return result


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """Read ``conv_dim`` and ``c_dim`` from the first conv and ``repeat_num`` from the residual blocks.

    Raises:
        CheckpointError: the keys are not those of a StarGAN generator.
    """
    if "conv1.weight" in state_dict and "conv2.weight" in state_dict:
        raise CheckpointError(
            "this is a StarGAN discriminator ('{iteration}-D.ckpt'): it is only used for training. "
            "Load the generator file, '{iteration}-G.ckpt', instead."
        )
    first = state_dict.get("main.0.weight")
    if first is None or first.ndim != 4 or first.shape[1] <= 3:
        raise CheckpointError(
            "not a StarGAN generator: expected 'main.0.weight', a conv taking 3 image channels plus "
            "c_dim label channels (shape (conv_dim, 3 + c_dim, 7, 7))."
        )
    repeat_num = sum(1 for key in state_dict if _RESIDUAL_KEY.match(key))
    if repeat_num == 0:
        raise CheckpointError(
            "not a StarGAN generator: no residual blocks ('main.<i>.main.0.weight') found."
        )
    return Config(conv_dim=int(first.shape[0]), c_dim=int(first.shape[1]) - 3, repeat_num=repeat_num)


def build(config: Config) -> nn.Module:
    """The official ``Generator``; load the checkpoint into it, then call ``eval()`` and ``prepare_for_inference``."""
    return Generator(conv_dim=config.conv_dim, c_dim=config.c_dim, repeat_num=config.repeat_num)


def prepare_for_inference(model: nn.Module) -> None:
    """Make the InstanceNorm layers use each image's own statistics in eval mode, as the official test does.

    The official ``solver.test()`` never calls ``G.eval()``, so its InstanceNorm layers
    (``track_running_stats=True``) normalise with instance statistics and the stored running
    statistics are unused: a plain ``eval()`` would switch to those statistics and give a
    different image. Running in train mode instead would match but also update the running
    statistics on every call (state changes during inference) and export to ONNX as training
    mode. Turning tracking off and dropping the buffers gives the official output in eval mode,
    deterministically, without touching any buffer, and exports as InstanceNormalization. It runs
    after the strict load, so the checkpoint's statistics still had to fit.
    """
    for module in model.modules():
        if isinstance(module, nn.InstanceNorm2d):
            module.track_running_stats = False
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None


def inference_networks(module: nn.Module, role: str = "G") -> dict[str, nn.Module]:
    """The generator under its file's role, with instance statistics as the official test (``prepare_for_inference``)."""
    prepare_for_inference(module)
    return {role: module}


def init_weights(module: nn.Module) -> None:
    """PyTorch's default initialisation: the official code sets none."""


def describe(config: Config | Mapping) -> ModelInfo:
    """The solver's conventions: -1..1 in (Normalize(0.5, 0.5)), denorm and save_image (rounding) out.

    Two stride-2 convs down and two up: sides that are multiples of 4 come back unchanged. A
    five-attribute model is taken for the CelebA release and gets its attribute names.
    """
    config = config_from(Config, config)
    names = DEFAULT_ATTRIBUTES if config.c_dim == len(DEFAULT_ATTRIBUTES) else tuple(f"attr{i}" for i in range(config.c_dim))
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="attributes",
        preprocessing={"input_range": [-1.0, 1.0], "output_range": [-1.0, 1.0], "output_rounding": "round",
                       "size_multiple": 4, "fixed_size": None},
        labels=names,
        label_kind="attributes",
    )


def example_inputs(
    config: Config, network: str = "G", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """Random images in -1..1 and random 0/1 target labels (``network`` is the file role; StarGAN has one net).

    ``size`` defaults to 128, the CelebA release's image size.
    """
    size = 128 if size is None else size
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, size, size, generator=generator) * 2 - 1
    c = torch.randint(0, 2, (batch, config.c_dim), generator=generator).float()
    return {"x": x, "c": c}
