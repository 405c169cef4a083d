"""One training loop for every GAN kind, and a small Trainer per kind that owns its networks and step.

Read ``train()`` first: it is the whole loop, in the spirit of nanoGPT's ``train.py``. Each kind's
``Trainer`` subclass holds its networks, optimisers and EMA copies, draws a batch, makes one training
step (returning its losses), renders fixed samples and exports its generator(s) in the layout the
registry loads. The loop around it does what is common: seeding, resuming, checkpoints, samples,
progress reports, stopping and export.

Checkpoints (``<workdir>/checkpoint.pt``) are plain ``torch.save`` data, read back with
``weights_only=True``: ``{"weights", "ema", "optimizers", "step", "rng", "config"}`` (plus ``"extra"``:
StarGAN v2's decaying diversity weight), written atomically
(temp file, then ``os.replace``), so a process killed mid-write leaves the previous checkpoint intact.
Resuming restores weights, EMA, optimiser states, the step and the random generators, so an interrupted
run ends bitwise equal to an uninterrupted one (on the same machine, torch version and thread count).

Training data (``data``) is a dict of arrays with images channel-last in 0..1 (as
``ganstudio.train.datasets`` makes them), per kind:
    dcgan: images; cgan: images, labels; pix2pix: A (inputs), B (targets), paired;
    cyclegan: A, B, unpaired; stargan: images, attributes (N, c_dim) 0/1; stargan_v2: images, domains.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ganstudio.checkpoints import (
    flatten_state_dict,
    load_state_dict_strictly,
    read_checkpoint,
    strip_prefixes,
    write_safetensors,
)
from ganstudio.models import cgan, cyclegan_resnet, dcgan, patchgan, pix2pix_unet, stargan, stargan_v2
from ganstudio.train import distributed
from ganstudio.train.config import FinetuneConfig, FinetuneConfigError
from ganstudio.train.losses import diff_augment, discriminator_loss, generator_loss, gradient_penalty, r1_penalty

CHECKPOINT_NAME = "checkpoint.pt"
SAMPLE_COUNT = 8  # fixed inputs rendered every ``sample_every`` steps

ProgressCallback = Callable[[int, int, dict, "list[Image.Image] | None"], None]
TrainData = Mapping[str, "np.ndarray | Sequence[np.ndarray]"]


@dataclass(frozen=True)
class TrainResult:
    """What a run produced: the exported generator files and how the run went."""

    workdir: Path
    files: dict[str, Path]  # role -> safetensors file, as a manifest's "files"
    arch: str
    model_config: dict  # the architecture Config of the export, as a manifest's "config"
    step: int  # the step reached
    steps: int  # the step asked for
    resumed_from: int  # 0 for a fresh run
    stopped: bool  # should_stop() ended the run before ``steps``
    wall_time_s: float
    losses: dict[str, float]


# =========================================================================== the loop


def train(
    config: FinetuneConfig,
    data: TrainData,
    workdir: str | os.PathLike,
    *,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    export_dir: str | os.PathLike | None = None,
) -> TrainResult:
    """Train (or resume training) one GAN, checkpointing in ``workdir``, and export its generator(s).

    Args:
        data: the training set (see the module docstring for the keys of each kind).
        workdir: holds ``config.json``, ``checkpoint.pt`` and ``samples/``; a checkpoint already there
            is resumed (same kind and architecture required; ``steps`` may be larger).
        on_progress: called after every step as ``on_progress(step, total, losses, samples)``;
            ``samples`` is a list of images every ``sample_every`` steps, else None.
        should_stop: polled before every step; when it returns True the run checkpoints, exports and returns.
        export_dir: where the safetensors go (default ``<workdir>/model``).

    Raises:
        FinetuneConfigError: the config does not fit the data, or the checkpoint is another model's.
    """
    started = time.monotonic()
    context = distributed.current()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    export_dir = Path(export_dir) if export_dir is not None else workdir / "model"

    # Seeds: the global generator for weights and noise, a separate one for batches.
    torch.manual_seed(config.seed)
    trainer = build_trainer(config, data)
    batches = torch.Generator().manual_seed(config.seed + 1)

    step = 0
    checkpoint_path = workdir / CHECKPOINT_NAME
    if checkpoint_path.is_file():
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        _check_resumable(config, checkpoint, checkpoint_path)
        trainer.load_state_dict(checkpoint)
        torch.set_rng_state(checkpoint["rng"]["torch"])
        batches.set_state(checkpoint["rng"]["batches"])
        step = int(checkpoint["step"])
    resumed_from = step
    if context.is_main:
        config.save(workdir / "config.json")

    fixed = trainer.fixed_inputs(SAMPLE_COUNT)
    losses: dict[str, float] = {}
    saved_step = step if resumed_from else -1
    stopped = False
    while step < config.steps:
        if should_stop is not None and should_stop():
            stopped = True
            break
        trainer.set_learning_rates(step)
        # every process draws the same global batch and keeps its share (all of it when alone)
        batch = {name: distributed.shard(value) for name, value in trainer.get_batch(batches).items()}
        losses = trainer.train_step(batch, step)
        step += 1

        if step % config.checkpoint_every == 0 and context.is_main:
            save_checkpoint(checkpoint_path, trainer, step, batches)
            saved_step = step
        samples = None
        if config.sample_every and (step % config.sample_every == 0 or step == config.steps) and context.is_main:
            samples = trainer.sample(fixed)
            save_grid(samples, workdir / "samples" / f"step_{step:06d}.png")
        if on_progress is not None:
            on_progress(step, config.steps, losses, samples)

    files = {}
    if context.is_main:
        if saved_step != step:
            save_checkpoint(checkpoint_path, trainer, step, batches)
        files = trainer.export(export_dir)
    return TrainResult(
        workdir=workdir,
        files=files,
        arch=config.arch_id,
        model_config=trainer.model_config(),
        step=step,
        steps=config.steps,
        resumed_from=resumed_from,
        stopped=stopped,
        wall_time_s=time.monotonic() - started,
        losses=losses,
    )


def save_checkpoint(path: Path, trainer: Trainer, step: int, batches: torch.Generator) -> None:
    """Write ``{weights, ema, optimizers, step, rng, config}`` atomically (temp file + os.replace)."""
    state = trainer.state_dict()
    state["step"] = step
    state["rng"] = {"torch": torch.get_rng_state(), "batches": batches.get_state()}
    state["config"] = json.dumps(trainer.config.to_json(), sort_keys=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _check_resumable(config: FinetuneConfig, checkpoint: dict, path: Path) -> None:
    saved = FinetuneConfig.from_json(checkpoint["config"])
    if (saved.kind, saved.arch, saved.disc, saved.image_size) != (config.kind, config.arch, config.disc, config.image_size):
        raise FinetuneConfigError(
            f"'{path}' is the checkpoint of another model ({saved.kind}, {saved.arch}); this run trains "
            f"{config.kind} with {config.arch}. Use another work folder, or delete the checkpoint to start over."
        )


def build_trainer(config: FinetuneConfig, data: TrainData) -> Trainer:
    """The Trainer of ``config.kind``, built (weights initialised from torch's global generator) with ``data``."""
    return TRAINERS[config.kind](config, data)


# =========================================================================== helpers


def images_to_tensor(images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """(N, H, W, C) arrays in 0..1 -> (N, C, H, W) float32 tensor in -1..1."""
    array = np.asarray(np.stack(list(images)) if not isinstance(images, np.ndarray) else images, dtype=np.float32)
    if array.ndim == 3:
        array = array[..., None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2))) * 2 - 1


def tensor_to_image(tensor: torch.Tensor) -> Image.Image:
    """(C, H, W) in -1..1 -> an RGB image (one channel is repeated), rounded like the built-in models' output."""
    array = ((tensor.detach().float().clamp(-1, 1) + 1) / 2 * 255 + 0.5).floor().to(torch.uint8)
    array = array.permute(1, 2, 0).numpy()
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return Image.fromarray(array, "RGB")


def image_row(tensors: Sequence[torch.Tensor]) -> Image.Image:
    """Images (C, H, W) side by side, as one picture."""
    return tensor_to_image(torch.cat([t if t.size(0) == 3 else t.repeat(3, 1, 1) for t in tensors], dim=2))


def save_grid(images: Sequence[Image.Image], path: Path) -> None:
    """Samples as one PNG: wide pictures (rows) stacked, square ones in a grid."""
    if not images:
        return
    width, height = images[0].size
    columns = 1 if width > height else math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    grid = Image.new("RGB", (columns * (width + 2) + 2, rows * (height + 2) + 2), (40, 40, 40))
    for index, image in enumerate(images):
        grid.paste(image, (2 + (index % columns) * (width + 2), 2 + (index // columns) * (height + 2)))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)


def normal_init(module: nn.Module, gain: float = 0.02) -> None:
    """The official DCGAN / pix2pix / CycleGAN init: conv and linear weights N(0, gain), norms N(1, gain), biases 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.BatchNorm2d, nn.InstanceNorm2d)) and layer.weight is not None:
            nn.init.normal_(layer.weight, 1.0, gain)
            nn.init.zeros_(layer.bias)


def he_init(module: nn.Module) -> None:
    """StarGAN v2's init: Kaiming normal (fan in, ReLU gain) for conv and linear weights, zero biases."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


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
    momenta = [m.momentum for m in norms]
    was_training = module.training
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative moving average: the plain mean over the passes
    module.train()
    for arguments in inputs:
        module(*arguments)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    module.train(was_training)


def _config_from(module, values: dict):
    """The architecture Config with ``values`` over its defaults (unknown names are an error)."""
    known = {f.name for f in dataclasses.fields(module.Config)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise FinetuneConfigError(
            f"unknown {module.ARCH} option(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
        )
    return module.Config(**values)


# =========================================================================== the Trainer API


class Trainer:
    """Networks, optimisers and the training step of one GAN kind.

    Subclasses build ``self.nets`` (every trained network by name), ``self.ema`` (EMA copies of the
    exported ones, when ``ema_decay > 0``) and ``self.optimizers``, and implement ``get_batch``,
    ``train_step``, ``fixed_inputs``, ``sample`` and ``exported``.
    """

    kind: ClassVar[str]
    arch: ClassVar = None  # the architecture module of the exported generator(s)
    exported_nets: ClassVar[tuple[str, ...]] = ("G",)  # the networks written at the end
    not_inferable: ClassVar[tuple[str, ...]] = ()  # Config fields a checkpoint cannot tell (go in the manifest)

    def __init__(self, config: FinetuneConfig, data: TrainData):
        self.config = config
        self.nets: dict[str, nn.Module] = {}
        self.ema: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.base_lrs: dict[str, float] = {}
        self.lambda_ds = config.lambda_ds
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
        parameters = [p for module in modules for p in module.parameters() if p.requires_grad]
        self.optimizers[name] = torch.optim.Adam(
            parameters,
            lr=lr,
            betas=betas or self.config.betas,
            weight_decay=self.config.weight_decay if weight_decay is None else weight_decay,
        )
        self.base_lrs[name] = lr

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
        return torch.randint(0, size, (count or self.config.batch_size,), generator=generator)

    def state_dict(self) -> dict:
        return {
            "weights": {name: net.state_dict() for name, net in self.nets.items()},
            "ema": {name: net.state_dict() for name, net in self.ema.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "extra": {"lambda_ds": torch.tensor(self.lambda_ds, dtype=torch.float64)},
        }

    def load_state_dict(self, state: Mapping) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state["weights"][name])
        for name, net in self.ema.items():
            net.load_state_dict(state["ema"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        if "extra" in state:
            self.lambda_ds = float(state["extra"]["lambda_ds"])

    def export(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write each exported network as ``<role>.safetensors`` (EMA weights when EMA is on)."""
        folder = Path(folder)
        config = self.model_config()
        files = {}
        for role, state in self.exported().items():
            path = folder / f"{role}.safetensors"
            write_safetensors(path, state, arch=self.arch.ARCH, config=config)
            files[role] = path
        return files

    def _check_export_round_trip(self) -> None:
        # Fail now, not after hours of training, when the registry would read another config back.
        for role, state in self.exported(calibrate=False).items():
            inferred = dataclasses.asdict(self.arch.infer_config(self.arch.normalize_keys(state)))
            wanted = self.model_config()
            different = [k for k in wanted if k not in self.not_inferable and inferred.get(k) != wanted[k]]
            if different:
                raise FinetuneConfigError(
                    f"{self.arch.ARCH} option(s) {', '.join(different)} would read back from the saved '{role}' "
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
                load_state_dict_strictly(module, normalized, arch=self.arch.ARCH)
                if name in self.ema:
                    self.ema[name].load_state_dict(module.state_dict())


def _check_images(name: str, tensor: torch.Tensor, config: FinetuneConfig, channels: int | None = None) -> None:
    size = config.image_size
    if tensor.dim() != 4 or tuple(tensor.shape[2:]) != (size, size):
        raise FinetuneConfigError(
            f"training images '{name}' must be {size}x{size} (image_size), got shape {tuple(tensor.shape)} (N, C, H, W)."
        )
    if channels is not None and tensor.size(1) != channels:
        raise FinetuneConfigError(f"training images '{name}' have {tensor.size(1)} channels; the model takes {channels}.")
    if len(tensor) == 0:
        raise FinetuneConfigError(f"training images '{name}' are empty.")


# =========================================================================== DCGAN and class-conditional GAN


class DCGANTrainer(Trainer):
    """DCGAN (Radford et al.): the official generator and discriminator, trained on logits."""

    kind = "dcgan"
    arch = dcgan

    def build(self) -> None:
        cfg = self.config
        self.g_config = _config_from(self.arch, cfg.arch)
        if self.arch.output_size(self.g_config) != cfg.image_size:
            raise FinetuneConfigError(
                f"{self.arch.ARCH} with n_layers={self.g_config.n_layers} makes "
                f"{self.arch.output_size(self.g_config)}-pixel images, not image_size {cfg.image_size}."
            )
        generator = self.arch.build(self.g_config)
        discriminator = self.arch.build_discriminator(self.g_config, ndf=int(cfg.disc.get("ndf", 64)))
        generator.apply(dcgan.weights_init)
        discriminator.apply(dcgan.weights_init)
        freeze_first_layers(discriminator, cfg.freeze_d_layers)
        self.nets = {"G": generator, "D": discriminator}
        self.add_optimizer("G", [generator], cfg.lr)
        self.add_optimizer("D", [discriminator], self.lr_d)
        if cfg.ema_decay:
            self.add_ema("G")

    def prepare_data(self, data: TrainData) -> None:
        self.images = images_to_tensor(data["images"])
        _check_images("images", self.images, self.config, self.g_config.nc)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        # The official D ends with a Sigmoid (for BCELoss); the losses here take logits.
        return self.nets["D"].main[:-1](self.augment(images)).view(-1)

    def generate(self, net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return net(z)

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = self.random_indices(len(self.images), generator, self.config.batch_size * self.config.n_critic)
        return {"images": self.images[index]}

    def fake_labels(self, count: int) -> torch.Tensor | None:
        return None

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg, generator = self.config, self.nets["G"]
        nz = self.g_config.nz
        reals = batch["images"].split(cfg.batch_size)
        real_labels = batch["labels"].split(cfg.batch_size) if "labels" in batch else [None] * len(reals)
        for real, labels in zip(reals, real_labels, strict=True):
            fake_labels = self.fake_labels(len(real))
            with torch.no_grad():
                fake = self.generate(generator, torch.randn(len(real), nz, 1, 1), fake_labels)
            real = real.detach().requires_grad_(cfg.r1_weight > 0)
            real_logits = self.discriminate(real, labels)
            loss_d = discriminator_loss(real_logits, self.discriminate(fake, fake_labels), cfg.loss)
            if cfg.r1_weight:
                loss_d = loss_d + cfg.r1_weight * r1_penalty(real_logits, real)
            if cfg.gp_weight:
                critic = lambda x: self.discriminate(x, labels)  # noqa: E731 - real and mixed share labels
                loss_d = loss_d + cfg.gp_weight * gradient_penalty(critic, real, fake)
            self.step_optimizer(loss_d, "D")

        fake_labels = self.fake_labels(cfg.batch_size)
        fake = self.generate(generator, torch.randn(cfg.batch_size, nz, 1, 1), fake_labels)
        loss_g = generator_loss(self.discriminate(fake, fake_labels), cfg.loss)
        self.step_optimizer(loss_g, "G")
        self.update_ema(step)
        return {"D": loss_d.item(), "G": loss_g.item()}

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        return {"z": torch.randn(count * count, self.g_config.nz, 1, 1, generator=generator)}

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        net = self.final_generator().eval()
        return [tensor_to_image(image) for image in self.generate(net, fixed["z"], fixed.get("labels"))]

    def calibration_inputs(self) -> list[tuple[torch.Tensor, ...]]:
        generator = torch.Generator().manual_seed(self.config.seed + 3)
        size = 4 * self.config.batch_size
        return [(torch.randn(size, self.g_config.nz, 1, 1, generator=generator),) for _ in range(4)]

    def final_generator(self) -> nn.Module:
        """A copy of the generator as exported: the EMA weights with BatchNorm statistics of their own."""
        net = copy.deepcopy(self.inference_net("G"))
        if self.ema:
            recalibrate_batchnorm(net, self.calibration_inputs())
        return net

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        net = self.final_generator() if calibrate else self.inference_net("G")
        return {"G": net.state_dict()}

    def arch_config(self):
        return self.g_config


class CGANTrainer(DCGANTrainer):
    """Class-conditional DCGAN with a projection discriminator (Miyato & Koyama 2018)."""

    kind = "cgan"
    arch = cgan

    def build(self) -> None:
        cfg = self.config
        self.g_config = _config_from(self.arch, cfg.arch)
        if self.arch.output_size(self.g_config) != cfg.image_size:
            raise FinetuneConfigError(
                f"cgan with n_layers={self.g_config.n_layers} makes {self.arch.output_size(self.g_config)}-pixel "
                f"images, not image_size {cfg.image_size}."
            )
        generator = self.arch.build(self.g_config)
        discriminator = self.arch.build_discriminator(self.g_config, ndf=int(cfg.disc.get("ndf", 64)))
        generator.apply(dcgan.weights_init)
        discriminator.apply(dcgan.weights_init)
        # The projection head as in SNGAN's code: Xavier-uniform (Embedding's default N(0, 1) gives huge logits).
        nn.init.xavier_uniform_(discriminator.embed.weight)
        nn.init.xavier_uniform_(discriminator.linear.weight)
        nn.init.zeros_(discriminator.linear.bias)
        freeze_first_layers(discriminator, cfg.freeze_d_layers)
        self.nets = {"G": generator, "D": discriminator}
        self.add_optimizer("G", [generator], cfg.lr)
        self.add_optimizer("D", [discriminator], self.lr_d)
        if cfg.ema_decay:
            self.add_ema("G")

    def prepare_data(self, data: TrainData) -> None:
        super().prepare_data(data)
        self.labels = torch.as_tensor(np.asarray(data["labels"]), dtype=torch.long)
        classes = self.g_config.num_classes
        if len(self.labels) != len(self.images) or self.labels.min() < 0 or self.labels.max() >= classes:
            raise FinetuneConfigError(f"cgan needs one label in 0..{classes - 1} per image.")

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.nets["D"](self.augment(images), labels)

    def generate(self, net: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return net(z, labels)

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = self.random_indices(len(self.images), generator, self.config.batch_size * self.config.n_critic)
        return {"images": self.images[index], "labels": self.labels[index]}

    def fake_labels(self, count: int) -> torch.Tensor:
        return torch.randint(0, self.g_config.num_classes, (count,))

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        # One row per class, the same z along each column.
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        classes = self.g_config.num_classes
        z = torch.randn(count, self.g_config.nz, 1, 1, generator=generator)
        return {"z": z.repeat(classes, 1, 1, 1), "labels": torch.arange(classes).repeat_interleave(count)}

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        images = super().sample(fixed)
        per_row = len(images) // self.g_config.num_classes
        rows = []
        for start in range(0, len(images), per_row):
            row = Image.new("RGB", (per_row * images[0].width, images[0].height))
            for column, image in enumerate(images[start : start + per_row]):
                row.paste(image, (column * image.width, 0))
            rows.append(row)
        return rows

    def calibration_inputs(self) -> list[tuple[torch.Tensor, ...]]:
        generator = torch.Generator().manual_seed(self.config.seed + 3)
        size = 4 * self.config.batch_size
        return [
            (torch.randn(size, self.g_config.nz, 1, 1, generator=generator),
             torch.randint(0, self.g_config.num_classes, (size,), generator=generator))
            for _ in range(4)
        ]


# =========================================================================== pix2pix


class Pix2PixTrainer(Trainer):
    """pix2pix (Isola et al.): U-Net generator, conditional PatchGAN, GAN loss + lambda_l1 * L1."""

    kind = "pix2pix"
    arch = pix2pix_unet
    not_inferable = ("use_dropout",)

    def build(self) -> None:
        cfg = self.config
        if cfg.n_critic != 1:
            raise FinetuneConfigError("pix2pix trains with n_critic=1.")
        self.g_config = _config_from(self.arch, cfg.arch)
        if cfg.image_size % self.arch.size_multiple(self.g_config):
            raise FinetuneConfigError(
                f"a U-Net with num_downs={self.g_config.num_downs} needs image_size a multiple of "
                f"{self.arch.size_multiple(self.g_config)}, not {cfg.image_size}."
            )
        generator = self.arch.build(self.g_config)
        d_config = patchgan.Config(
            input_nc=self.g_config.input_nc + self.g_config.output_nc,
            ndf=int(cfg.disc.get("ndf", 64)),
            n_layers=int(cfg.disc.get("n_layers", 3)),
            norm=cfg.disc.get("norm", self.g_config.norm),
        )
        discriminator = patchgan.build(d_config)
        normal_init(generator)
        normal_init(discriminator)
        freeze_first_layers(discriminator, cfg.freeze_d_layers)
        self.nets = {"G": generator, "D": discriminator}
        self.add_optimizer("G", [generator], cfg.lr)
        self.add_optimizer("D", [discriminator], self.lr_d)
        if cfg.ema_decay:
            self.add_ema("G")

    def prepare_data(self, data: TrainData) -> None:
        self.inputs, self.targets = images_to_tensor(data["A"]), images_to_tensor(data["B"])
        _check_images("A", self.inputs, self.config, self.g_config.input_nc)
        _check_images("B", self.targets, self.config, self.g_config.output_nc)
        if len(self.inputs) != len(self.targets):
            raise FinetuneConfigError(f"pix2pix needs pairs: {len(self.inputs)} inputs but {len(self.targets)} targets.")

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        index = self.random_indices(len(self.inputs), generator)
        return {"A": self.inputs[index], "B": self.targets[index]}

    def discriminate(self, condition: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        # Conditional D: it sees the input and the (real or generated) output together.
        return self.nets["D"](self.augment(torch.cat([condition, image], dim=1)))

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg = self.config
        real_a, real_b = batch["A"], batch["B"]
        fake_b = self.nets["G"](real_a)

        real_pair = torch.cat([real_a, real_b], dim=1).requires_grad_(cfg.r1_weight > 0)
        real_logits = self.nets["D"](self.augment(real_pair))
        # Official: the D loss is halved "to slow down the rate at which D learns relative to G".
        loss_d = 0.5 * discriminator_loss(real_logits, self.discriminate(real_a, fake_b.detach()), cfg.loss)
        if cfg.r1_weight:
            loss_d = loss_d + cfg.r1_weight * r1_penalty(real_logits, real_pair)
        self.step_optimizer(loss_d, "D")

        self.nets["D"].requires_grad_(False)  # no D gradients from the G step (official set_requires_grad)
        loss_gan = generator_loss(self.discriminate(real_a, fake_b), cfg.loss)
        loss_l1 = F.l1_loss(fake_b, real_b)
        self.step_optimizer(loss_gan + cfg.lambda_l1 * loss_l1, "G")
        self.nets["D"].requires_grad_(True)
        freeze_first_layers(self.nets["D"], cfg.freeze_d_layers)
        self.update_ema(step)
        return {"D": loss_d.item(), "G_gan": loss_gan.item(), "G_L1": loss_l1.item()}

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        index = torch.randperm(len(self.inputs), generator=generator)[:count]
        return {"A": self.inputs[index], "B": self.targets[index]}

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        outputs = self.final_generator().eval()(fixed["A"])
        return [image_row([a, out, b]) for a, out, b in zip(fixed["A"], outputs, fixed["B"], strict=True)]

    def final_generator(self) -> nn.Module:
        """A copy of the generator as exported: the EMA weights with BatchNorm statistics of their own."""
        net = copy.deepcopy(self.inference_net("G"))
        if self.ema:
            generator = torch.Generator().manual_seed(self.config.seed + 3)
            size = 4 * self.config.batch_size
            recalibrate_batchnorm(net, [(self.inputs[self.random_indices(len(self.inputs), generator, size)],)
                                        for _ in range(4)])
        return net

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        net = self.final_generator() if calibrate else self.inference_net("G")
        return {"G": net.state_dict()}

    def arch_config(self):
        return self.g_config


# =========================================================================== CycleGAN


class CycleGANTrainer(Trainer):
    """CycleGAN (Zhu et al.): two ResNet generators, two PatchGANs, LSGAN + cycle + identity losses.

    The official 50-image history pool of fakes is left out (it adds little at this scale and would
    have to be checkpointed for exact resumes).
    """

    kind = "cyclegan"
    arch = cyclegan_resnet
    exported_nets = ("G_A", "G_B")

    def build(self) -> None:
        cfg = self.config
        if cfg.n_critic != 1:
            raise FinetuneConfigError("cyclegan trains with n_critic=1.")
        self.g_config = _config_from(self.arch, cfg.arch)
        d_config = patchgan.Config(
            input_nc=self.g_config.output_nc,
            ndf=int(cfg.disc.get("ndf", 64)),
            n_layers=int(cfg.disc.get("n_layers", 3)),
            norm=cfg.disc.get("norm", "instance"),
        )
        self.nets = {
            "G_A": self.arch.build(self.g_config),  # A -> B
            "G_B": self.arch.build(self.g_config),  # B -> A
            "D_A": patchgan.build(d_config),  # judges B images (real B vs G_A(A)), as the official naming
            "D_B": patchgan.build(d_config),  # judges A images
        }
        for net in self.nets.values():
            normal_init(net)
        for name in ("D_A", "D_B"):
            freeze_first_layers(self.nets[name], cfg.freeze_d_layers)
        self.add_optimizer("G", [self.nets["G_A"], self.nets["G_B"]], cfg.lr)
        self.add_optimizer("D", [self.nets["D_A"], self.nets["D_B"]], self.lr_d)
        if cfg.ema_decay:
            self.add_ema("G_A", "G_B")

    def prepare_data(self, data: TrainData) -> None:
        self.domain_a, self.domain_b = images_to_tensor(data["A"]), images_to_tensor(data["B"])
        _check_images("A", self.domain_a, self.config, self.g_config.input_nc)
        _check_images("B", self.domain_b, self.config, self.g_config.output_nc)

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        # Unpaired: the two domains are drawn independently.
        return {
            "A": self.domain_a[self.random_indices(len(self.domain_a), generator)],
            "B": self.domain_b[self.random_indices(len(self.domain_b), generator)],
        }

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg = self.config
        g_a, g_b, d_a, d_b = (self.nets[n] for n in ("G_A", "G_B", "D_A", "D_B"))
        real_a, real_b = batch["A"], batch["B"]
        fake_b, fake_a = g_a(real_a), g_b(real_b)
        rec_a, rec_b = g_b(fake_b), g_a(fake_a)

        # Generators first, discriminators frozen (official optimize_parameters order).
        d_a.requires_grad_(False)
        d_b.requires_grad_(False)
        loss_idt = torch.zeros(())
        if cfg.lambda_identity > 0:
            # Official: identity weighted by lambda_identity * lambda_cycle (lambda_A = lambda_B = lambda_cycle).
            loss_idt = (F.l1_loss(g_a(real_b), real_b) + F.l1_loss(g_b(real_a), real_a)) * cfg.lambda_cycle * cfg.lambda_identity
        loss_gan = generator_loss(d_a(self.augment(fake_b)), cfg.loss) + generator_loss(d_b(self.augment(fake_a)), cfg.loss)
        loss_cycle = (F.l1_loss(rec_a, real_a) + F.l1_loss(rec_b, real_b)) * cfg.lambda_cycle
        self.step_optimizer(loss_gan + loss_cycle + loss_idt, "G")
        d_a.requires_grad_(True)
        d_b.requires_grad_(True)
        for net in (d_a, d_b):
            freeze_first_layers(net, cfg.freeze_d_layers)

        loss_d = self._d_loss(d_a, real_b, fake_b.detach()) + self._d_loss(d_b, real_a, fake_a.detach())
        self.step_optimizer(loss_d, "D")
        self.update_ema(step)
        return {"D": loss_d.item(), "G_gan": loss_gan.item(), "cycle": loss_cycle.item(), "idt": loss_idt.item()}

    def _d_loss(self, net: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        real = real.detach().requires_grad_(cfg.r1_weight > 0)
        real_logits = net(self.augment(real))
        loss = 0.5 * discriminator_loss(real_logits, net(self.augment(fake)), cfg.loss)
        if cfg.r1_weight:
            loss = loss + cfg.r1_weight * r1_penalty(real_logits, real)
        return loss

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        index_a = torch.randperm(len(self.domain_a), generator=generator)[:count]
        index_b = torch.randperm(len(self.domain_b), generator=generator)[:count]
        return {"A": self.domain_a[index_a], "B": self.domain_b[index_b]}

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        g_a, g_b = self.inference_net("G_A").eval(), self.inference_net("G_B").eval()
        fake_b, fake_a = g_a(fixed["A"]), g_b(fixed["B"])
        rows = [image_row([a, fb, b, fa]) for a, fb, b, fa in zip(fixed["A"], fake_b, fixed["B"], fake_a, strict=True)]
        self.nets["G_A"].train()
        self.nets["G_B"].train()
        return rows

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        return {role: self.inference_net(role).state_dict() for role in ("G_A", "G_B")}

    def arch_config(self):
        return self.g_config


# =========================================================================== StarGAN


class StarGANTrainer(Trainer):
    """StarGAN (Choi et al. 2018): one generator for every attribute combination; D with a classifier head.

    D: adversarial + lambda_cls * attribute BCE on real images (+ gradient penalty for WGAN-GP).
    G: adversarial + lambda_cls * BCE of D's classifier on the fake for the target attributes
    + lambda_rec * L1 of the reconstruction G(G(x, c_trg), c_org). Targets are the batch's own labels
    shuffled (official ``label_org[rand_idx]``).
    """

    kind = "stargan"
    arch = stargan

    def build(self) -> None:
        cfg = self.config
        self.g_config = _config_from(self.arch, cfg.arch)
        repeat = int(cfg.disc.get("repeat_num", 6))
        if cfg.image_size % 2**repeat:
            raise FinetuneConfigError(
                f"the StarGAN discriminator with repeat_num={repeat} needs image_size a multiple of {2**repeat}."
            )
        generator = self.arch.build(self.g_config)
        discriminator = stargan.Discriminator(
            image_size=cfg.image_size, conv_dim=int(cfg.disc.get("conv_dim", 64)), c_dim=self.g_config.c_dim,
            repeat_num=repeat,
        )
        freeze_first_layers(discriminator, cfg.freeze_d_layers)
        self.nets = {"G": generator, "D": discriminator}
        self.add_optimizer("G", [generator], cfg.lr)
        self.add_optimizer("D", [discriminator], self.lr_d)
        if cfg.ema_decay:
            self.add_ema("G")

    def prepare_data(self, data: TrainData) -> None:
        self.images = images_to_tensor(data["images"])
        _check_images("images", self.images, self.config, 3)
        self.attributes = torch.as_tensor(np.asarray(data["attributes"]), dtype=torch.float32)
        if tuple(self.attributes.shape) != (len(self.images), self.g_config.c_dim):
            raise FinetuneConfigError(
                f"stargan needs attributes of shape (N, c_dim) = ({len(self.images)}, {self.g_config.c_dim}), "
                f"got {tuple(self.attributes.shape)}."
            )

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        index = self.random_indices(len(self.images), generator, cfg.batch_size * cfg.n_critic)
        labels = self.attributes[index]
        # Official target labels: the batch's labels in random order (per D step).
        order = torch.cat([torch.randperm(cfg.batch_size, generator=generator) + k * cfg.batch_size
                           for k in range(cfg.n_critic)])
        return {"images": self.images[index], "labels": labels, "targets": labels[order]}

    def classification_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # Official: summed over attributes, averaged over the batch.
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.size(0)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg = self.config
        generator, discriminator = self.nets["G"], self.nets["D"]
        chunks = zip(*(batch[k].split(cfg.batch_size) for k in ("images", "labels", "targets")), strict=True)
        for x_real, label_org, label_trg in chunks:
            x_in = x_real.detach().requires_grad_(cfg.r1_weight > 0)
            out_src, out_cls = discriminator(self.augment(x_in))
            with torch.no_grad():
                x_fake = generator(x_real, label_trg)
            fake_src, _ = discriminator(self.augment(x_fake))
            loss_cls = self.classification_loss(out_cls, label_org)
            loss_d = discriminator_loss(out_src, fake_src, cfg.loss) + cfg.lambda_cls * loss_cls
            if cfg.gp_weight:
                loss_d = loss_d + cfg.gp_weight * gradient_penalty(lambda x: discriminator(x)[0], x_real, x_fake)
            if cfg.r1_weight:
                loss_d = loss_d + cfg.r1_weight * r1_penalty(out_src, x_in)
            self.step_optimizer(loss_d, "D")

        discriminator.requires_grad_(False)
        x_fake = generator(x_real, label_trg)
        fake_src, fake_cls = discriminator(self.augment(x_fake))
        loss_g_cls = self.classification_loss(fake_cls, label_trg)
        loss_rec = F.l1_loss(generator(x_fake, label_org), x_real)
        loss_g_adv = generator_loss(fake_src, cfg.loss)
        self.step_optimizer(loss_g_adv + cfg.lambda_cls * loss_g_cls + cfg.lambda_rec * loss_rec, "G")
        discriminator.requires_grad_(True)
        freeze_first_layers(discriminator, cfg.freeze_d_layers)
        self.update_ema(step)
        return {"D": loss_d.item(), "D_cls": loss_cls.item(), "G_adv": loss_g_adv.item(),
                "G_cls": loss_g_cls.item(), "rec": loss_rec.item()}

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        index = torch.randperm(len(self.images), generator=generator)[:count]
        return {"images": self.images[index], "labels": self.attributes[index]}

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        """Rows: input, then each attribute flipped, then every attribute on."""
        # The official test runs G in train mode (instance statistics); a copy prepared for inference does the
        # same without updating the running statistics that the checkpoint holds.
        net = copy.deepcopy(self.inference_net("G")).eval()
        stargan.prepare_for_inference(net)
        rows = []
        for image, label in zip(fixed["images"], fixed["labels"], strict=True):
            targets = [label.clone() for _ in range(self.g_config.c_dim)]
            for k, target in enumerate(targets):
                target[k] = 1 - target[k]
            targets.append(torch.ones_like(label))
            outputs = net(image[None].expand(len(targets), -1, -1, -1), torch.stack(targets))
            rows.append(image_row([image, *outputs]))
        return rows

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        return {"G": self.inference_net("G").state_dict()}

    def arch_config(self):
        return self.g_config


# =========================================================================== StarGAN v2


class StarGANv2Trainer(Trainer):
    """StarGAN v2 (Choi et al. 2020), as the official ``core/solver.py`` trains it.

    Each step: the discriminator twice (latent-guided and reference-guided fakes, non-saturating loss,
    R1 on reals), then the generator twice (latent-guided, updating generator, mapping network and style
    encoder; reference-guided, updating the generator only) with adversarial + lambda_sty * style
    reconstruction - lambda_ds * diversity sensitivity + lambda_cycle * cycle losses. EMA copies of
    the generator, mapping network and style encoder are what gets exported (``ema_decay``, 0.999 officially).
    With ``alternate_guidance`` a step makes only one of the two passes (latent-guided on even steps),
    so two steps make one official iteration, in the same time.
    """

    kind = "stargan_v2"
    arch = stargan_v2
    exported_nets = ("generator", "mapping_network", "style_encoder")

    def build(self) -> None:
        cfg = self.config
        if cfg.n_critic != 1:
            raise FinetuneConfigError("stargan_v2 trains with n_critic=1.")
        self.g_config = _config_from(self.arch, {"img_size": cfg.image_size, **cfg.arch})
        if self.g_config.img_size != cfg.image_size or self.g_config.w_hpf:
            raise FinetuneConfigError("stargan_v2 trains with img_size = image_size and w_hpf = 0.")
        model = self.arch.build(self.g_config)
        discriminator = stargan_v2.Discriminator(
            self.g_config.img_size, self.g_config.num_domains, self.g_config.max_conv_dim, dim_in=self.g_config.dim_in
        )
        self.nets = {
            "generator": model.generator,
            "mapping_network": model.mapping_network,
            "style_encoder": model.style_encoder,
            "discriminator": discriminator,
        }
        for net in self.nets.values():
            he_init(net)
        freeze_first_layers(discriminator, cfg.freeze_d_layers)
        lr_mapping = cfg.lr if cfg.lr_mapping is None else cfg.lr_mapping
        for name in self.nets:
            lr = lr_mapping if name == "mapping_network" else (self.lr_d if name == "discriminator" else cfg.lr)
            self.add_optimizer(name, [self.nets[name]], lr)
        if cfg.ema_decay:
            self.add_ema(*self.exported_nets)

    def prepare_data(self, data: TrainData) -> None:
        self.images = images_to_tensor(data["images"])
        _check_images("images", self.images, self.config, 3)
        self.domains = torch.as_tensor(np.asarray(data["domains"]), dtype=torch.long)
        count = self.g_config.num_domains
        if len(self.domains) != len(self.images) or self.domains.min() < 0 or self.domains.max() >= count:
            raise FinetuneConfigError(f"stargan_v2 needs one domain in 0..{count - 1} per image.")
        self.rows_by_domain = [torch.nonzero(self.domains == d).flatten() for d in range(count)]
        if any(len(rows) == 0 for rows in self.rows_by_domain):
            raise FinetuneConfigError("stargan_v2 needs at least one training image in every domain.")

    def get_batch(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        index = self.random_indices(len(self.images), generator)
        y_trg = torch.randint(0, self.g_config.num_domains, (cfg.batch_size,), generator=generator)
        # Two references from each target domain (official ReferenceLoader).
        refs = []
        for _ in range(2):
            picks = torch.rand(cfg.batch_size, generator=generator)
            refs.append(torch.stack([
                self.rows_by_domain[int(y)][int(p * len(self.rows_by_domain[int(y)]))] for y, p in zip(y_trg, picks, strict=True)
            ]))
        latent = self.g_config.latent_dim
        return {
            "x_real": self.images[index], "y_org": self.domains[index], "y_trg": y_trg,
            "x_ref": self.images[refs[0]], "x_ref2": self.images[refs[1]],
            "z_trg": torch.randn(cfg.batch_size, latent, generator=generator),
            "z_trg2": torch.randn(cfg.batch_size, latent, generator=generator),
        }

    def _d_loss(self, batch, *, latent: bool) -> torch.Tensor:
        cfg, nets = self.config, self.nets
        x_real = batch["x_real"].detach().requires_grad_(True)
        out = nets["discriminator"](self.augment(x_real), batch["y_org"])
        loss_real = discriminator_loss(out, None, "bce")
        loss_reg = r1_penalty(out, x_real) if cfg.r1_weight else torch.zeros(())
        with torch.no_grad():
            if latent:
                s_trg = nets["mapping_network"](batch["z_trg"], batch["y_trg"])
            else:
                s_trg = nets["style_encoder"](batch["x_ref"], batch["y_trg"])
            x_fake = nets["generator"](batch["x_real"], s_trg)
        loss_fake = discriminator_loss(None, nets["discriminator"](self.augment(x_fake), batch["y_trg"]), "bce")
        return loss_real + loss_fake + cfg.r1_weight * loss_reg

    def _g_loss(self, batch, *, latent: bool) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, nets = self.config, self.nets
        x_real, y_org, y_trg = batch["x_real"].detach(), batch["y_org"], batch["y_trg"]
        if latent:
            s_trg = nets["mapping_network"](batch["z_trg"], y_trg)
        else:
            s_trg = nets["style_encoder"](batch["x_ref"], y_trg)
        x_fake = nets["generator"](x_real, s_trg)
        loss_adv = generator_loss(nets["discriminator"](self.augment(x_fake), y_trg), "bce")
        # Style reconstruction: the style encoder reads the target style back from the fake.
        loss_sty = torch.mean(torch.abs(nets["style_encoder"](x_fake, y_trg) - s_trg))
        # Diversity sensitivity: two styles should give two different images (maximised).
        with torch.no_grad():
            if latent:
                s_trg2 = nets["mapping_network"](batch["z_trg2"], y_trg)
            else:
                s_trg2 = nets["style_encoder"](batch["x_ref2"], y_trg)
            x_fake2 = nets["generator"](x_real, s_trg2)
        loss_ds = torch.mean(torch.abs(x_fake - x_fake2))
        # Cycle: back to the source domain with the source's own style.
        s_org = nets["style_encoder"](x_real, y_org)
        loss_cyc = torch.mean(torch.abs(nets["generator"](x_fake, s_org) - x_real))
        loss = loss_adv + cfg.lambda_sty * loss_sty - self.lambda_ds * loss_ds + cfg.lambda_cycle * loss_cyc
        return loss, {"adv": loss_adv.item(), "sty": loss_sty.item(), "ds": loss_ds.item(), "cyc": loss_cyc.item()}

    def _zero_grads(self) -> None:
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        cfg, nets = self.config, self.nets
        losses = {}
        guidance = ((step % 2 == 0),) if cfg.alternate_guidance else (True, False)
        for latent in guidance:
            loss_d = self._d_loss(batch, latent=latent)
            self._zero_grads()
            loss_d.backward()
            self._average_gradients("discriminator")
            self.optimizers["discriminator"].step()
            losses["D_latent" if latent else "D_ref"] = loss_d.item()

        nets["discriminator"].requires_grad_(False)
        for latent in guidance:
            loss_g, parts = self._g_loss(batch, latent=latent)
            self._zero_grads()
            loss_g.backward()
            # Official: the latent-guided step trains all three, the reference-guided one the generator only.
            for name in (self.exported_nets if latent else ("generator",)):
                self._average_gradients(name)
                self.optimizers[name].step()
            losses.update({f"G_{'latent' if latent else 'ref'}_{k}": v for k, v in parts.items()})
        nets["discriminator"].requires_grad_(True)
        freeze_first_layers(nets["discriminator"], cfg.freeze_d_layers)
        self.update_ema(step)
        # Official: lambda_ds decays linearly to 0 over ds_iter steps.
        if self.lambda_ds > 0:
            self.lambda_ds = max(self.lambda_ds - cfg.lambda_ds / (cfg.ds_decay_steps or cfg.steps), 0.0)
        return losses

    def fixed_inputs(self, count: int) -> dict[str, torch.Tensor]:
        generator = torch.Generator().manual_seed(self.config.seed + 2)
        index = torch.randperm(len(self.images), generator=generator)[:count]
        domains = self.g_config.num_domains
        references = torch.stack([self.rows_by_domain[d % domains][k] for k, d in enumerate(range(domains))])
        return {
            "images": self.images[index],
            "z": torch.randn(domains, self.g_config.latent_dim, generator=generator),
            "references": self.images[references],
        }

    @torch.no_grad()
    def sample(self, fixed: dict[str, torch.Tensor]) -> list[Image.Image]:
        """Rows: input, then latent-guided into each domain, then reference-guided from each reference."""
        generator, mapping, encoder = (self.inference_net(n) for n in self.exported_nets)
        domains = torch.arange(self.g_config.num_domains)
        latent_styles = mapping(fixed["z"], domains)
        reference_styles = encoder(fixed["references"], domains)
        rows = []
        for image in fixed["images"]:
            batch = image[None].expand(len(domains), -1, -1, -1)
            rows.append(image_row([image, *generator(batch, latent_styles), *generator(batch, reference_styles)]))
        return rows

    def exported(self, *, calibrate: bool = True) -> dict[str, dict[str, torch.Tensor]]:
        # One file, keys prefixed by network name, as the registry merges a container.
        state = {}
        for name in self.exported_nets:
            state.update({f"{name}.{k}": v for k, v in self.inference_net(name).state_dict().items()})
        return {"model": state}

    def arch_config(self):
        return self.g_config


TRAINERS: dict[str, type[Trainer]] = {
    "dcgan": DCGANTrainer,
    "cgan": CGANTrainer,
    "pix2pix": Pix2PixTrainer,
    "cyclegan": CycleGANTrainer,
    "stargan": StarGANTrainer,
    "stargan_v2": StarGANv2Trainer,
}
