"""FinetuneConfig: everything a training run needs to know, as one small frozen dataclass.

The CLI, the bundle script and the fine-tuning tab all build this object; it is saved as JSON next to
every job (``config.json``) and inside every checkpoint, so a run can be read back and resumed.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from ganstudio.errors import GanStudioError
from ganstudio.files import write_text_atomically
from ganstudio.train.kinds import KINDS

Kind = Literal["dcgan", "cgan", "infogan", "pix2pix", "cyclegan", "stargan", "stargan_v2", "fast_style"]
Loss = Literal["lsgan", "hinge", "bce", "wgan"]

LOSSES: tuple[str, ...] = ("lsgan", "hinge", "bce", "wgan")
# Fields that configs saved by earlier versions held at the top level and now sit in ``options``.
LEGACY_OPTIONS = ("lr_mapping", "lambda_cycle", "lambda_identity", "lambda_l1", "lambda_cls", "lambda_rec",
                  "lambda_sty", "lambda_ds", "ds_decay_steps", "alternate_guidance")

# Bounds no training run of this studio comes near; a studio's policy sets its own, lower ones
# (``ganstudio.policy``). They keep a config from a file or an API call from queuing a job that could
# never finish or fit: 10^7 steps, a batch of 10^9, 2048 px CycleGANs.
MAX_STEPS = 1_000_000
MAX_BATCH_SIZE = 4096
MAX_IMAGE_SIZE = 2048
MAX_N_CRITIC = 100
MAX_LOSS_WEIGHT = 1e6
MAX_LEARNING_RATE = 1.0
MAX_OPTION_VALUE = 1e12  # a fast style network's style weight is 1e10


class FinetuneConfigError(GanStudioError, ValueError):
    """A training configuration that cannot work (unknown kind or loss, a non-positive step count...)."""


@dataclass(frozen=True)
class FinetuneConfig:
    """One training run. Defaults are sensible for small images; the loss weights follow the papers.

    Attributes:
        kind: which GAN is trained (one of ``KINDS``).
        arch: generator hyper-parameters, the fields of the architecture module's ``Config``
            (e.g. ``{"ngf": 32, "n_blocks": 6}``); missing ones take that Config's defaults.
        disc: discriminator hyper-parameters (e.g. ``{"ndf": 32, "n_layers": 2}``), per kind.
        steps: total number of generator updates (a resumed run continues up to this).
        batch_size, lr, betas, weight_decay: the optimiser (Adam; weight_decay is an L2 term, as in StarGAN v2).
        lr_d: the discriminator's learning rate (None = ``lr``).
        lr_decay_start: from this step on, learning rates decay linearly to 0 at ``steps`` (0 = never),
            as pix2pix and CycleGAN do for their second half.
        image_size: side of the training images (the networks' fixed size for the built-in models).
        seed: seeds weights, batches and noise; the same seed gives the same model.
        checkpoint_every: write the resumable checkpoint every N steps (and at the end).
        sample_every: render the fixed sample inputs every N steps (0 = never) for ``on_progress``.
        n_critic: discriminator updates per generator update (5 for WGAN-GP as StarGAN's paper).
        ema_decay: exponential moving average of the generator weights (0 = off); the export uses it.
        loss: adversarial loss: "lsgan" (least squares), "hinge", "bce" (non-saturating), "wgan".
        r1_weight: R1 penalty on real images (Mescheder et al. 2018); gp_weight: WGAN-GP penalty.
        freeze_d_layers: freeze the first N conv layers of the discriminator (FreezeD, for few-shot fine-tunes).
        diff_augment: differentiable augmentation of real and fake images before the discriminator
            (Zhao et al. 2020: colour, translation, cutout), for small datasets.
        init_from: network name ("G", "G_A", "G_B", "D", ...) -> checkpoint to start from (fine-tuning).
        options: what only one kind has (its loss weights...): the fields of that kind's trainer's
            ``Options`` dataclass (e.g. ``{"lambda_cycle": 10.0}`` for CycleGAN); missing ones take its defaults.
    """

    kind: Kind
    arch: dict = field(default_factory=dict)
    disc: dict = field(default_factory=dict)
    steps: int = 1000
    batch_size: int = 32
    lr: float = 2e-4
    lr_d: float | None = None
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0
    lr_decay_start: int = 0
    image_size: int = 32
    seed: int = 0
    checkpoint_every: int = 500
    sample_every: int = 0
    n_critic: int = 1
    ema_decay: float = 0.0
    loss: Loss = "lsgan"
    r1_weight: float = 0.0
    gp_weight: float = 0.0
    freeze_d_layers: int = 0
    diff_augment: bool = False
    init_from: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        # Tuples come back from JSON as lists.
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        problems = []
        if self.kind not in KINDS:
            problems.append(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.loss not in LOSSES:
            problems.append(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        highest = {"steps": MAX_STEPS, "batch_size": MAX_BATCH_SIZE, "image_size": MAX_IMAGE_SIZE, "n_critic": MAX_N_CRITIC}
        for name in ("steps", "batch_size", "image_size", "checkpoint_every", "n_critic"):
            if not _whole_in(getattr(self, name), 1, highest.get(name, MAX_STEPS)):
                problems.append(f"{name} must be a whole number from 1 to {highest.get(name, MAX_STEPS)}, "
                                f"not {_shown(getattr(self, name))}")
        for name in ("sample_every", "freeze_d_layers", "lr_decay_start", "seed"):
            if not _whole_in(getattr(self, name), 0, MAX_STEPS if name != "seed" else 2**32 - 1):
                problems.append(f"{name} must be a whole number, 0 or more, not {_shown(getattr(self, name))}")
        if not _real_in(self.ema_decay, 0.0, 1.0) or self.ema_decay == 1.0:
            problems.append(f"ema_decay must be in [0, 1), not {_shown(self.ema_decay)}")
        if len(self.betas) != 2 or not all(_real_in(beta, 0.0, 1.0) and beta < 1.0 for beta in self.betas):
            problems.append(f"betas must be two numbers in [0, 1), not {_shown(self.betas)}")
        for name in ("lr", "lr_d"):
            value = getattr(self, name)
            if (value is not None or name == "lr") and not (_real_in(value, 0.0, MAX_LEARNING_RATE) and value > 0):
                problems.append(f"{name} must be a positive number of at most {MAX_LEARNING_RATE:g}, not {_shown(value)}")
        for name in ("weight_decay", "r1_weight", "gp_weight"):
            if not _real_in(getattr(self, name), 0.0, MAX_LOSS_WEIGHT):
                problems.append(f"{name} must be a number from 0 to {MAX_LOSS_WEIGHT:g}, not {_shown(getattr(self, name))}")
        # a kind's own options (its trainer checks names and types): every number finite, not negative, bounded
        for name, value in dict(self.options).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not _real_in(value, 0.0, MAX_OPTION_VALUE):
                problems.append(f"option {name} must be a number from 0 to {MAX_OPTION_VALUE:g}, not {_shown(value)}")
        if problems:
            raise FinetuneConfigError("invalid training configuration: " + "; ".join(problems) + ".")

    @property
    def data_bytes_per_image(self) -> int:
        """The memory one decoded training image takes (float32, up to 3 channels; a pair counts twice)."""
        return int(self.image_size) ** 2 * 3 * 4

    @property
    def arch_id(self) -> str:
        """The architecture module of the generator (``ganstudio.models.<arch_id>``), as the kind's trainer declares it."""
        from ganstudio.train.kinds import trainer_class

        return trainer_class(self.kind).arch.SPEC.arch

    def to_json(self) -> dict:
        """Plain JSON-able data (round-trips through ``from_json``)."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_json(cls, data: dict | str) -> FinetuneConfig:
        """From a dict or a JSON string; unknown keys are an error (a typo should not pass silently).

        Raises:
            FinetuneConfigError: unknown or invalid fields.
        """
        if isinstance(data, str):
            data = json.loads(data)
        data = cls._migrate(dict(data))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FinetuneConfigError(
                f"unknown training option(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
            )
        if "kind" not in data:
            raise FinetuneConfigError(f"a training configuration needs a kind ({', '.join(KINDS)}).")
        return cls(**data)

    @classmethod
    def _migrate(cls, data: dict) -> dict:
        """Configs saved before the options moved to each kind kept them at the top level: move them."""
        legacy = {key: data.pop(key) for key in list(data) if key in LEGACY_OPTIONS}
        if legacy:
            data["options"] = {**legacy, **data.get("options", {})}
        return data

    def save(self, path: str | os.PathLike) -> None:
        """Write as pretty JSON (atomically)."""
        write_text_atomically(path, json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> FinetuneConfig:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def with_updates(self, **changes) -> FinetuneConfig:
        return replace(self, **changes)


def _whole_in(value, low: int, high: int) -> bool:
    whole = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    return not isinstance(value, bool) and whole and low <= value <= high


def _real_in(value, low: float, high: float) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value) and low <= value <= high


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
