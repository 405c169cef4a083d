"""The one custom component: an image input that decodes uploads with the studio's own limits and messages.

Gradio writes a type stub (``components.pyi``) beside any module that defines a component
class, at import time; it is generated, not source (git ignores it).
"""

from __future__ import annotations

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
            if path is None:  # a data: URL; Gradio decodes it to a file
                path = super().preprocess(payload)
            return images.open_image(path)
        except ImageError as error:
            raise gr.Error(str(error).replace(str(path), name), print_exception=False) from None
        except Exception as error:  # Gradio's own decoding of data URLs
            raise gr.Error(f"'{name}' is not an image this app can read ({type(error).__name__}). "
                           "Use a PNG, JPEG or WebP file.", print_exception=False) from None
