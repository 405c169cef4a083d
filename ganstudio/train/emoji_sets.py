"""Training sets of the built-in emoji models, built from ``ganstudio.train.emoji``'s arrays.

- ``sketch_set``: OpenMoji line art -> OpenMoji colour pairs, the line art augmented (``augment_sketch``)
  so that a person's own drawing works: any stroke width, dark on light or light on dark, anywhere on
  the canvas at any size.
- ``unpaired_set``: two vendors' train emoji as unpaired domains for CycleGAN, each half of the shared
  code points going to one side only, so that no emoji is seen in both styles.

Everything is seeded: the same seed gives the same arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ganstudio.train import emoji

SKETCH_SOURCE = "openmoji_line"
SKETCH_TARGET = "openmoji"


@dataclass(frozen=True)
class SketchAugment:
    """How ``augment_sketch`` draws a variation of a line drawing.

    Stroke steps: -1 thins the strokes (a 2x2 erosion of the ink), 0 keeps them, n > 0 thickens them by n
    3x3 dilations. Scale and offset move the drawing and its target together: the colours land under the
    lines wherever they are.
    """

    stroke_steps: tuple[int, ...] = (-1, 0, 0, 1, 2)
    invert_probability: float = 0.3
    scale_range: tuple[float, float] = (0.55, 1.0)
    move_probability: float = 0.7  # the others keep OpenMoji's own placement and size


def ink_of(image: np.ndarray) -> np.ndarray:
    """Ink coverage of a dark-on-white RGB image: (H, W) float32, 1 where black, 0 where white."""
    return (1.0 - image.mean(axis=-1)).astype(np.float32)


def change_stroke(ink: np.ndarray, steps: int) -> np.ndarray:
    """Thicker (steps > 0: 3x3 dilations) or thinner (steps < 0: 2x2 erosions) strokes of an ink map."""
    out = ink
    for _ in range(max(steps, 0)):
        out = ndimage.grey_dilation(out, size=(3, 3))
    for _ in range(max(-steps, 0)):
        thinner = ndimage.grey_erosion(out, size=(2, 2))
        # an erosion must thin a line, not erase it: keep the old ink at half strength where it would vanish
        out = np.maximum(thinner, 0.5 * out * (thinner < 0.25))
    return out.astype(np.float32)


def place(image: np.ndarray, scale: float, offset: tuple[float, float], *, fill: float = 1.0) -> np.ndarray:
    """``image`` (H, W[, C]) shrunk by ``scale`` about its centre and moved by ``offset`` (rows, columns)
    pixels, bilinear; uncovered pixels get ``fill`` (white)."""
    size = image.shape[0]
    centre = (size - 1) / 2
    # output pixel p samples input (p - centre - offset) / scale + centre
    matrix = np.array([1.0 / scale, 1.0 / scale])
    shift = np.array([centre - (centre + offset[0]) / scale, centre - (centre + offset[1]) / scale])
    if image.ndim == 2:
        return ndimage.affine_transform(image, matrix, shift, order=1, mode="constant", cval=fill).astype(np.float32)
    return np.stack([place(image[..., c], scale, offset, fill=fill) for c in range(image.shape[-1])], axis=-1)


def augment_sketch(line: np.ndarray, target: np.ndarray, rng: np.random.Generator,
                   augment: SketchAugment = SketchAugment()) -> tuple[np.ndarray, np.ndarray, dict]:
    """A variation of a (line art, colour target) pair, both (H, W, 3) float32 dark on white.

    Returns:
        The input (grey RGB), the target moved with it, and what was drawn:
        ``{"stroke": steps, "inverted": bool, "scale": float, "offset": (rows, columns)}``.
    """
    size = line.shape[0]
    steps = int(rng.choice(augment.stroke_steps))
    ink = change_stroke(ink_of(line), steps)
    scale, offset = 1.0, (0.0, 0.0)
    if rng.random() < augment.move_probability:
        scale = float(rng.uniform(*augment.scale_range))
        room = (1.0 - scale) * size / 2  # how far the shrunk drawing can move and stay on the canvas
        offset = (float(rng.uniform(-room, room)), float(rng.uniform(-room, room)))
        ink = place(ink, scale, offset, fill=0.0)
        target = place(target, scale, offset, fill=1.0)
    inverted = bool(rng.random() < augment.invert_probability)
    grey = ink if inverted else 1.0 - ink
    sketch = np.repeat(np.clip(grey, 0.0, 1.0)[..., None], 3, axis=-1).astype(np.float32)
    return sketch, np.clip(target, 0.0, 1.0).astype(np.float32), {
        "stroke": steps, "inverted": inverted, "scale": scale, "offset": offset}


def sketch_set(seed: int = 0, *, copies: int = 2, size: int = 64, split: emoji.Split = "train",
               cache_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Pairs (augmented OpenMoji line art, OpenMoji colour), ``copies`` variations of each emoji of ``split``.

    Raises:
        DataError: the emoji arrays are not built (``python -m ganstudio.train.emoji --fetch``).
    """
    rng = np.random.default_rng(seed)
    pairs = emoji.paired_set(SKETCH_SOURCE, SKETCH_TARGET, split=split, size=size, cache_dir=cache_dir)
    sketches, targets = [], []
    for _ in range(copies):
        for line, colour in zip(pairs["A"], pairs["B"], strict=True):
            sketch, target, _ = augment_sketch(line, colour, rng)
            sketches.append(sketch)
            targets.append(target)
    return {"A": np.stack(sketches), "B": np.stack(targets)}


def unpaired_set(source: str, target: str, seed: int = 0, *, size: int = 64,
                 cache_dir: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Unpaired train domains A = ``source``, B = ``target``: the shared train emoji shuffled by ``seed``
    and halved, A drawn from one half and B from the other, so no emoji is in both.

    Raises:
        DataError: not built.
    """
    keys = emoji.paired_keys([source, target], split="train", size=size, cache_dir=cache_dir)
    order = np.random.default_rng(seed).permutation(len(keys))
    half = len(keys) // 2
    keys_a = [keys[i] for i in sorted(order[:half])]
    keys_b = [keys[i] for i in sorted(order[half:])]
    return {
        "A": emoji.vendor_set(source, split="train", size=size, keys=keys_a, cache_dir=cache_dir)["images"],
        "B": emoji.vendor_set(target, split="train", size=size, keys=keys_b, cache_dir=cache_dir)["images"],
    }
