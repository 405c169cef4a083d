"""Training: GAN Studio's own reproducible training code and the built-in models it produces.

- ``config``: ``FinetuneConfig``, the one dataclass that describes a run (saved as JSON with it).
- ``datasets``: the 32x32 digit data of the built-in models, and loaders for your own image folders.
- ``emoji``: emoji artwork from pinned npm packages (Noto, Twemoji, OpenMoji, Fluent), verified, rasterised,
  labelled (faces: hair, gender, age, skin tone) and cached as arrays; Twemoji is held out for evaluation.
- ``losses``: adversarial losses, R1 and gradient penalties, DiffAugment.
- ``loop``: ``train(config, data, workdir, device=...)``, one loop for every kind, on a GPU when there is
  one; checkpoints are atomic and runs resume exactly.
- ``trainers``: a ``Trainer`` per kind (its networks, optimisers, EMA copies and training step).
- ``distributed``: the torchrun entry point (NCCL between GPUs, Gloo between CPUs).
- ``uploads``, ``finetune``, ``jobs``: your pictures into a training set, a plan from a base model, and the
  background worker that runs one job at a time.
- ``bundle``: ``python -m ganstudio.train.bundle`` trains the built-in models into ``weights/``.

Importing this package does not import torch; ``train``, ``TrainResult`` and ``build_trainer`` load
``loop`` (and torch) on first use.
"""

from __future__ import annotations

from ganstudio.train.config import FinetuneConfig, FinetuneConfigError

__all__ = ["FinetuneConfig", "FinetuneConfigError", "TrainResult", "build_trainer", "train"]


def __getattr__(name: str):
    if name in ("TrainResult", "build_trainer", "train"):
        from ganstudio.train import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'ganstudio.train' has no attribute {name!r}")
