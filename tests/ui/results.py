"""Reading what the app returns to gradio_client: images, galleries, and the error it raised."""

from __future__ import annotations

import pytest
from PIL import Image

from ganstudio import images


def open_result(path: str) -> Image.Image:
    """An image the app returned, decoded (first frame of a GIF)."""
    with Image.open(path) as picture:
        picture.load()
        return picture.convert("RGB")


def gallery_images(gallery: list[dict]) -> list[tuple[Image.Image, str | None]]:
    return [(open_result(item["image"]), item.get("caption")) for item in gallery]


def assert_not_blank(image: Image.Image) -> None:
    assert not images.is_blank(image), "the result is one flat colour"


def app_error(client, **kwargs) -> str:
    """The message the app shows for a call that must fail (a gr.Error, never a stack trace)."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as raised:
        client.predict(**kwargs)
    message = str(raised.value)
    assert "Traceback" not in message
    return message
