"""Scores of the built-in emoji models on emoji they never saw, and a picture of their outputs.

Inputs are the held-out code points ("test" split of ``ganstudio.train.emoji``: one emoji in ten, no skin
tone of which was trained on) and Twemoji, a style no model trained on. Every output is compared with the
true drawing of the same emoji in the target style:

- per-pixel mean absolute error (0..1);
- a feature distance: the Euclidean distance between the L2-normalised penultimate features of a small
  emoji-category classifier (``EMOJI_CONFIG``), trained on the train split of Noto, OpenMoji and Fluent
  (so on none of the evaluated emoji, and on no Twemoji), 0 = same features, 2 = opposite;
- identity kept: the classifier reads the emoji's own category (``EMOJI_CATEGORIES``) in the output;
  its accuracy on the true targets is the ceiling;

each against the input returned unchanged (what doing nothing scores). The sketch model is also fed its
inputs with other pens (``augment_sketch``: thinner or thicker, inverted, moved and shrunk), the targets
moved with them. Needs the emoji arrays (``python -m ganstudio.train.emoji --fetch``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ganstudio import tasks
from ganstudio.eval import metrics
from ganstudio.eval.classifier import (
    EMOJI_CATEGORIES,
    Classifier,
    ClassifierConfig,
    fingerprint,
    load_or_train_on,
)
from ganstudio.eval.score import Score
from ganstudio.registry import LoadedModel

EMOJI_CONFIG = ClassifierConfig(kind="emoji", steps=1500, batch_size=64, lr=3e-3, width=16, feature_dim=128, copies=0)
JUDGE_VENDORS = ("noto", "openmoji", "fluent")
JUDGE_SIZE = 32
EMOJI_SIZE = 64


# -- the judge ------------------------------------------------------------------------------------

def shrink(images: np.ndarray, size: int = JUDGE_SIZE) -> np.ndarray:
    """(N, S, S, 3) -> (N, size, size, 3) by averaging blocks (S a multiple of ``size``)."""
    factor = images.shape[1] // size
    n = len(images)
    return images.reshape(n, size, factor, size, factor, 3).mean(axis=(2, 4)).astype(np.float32)


def category_indices(categories: Sequence[str]) -> np.ndarray:
    """emoji.json category names -> indices into ``EMOJI_CATEGORIES`` (-1 for the few "Component"s)."""
    index = {name: i for i, name in enumerate(EMOJI_CATEGORIES)}
    return np.array([index.get(str(name), -1) for name in categories], dtype=np.int64)


@functools.cache
def emoji_judge(cache_dir: str | None = None) -> Classifier:
    """The emoji-category classifier, loaded from the eval cache or trained once (a few minutes on a CPU)."""
    from ganstudio.train import emoji

    parts = [emoji.vendor_set(vendor, split="train", size=EMOJI_SIZE) for vendor in JUDGE_VENDORS]
    images = np.concatenate([shrink(part["images"]) for part in parts])
    labels = np.concatenate([category_indices(part["categories"]) for part in parts])
    keep = labels >= 0
    images, labels = images[keep], labels[keep]
    return load_or_train_on(EMOJI_CONFIG, fingerprint(images, labels), lambda: (images, labels), cache_dir=cache_dir)


def feature_distance(judge: Classifier, outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean Euclidean distance between the L2-normalised judge features of outputs and their targets (0..2)."""

    def unit(batch: np.ndarray) -> np.ndarray:
        features = judge.features(shrink(batch))
        return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-8)

    return float(np.linalg.norm(unit(outputs) - unit(targets), axis=1).mean())


# -- scoring ----------------------------------------------------------------------------------------

def as_pictures(batch: np.ndarray) -> list[Image.Image]:
    """0..1 float images as the 8-bit PIL images a user would upload."""
    return [Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8)) for image in batch]


def as_batch(pictures: Sequence[Image.Image]) -> np.ndarray:
    return np.stack([metrics.as_unit_rgb(picture, size=EMOJI_SIZE) for picture in pictures])


def translate_all(model: LoadedModel, batch: np.ndarray, direction: str = "AtoB") -> np.ndarray:
    """Each image through ``tasks.translate`` as a PIL image, as the app runs it."""
    return as_batch([tasks.translate(model, picture, direction=direction) for picture in as_pictures(batch)])


def compare(model_output: np.ndarray, inputs: np.ndarray, targets: np.ndarray, categories: np.ndarray,
            judge: Classifier, what: str, key: str) -> list[Score]:
    """L1, feature distance and category kept of ``model_output`` against ``targets``, with the input unchanged
    (and, for the category, the true target) as references."""
    quantised_inputs, quantised_targets = as_batch(as_pictures(inputs)), as_batch(as_pictures(targets))

    def kept(batch: np.ndarray) -> float:
        return metrics.agreement(judge.predict(shrink(batch)), categories)

    return [
        Score(f"{key}_l1", f"{what}: mean abs error to the true drawing (0..1)",
              metrics.mean_abs_error(model_output, quantised_targets), kind="number",
              references={"input unchanged": metrics.mean_abs_error(quantised_inputs, quantised_targets)}),
        Score(f"{key}_feature_distance", f"{what}: feature distance to the true drawing (0..2)",
              feature_distance(judge, model_output, quantised_targets), kind="number",
              references={"input unchanged": feature_distance(judge, quantised_inputs, quantised_targets)}),
        Score(f"{key}_category_kept", f"{what}: the judge reads the emoji's category",
              kept(model_output), references={"true drawing": kept(quantised_targets),
                                              "input unchanged": kept(quantised_inputs)}),
    ]


def _held_out_pairs(source: str, target: str, samples: int) -> dict[str, np.ndarray]:
    from ganstudio.train import emoji

    pairs = emoji.paired_set(source, target, split="test", size=EMOJI_SIZE)
    categories = category_indices(emoji.vendor_set(target, split="test", size=EMOJI_SIZE, keys=pairs["keys"])["categories"])
    keep = np.flatnonzero(categories >= 0)[:samples]
    return {"A": pairs["A"][keep], "B": pairs["B"][keep], "categories": categories[keep], "keys": pairs["keys"][keep]}


def score_sketch2color(model: LoadedModel, judges: object, samples: int) -> list[Score]:
    """OpenMoji's line art of held-out emoji -> colour, as drawn and with other pens; saturation gained."""
    from ganstudio.train.emoji_sets import augment_sketch

    judge = emoji_judge()
    pairs = _held_out_pairs("openmoji_line", "openmoji", samples)
    rng = np.random.default_rng(7)
    varied = [augment_sketch(a, b, rng) for a, b in zip(pairs["A"], pairs["B"], strict=True)]
    varied_inputs = np.stack([v[0] for v in varied])
    varied_targets = np.stack([v[1] for v in varied])
    outputs = translate_all(model, pairs["A"])
    varied_outputs = translate_all(model, varied_inputs)

    def saturation(batch: np.ndarray) -> float:
        return float(np.mean([metrics.colour_statistics(image).saturation for image in batch]))

    count = len(pairs["A"])
    return [
        *compare(outputs, pairs["A"], pairs["B"], pairs["categories"], judge, f"{count} held-out line drawings", "line"),
        Score("line_saturation", "held-out line drawings: mean saturation of the output (HSV S)", saturation(outputs),
              kind="number", references={"true drawing": saturation(pairs["B"]), "input": saturation(pairs["A"])}),
        *compare(varied_outputs, varied_inputs, varied_targets, pairs["categories"], judge,
                 "the same, other pens (width, inverted, moved)", "varied"),
    ]


def score_noto2openmoji(model: LoadedModel, judges: object, samples: int) -> list[Score]:
    """Held-out Noto -> OpenMoji, unseen Twemoji -> OpenMoji, held-out OpenMoji -> Noto, and the Noto cycle."""
    judge = emoji_judge()
    noto = _held_out_pairs("noto", "openmoji", samples)
    twemoji = _held_out_pairs("twemoji", "openmoji", samples)
    to_openmoji = translate_all(model, noto["A"])
    twemoji_to_openmoji = translate_all(model, twemoji["A"])
    to_noto = translate_all(model, noto["B"], "BtoA")
    back_to_noto = translate_all(model, to_openmoji, "BtoA")
    quantised_noto = as_batch(as_pictures(noto["A"]))
    return [
        *compare(to_openmoji, noto["A"], noto["B"], noto["categories"], judge,
                 f"A->B, {len(noto['A'])} held-out Noto -> OpenMoji", "noto"),
        *compare(twemoji_to_openmoji, twemoji["A"], twemoji["B"], twemoji["categories"], judge,
                 "A->B, Twemoji (never trained on) -> OpenMoji", "twemoji"),
        *compare(to_noto, noto["B"], noto["A"], noto["categories"], judge, "B->A, held-out OpenMoji -> Noto", "openmoji"),
        Score("cycle_error", "cycle Noto -> OpenMoji -> Noto mean abs error (0..1)",
              metrics.mean_abs_error(back_to_noto, quantised_noto), kind="number",
              references={"Noto vs OpenMoji": metrics.mean_abs_error(quantised_noto, as_batch(as_pictures(noto["B"])))}),
    ]


# -- a picture of real outputs ----------------------------------------------------------------------

def write_sheet(model: LoadedModel, path: str | os.PathLike, *, rows: Sequence[tuple[str, np.ndarray, np.ndarray]],
                direction: str = "AtoB", columns: int = 8) -> Path:
    """A PNG of ``columns`` held-out examples per row group: input, output, true drawing, one above the other.

    ``rows``: (label, inputs, targets) groups; the label is not drawn (say it in the caption).
    """
    tiles = []
    for _, inputs, targets in rows:
        inputs, targets = inputs[:columns], targets[:columns]
        outputs = translate_all(model, inputs, direction)
        for batch in (as_batch(as_pictures(inputs)), outputs, as_batch(as_pictures(targets))):
            tiles.append(np.concatenate(list(batch), axis=1))
    sheet = np.concatenate(tiles, axis=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((sheet * 255).round().astype(np.uint8)).save(path, optimize=True)
    return path


def sheet_examples(keys: Sequence[str], source: str, target: str) -> tuple[np.ndarray, np.ndarray]:
    """The held-out emoji ``keys`` in two vendors' drawings, as (inputs, targets)."""
    from ganstudio.train import emoji

    return (emoji.vendor_set(source, split="test", keys=keys)["images"],
            emoji.vendor_set(target, split="test", keys=keys)["images"])
