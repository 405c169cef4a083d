"""One trainer per GAN family, by kind (``FinetuneConfig.kind``); ``base`` holds what they share."""

from __future__ import annotations

import torch

from ganstudio.train.config import FinetuneConfig
from ganstudio.train.kinds import trainer_class
from ganstudio.train.trainers.base import TrainData, Trainer


def build_trainer(config: FinetuneConfig, data: TrainData, *, device: str | torch.device = "cpu") -> Trainer:
    """The Trainer of ``config.kind`` (``ganstudio.train.kinds.TRAINERS``), built (weights initialised from
    torch's global generator) with ``data``."""
    return trainer_class(config.kind)(config, data, device=device)


__all__ = ["TrainData", "Trainer", "build_trainer"]
