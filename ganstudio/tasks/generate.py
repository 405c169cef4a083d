"""Generate images from seeds with any generator whose family describes a latent (``ModelInfo.latent``).

Two pipelines: "latent" (one network: z (and a class) -> image; DCGAN and its kin) and "style"
(StyleGAN's mapping and synthesis, ``ganstudio.tasks.styles``), which adds truncation psi towards
the average w, a truncation cutoff, noise modes and StyleGAN3's translate / rotate.
"""

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
from ganstudio.tasks import styles
from ganstudio.tasks.common import finish_image

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
    if model.info.latent is None or model.info.pipeline not in ("latent", "style"):
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
             truncation: float | None = None, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
             noise_mode: str = "const", translate: tuple[float, float] | None = None,
             rotate: float | None = None) -> GenerationResult:
    """Sample ``num_images`` images; image ``i`` uses seed ``seed + i``.

    For a StyleGAN model, seed S gives the image the official script gives for seed S (gen_images.py,
    generate.py) with the same options.

    Args:
        seed: the first seed; a random one when None (it is returned).
        label: the class for a conditional model (index or label name); required there, refused elsewhere.
        truncation: redraw latent values beyond this threshold (lower = safer, less varied); None or 0 = off.
            Models with a mapping network take ``truncation_psi`` instead.
        truncation_psi: StyleGAN: move w towards the average w (1 = off, 0 = the average image).
        truncation_cutoff: StyleGAN: truncate only the first this many ws (None: all).
        noise_mode: StyleGAN: "const" (the stored noise, the official scripts' default), "random" (fresh
            noise each call, not reproducible) or "none".
        translate, rotate: StyleGAN3: move the input by (x, y) (fractions of the image) and turn it by
            degrees, as gen_images.py --translate / --rotate.

    Raises:
        WrongTaskError: the model does not generate, a label is given to an unconditional model, or an
            option is given to a model that does not have it.
        GanStudioError: a bad count, seed, truncation, psi, cutoff, noise mode or label.
    """
    model.require_task("generate")
    latent = latent_of(model)
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) or not 1 <= num_images <= MAX_IMAGES:
        raise GanStudioError(f"number of images must be 1 to {MAX_IMAGES}, not {num_images}.")
    first = random_seed() if seed is None else check_seed(seed)
    seeds = [(first + offset) % 2**32 for offset in range(num_images)]
    class_index = resolve_label(model, label)
    if styles.is_style_model(model):
        if truncation:
            raise WrongTaskError(f"model '{model.name}' truncates towards its average w: give truncation_psi "
                                 "(--truncation-psi), not a truncation threshold.")
        options = styles.check_options(model, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                                       noise_mode=noise_mode, translate=translate, rotate=rotate)
        pictures = styles.synthesize(model, styles.map_seeds(model, seeds, class_index, options), options)
        return GenerationResult(images=pictures, seeds=seeds, label=class_index)
    refuse_style_options(model, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, noise_mode=noise_mode,
                         translate=translate, rotate=rotate)
    latents = images.latents_from_seeds(seeds, latent.size, truncation=check_truncation(truncation))
    return GenerationResult(images=render_latents(model, latents, class_index), seeds=seeds, label=class_index)


def refuse_style_options(model: LoadedModel, *, truncation_psi: float | None = 1.0, truncation_cutoff: int | None = None,
                         noise_mode: str | None = "const", translate: tuple[float, float] | None = None,
                         rotate: float | None = None) -> None:
    """Refuse StyleGAN options given to a model without a mapping network, rather than ignore them.

    Raises:
        WrongTaskError: one of them is set to something other than its default.
    """
    given = [name for name, value, default in (
        ("truncation psi", truncation_psi, 1.0), ("truncation cutoff", truncation_cutoff, None),
        ("noise mode", noise_mode, "const"), ("translate", tuple(translate or (0.0, 0.0)), (0.0, 0.0)),
        ("rotate", rotate or 0.0, 0.0)) if value is not None and value != default]
    if given:
        raise WrongTaskError(f"model '{model.name}' ({model.arch}) has no mapping network, so {', '.join(given)} "
                             "do not apply; they are StyleGAN options. Its truncation option is a threshold.")


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
