"""Generate images from seeds with any generator whose family describes a latent (``ModelInfo.latent``).

Two pipelines: "latent" (one network: z (and a class) -> image; DCGAN and its kin) and "style"
(StyleGAN's mapping and synthesis, ``ganstudio.tasks.styles``), which adds truncation psi towards
the average w, a truncation cutoff, noise modes and StyleGAN3's translate / rotate.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ganstudio import images
from ganstudio.errors import GanStudioError, WrongTaskError
from ganstudio.models.spec import LatentCode, LatentSpec
from ganstudio.registry import LoadedModel
from ganstudio.tasks import styles
from ganstudio.tasks.common import finish_image
from ganstudio.tasks.recipes import recipe

MAX_IMAGES = 64
BATCH_SIZE = 16
MAX_SEED = 2**32 - 1
TRUNCATION_RANGE = (0.05, 10.0)  # thresholds below redraw almost every value; above change nothing


@dataclass(frozen=True)
class GenerationResult:
    """The images and the seed of each, so any of them can be made again; ``codes``: each image's latent codes."""

    images: list[Image.Image]
    seeds: list[int]
    label: int | None = None
    codes: list[dict[str, float]] = field(default_factory=list)


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
             truncation: float | None = None, codes: Mapping[str, float] | None = None, truncation_psi: float = 1.0,
             truncation_cutoff: int | None = None, noise_mode: str = "const",
             translate: tuple[float, float] | None = None, rotate: float | None = None) -> GenerationResult:
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
        codes: for a model with latent codes (InfoGAN), name -> value for every image (a category index, or a
            continuous value); codes not given are drawn from each image's seed. The noise comes from the seed
            either way, so the same seed with other codes keeps the rest of the image.

    Raises:
        WrongTaskError: the model does not generate, a label or codes are given to a model without them, or an
            option is given to a model that does not have it.
        GanStudioError: a bad count, seed, truncation, psi, cutoff, noise mode, label or code.
    """
    model.require_task("generate")
    latent = latent_of(model)
    if isinstance(num_images, bool) or not isinstance(num_images, (int, np.integer)) or not 1 <= num_images <= MAX_IMAGES:
        raise GanStudioError(f"number of images must be 1 to {MAX_IMAGES}, not {num_images}.")
    first = random_seed() if seed is None else check_seed(seed)
    seeds = [(first + offset) % 2**32 for offset in range(num_images)]
    fixed = resolve_codes(model, codes)
    class_index = resolve_label(model, label)
    if styles.is_style_model(model):
        if truncation:
            raise WrongTaskError(f"model '{model.name}' truncates towards its average w: give truncation_psi "
                                 "(--truncation-psi), not a truncation threshold.")
        options = styles.check_options(model, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                                       noise_mode=noise_mode, translate=translate, rotate=rotate)
        pictures = styles.synthesize(model, styles.map_seeds(model, seeds, class_index, options), options)
        for picture, picture_seed in zip(pictures, seeds, strict=True):
            images.with_recipe(picture, recipe(model, "generate", seed=picture_seed, label=_label_name(model, class_index),
                                               truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                                               noise_mode=noise_mode, translate=translate, rotate=rotate))
        return GenerationResult(images=pictures, seeds=seeds, label=class_index)
    refuse_style_options(model, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, noise_mode=noise_mode,
                         translate=translate, rotate=rotate)
    latents = images.latents_from_seeds(seeds, latent.size, truncation=check_truncation(truncation))
    inputs, used = with_codes(latent, latents, seeds, fixed)
    pictures = render_latents(model, inputs, class_index)
    for index, (picture, picture_seed) in enumerate(zip(pictures, seeds, strict=True)):
        images.with_recipe(picture, recipe(model, "generate", seed=picture_seed, label=_label_name(model, class_index),
                                           truncation=check_truncation(truncation),
                                           codes=_codes_of(used, index)))
    return GenerationResult(images=pictures, seeds=seeds, label=class_index, codes=used)


def _codes_of(used: list[dict[str, float]], index: int) -> dict[str, float] | None:
    return used[index] if index < len(used) else None


def _label_name(model: LoadedModel, class_index: int | None) -> str | None:
    if class_index is None:
        return None
    return model.labels[class_index] if class_index < len(model.labels) else str(class_index)


def resolve_codes(model: LoadedModel, codes: Mapping[str, float] | None) -> dict[str, float]:
    """Checked code values by name (categories as whole numbers); empty when none are given.

    Raises:
        WrongTaskError: codes for a model that has none.
        GanStudioError: an unknown name, a category out of range, a value that is not finite or too far out.
    """
    if not codes:
        return {}
    known = {code.name: code for code in latent_of(model).codes}
    if not known:
        raise WrongTaskError(f"model '{model.name}' has no latent codes; only InfoGAN-style models take codes.")
    checked = {}
    for name, value in codes.items():
        code = known.get(name)
        if code is None:
            raise GanStudioError(f"model '{model.name}' has no code {name!r}. Its codes: {describe_codes(known.values())}.")
        checked[name] = _check_code(code, value)
    return checked


def describe_codes(codes: Iterable[LatentCode]) -> str:
    """"cat (0..9), c1 (-1..1)": the codes and the values a seed draws them from."""
    return ", ".join(f"{code.name} (0..{code.categories - 1})" if code.kind == "categorical"
                     else f"{code.name} ({code.low:g}..{code.high:g})" for code in codes)


def _check_code(code: LatentCode, value: float) -> float:
    number = value if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number):
        raise GanStudioError(f"code {code.name} must be a number, not {value!r}.")
    if code.kind == "categorical":
        if float(number) != int(number) or not 0 <= int(number) < code.categories:
            raise GanStudioError(f"code {code.name} is a category: a whole number from 0 to {code.categories - 1}, "
                                 f"not {value!r}.")
        return float(int(number))
    low, high = code.limits
    if not low <= number <= high:
        raise GanStudioError(f"code {code.name} must be between {low:g} and {high:g} (seeds draw it from "
                             f"{code.low:g}..{code.high:g}), not {value!r}.")
    return float(number)


def with_codes(latent: LatentSpec, noise: np.ndarray, seeds: list[int],
               fixed: Mapping[str, float] | None = None) -> tuple[np.ndarray, list[dict[str, float]]]:
    """The generator's input: the noise followed by the codes (``fixed`` ones, the others from each seed),
    and each sample's code values by name. A latent without codes returns the noise as it is."""
    if not latent.codes:
        return noise, []
    values = images.codes_from_seeds(seeds, latent.codes)
    for column, code in enumerate(latent.codes):
        if code.name in (fixed or {}):
            values[:, column] = fixed[code.name]
    used = [{code.name: (int(row[column]) if code.kind == "categorical" else round(float(row[column]), 4))
             for column, code in enumerate(latent.codes)} for row in values]
    return np.concatenate([noise, images.encode_codes(values, latent.codes)], axis=1), used


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
