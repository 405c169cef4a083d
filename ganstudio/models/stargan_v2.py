"""StarGAN v2: diverse image synthesis for multiple domains, guided by a latent code or a reference image.

Paper: Choi et al., "StarGAN v2: Diverse Image Synthesis for Multiple Domains", CVPR 2020
(https://arxiv.org/abs/1912.01865).
Official code mirrored: https://github.com/clovaai/stargan-v2, ``core/model.py`` (``ResBlk``,
``AdaIN``, ``AdainResBlk``, ``HighPass``, ``Generator``, ``MappingNetwork``, ``StyleEncoder``,
``Discriminator``), with the official attribute names (``from_rgb``, ``encode``, ``decode``,
``to_rgb``, ``hpf``, ``shared``, ``unshared``) so the official state dicts load with ``strict=True``.

Checkpoints read: ``core/checkpoint.py`` saves one dict per file, ``{network name: state dict}``,
taken from ``module.module`` (no ``module.`` prefix). The released ``100000_nets_ema.ckpt`` holds
``generator``, ``mapping_network`` and ``style_encoder``; a training run's ``{step}_nets.ckpt`` also
holds ``discriminator`` (and ``fan`` when ``w_hpf > 0``), which ``normalize_keys`` drops. The
registry flattens the dict to dotted keys (``generator.from_rgb.weight``,
``mapping_network.shared.0.weight``, ``style_encoder.shared.0.weight``) and loads them into the
``StarGANv2`` container built here.

Use: latent-guided ``s = mapping_network(z, y)`` or reference-guided ``s = style_encoder(x_ref, y)``,
then ``generator(x, s)``; images in -1..1, ``y`` the int64 target domain.

Quirks:
- ``dim_in = 2**14 // img_size`` (64 channels at 256 pixels) and every width is capped by
  ``max_conv_dim`` (512 in the releases). Nothing is stored but the weights: ``infer_config``
  reads every hyper-parameter from key names and shapes. ``Config.dim_in`` (our addition, None =
  the official rule) sets another first width: the official rule gives 512 channels at 32 pixels,
  far too slow to train on a CPU, so the studio's own small models use fewer.
- The mapping network and the style encoder compute a style for every domain and keep the one
  at index ``y`` (official ``out[arange(N), y]``); ``torch.gather`` does the same pick and
  exports to ONNX.
- ``w_hpf > 0`` (the CelebA-HQ release): the generator gets one more down/up-sampling block,
  drops the AdainResBlk shortcuts, and adds high-pass filtered encoder features under face
  masks that the FAN landmark network (a separate ``wing.ckpt``) computes from the input. The
  code path is here, as in the official code (``masks`` argument, ``hpf`` filter), but the
  studio does NOT support running such a generator: without the FAN masks its output is not
  the official one, and FAN is not implemented yet. ``infer_config`` detects these checkpoints
  and raises ``CheckpointError``. (The official ``HighPass`` keeps its filter as a plain
  attribute, so official files have no ``hpf.filter`` key; the extra encoder block gives them
  away. Forks that register the filter as a buffer are detected by the key.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganstudio.errors import CheckpointError
from ganstudio.models.keys import strip_prefixes
from ganstudio.models.spec import ArchitectureSpec, LatentSpec, ModelInfo, config_from

SPEC = ArchitectureSpec(
    arch="stargan_v2",
    title="StarGAN v2",
    tasks=("edit",),
    container=True,
    networks=("generator", "mapping_network", "style_encoder"),
    file_names=("*_nets_ema.ckpt", "*_nets.ckpt"),
    folder_layouts=({"G": ("*_nets_ema.ckpt",)},),
    training_kind="stargan_v2",
)


# ----------------------------------------------------------------------------- building blocks


class ResBlk(nn.Module):
    """Pre-activation residual block, optionally instance-normalised and average-pool downsampling."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        actv: nn.Module | None = None,
        normalize: bool = False,
        downsample: bool = False,
    ):
        super().__init__()
        self.actv = nn.LeakyReLU(0.2) if actv is None else actv
        self.normalize = normalize
        self.downsample = downsample
        self.learned_sc = dim_in != dim_out
        self._build_weights(dim_in, dim_out)

    def _build_weights(self, dim_in: int, dim_out: int) -> None:
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if self.normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.learned_sc:
            x = self.conv1x1(x)
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        return x

    def _residual(self, x: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            x = self.norm1(x)
        x = self.actv(x)
        x = self.conv1(x)
        if self.downsample:
            x = F.avg_pool2d(x, 2)
        if self.normalize:
            x = self.norm2(x)
        x = self.actv(x)
        x = self.conv2(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._shortcut(x) + self._residual(x)
        return x / math.sqrt(2)  # unit variance


class AdaIN(nn.Module):
    """Adaptive instance norm: the style gives a per-channel scale ``1 + gamma`` and shift ``beta``."""

    def __init__(self, style_dim: int, num_features: int):
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = self.fc(s)
        h = h.view(h.size(0), h.size(1), 1, 1)
        gamma, beta = torch.chunk(h, chunks=2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    """Decoder residual block modulated by the style, optionally nearest-neighbour upsampling."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        style_dim: int = 64,
        w_hpf: float = 0,
        actv: nn.Module | None = None,
        upsample: bool = False,
    ):
        super().__init__()
        self.w_hpf = w_hpf
        self.actv = nn.LeakyReLU(0.2) if actv is None else actv
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self._build_weights(dim_in, dim_out, style_dim)

    def _build_weights(self, dim_in: int, dim_out: int, style_dim: int = 64) -> None:
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.learned_sc:
            x = self.conv1x1(x)
        return x

    def _residual(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x, s)
        x = self.actv(x)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv1(x)
        x = self.norm2(x, s)
        x = self.actv(x)
        x = self.conv2(x)
        return x

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        out = self._residual(x, s)
        # Official: with w_hpf > 0 the shortcut is dropped; the high-pass skip connections replace it.
        if self.w_hpf == 0:
            out = (out + self._shortcut(x)) / math.sqrt(2)
        return out


class HighPass(nn.Module):
    """3x3 Laplacian-like high-pass filter applied per channel, scaled by ``1 / w_hpf``.

    The official class stores the filter as a plain tensor moved to a device at construction,
    so it is not in the state dict; a non-persistent buffer keeps it out of the state dict too
    and lets it follow ``.to(device)``.
    """

    def __init__(self, w_hpf: float):
        super().__init__()
        kernel = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]])
        self.register_buffer("filter", kernel / w_hpf, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        filter = self.filter.unsqueeze(0).unsqueeze(1).repeat(x.size(1), 1, 1, 1)
        return F.conv2d(x, filter, padding=1, groups=x.size(1))


def _select_domain(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pick ``out[i, y[i]]`` from (batch, num_domains, style_dim): the official ``out[arange(N), y]``, as a gather."""
    index = y.long().view(-1, 1, 1).expand(-1, 1, out.size(2))
    return out.gather(1, index).squeeze(1)


# ----------------------------------------------------------------------------- networks


class Generator(nn.Module):
    """Encoder of ResBlks, decoder of AdainResBlks modulated by the style code ``s``."""

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        max_conv_dim: int = 512,
        w_hpf: float = 1,
        dim_in: int | None = None,
    ):
        super().__init__()
        dim_in = official_dim_in(img_size) if dim_in is None else dim_in
        self.img_size = img_size
        self.from_rgb = nn.Conv2d(3, dim_in, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(
            nn.InstanceNorm2d(dim_in, affine=True),
            nn.LeakyReLU(0.2),
            nn.Conv2d(dim_in, 3, 1, 1, 0),
        )

        # down/up-sampling blocks
        repeat_num = _num_downsamplings(img_size, w_hpf)
        dim_out = dim_in
        for _ in range(repeat_num):
            dim_out = min(dim_in * 2, max_conv_dim)
            self.encode.append(ResBlk(dim_in, dim_out, normalize=True, downsample=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_in, style_dim, w_hpf=w_hpf, upsample=True))  # stack-like
            dim_in = dim_out

        # bottleneck blocks
        for _ in range(2):
            self.encode.append(ResBlk(dim_out, dim_out, normalize=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_out, style_dim, w_hpf=w_hpf))

        if w_hpf > 0:
            self.hpf = HighPass(w_hpf)

    def forward(
        self, x: torch.Tensor, s: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Translate ``x`` (N, 3, H, W) in -1..1 with style ``s`` (N, style_dim).

        ``masks`` are FAN's face masks, only for ``w_hpf > 0`` generators (not supported by the studio).
        """
        x = self.from_rgb(x)
        cache = {}
        for block in self.encode:
            if (masks is not None) and (x.size(2) in [32, 64, 128]):
                cache[x.size(2)] = x
            x = block(x)
        for block in self.decode:
            x = block(x, s)
            if (masks is not None) and (x.size(2) in [32, 64, 128]):
                mask = masks[0] if x.size(2) in [32] else masks[1]
                mask = F.interpolate(mask, size=x.size(2), mode="bilinear")
                x = x + self.hpf(mask * cache[x.size(2)])
        return self.to_rgb(x)


class MappingNetwork(nn.Module):
    """MLP from a latent code ``z`` to one style code per domain; ``forward`` keeps domain ``y``'s."""

    def __init__(self, latent_dim: int = 16, style_dim: int = 64, num_domains: int = 2):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(latent_dim, 512), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(512, 512), nn.ReLU()]
        self.shared = nn.Sequential(*layers)

        self.unshared = nn.ModuleList()
        for _ in range(num_domains):
            self.unshared += [
                nn.Sequential(
                    nn.Linear(512, 512),
                    nn.ReLU(),
                    nn.Linear(512, 512),
                    nn.ReLU(),
                    nn.Linear(512, 512),
                    nn.ReLU(),
                    nn.Linear(512, style_dim),
                )
            ]

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Style codes (N, style_dim) for latents ``z`` (N, latent_dim) and int64 domains ``y`` (N,)."""
        h = self.shared(z)
        out = torch.stack([layer(h) for layer in self.unshared], dim=1)  # (batch, num_domains, style_dim)
        return _select_domain(out, y)


class StyleEncoder(nn.Module):
    """ResBlk encoder from an ``img_size`` image to one style code per domain; ``forward`` keeps domain ``y``'s."""

    def __init__(
        self,
        img_size: int = 256,
        style_dim: int = 64,
        num_domains: int = 2,
        max_conv_dim: int = 512,
        dim_in: int | None = None,
    ):
        super().__init__()
        dim_in = official_dim_in(img_size) if dim_in is None else dim_in
        blocks: list[nn.Module] = [nn.Conv2d(3, dim_in, 3, 1, 1)]

        repeat_num = int(math.log2(img_size)) - 2
        dim_out = dim_in
        for _ in range(repeat_num):
            dim_out = min(dim_in * 2, max_conv_dim)
            blocks += [ResBlk(dim_in, dim_out, downsample=True)]
            dim_in = dim_out

        # 4x4 valid conv over the final 4x4 map: the encoder only takes img_size inputs.
        blocks += [nn.LeakyReLU(0.2), nn.Conv2d(dim_out, dim_out, 4, 1, 0), nn.LeakyReLU(0.2)]
        self.shared = nn.Sequential(*blocks)

        self.unshared = nn.ModuleList()
        for _ in range(num_domains):
            self.unshared += [nn.Linear(dim_out, style_dim)]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Style codes (N, style_dim) of reference images ``x`` (N, 3, img_size, img_size) for int64 domains ``y``."""
        h = self.shared(x)
        h = h.view(h.size(0), -1)
        out = torch.stack([layer(h) for layer in self.unshared], dim=1)  # (batch, num_domains, style_dim)
        return _select_domain(out, y)


class Discriminator(nn.Module):
    """Multi-task discriminator: one real/fake logit per domain, keeps domain ``y``'s (training only)."""

    def __init__(self, img_size: int = 256, num_domains: int = 2, max_conv_dim: int = 512, dim_in: int | None = None):
        super().__init__()
        dim_in = official_dim_in(img_size) if dim_in is None else dim_in
        blocks: list[nn.Module] = [nn.Conv2d(3, dim_in, 3, 1, 1)]

        repeat_num = int(math.log2(img_size)) - 2
        dim_out = dim_in
        for _ in range(repeat_num):
            dim_out = min(dim_in * 2, max_conv_dim)
            blocks += [ResBlk(dim_in, dim_out, downsample=True)]
            dim_in = dim_out

        blocks += [nn.LeakyReLU(0.2), nn.Conv2d(dim_out, dim_out, 4, 1, 0), nn.LeakyReLU(0.2)]
        blocks += [nn.Conv2d(dim_out, num_domains, 1, 1, 0)]
        self.main = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out = self.main(x)
        out = out.view(out.size(0), -1)  # (batch, num_domains)
        return out.gather(1, y.long().view(-1, 1)).squeeze(1)  # (batch)


# ----------------------------------------------------------------------------- config and loading


@dataclass(frozen=True)
class Config:
    """Hyper-parameters in official ``main.py`` terms.

    Defaults are the AFHQ release's widths with the argparse defaults for the rest, except
    ``w_hpf`` (argparse default 1): 0, since ``w_hpf > 0`` generators need FAN and are not served.
    """

    img_size: int = 256
    style_dim: int = 64
    latent_dim: int = 16
    num_domains: int = 2
    max_conv_dim: int = 512
    w_hpf: float = 0
    dim_in: int | None = None  # first width of generator, style encoder and discriminator; None = 2**14 // img_size


class StarGANv2(nn.Module):
    """The three inference networks of a ``*_nets_ema.ckpt``, under the file's own names."""

    def __init__(self, config: Config):
        super().__init__()
        self.generator = Generator(
            config.img_size, config.style_dim, config.max_conv_dim, config.w_hpf, dim_in=config.dim_in
        )
        self.mapping_network = MappingNetwork(config.latent_dim, config.style_dim, config.num_domains)
        self.style_encoder = StyleEncoder(
            config.img_size, config.style_dim, config.num_domains, config.max_conv_dim, dim_in=config.dim_in
        )


def official_dim_in(img_size: int) -> int:
    """The official first width, ``2**14 // img_size`` (64 at 256 pixels, 512 at 32)."""
    return 2**14 // img_size


def _num_downsamplings(img_size: int, w_hpf: float) -> int:
    # Official: log2(img_size) - 4 blocks (the bottleneck works at 16x16), one more with w_hpf > 0.
    return int(math.log2(img_size)) - 4 + (1 if w_hpf > 0 else 0)


def fixed_size(config: Config) -> int:
    """The only input side the style encoder takes, and the size the official test resizes to."""
    return config.img_size


def size_multiple(config: Config) -> int:
    """Sides the generator takes must be multiples of this: 2 ** (number of downsampling blocks)."""
    return 2 ** _num_downsamplings(config.img_size, config.w_hpf)


_NETWORKS = SPEC.networks
# One key each network always has, to say which one a file lacks.
_FIRST_KEYS = {
    "generator": "from_rgb.weight",
    "mapping_network": "shared.0.weight",
    "style_encoder": "shared.0.weight",
}
# Networks a training checkpoint also holds that inference never uses.
_DROPPED_PREFIXES = ("discriminator.", "fan.")


def _block_indices(state_dict: Mapping[str, torch.Tensor], pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted({int(found.group(1)) for key in state_dict if (found := regex.match(key))})


def matches(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """True when the keys hold a StarGAN v2 generator (``generator.from_rgb`` and AdaIN decoder blocks)."""
    return "generator.from_rgb.weight" in state_dict and any(
        key.startswith("generator.decode.") and key.endswith(".norm1.fc.weight") for key in state_dict
    )


def normalize_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.``/``_orig_mod.``; drop ``discriminator.*`` and ``fan.*`` (in ``*_nets.ckpt``, unused here)."""
    return {key: value for key, value in strip_prefixes(state_dict).items() if not key.startswith(_DROPPED_PREFIXES)}


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> Config:
    """Read every hyper-parameter from the key names and shapes.

    ``img_size`` from the style encoder's block count (``log2(img_size) - 2`` blocks), checked against
    the generator's; ``dim_in`` from ``generator.from_rgb`` (None when it is the official
    ``2**14 // img_size``); ``latent_dim`` from the mapping network's first layer; ``style_dim`` and
    ``num_domains`` from the style encoder's heads; ``max_conv_dim`` from the style encoder's last
    conv (its width is ``min(dim_in * img_size // 4, max_conv_dim)``: 4096 for official widths, so
    larger caps read as that width, the same network).

    Raises:
        CheckpointError: a network is missing, the shapes are inconsistent, or the generator was
            trained with ``w_hpf > 0`` (needs the FAN landmark network, not supported).
    """
    missing = [name for name in _NETWORKS if f"{name}.{_FIRST_KEYS[name]}" not in state_dict]
    if missing:
        raise CheckpointError(
            f"not a complete StarGAN v2 checkpoint: no {', '.join(missing)} found. Expected a dict with "
            "'generator', 'mapping_network' and 'style_encoder' state dicts, as in the official "
            "'100000_nets_ema.ckpt' (a '*_nets.ckpt' works too; '*_optims.ckpt' holds no networks)."
        )
    if "generator.hpf.filter" in state_dict:
        raise _w_hpf_error()

    dim_in = int(state_dict["generator.from_rgb.weight"].shape[0])
    style_blocks = _block_indices(state_dict, r"^style_encoder\.shared\.(\d+)\.conv1\.weight$")
    if not style_blocks or style_blocks != list(range(1, len(style_blocks) + 1)):
        raise CheckpointError(
            "StarGAN v2 style encoder is incomplete: expected residual blocks 'style_encoder.shared.1.conv1', "
            f"'style_encoder.shared.2.conv1', ... (log2(img_size) - 2 of them), found indices {style_blocks or 'none'}."
        )
    # The style encoder works down to 4x4 with one block per halving: img_size = 2 ** (blocks + 2).
    img_size = 2 ** (len(style_blocks) + 2)
    encoder_width = int(state_dict["style_encoder.shared.0.weight"].shape[0])
    if encoder_width != dim_in:
        raise CheckpointError(
            f"StarGAN v2 generator and style encoder do not fit together: 'generator.from_rgb' has {dim_in} "
            f"channels, 'style_encoder.shared.0' {encoder_width}; both are dim_in."
        )

    encode_blocks = len(_block_indices(state_dict, r"^generator\.encode\.(\d+)\.conv1\.weight$"))
    downsamplings = encode_blocks - 2  # the official generator always has 2 bottleneck blocks
    if downsamplings == _num_downsamplings(img_size, w_hpf=1):
        raise _w_hpf_error()
    if downsamplings != _num_downsamplings(img_size, w_hpf=0):
        raise CheckpointError(
            f"StarGAN v2 generator does not fit its style encoder: the style encoder's {len(style_blocks)} blocks "
            f"say img_size {img_size} (log2(img_size) - 2 blocks), which needs "
            f"{_num_downsamplings(img_size, w_hpf=0) + 2} 'generator.encode.<i>' blocks; found {encode_blocks}."
        )

    last_conv = state_dict.get(f"style_encoder.shared.{len(style_blocks) + 2}.weight")
    heads = _block_indices(state_dict, r"^style_encoder\.unshared\.(\d+)\.weight$")
    if last_conv is None or not heads:
        raise CheckpointError(
            "StarGAN v2 style encoder is incomplete: expected its final 4x4 conv "
            f"'style_encoder.shared.{len(style_blocks) + 2}.weight' and heads 'style_encoder.unshared.<d>.weight'."
        )
    return Config(
        img_size=img_size,
        style_dim=int(state_dict[f"style_encoder.unshared.{heads[0]}.weight"].shape[0]),
        latent_dim=int(state_dict["mapping_network.shared.0.weight"].shape[1]),
        num_domains=len(heads),
        max_conv_dim=int(last_conv.shape[0]),
        w_hpf=0,
        # None when the official rule gives it, so official checkpoints infer exactly their meta.json args.
        dim_in=None if dim_in == official_dim_in(img_size) else dim_in,
    )


def _w_hpf_error() -> CheckpointError:
    return CheckpointError(
        "this StarGAN v2 checkpoint was trained with w_hpf > 0 (like the official CelebA-HQ model): its "
        "generator needs face masks from the FAN landmark network (the separate 'wing.ckpt'), which GAN "
        "Studio does not support yet. Checkpoints trained with w_hpf=0 (like the AFHQ model) work."
    )


def build(config: Config) -> nn.Module:
    """A ``StarGANv2`` container with ``generator``, ``mapping_network`` and ``style_encoder``."""
    return StarGANv2(config)


def inference_networks(model: nn.Module, role: str = "G") -> dict[str, nn.Module]:
    """Entry points: ``generator(x, s)``, ``mapping_network(z, y)``, ``style_encoder(x_ref, y)`` (``y`` int64)."""
    return {name: getattr(model, name) for name in _NETWORKS}


def init_weights(module: nn.Module) -> None:
    """The official ``he_init``: Kaiming normal (fan in, ReLU gain) for conv and linear weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


def describe(config: Config | Mapping) -> ModelInfo:
    """Official conventions: Resize(img_size), Normalize(0.5, 0.5); outputs denormalised, clamped and written
    with save_image (rounding). The style encoder's last 4x4 conv only fits ``img_size`` inputs, and the models
    are trained there. A seed's style comes from z ~ N(0, 1) of ``latent_dim`` through the mapping network."""
    config = config_from(Config, config)
    return ModelInfo(
        tasks=SPEC.tasks,
        pipeline="domains",
        preprocessing={"input_range": [-1.0, 1.0], "output_range": [-1.0, 1.0], "output_rounding": "round",
                       "size_multiple": size_multiple(config), "fixed_size": fixed_size(config)},
        labels=tuple(f"domain{i}" for i in range(config.num_domains)),
        label_kind="domains",
        latent=LatentSpec(size=config.latent_dim, shape="flat", num_classes=config.num_domains),
        native_size=config.img_size,
    )


def example_inputs(
    config: Config, network: str = "generator", *, batch: int = 1, size: int | None = None
) -> dict[str, torch.Tensor]:
    """Random valid inputs for one network: images in -1..1, normal latents and styles, domains in range.

    Raises:
        ValueError: an unknown network, or a style encoder size other than ``img_size``.
    """
    generator = torch.Generator().manual_seed(0)
    side = config.img_size if size is None else size
    y = torch.randint(0, config.num_domains, (batch,), generator=generator, dtype=torch.long)
    if network == "generator":
        x = torch.rand(batch, 3, side, side, generator=generator) * 2 - 1
        return {"x": x, "s": torch.randn(batch, config.style_dim, generator=generator)}
    if network == "mapping_network":
        return {"z": torch.randn(batch, config.latent_dim, generator=generator), "y": y}
    if network == "style_encoder":
        if side != config.img_size:
            raise ValueError(f"the StarGAN v2 style encoder only takes {config.img_size}-pixel images, not {side}.")
        return {"x": torch.rand(batch, 3, side, side, generator=generator) * 2 - 1, "y": y}
    raise ValueError(f"unknown StarGAN v2 network '{network}'. Known: {', '.join(_NETWORKS)}.")
