"""Write the README's pictures of the emoji models' real outputs on held-out emoji (docs/*.png).

    python scripts/emoji_sheet.py [--out docs]

Each picture holds groups of three rows, eight emoji across: the input, the model's output (through
``ganstudio.tasks.translate``, as the app runs it) and the true drawing in the target style. Needs the
emoji arrays (``python -m ganstudio.train.emoji --fetch``) and the shipped weights.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ganstudio.eval.emoji import sheet_examples, write_sheet
from ganstudio.registry import Registry
from ganstudio.train.emoji_sets import augment_sketch

# Held-out emoji ("test" split) of several categories, drawn by Noto, Twemoji and both OpenMoji styles.
KEYS = ("1F601", "1F615", "1F436", "1F408", "1F34E", "1F966", "1F4A9", "2764")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    registry = Registry()

    lines, colours = sheet_examples(KEYS, "openmoji_line", "openmoji")
    rng = np.random.default_rng(11)
    varied = [augment_sketch(a, b, rng) for a, b in zip(lines, colours, strict=True)]
    sketch = registry.load("emoji-sketch2color", device="cpu")
    print(write_sheet(sketch, args.out / "emoji-sketch2color.png", rows=[
        ("OpenMoji line art", lines, colours),
        ("other pens", np.stack([v[0] for v in varied]), np.stack([v[1] for v in varied])),
    ]))

    cycle = registry.load("emoji-noto2openmoji", device="cpu")
    noto, openmoji = sheet_examples(KEYS, "noto", "openmoji")
    twemoji, _ = sheet_examples(KEYS, "twemoji", "openmoji")
    print(write_sheet(cycle, args.out / "emoji-noto2openmoji.png", rows=[
        ("Noto -> OpenMoji", noto, openmoji),
        ("Twemoji -> OpenMoji", twemoji, openmoji),
    ]))


if __name__ == "__main__":
    main()
