"""Walk the latent space between two seeds.

A StyleGAN model walks either between the two seeds' z (each frame mapped, then truncated) or
between their ws ("w": after the mapping and truncation, where a straight line changes the image
evenly); the truncation target moves from one seed's to the other's when each has its own (rosinality
train.py files), so both ends are always the generated images.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ganstudio import images
from ganstudio.errors import GanStudioError, WrongTaskError
from ganstudio.registry import LoadedModel
from ganstudio.tasks import styles
from ganstudio.tasks.generate import (
    check_seed,
    latent_of,
    refuse_style_options,
    render_latents,
    resolve_codes,
    resolve_label,
    with_codes,
)
from ganstudio.tasks.recipes import recipe

MAX_STEPS = 120


@dataclass(frozen=True)
class InterpolationResult:
    """The frames from the first seed's image to the second's."""

    frames: list[Image.Image]
    seeds: tuple[int, int]
    mode: str
    space: str = "z"


def interpolate(model: LoadedModel, *, seeds: tuple[int, int], steps: int = 8, mode: str = "slerp",
                label: int | str | None = None, codes: Mapping[str, float] | None = None, space: str = "z",
                truncation_psi: float = 1.0, noise_mode: str = "const", translate: tuple[float, float] | None = None,
                rotate: float | None = None) -> InterpolationResult:
    """Frames between the latents of two seeds; the first and last frames equal ``generate`` at those seeds.

    Args:
        mode: "lerp" (straight line) or "slerp" (along the sphere, keeps the latent's norm: smoother for Gaussian z).
        codes: latent codes held at these values all along (InfoGAN); the others move with the noise from one
            seed's to the other's (a category as a blend of the two one-hot vectors).
        space: StyleGAN models: "z" (the seeds' latents) or "w" (their mapped, truncated ws).
        truncation_psi, noise_mode, translate, rotate: StyleGAN options, as ``generate``.

    Raises:
        GanStudioError: fewer than 2 or more than MAX_STEPS steps, or an unknown mode or space.
        WrongTaskError: "w" or a StyleGAN option for a model without a mapping network.
    """
    model.require_task("generate")
    latent = latent_of(model)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= MAX_STEPS:
        raise GanStudioError(f"steps must be 2 to {MAX_STEPS}, not {steps}.")
    if mode not in ("lerp", "slerp"):
        raise GanStudioError(f"mode must be 'lerp' or 'slerp', not {mode!r}.")
    if len(seeds) != 2:
        raise GanStudioError(f"give two seeds (start and end), not {len(seeds)}.")
    if space not in ("z", "w"):
        raise GanStudioError(f"space must be 'z' or 'w', not {space!r}.")
    first, last = check_seed(seeds[0], "start seed"), check_seed(seeds[1], "end seed")
    fixed = resolve_codes(model, codes)
    class_index = resolve_label(model, label)
    if styles.is_style_model(model):
        options = styles.check_options(model, truncation_psi=truncation_psi, noise_mode=noise_mode,
                                       translate=translate, rotate=rotate)
        frames = _style_frames(model, (first, last), steps, mode, space, class_index, options)
        return InterpolationResult(frames=frames, seeds=(first, last), mode=mode, space=space)
    if space != "z":
        raise WrongTaskError(f"model '{model.name}' ({model.arch}) has no mapping network: it walks in z only.")
    refuse_style_options(model, truncation_psi=truncation_psi, noise_mode=noise_mode, translate=translate, rotate=rotate)
    start, end = with_codes(latent, images.latents_from_seeds([first, last], latent.size), [first, last], fixed)[0]
    path = images.interpolate_latents(start, end, steps, mode=mode)
    frames = render_latents(model, path, class_index)
    for index, frame in enumerate(frames):
        images.with_recipe(frame, recipe(model, "interpolate", seeds=[first, last], steps=steps, mode=mode, frame=index,
                                         label=None if class_index is None else model.labels[class_index]))
    return InterpolationResult(frames=frames, seeds=(first, last), mode=mode)


def _style_frames(model: LoadedModel, seeds: tuple[int, int], steps: int, mode: str, space: str,
                  class_index: int | None, options: styles.StyleOptions) -> list[Image.Image]:
    """Frames of a StyleGAN walk in z or w; the ends are the seeds' generated images."""
    if space == "w":
        ws = styles.map_seeds(model, seeds, class_index, options)
        return styles.synthesize(model, images.interpolate_latents(ws[0], ws[1], steps, mode=mode), options)
    psi = options.truncation_psi
    z, mean_draws = styles.seeds_to_z(model, seeds, psi)
    path = images.interpolate_latents(z[0], z[1], steps, mode=mode)
    ws = styles.map_latents(model, path, class_index)
    if psi != 1.0:
        average = styles.average_ws(model, mean_draws, 2, class_index)
        if average.ndim == 2:  # each seed its own average: move from one to the other
            weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
            average = (1 - weights) * average[0] + weights * average[1]
        ws = styles.truncate(ws, average, psi)
    return styles.synthesize(model, ws, options)
