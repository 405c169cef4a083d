"""One trainer per GAN family, by kind (``FinetuneConfig.kind``); ``base`` holds what they share."""

from __future__ import annotations

import torch

from ganstudio.train.config import FinetuneConfig
from ganstudio.train.trainers.base import TrainData, Trainer
from ganstudio.train.trainers.cyclegan import CycleGANTrainer
from ganstudio.train.trainers.dcgan import CGANTrainer, DCGANTrainer
from ganstudio.train.trainers.pix2pix import Pix2PixTrainer
from ganstudio.train.trainers.stargan import StarGANTrainer
from ganstudio.train.trainers.stargan_v2 import StarGANv2Trainer

TRAINERS: dict[str, type[Trainer]] = {
    "dcgan": DCGANTrainer,
    "cgan": CGANTrainer,
    "pix2pix": Pix2PixTrainer,
    "cyclegan": CycleGANTrainer,
    "stargan": StarGANTrainer,
    "stargan_v2": StarGANv2Trainer,
}


def build_trainer(config: FinetuneConfig, data: TrainData, *, device: str | torch.device = "cpu") -> Trainer:
    """The Trainer of ``config.kind``, built (weights initialised from torch's global generator) with ``data``."""
    return TRAINERS[config.kind](config, data, device=device)


__all__ = ["TRAINERS", "TrainData", "Trainer", "build_trainer"]
