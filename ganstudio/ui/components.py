"""Custom components: image inputs that check uploads against the studio's own limits before anything decodes them.

Gradio writes a type stub (``components.pyi``) beside any module that defines a component
class, at import time; it is generated, not source (git ignores it).
"""

from __future__ import annotations

import base64

import gradio as gr

from ganstudio import images
from ganstudio.errors import ImageError


class ImageInput(gr.Image):
    """``gr.Image`` that decodes with the studio's limits and gives callbacks an 8-bit RGB ``PIL.Image``.

    A file that is not an image, one that is too large, transparent (composited over white) or
    16-bit (scaled) is handled by ``images.open_image``, so the message is ours, not a stack trace.
    """

    is_template = True  # same front end as gr.Image (Gradio serialises the props of gr.Image.__init__)

    def preprocess(self, payload):
        if payload is None:
            return None
        name = getattr(payload, "orig_name", None) or "the image"
        path = payload.path
        try:
            # a data: URL is decoded here, not by Gradio, which would decode its pixels before any size check
            source = path if path is not None else _data_url_bytes(getattr(payload, "url", None) or "", name)
            return images.open_image(source)
        except ImageError as error:
            raise gr.Error(str(error).replace(str(path), name), print_exception=False) from None


def _data_url_bytes(url: str, name: str) -> bytes:
    """The bytes of a ``data:...;base64,...`` URL (the browser's pasted images).

    Raises:
        ImageError: not a base64 data URL.
    """
    header, _, body = url.partition(",")
    if not header.startswith("data:") or not header.endswith(";base64"):
        raise ImageError(f"'{name}' is not an image this app can read. Use a PNG, JPEG or WebP file.")
    try:
        return base64.b64decode(body, validate=True)
    except ValueError:
        raise ImageError(f"'{name}' is not an image this app can read (its data URL is damaged).") from None


MAX_SKETCH_LAYERS = 8
MAX_SKETCH_PIXELS = 16_000_000  # per layer: the canvas is 256x256; a 4000x4000 layer is already generous


class SketchInput(gr.Sketchpad):
    """``gr.Sketchpad`` that checks every layer's size from its header, and how many layers there are, before
    Gradio decodes them (it decodes all of them, the background and the composite included).

    Without this, anyone could send a 13000x13000 PNG of 530 kB per layer, any number of layers, and each
    would take 1.2 GB once decoded, before the app's own check of the composite ever ran.
    """

    is_template = True

    # Sketchpad is itself a template: the front end to use is the image editor's
    def get_block_name(self) -> str:
        return "imageeditor"

    def get_block_class(self) -> str:
        return "imageeditor"

    def preprocess(self, payload):
        if payload is None:
            return None
        parts = payload
        if payload.id is not None:  # sent in pieces beforehand, kept by Gradio under this id
            parts = self.blob_storage.get(payload.id)
        if parts is not None:
            layers = list(parts.layers or [])
            if len(layers) > MAX_SKETCH_LAYERS:
                self.blob_storage.pop(payload.id, None)
                raise gr.Error(f"the sketch has {len(layers)} layers; draw on at most {MAX_SKETCH_LAYERS}.",
                               print_exception=False)
            for part in [parts.background, *layers, parts.composite]:
                if part is None:
                    continue
                source = part if isinstance(part, (bytes, bytearray)) else part.path
                try:
                    images.read_image_size(bytes(source) if isinstance(source, bytearray) else source,
                                           name="a sketch layer", max_pixels=MAX_SKETCH_PIXELS)
                except ImageError as error:
                    self.blob_storage.pop(payload.id, None)
                    raise gr.Error(str(error), print_exception=False) from None
        return super().preprocess(payload)
