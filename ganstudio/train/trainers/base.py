"""What every trainer shares: the ``Trainer`` API, device placement, EMA, optimisers, checkpoint state.

A ``Trainer`` subclass (one module per GAN family, next to this one) holds its networks, optimisers
and EMA copies, draws a batch, makes one training step (returning its losses), renders fixed samples
and exports its generator(s) in the layout the registry loads. ``ganstudio.train.loop.train`` drives it.

Devices: networks, optimiser states and EMA copies live on ``trainer.device``. Batches are drawn on
the CPU (the training set stays there) and moved by the loop; noise is drawn from the CPU's global
generator and moved, so one seed gives the same draws on a CPU and a GPU.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image
from torch import nn

from ganstudio.checkpoints import (
    flatten_state_dict,
    load_state_dict_strictly,
    read_checkpoint,
    strip_prefixes,
    write_safetensors,
)
from ganstudio.models import stargan_v2
from ganstudio.models.layers import init_normal
from ganstudio.train import distributed
from ganstudio.train.config import FinetuneConfig, FinetuneConfigError
from ganstudio.train.kinds import DataLayout
from ganstudio.train.losses import diff_augment

TrainData = Mapping[str, "np.ndarray | Sequence[np.ndarray]"]


def images_to_tensor(images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """(N, H, W, C) arrays in 0..1 -> (N, C, H, W) float32 tensor in -1..1."""
    array = np.asarray(np.stack(list(images)) if not isinstance(images, np.ndarray) else images, dtype=np.float32)
    if array.ndim == 3:
        array = array[..., None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2))) * 2 - 1


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """(C, H, W) in -1..1 -> an RGB image (one channel is repeated), rounded like the built-in models' output."""
    array = ((tensor.detach().cpu().float().clamp(-1, 1) + 1) / 2 * 255 + 0.5).floor().to(torch.uint8)
    array = array.permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return Image.fromarray(array, "RGB")


def image_row(tensors: Sequence[torch.Tensor]) -> Image.Image:
    """Images (C, H, W) side by side, as one picture."""
    return tensor_to_image(torch.cat([t if t.size(0) == 3 else t.repeat(3, 1, 1) for t in tensors], dim=2))


def normal_init(module: nn.Module, gain: float = 0.02) -> None:
    """The official DCGAN / pix2pix / CycleGAN init (``models.layers.init_normal``)."""
    init_normal(module, gain)


def he_init(module: nn.Module) -> None:
    """StarGAN v2's init (``models.stargan_v2.init_weights``), for its discriminator too."""
    stargan_v2.init_weights(module)


def freeze_first_layers(module: nn.Module, count: int) -> None:
    """FreezeD (Mo et al. 2020): stop training the first ``count`` conv layers and the norms right after them."""
    seen = 0
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            seen += 1
        if seen > count:
            break
        if seen and list(layer.parameters(recurse=False)):
            for parameter in layer.parameters(recurse=False):
                parameter.requires_grad_(False)


@torch.no_grad()
def recalibrate_batchnorm(module: nn.Module, inputs: Sequence[tuple[torch.Tensor, ...]]) -> None:
    """Recompute BatchNorm running statistics as exact averages over ``inputs`` (train-mode passes).

    An EMA generator's weights never ran through the network during training, so the running
    statistics it inherits belong to the live weights; eval-mode images look better with its own.
    """
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    if not norms:
        return
    device = next(module.parameters()).device
    momenta = [m.momentum for m in norms]
    was_training = module.training
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average: the plain mean over the passes
    module.train()
    for arguments in inputs:
        module(*(argument.to(device) for argument in arguments))
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    module.train(was_training)


def config_from(module, values: dict):
    """The architecture Config with ``values`` over its defaults (unknown names are an error)."""
    known = {f.name for f in dataclasses.fields(module.Config)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise FinetuneConfigError(
            f"unknown {module.SPEC.arch} option(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
        )
    return module.Config(**values)


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """A kind whose losses need nothing beyond the shared options."""


def options_from(options_class: type, values: Mapping, *, kind: str):
    """A kind's ``Options`` from ``FinetuneConfig.options`` (missing fields take their defaults).

    Options that configs of earlier versions held for every kind are ignored where a kind has no such field.

    Raises:
        FinetuneConfigError: an option this kind does not have, or a value its dataclass refuses.
    """
    from ganstudio.train.config import LEGACY_OPTIONS

    known = {f.name for f in dataclasses.fields(options_class)}
    unknown = sorted(set(values) - known - set(LEGACY_OPTIONS))
    if unknown:
        raise FinetuneConfigError(
            f"unknown {kind} option(s): {', '.join(unknown)}. Known: {', '.join(sorted(known)) or 'none'}."
        )
    try:
        return options_class(**{key: value for key, value in values.items() if key in known})
    except (TypeError, ValueError) as error:
        raise FinetuneConfigError(f"invalid {kind} options: {error}") from None


class Trainer:
    """Networks, optimisers and the training step of one GAN kind.

    Subclasses build ``self.nets`` (every trained network by name), ``self.ema`` (EMA copies of the
    exported ones, when ``ema_decay > 0``) and ``self.optimizers``, and implement ``get_batch``,
    ``train_step``, ``fixed_inputs``, ``sample`` and ``exported``.
    """

    kind: ClassVar[str]
    arch: ClassVar = None  # the architecture module of the exported generator(s)
    data: ClassVar[DataLayout]  # what pictures the kind learns from
    Options: ClassVar[type] = NoOptions  # the kind's own options (FinetuneConfig.options), as a small dataclass
    exported_nets: ClassVar[tuple[str, ...]] = ("G",)  # the networks written at the end
    not_inferable: ClassVar[tuple[str, ...]] = ()  # Config fields a checkpoint cannot tell (go in the manifest)
    feature_network: ClassVar[bool] = False  # trains against VGG-19 (perceptual losses): the plan finds the file
    recipe: ClassVar[FinetuneConfig | None] = None  # a kind without a built-in model: how a fresh one trains

    def __init__(self, config: FinetuneConfig, data: TrainData, *, device: str | torch.device = "cpu"):
        self.config = config
        self.device = torch.device(device)
        self.nets: dict[str, nn.Module] = {}
        self.ema: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.base_lrs: dict[str, float] = {}
        self.options = options_from(self.Options, config.options, kind=self.kind)
        self.build()
        self.prepare_data(data)
        self._load_init_from()
        self._check_export_round_trip()

    # -- to implement -------------------------------------------------------------------

    def build(self) -> None:
        raise NotImplementedError

    def prepare_data(self, data: TrainData) -> None:
        raise NotImplementedError

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        raise NotImplementedError

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        raise NotImplementedError

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        """role -> state dict of each file to write, in the registry's layout.

        ``calibrate=False`` skips any final touch (BatchNorm statistics) when only the layout matters.
        """
        raise NotImplementedError

    def arch_config(self):
        """The architecture Config of the exported generator(s)."""
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------

    def model_config(self) -> dict:
        return dataclasses.asdict(self.arch_config())

    def add_optimizer(self, name: str, modules: Sequence[nn.Module], lr: float, *,
                      betas: tuple[float, float] | None = None, weight_decay: float | None = None) -> None:
        for module in modules:  # optimisers are built over the parameters where they train
            module.to(self.device)
        parameters = [p for module in modules for p in module.parameters() if p.requires_grad]
        self.optimizers[name] = torch.optim.Adam(
            parameters,
            lr=lr,
            betas=betas or self.config.betas,
            weight_decay=self.config.weight_decay if weight_decay is None else weight_decay,
        )
        self.base_lrs[name] = lr

    def set_generator_and_discriminator(self, generator: nn.Module, discriminator: nn.Module) -> None:
        """One G and one D ("G", "D"), an Adam optimiser each, FreezeD on D, and an EMA copy of G when asked."""
        freeze_first_layers(discriminator, self.config.freeze_d_layers)
        self.nets = {"G": generator, "D": discriminator}
        self.add_optimizer("G", [generator], self.config.lr)
        self.add_optimizer("D", [discriminator], self.lr_d)
        if self.config.ema_decay:
            self.add_ema("G")

    def add_ema(self, *names: str) -> None:
        for name in names:
            self.ema[name] = copy.deepcopy(self.nets[name]).eval().requires_grad_(False)

    @property
    def lr_d(self) -> float:
        return self.config.lr if self.config.lr_d is None else self.config.lr_d

    def set_learning_rates(self, step: int) -> None:
        """Linear decay to 0 from ``lr_decay_start`` to ``steps`` (pix2pix/CycleGAN's "linear" policy)."""
        start, total = self.config.lr_decay_start, self.config.steps
        factor = 1.0
        if 0 < start < total and step >= start:
            factor = 1.0 - (step - start) / (total - start + 1)
        for name, optimizer in self.optimizers.items():
            for group in optimizer.param_groups:
                group["lr"] = self.base_lrs[name] * factor

    def update_ema(self, step: int) -> None:
        """Move the EMA copies towards the live weights; buffers (BatchNorm statistics) are copied.

        The decay warms up as ``(1 + step) / (10 + step)`` (TensorFlow's ExponentialMovingAverage with
        num_updates) so that short runs are not dominated by the random initial weights.
        """
        decay = min(self.config.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for name, average in self.ema.items():
                live = self.nets[name]
                for p_avg, p in zip(average.parameters(), live.parameters(), strict=True):
                    p_avg.lerp_(p, 1.0 - decay)
                for b_avg, b in zip(average.buffers(), live.buffers(), strict=True):
                    b_avg.copy_(b)

    def inference_net(self, name: str) -> nn.Module:
        """The network that samples and exports use: its EMA copy when there is one."""
        return self.ema.get(name, self.nets[name])

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        return diff_augment(images) if self.config.diff_augment else images

    def step_optimizer(self, loss: torch.Tensor, *names: str) -> None:
        for name in names:
            self.optimizers[name].zero_grad(set_to_none=True)
        loss.backward()
        for name in names:
            self._average_gradients(name)
            self.optimizers[name].step()

    def _average_gradients(self, optimizer: str) -> None:
        # under torchrun: the mean gradient over processes, as DistributedDataParallel computes it
        distributed.average_gradients(p for group in self.optimizers[optimizer].param_groups for p in group["params"])

    def random_indices(self, size: int, generator: torch.Generator, count: int | None = None) -> torch.Tensor:
        return torch.randint(0, size, (count or self.config.batch_size,), generator=generator, device="cpu")

    # Noise and random labels are drawn from the CPU's global generator and then moved: the same seed
    # gives the same draws on every device, and a checkpoint's CPU generator state resumes them.
    def randn(self, *size: int) -> torch.Tensor:
        return torch.randn(*size, device="cpu").to(self.device)

    def randint(self, high: int, count: int) -> torch.Tensor:
        return torch.randint(0, high, (count,), device="cpu").to(self.device)

    def to_device(self, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A batch (or fixed inputs), drawn on the CPU, on the training device."""
        return {name: tensor.to(self.device, non_blocking=True) for name, tensor in tensors.items()}

    def state_dict(self) -> dict:
        return {
            "weights": {name: net.state_dict() for name, net in self.nets.items()},
            "ema": {name: net.state_dict() for name, net in self.ema.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "extra": {name: torch.tensor(value, dtype=torch.float64) for name, value in self.extra_state().items()},
        }

    def extra_state(self) -> dict[str, float]:
        """Numbers besides weights and optimisers that a resumed run needs (a decaying loss weight...)."""
        return {}

    def load_extra_state(self, extra: Mapping[str, float]) -> None:
        """Restore what ``extra_state`` saved."""

    def load_state_dict(self, state: Mapping) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state["weights"][name])
        for name, net in self.ema.items():
            net.load_state_dict(state["ema"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.load_extra_state({name: float(value) for name, value in state.get("extra", {}).items()})

    def export(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write each exported network as ``<role>.safetensors`` (EMA weights when EMA is on)."""
        folder = Path(folder)
        config = self.model_config()
        files = {}
        for role, state in self.exported().items():
            path = folder / f"{role}.safetensors"
            write_safetensors(path, state, arch=self.arch.SPEC.arch, config=config)
            files[role] = path
        return files

    def export_discriminators(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write every trained network that is not exported (the discriminators) as ``<name>.safetensors``.

        The app never runs them; a later fine-tune starts from them (``init_from``), so that FreezeD
        freezes trained layers instead of random ones.
        """
        folder = Path(folder)
        files = {}
        for name, net in self.nets.items():
            if name not in self.exported_nets:
                path = folder / f"{name}.safetensors"
                write_safetensors(path, net.state_dict(), arch=self.arch.SPEC.arch,
                                  config={"network": name, "disc": self.config.disc})
                files[name] = path
        return files

    def _check_export_round_trip(self) -> None:
        # Fail now, not after hours of training, when the registry would read another config back.
        for role, state in self.exported(calibrate=False).items():
            inferred = dataclasses.asdict(self.arch.infer_config(self.arch.normalize_keys(state)))
            wanted = self.model_config()
            different = [k for k in wanted if k not in self.not_inferable and inferred.get(k) != wanted[k]]
            if different:
                raise FinetuneConfigError(
                    f"{self.arch.SPEC.arch} option(s) {', '.join(different)} would read back from the saved '{role}' "
                    f"as {', '.join(f'{k}={inferred.get(k)!r}' for k in different)}: use those values."
                )

    def _load_init_from(self) -> None:
        for role, path in self.config.init_from.items():
            state = flatten_state_dict(read_checkpoint(path))
            if role in self.nets:
                targets = {role: state}
            else:  # a container file (StarGAN v2): one state dict per network prefix
                targets = {
                    name: {k[len(name) + 1 :]: v for k, v in state.items() if k.startswith(name + ".")}
                    for name in self.nets
                }
                targets = {name: sub for name, sub in targets.items() if sub}
            if not targets:
                raise FinetuneConfigError(f"init_from: '{path}' holds none of the networks {', '.join(self.nets)}.")
            for name, sub in targets.items():
                module = self.nets[name]
                # Generators may come from official files (prefixes, legacy keys); discriminators from our checkpoints.
                normalized = self.arch.normalize_keys(sub) if name in self.exported_nets else strip_prefixes(sub)
                load_state_dict_strictly(module, normalized, arch=self.arch.SPEC.arch)
                if name in self.ema:
                    self.ema[name].load_state_dict(module.state_dict())


def check_images(name: str, tensor: torch.Tensor, config: FinetuneConfig, channels: int | None = None) -> None:
    size = config.image_size
    if tensor.dim() != 4 or tuple(tensor.shape[2:]) != (size, size):
        raise FinetuneConfigError(
            f"training images '{name}' must be {size}x{size} (image_size), got shape {tuple(tensor.shape)} (N, C, H, W)."
        )
    if channels is not None and tensor.size(1) != channels:
        raise FinetuneConfigError(f"training images '{name}' have {tensor.size(1)} channels; the model takes {channels}.")
    if len(tensor) == 0:
        raise FinetuneConfigError(f"training images '{name}' are empty.")
