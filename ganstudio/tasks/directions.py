"""Principal directions of a StyleGAN's W space, and moving an image along them (GANSpace).

Härkönen et al., "GANSpace: Discovering Interpretable GAN Controls", NeurIPS 2020: the principal
components of w over many mapped samples are directions along which images change in one way
(pose, age, lighting...), more so when the move is applied to a range of layers only (coarse
layers change the shape, fine ones the colours). Here:

- ``principal_directions`` maps ``samples`` z (a fixed stream, so the result depends on the weights
  alone), takes the PCA of the ws and keeps the first ``components`` directions with their
  standard deviations. It is cached per model in a folder (the user folder's ``directions/``),
  keyed by the fingerprint of the weight files, so only the first call pays for the mapping.
- ``edit_along_directions`` renders a seed's image with its (truncated) ws moved by
  ``amount_i * stdev_i * direction_i`` on the ws ``layers[0] .. layers[1] - 1``: one mapping of one
  z and one synthesis, the cost of generating one image.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ganstudio.errors import GanStudioError
from ganstudio.files import atomic_path
from ganstudio.registry import LoadedModel
from ganstudio.serving import source_fingerprint
from ganstudio.tasks import styles
from ganstudio.tasks.generate import check_seed, resolve_label

DEFAULT_SAMPLES = 4096
NUM_COMPONENTS = 16
MAX_AMOUNT = 10.0  # in standard deviations; GANSpace's sliders go to about +-5
SAMPLING_SEED = 0
CACHE_VERSION = 1  # bump when what is cached changes meaning


@dataclass(frozen=True)
class Directions:
    """The first principal components of w: unit ``components`` (k, w_dim), by decreasing variance, with the
    standard deviation of w along each (``stdev``) and the fraction of the variance each explains."""

    mean: np.ndarray
    components: np.ndarray
    stdev: np.ndarray
    explained: np.ndarray
    samples: int
    cached: bool = False

    def __len__(self) -> int:
        return len(self.components)


def principal_directions(model: LoadedModel, *, cache_dir: str | os.PathLike | None = None,
                         samples: int = DEFAULT_SAMPLES, components: int = NUM_COMPONENTS) -> Directions:
    """The PCA of w over ``samples`` mapped z, read from ``cache_dir`` when it was computed before for these weights.

    Raises:
        WrongTaskError: the model has no mapping network.
        GanStudioError: fewer samples than components, or more components than w has values.
    """
    options = styles.style_options(model)
    w_dim = options["w_dim"]
    if not 1 <= components <= w_dim or samples <= components:
        raise GanStudioError(f"need 1 to {w_dim} components and more samples than components, "
                             f"not {components} components from {samples} samples.")
    cache = Path(cache_dir) / f"{cache_key(model, samples, components)}.npz" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as stored:
                return Directions(mean=stored["mean"], components=stored["components"], stdev=stored["stdev"],
                                  explained=stored["explained"], samples=int(stored["samples"]), cached=True)
        except (OSError, ValueError, KeyError):  # a damaged cache file is computed again
            pass
    directions = _compute(model, samples, components)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, mean=directions.mean, components=directions.components, stdev=directions.stdev,
                 explained=directions.explained, samples=np.array(samples))
        with atomic_path(cache) as tmp:
            tmp.write_bytes(buffer.getvalue())
    return directions


def cache_key(model: LoadedModel, samples: int, components: int) -> str:
    """What the cached directions depend on: the weight files (names, sizes, times) and the sampling."""
    entry = model.entry
    text = "|".join([str(CACHE_VERSION), entry.arch, source_fingerprint(entry), entry.source, str(samples), str(components)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _compute(model: LoadedModel, samples: int, components: int) -> Directions:
    latent = model.info.latent
    z = np.random.RandomState(SAMPLING_SEED).randn(samples, latent.size).astype(np.float32)
    if latent.conditional:  # every class alike
        ws = np.concatenate([styles.map_latents(model, z[c::latent.num_classes], c)[:, 0] for c in range(latent.num_classes)])
    else:
        ws = styles.map_latents(model, z)[:, 0]
    ws = ws.astype(np.float64)
    mean = ws.mean(axis=0)
    centred = ws - mean
    # the eigenvectors of the w_dim x w_dim covariance: the same components as an SVD of the samples, 5x sooner
    variance, vectors = np.linalg.eigh(centred.T @ centred / (len(ws) - 1))
    variance, vectors = np.clip(variance[::-1], 0, None), vectors[:, ::-1].T
    vectors = vectors[:components]
    # a component's sign is arbitrary: make its largest entry positive, so every machine gets the same sliders
    largest = np.abs(vectors).argmax(axis=1)
    vectors = vectors * np.sign(vectors[np.arange(len(vectors)), largest])[:, None]
    return Directions(mean=mean.astype(np.float32), components=vectors.astype(np.float32),
                      stdev=np.sqrt(variance[:components]).astype(np.float32),
                      explained=(variance[:components] / variance.sum()).astype(np.float32), samples=samples)


def edit_along_directions(model: LoadedModel, directions: Directions, *, seed: int, amounts: Sequence[float],
                          layers: tuple[int, int] | None = None, label: int | str | None = None,
                          truncation_psi: float = 1.0, noise_mode: str = "const",
                          translate: tuple[float, float] | None = None, rotate: float | None = None) -> Image.Image:
    """A seed's image moved along the principal directions.

    Args:
        amounts: how far along each direction, in standard deviations of w along it (the first ones; the
            others stay at 0).
        layers: the ws moved, ``(start, end)`` with end excluded; all of them when None.
        truncation_psi, noise_mode, translate, rotate: as ``generate``; the move is added after the truncation.

    Raises:
        GanStudioError: more amounts than directions, an amount beyond +-MAX_AMOUNT, or a bad layer range.
    """
    model.require_task("generate")
    num_ws = styles.style_options(model)["num_ws"]
    values = np.asarray(list(amounts), dtype=np.float32)
    if len(values) > len(directions) or not np.all(np.isfinite(values)) or np.abs(values).max(initial=0) > MAX_AMOUNT:
        raise GanStudioError(f"give at most {len(directions)} amounts, each between -{MAX_AMOUNT} and {MAX_AMOUNT} "
                             "standard deviations.")
    start, end = (0, num_ws) if layers is None else (int(layers[0]), int(layers[1]))
    if not 0 <= start < end <= num_ws:
        raise GanStudioError(f"layers must be a range start..end with 0 <= start < end <= {num_ws}, not {start}..{end}.")
    options = styles.check_options(model, truncation_psi=truncation_psi, noise_mode=noise_mode,
                                   translate=translate, rotate=rotate)
    ws = styles.map_seeds(model, [check_seed(seed)], resolve_label(model, label), options)
    move = (values * directions.stdev[:len(values)]) @ directions.components[:len(values)]
    ws = ws.copy()
    ws[:, start:end] += move
    return styles.synthesize(model, ws, options)[0]
