"""Attribute editing (StarGAN v1) and domain/style transfer from a reference or a seed (StarGAN v2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ganstudio import images
from ganstudio.errors import GanStudioError, WrongTaskError
from ganstudio.registry import LoadedModel
from ganstudio.tasks.common import check_real, finish_image, prepare_image
from ganstudio.tasks.generate import check_seed, random_seed
from ganstudio.tasks.recipes import recipe

# StarGAN's target labels are 0 or 1; values a little beyond exaggerate an edit, far beyond only break it.
ATTRIBUTE_RANGE = (-10.0, 10.0)


def attribute_vector(model: LoadedModel, attributes: Mapping[str | int, float] | Sequence[float]) -> np.ndarray:
    """The target label vector (1 x c_dim) from names or indices; attributes not named are 0.

    Raises:
        GanStudioError: an unknown attribute name or index, or a list of the wrong length.
    """
    c_dim = len(model.labels)
    vector = np.zeros((1, c_dim), dtype=np.float32)
    if isinstance(attributes, Mapping):
        for key, value in attributes.items():
            vector[0, _attribute_index(model, key, c_dim)] = check_real(f"attribute {str(key)[:40]!r}", value, *ATTRIBUTE_RANGE)
        return vector
    values = list(attributes)
    if len(values) != c_dim:
        raise GanStudioError(f"model '{model.name}' has {c_dim} attributes ({', '.join(model.labels)}); got {len(values)} values.")
    vector[0] = np.asarray([check_real("an attribute value", value, *ATTRIBUTE_RANGE) for value in values], dtype=np.float32)
    return vector


def _attribute_index(model: LoadedModel, key: str | int, c_dim: int) -> int:
    if isinstance(key, str) and key in model.labels and model.labels.index(key) < c_dim:
        return model.labels.index(key)
    try:
        index = int(key)
    except (TypeError, ValueError):
        raise GanStudioError(
            f"unknown attribute {key!r} for '{model.name}'. Its attributes: {', '.join(model.labels)} (or indices 0..{c_dim - 1})."
        ) from None
    if not 0 <= index < c_dim:
        raise GanStudioError(f"attribute index {index} is out of range for '{model.name}' (0..{c_dim - 1}).")
    return index


def edit_attributes(model: LoadedModel, image: Image.Image, *, attributes: Mapping[str | int, float] | Sequence[float],
                    max_side: int | None = images.DEFAULT_MAX_SIDE) -> Image.Image:
    """Give an image the target attributes with a StarGAN v1 generator.

    Like the official test, the target vector is the full set of attributes (not a change
    relative to the input): name every attribute you want on.

    Raises:
        WrongTaskError: the model is not an attribute editor.
    """
    _require(model, "attributes", "attribute editing (StarGAN v1)")
    labels = attribute_vector(model, attributes)
    prepared = prepare_image(model, image, max_side=max_side)
    result = finish_image(model, model.network("G")(prepared.array, labels), prepared)
    chosen = {name: float(value) for name, value in zip(model.labels, labels[0].tolist())}
    return images.with_recipe(result, recipe(model, "edit", attributes=chosen, input=images.image_digest(image)))


def domain_index(model: LoadedModel, domain: int | str) -> int:
    """A domain's index from its index or label name."""
    count = len(model.labels)
    if isinstance(domain, str) and domain in model.labels:
        return model.labels.index(domain)
    try:
        index = int(domain)
    except (TypeError, ValueError):
        raise GanStudioError(f"unknown domain {domain!r} for '{model.name}'. Its domains: {', '.join(model.labels)}.") from None
    if not 0 <= index < count:
        raise GanStudioError(f"domain {index} is out of range for '{model.name}' (0..{count - 1}).")
    return index


@dataclass(frozen=True)
class DomainEdit:
    """A StarGAN v2 result and where its style came from: the seed (latent-guided) or None (a reference)."""

    image: Image.Image
    seed: int | None


def style_code(model: LoadedModel, domain: int, *, reference: Image.Image | None = None, seed: int | None = None) -> np.ndarray:
    """A StarGAN v2 style code: from a reference image (style encoder) or a seed (mapping network)."""
    y = np.array([domain], dtype=np.int64)
    if reference is not None:
        prepared = prepare_image(model, reference)
        return model.network("style_encoder")(prepared.array, y)
    z = images.latents_from_seeds([random_seed() if seed is None else check_seed(seed)], model.info.latent.size)
    return model.network("mapping_network")(z, y)


def edit_domain(model: LoadedModel, image: Image.Image, *, domain: int | str, reference: Image.Image | None = None,
                seed: int | None = None) -> DomainEdit:
    """Move an image to a domain with a StarGAN v2 model, taking the style of ``reference`` or of ``seed``.

    Reference-guided when ``reference`` is given, latent-guided otherwise (a random seed when None,
    returned with the image: seeds are never hidden).

    Raises:
        WrongTaskError: the model is not a StarGAN v2.
    """
    _require(model, "domains", "domain editing (StarGAN v2)")
    index = domain_index(model, domain)
    if reference is None:
        seed = random_seed() if seed is None else check_seed(seed)
    else:
        seed = None
    style = style_code(model, index, reference=reference, seed=seed)
    prepared = prepare_image(model, image)
    result = finish_image(model, model.network("generator")(prepared.array, style), prepared)
    images.with_recipe(result, recipe(model, "edit", domain=model.labels[index], seed=seed, input=images.image_digest(image),
                                      reference=None if reference is None else images.image_digest(reference)))
    return DomainEdit(result, seed)


def domain_grid(model: LoadedModel, image: Image.Image, *, reference: Image.Image | None = None,
                seed: int | None = None) -> list[DomainEdit]:
    """The image in every domain of a StarGAN v2 model (same reference or seed for each)."""
    seed = random_seed() if seed is None and reference is None else seed
    return [edit_domain(model, image, domain=d, reference=reference, seed=seed) for d in range(len(model.labels))]


def _require(model: LoadedModel, pipeline: str, what: str) -> None:
    model.require_task("edit")
    if model.info.pipeline != pipeline:
        raise WrongTaskError(
            f"model '{model.name}' ({model.arch}) edits by {model.info.label_kind or model.info.pipeline}; "
            f"{what} needs a model that edits by {pipeline}."
        )
