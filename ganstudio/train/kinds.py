"""Training kinds: which trainer trains a kind, one line each.

Each trainer class declares, next to its training step, what the rest of the studio needs to know
about its kind: ``kind`` (its name), ``arch`` (the architecture module it trains and exports) and
``data`` (a ``DataLayout``: what pictures it learns from). Which families a kind can fine-tune is
the other side of the same link: ``ArchitectureSpec.training_kind``.

This table is standard-library only, so the CLI can list the kinds without importing torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Literal

from ganstudio.errors import GanStudioError

TRAINERS: dict[str, str] = {
    "dcgan": "ganstudio.train.trainers.dcgan:DCGANTrainer",
    "cgan": "ganstudio.train.trainers.dcgan:CGANTrainer",
    "infogan": "ganstudio.train.trainers.infogan:InfoGANTrainer",
    "pix2pix": "ganstudio.train.trainers.pix2pix:Pix2PixTrainer",
    "cyclegan": "ganstudio.train.trainers.cyclegan:CycleGANTrainer",
    "stargan": "ganstudio.train.trainers.stargan:StarGANTrainer",
    "stargan_v2": "ganstudio.train.trainers.stargan_v2:StarGANv2Trainer",
    "fast_style": "ganstudio.train.trainers.fast_style:FastStyleTrainer",
}
KINDS: tuple[str, ...] = tuple(TRAINERS)


@dataclass(frozen=True)
class DataLayout:
    """What pictures a kind learns from, and how the upload is turned into its ``data`` dict.

    Attributes:
        form: "images" (one set: ``{"images"}``), "per_class" (a folder per class: ``{"images", label_key}``),
            "unpaired" (two sets: ``{"A", "B"}``), "paired" (aligned pairs: ``{"A", "B"}``) or "style" (content
            photos and one style image: ``{"images", "style"}``).
        label_key: for "per_class", the data key of the labels.
        label_encoding: for "per_class", "index" (int64 per image) or "onehot" (float32 rows).
        unit: what one folder is, in the words of the kind ("class", "attribute", "domain").
    """

    form: Literal["images", "per_class", "unpaired", "paired", "style"]
    label_key: str = ""
    label_encoding: Literal["index", "onehot"] = "index"
    unit: str = ""


def check_kind(kind: str) -> str:
    """``kind`` when it is a known training kind.

    Raises:
        GanStudioError: an unknown kind (the message lists the known ones).
    """
    if kind not in TRAINERS:
        raise GanStudioError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}.")
    return kind


def trainer_class(kind: str) -> type:
    """The Trainer subclass of a kind (imports torch)."""
    module_name, _, class_name = TRAINERS[check_kind(kind)].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def data_layout(kind: str) -> DataLayout:
    """What a kind learns from."""
    return trainer_class(kind).data


def kind_of_arch(arch: str) -> str | None:
    """The kind that fine-tunes models of a family (None: this studio cannot train it)."""
    from ganstudio.models import get_architecture

    return get_architecture(arch).SPEC.training_kind
