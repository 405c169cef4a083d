"""Walk the latent space between two seeds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image

from ganstudio import images
from ganstudio.errors import GanStudioError
from ganstudio.registry import LoadedModel
from ganstudio.tasks.generate import (
    check_seed,
    latent_of,
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


def interpolate(model: LoadedModel, *, seeds: tuple[int, int], steps: int = 8, mode: str = "slerp",
                label: int | str | None = None, codes: Mapping[str, float] | None = None) -> InterpolationResult:
    """Frames between the latents of two seeds; the first and last frames equal ``generate`` at those seeds.

    Args:
        mode: "lerp" (straight line) or "slerp" (along the sphere, keeps the latent's norm: smoother for Gaussian z).
        codes: latent codes held at these values all along (InfoGAN); the others move with the noise from one
            seed's to the other's (a category as a blend of the two one-hot vectors).

    Raises:
        GanStudioError: fewer than 2 or more than MAX_STEPS steps, or an unknown mode.
    """
    model.require_task("generate")
    latent = latent_of(model)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= MAX_STEPS:
        raise GanStudioError(f"steps must be 2 to {MAX_STEPS}, not {steps}.")
    if mode not in ("lerp", "slerp"):
        raise GanStudioError(f"mode must be 'lerp' or 'slerp', not {mode!r}.")
    if len(seeds) != 2:
        raise GanStudioError(f"give two seeds (start and end), not {len(seeds)}.")
    first, last = check_seed(seeds[0], "start seed"), check_seed(seeds[1], "end seed")
    fixed = resolve_codes(model, codes)
    start, end = with_codes(latent, images.latents_from_seeds([first, last], latent.size), [first, last], fixed)[0]
    path = images.interpolate_latents(start, end, steps, mode=mode)
    class_index = resolve_label(model, label)
    frames = render_latents(model, path, class_index)
    for index, frame in enumerate(frames):
        images.with_recipe(frame, recipe(model, "interpolate", seeds=[first, last], steps=steps, mode=mode, frame=index,
                                         label=None if class_index is None else model.labels[class_index]))
    return InterpolationResult(frames=frames, seeds=(first, last), mode=mode)
