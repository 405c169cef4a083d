"""One training loop for every GAN kind.

Read ``train()``: it is the whole loop, in the spirit of nanoGPT's ``train.py``. The kind's ``Trainer``
(``ganstudio.train.trainers``) owns its networks, optimisers, EMA copies and training step; the loop
around it does what is common: device, seeding, resuming, checkpoints, samples, progress reports,
stopping and export.

Checkpoints (``<workdir>/checkpoint.pt``) are plain ``torch.save`` data, read back with
``weights_only=True``: ``{"weights", "ema", "optimizers", "step", "rng", "config"}`` (plus ``"extra"``:
StarGAN v2's decaying diversity weight), written atomically
(temp file, then ``os.replace``), so a process killed mid-write leaves the previous checkpoint intact.
Resuming restores weights, EMA, optimiser states, the step and the random generators, so an interrupted
run ends bitwise equal to an uninterrupted one (on the same machine, torch version and thread count; on a
GPU, cuDNN's fastest kernels are not all deterministic, so there it ends close, not bitwise equal).
A checkpoint written on a GPU resumes on a CPU and the other way round.

Training data (``data``) is a dict of arrays with images channel-last in 0..1 (as
``ganstudio.train.datasets`` makes them), per kind:
    dcgan: images; cgan: images, labels; pix2pix: A (inputs), B (targets), paired;
    cyclegan: A, B, unpaired; stargan: images, attributes (N, c_dim) 0/1; stargan_v2: images, domains.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ganstudio.files import atomic_path
from ganstudio.train import distributed
from ganstudio.train.config import FinetuneConfig, FinetuneConfigError
from ganstudio.train.trainers import TrainData, Trainer, build_trainer

CHECKPOINT_NAME = "checkpoint.pt"
SAMPLE_COUNT = 8  # fixed inputs rendered every ``sample_every`` steps
DISCRIMINATORS_FOLDER = "discriminators"

ProgressCallback = Callable[[int, int, dict, "list[Image.Image] | None"], None]


@dataclass(frozen=True)
class TrainResult:
    """What a run produced: the exported generator files and how the run went."""

    workdir: Path
    files: dict[str, Path]  # role -> safetensors file, as a manifest's "files"
    discriminator_files: dict[str, Path]  # network -> safetensors file, as a manifest's "training_files"
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
    device: str | torch.device = "auto",
) -> TrainResult:
    """Train (or resume training) one GAN, checkpointing in ``workdir``, and export its generator(s).

    Args:
        data: the training set (see the module docstring for the keys of each kind).
        workdir: holds ``config.json``, ``checkpoint.pt`` and ``samples/``; a checkpoint already there
            is resumed (same kind and architecture required; ``steps`` may be larger).
        on_progress: called after every step as ``on_progress(step, total, losses, samples)``;
            ``samples`` is a list of images every ``sample_every`` steps, else None.
        should_stop: polled before every step; when it returns True the run checkpoints, exports and returns.
        export_dir: where the generators' safetensors go (default ``<workdir>/model``); the
            discriminators go to its ``discriminators/`` folder, for later fine-tunes.
        device: "auto" (this process's GPU when there is one, else the CPU), "cuda", "cpu" or a torch device.
            A checkpoint resumes on any device.

    Raises:
        FinetuneConfigError: the config does not fit the data, or the checkpoint is another model's.
        BackendError: "cuda" was asked for and PyTorch sees no GPU.
    """
    started = time.monotonic()
    context = distributed.current()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    export_dir = Path(export_dir) if export_dir is not None else workdir / "model"

    place = device if isinstance(device, torch.device) else distributed.device_for(device)
    if place.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed image size: let cuDNN pick the fastest kernels once
    # Seeds: the global generator for weights and noise, a separate one for batches.
    torch.manual_seed(config.seed)
    trainer = build_trainer(config, data, device=place)
    batches = torch.Generator().manual_seed(config.seed + 1)

    step = 0
    checkpoint_path = workdir / CHECKPOINT_NAME
    if checkpoint_path.is_file():
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        _check_resumable(config, checkpoint, checkpoint_path)
        trainer.load_state_dict(checkpoint)
        torch.set_rng_state(checkpoint["rng"]["torch"])
        if place.type == "cuda" and "cuda" in checkpoint["rng"]:
            torch.cuda.set_rng_state(checkpoint["rng"]["cuda"], place)  # dropout masks drawn on the GPU
        batches.set_state(checkpoint["rng"]["batches"])
        step = int(checkpoint["step"])
    resumed_from = step
    distributed.check_same_everywhere(step, "step to resume from")
    if context.is_main:
        config.save(workdir / "config.json")

    fixed = trainer.to_device(trainer.fixed_inputs(SAMPLE_COUNT))
    losses: dict[str, float] = {}
    saved_step = step if resumed_from else -1
    stopped = False
    while step < config.steps:
        if should_stop is not None and should_stop():
            stopped = True
            break
        trainer.set_learning_rates(step)
        # every process draws the same global batch and keeps its share (all of it when alone)
        batch = trainer.to_device({name: distributed.shard(value) for name, value in trainer.get_batch(batches).items()})
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

    files, discriminator_files = {}, {}
    if context.is_main:
        if saved_step != step:
            save_checkpoint(checkpoint_path, trainer, step, batches)
        files = trainer.export(export_dir)
        # in a subfolder, so that importing export_dir as a folder finds the generators alone
        discriminator_files = trainer.export_discriminators(export_dir / DISCRIMINATORS_FOLDER)
    return TrainResult(
        workdir=workdir,
        files=files,
        discriminator_files=discriminator_files,
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
    if trainer.device.type == "cuda":
        state["rng"]["cuda"] = torch.cuda.get_rng_state(trainer.device)
    state["config"] = json.dumps(trainer.config.to_json(), sort_keys=True)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _check_resumable(config: FinetuneConfig, checkpoint: dict, path: Path) -> None:
    saved = FinetuneConfig.from_json(checkpoint["config"])
    if (saved.kind, saved.arch, saved.disc, saved.image_size) != (config.kind, config.arch, config.disc, config.image_size):
        raise FinetuneConfigError(
            f"'{path}' is the checkpoint of another model ({saved.kind}, {saved.arch}); this run trains "
            f"{config.kind} with {config.arch}. Use another work folder, or delete the checkpoint to start over."
        )


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
