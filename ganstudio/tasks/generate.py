"""Generate images from seeds with any generator whose family describes a latent (``ModelInfo.latent``)."""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ganstudio import images
from ganstudio.errors import GanStudioError, WrongTaskError
from ganstudio.models.spec import LatentSpec
from ganstudio.registry import LoadedModel
from ganstudio.tasks.common import finish_image
from ganstudio.tasks.recipes import recipe

MAX_IMAGES = 64
BATCH_SIZE = 16
MAX_SEED = 2**32 - 1
TRUNCATION_RANGE = (0.05, 10.0)  # thresholds below redraw almost every value; above change nothing


@dataclass(frozen=True)
class GenerationResult:
    """The images and the seed of each, so any of them can be made again."""

    images: list[Image.Image]
    seeds: list[int]
    label: int | None = None


def random_seed() -> int:
    """A fresh seed in 0..2**31-1 (what the dice button gives)."""
    return secrets.randbelow(2**31)


def latent_of(model: LoadedModel) -> LatentSpec:
    """What a seed becomes for this model.

    Raises:
        WrongTaskError: the model does not generate from a latent.
    """
    if model.info.latent is None or model.info.pipeline != "latent":
        raise WrongTaskError(f"model '{model.name}' ({model.arch}) does not generate images from seeds.")
    return model.info.latent


def check_seed(seed: int, what: str = "seed") -> int:
    """A seed as an int in 0..MAX_SEED.

    Raises:
        GanStudioError: not a whole number in range.
    """
    whole = isinstance(seed, (int, np.integer)) or (isinstance(seed, float) and math.isfinite(seed) and seed.is_integer())
    if isinstance(seed, bool) or not whole:
        raise GanStudioError(f"{what} must be a whole number from 0 to {MAX_SEED}, not {seed!r}.")
    value = int(seed)
    if not 0 <= value <= MAX_SEED:
        raise GanStudioError(f"{what} must be between 0 and {MAX_SEED}, not {value}.")
    return value


def check_truncation(truncation: float | None) -> float | None:
    """None (off) or a threshold in ``TRUNCATION_RANGE``; 0 also means off.

    Raises:
        GanStudioError: a threshold outside the range, or not a finite number.
    """
    if truncation is None or truncation == 0:
        return None
    low, high = TRUNCATION_RANGE
    if not (isinstance(truncation, (int, float)) and math.isfinite(truncation) and low <= truncation <= high):
        raise GanStudioError(f"truncation must be 0 (off) or between {low} and {high}, not {truncation!r}.")
    return float(truncation)


def generate(model: LoadedModel, *, seed: int | None = None, num_images: int = 1, label: int | str | None = None,
             truncation: float | None = None) -> GenerationResult:
    """Sample ``num_images`` images; image ``i`` uses seed ``seed + i``.

    Args:
        seed: the first seed; a random one when None (it is returned).
        label: the class for a conditional model (index or label name); required there, refused elsewhere.
        truncation: redraw latent values beyond this threshold (lower = safer, less varied); None or 0 = off.

    Raises:
        WrongTaskError: the model does not generate, or a label is given to an unconditional model.
        GanStudioError: a bad count, seed, truncation or label.
    """
    model.require_task("generate")
    latent = latent_of(model)
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) or not 1 <= num_images <= MAX_IMAGES:
        raise GanStudioError(f"number of images must be 1 to {MAX_IMAGES}, not {num_images}.")
    first = random_seed() if seed is None else check_seed(seed)
    seeds = [(first + offset) % 2**32 for offset in range(num_images)]
    latents = images.latents_from_seeds(seeds, latent.size, truncation=check_truncation(truncation))
    class_index = resolve_label(model, label)
    pictures = render_latents(model, latents, class_index)
    for picture, picture_seed in zip(pictures, seeds, strict=True):
        images.with_recipe(picture, recipe(model, "generate", seed=picture_seed, label=_label_name(model, class_index),
                                           truncation=check_truncation(truncation)))
    return GenerationResult(images=pictures, seeds=seeds, label=class_index)


def _label_name(model: LoadedModel, class_index: int | None) -> str | None:
    if class_index is None:
        return None
    return model.labels[class_index] if class_index < len(model.labels) else str(class_index)


def resolve_label(model: LoadedModel, label: int | str | None) -> int | None:
    """The class index for a conditional model (None for an unconditional one)."""
    latent = latent_of(model)
    if not latent.conditional:
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
    if not 0 <= index < latent.num_classes:
        raise GanStudioError(f"label {index} is out of range for '{model.name}' (0..{latent.num_classes - 1}).")
    return index


def render_latents(model: LoadedModel, latents: np.ndarray, class_index: int | None = None) -> list[Image.Image]:
    """Run the generator on N x size latents in batches and convert each output to an image."""
    latent = latent_of(model)
    generator = model.network("G")
    results: list[Image.Image] = []
    for start in range(0, len(latents), BATCH_SIZE):
        z = latents[start:start + BATCH_SIZE]
        if latent.shape == "nchw":
            z = z.reshape(-1, latents.shape[1], 1, 1)
        if class_index is None:
            output = generator(z)
        else:
            output = generator(z, class_input(latent, class_index, len(z)))
        results.extend(finish_image(model, sample) for sample in output)
    return results


def class_input(latent: LatentSpec, class_index: int, count: int) -> np.ndarray:
    """The class as the generator takes it: int64 indices (N,) or a float32 one-hot (N, num_classes)."""
    if latent.class_input == "onehot":
        onehot = np.zeros((count, latent.num_classes), dtype=np.float32)
        onehot[:, class_index] = 1.0
        return onehot
    return np.full((count,), class_index, dtype=np.int64)
