"""Generate images from seeds with an unconditional (DCGAN) or class-conditional (CGAN) generator."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ganstudio import images
from ganstudio.errors import GanStudioError, WrongTaskError
from ganstudio.registry import LoadedModel
from ganstudio.tasks.common import finish_image

MAX_IMAGES = 64
BATCH_SIZE = 16


@dataclass(frozen=True)
class GenerationResult:
    """The images and the seed of each, so any of them can be made again."""

    images: list[Image.Image]
    seeds: list[int]
    label: int | None = None


def random_seed() -> int:
    """A fresh seed in 0..2**31-1 (what the dice button gives)."""
    return secrets.randbelow(2**31)


def generate(model: LoadedModel, *, seed: int | None = None, num_images: int = 1, label: int | str | None = None,
             truncation: float | None = None) -> GenerationResult:
    """Sample ``num_images`` images; image ``i`` uses seed ``seed + i``.

    Args:
        seed: the first seed; a random one when None (it is returned).
        label: the class for a conditional model (index or label name); required there, refused elsewhere.
        truncation: redraw latent values beyond this threshold (lower = safer, less varied); None = off.

    Raises:
        WrongTaskError: the model does not generate, or a label is given to an unconditional model.
        GanStudioError: a bad count, seed or label.
    """
    model.require_task("generate")
    if not 1 <= num_images <= MAX_IMAGES:
        raise GanStudioError(f"number of images must be 1 to {MAX_IMAGES}, not {num_images}.")
    first = random_seed() if seed is None else int(seed)
    if not 0 <= first < 2**32:
        raise GanStudioError(f"seed must be between 0 and {2**32 - 1}, not {first}.")
    seeds = [(first + offset) % 2**32 for offset in range(num_images)]
    latents = images.latents_from_seeds(seeds, int(model.config["nz"]), truncation=truncation)
    class_index = resolve_label(model, label)
    return GenerationResult(images=render_latents(model, latents, class_index), seeds=seeds, label=class_index)


def resolve_label(model: LoadedModel, label: int | str | None) -> int | None:
    """The class index for a conditional model (None for an unconditional one)."""
    conditional = "num_classes" in model.config
    if not conditional:
        if label is not None and label != "":
            raise WrongTaskError(f"model '{model.name}' is unconditional; it takes no class label.")
        return None
    if label is None or label == "":
        raise GanStudioError(f"model '{model.name}' is class-conditional: choose a label ({', '.join(model.labels)}).")
    if isinstance(label, str) and label in model.labels:
        return model.labels.index(label)
    try:
        index = int(label)
    except (TypeError, ValueError):
        raise GanStudioError(f"unknown label {label!r} for '{model.name}'. Choose one of: {', '.join(model.labels)}.") from None
    if not 0 <= index < int(model.config["num_classes"]):
        raise GanStudioError(f"label {index} is out of range for '{model.name}' (0..{int(model.config['num_classes']) - 1}).")
    return index


def render_latents(model: LoadedModel, latents: np.ndarray, class_index: int | None = None) -> list[Image.Image]:
    """Run the generator on N x nz latents in batches and convert each output to an image."""
    generator = model.network("G")
    results: list[Image.Image] = []
    for start in range(0, len(latents), BATCH_SIZE):
        z = latents[start:start + BATCH_SIZE].reshape(-1, latents.shape[1], 1, 1)
        if class_index is None:
            output = generator(z)
        else:
            output = generator(z, np.full((len(z),), class_index, dtype=np.int64))
        results.extend(finish_image(model, sample) for sample in output)
    return results
