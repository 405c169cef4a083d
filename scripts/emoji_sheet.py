"""Write the README's pictures of the emoji models' real outputs on held-out emoji (docs/*.png).

    PYTHONPATH=. python scripts/emoji_sheet.py [--out docs]

Each picture holds groups of three rows, eight emoji across: the input, the model's output (through
``ganstudio.tasks.translate``, as the app runs it) and the true drawing in the target style. Needs the
emoji arrays (``python -m ganstudio.train.emoji --fetch``) and the shipped weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from ganstudio.eval.emoji import sheet_examples, write_sheet
from ganstudio.registry import Registry
from ganstudio.tasks.translate import translate
from ganstudio.train.emoji_sets import augment_sketch
from ganstudio.ui.examples import model_examples

# Held-out emoji ("test" split) of several categories, drawn by Noto, Twemoji and both OpenMoji styles.
KEYS = ("1F601", "1F615", "1F436", "1F408", "1F34E", "1F966", "1F4A9", "2764")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--models", nargs="+", default=["emoji-sketch2color", "emoji-noto2openmoji"])
    args = parser.parse_args()
    registry = Registry()

    if "emoji-sketch2color" in args.models:
        sketch_sheet(registry, args.out)
    if "emoji-noto2openmoji" in args.models:
        cycle_sheet(registry, args.out)


def sketch_sheet(registry: Registry, out: Path) -> None:
    lines, colours = sheet_examples(KEYS, "openmoji_line", "openmoji")
    rng = np.random.default_rng(11)
    varied = [augment_sketch(a, b, rng) for a, b in zip(lines, colours, strict=True)]
    sketch = registry.load("emoji-sketch2color", device="cpu")
    print(write_sheet(sketch, out / "emoji-sketch2color.png", rows=[
        ("OpenMoji line art", lines, colours),
        ("other pens", np.stack([v[0] for v in varied]), np.stack([v[1] for v in varied])),
    ]))
    # The Translate tab's own examples for the model (256 px drawings), each followed by its result, at 128 px.
    tiles = []
    for path in model_examples(registry.get("emoji-sketch2color")):
        drawing = Image.open(path).convert("RGB")
        for picture in (drawing, translate(sketch, drawing)):
            tiles.append(np.asarray(picture.resize((128, 128), Image.LANCZOS)))
    Image.fromarray(np.concatenate(tiles, axis=1)).save(out / "emoji-sketch2color-examples.png", optimize=True)
    print(out / "emoji-sketch2color-examples.png")


def cycle_sheet(registry: Registry, out: Path) -> None:
    cycle = registry.load("emoji-noto2openmoji", device="cpu")
    noto, openmoji = sheet_examples(KEYS, "noto", "openmoji")
    twemoji, _ = sheet_examples(KEYS, "twemoji", "openmoji")
    print(write_sheet(cycle, out / "emoji-noto2openmoji.png", rows=[
        ("Noto -> OpenMoji", noto, openmoji),
        ("Twemoji -> OpenMoji", twemoji, openmoji),
    ]))


if __name__ == "__main__":
    main()
