"""Image-to-image translation with pix2pix and CycleGAN generators."""

from __future__ import annotations

from typing import Literal

from PIL import Image

from ganstudio import images
from ganstudio.errors import GanStudioError
from ganstudio.registry import LoadedModel
from ganstudio.tasks.common import finish_image, prepare_image
from ganstudio.tasks.recipes import recipe

DIRECTION_NETWORKS = {"AtoB": ("G_A", "G"), "BtoA": ("G_B",)}


def directions(model: LoadedModel) -> list[str]:
    """The directions a translation model offers ("AtoB" always; "BtoA" for a CycleGAN pair)."""
    return [name for name, roles in DIRECTION_NETWORKS.items() if any(role in model.networks for role in roles)]


def translate(model: LoadedModel, image: Image.Image, *, direction: Literal["AtoB", "BtoA"] = "AtoB",
              max_side: int | None = images.DEFAULT_MAX_SIDE) -> Image.Image:
    """Translate an image; the result has the input's size.

    The image goes through at its own size when the network accepts it (no resampling, so the
    result matches the official test script); otherwise it is resized to the nearest valid size
    (capped at ``max_side``) and the result resized back.

    Raises:
        WrongTaskError: the model does not translate.
        GanStudioError: the model has no network for ``direction``.
    """
    model.require_task("translate")
    roles = DIRECTION_NETWORKS.get(direction)
    if roles is None:
        raise GanStudioError(f"direction must be 'AtoB' or 'BtoA', not {direction!r}.")
    role = next((r for r in roles if r in model.networks), None)
    if role is None:
        raise GanStudioError(
            f"model '{model.name}' translates only {', '.join(directions(model))}. A two-way CycleGAN needs both "
            "generators (a folder with latest_net_G_A.pth and latest_net_G_B.pth)."
        )
    prepared = prepare_image(model, image, max_side=max_side)
    result = finish_image(model, model.network(role)(prepared.array), prepared)
    return images.with_recipe(result, recipe(model, "translate", direction=direction, max_side=max_side,
                                             input=images.image_digest(image)))
