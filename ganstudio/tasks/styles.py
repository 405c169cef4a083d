"""The "style" pipeline (StyleGAN): seed -> z -> mapping -> ws, truncated towards the average w -> synthesis.

Shared by generate, interpolate, style mixing and the principal directions. It reads how to drive a
model from its ``ModelInfo`` (``LatentSpec.seed_rule``, ``options``: see ``models.spec.STYLE_OPTIONS``)
and calls the two networks on NumPy arrays, so PyTorch and ONNX Runtime models run alike.

What the official scripts do, and so what happens here:
- a seed becomes z by the file's own rule (NVlabs ``RandomState(seed).randn``; rosinality
  ``torch.manual_seed(seed); torch.randn`` on the CPU), so ``--seed S`` names the image their scripts
  make with seed S;
- truncation moves w towards the average w: ``w_avg + psi * (w - w_avg)`` on the first
  ``truncation_cutoff`` ws (all by default). The average is the one the file stores (NVlabs'
  ``w_avg``, convert_weight.py's ``latent_avg``), read as the mapping's output at psi 0. A
  rosinality ``train.py`` file stores none: as generate.py does, the mean of the mapping over 4096 z
  drawn from the seed's stream comes first, then z (so a psi of 1 and any other psi draw z apart);
- the noise mode is an input of the synthesis ((N, 2) weights; StyleGAN3 has no noise), and
  StyleGAN3's translate / rotate the inverse transform gen_images.py writes before each image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ganstudio.errors import GanStudioError, WrongTaskError
from ganstudio.models.inputs import (
    NOISE_MODES,
    class_labels,
    generate_py_latents,
    input_transform,
    noise_weights,
    seed_latent,
)
from ganstudio.registry import LoadedModel
from ganstudio.tasks.common import finish_image

PSI_RANGE = (-1.0, 2.0)  # 0 is the average image, 1 the untruncated one; beyond 2 the images fall apart
TRANSLATE_RANGE = 1.0  # gen_images.py's translations are fractions of the image (its examples use up to 0.3)
SYNTHESIS_BATCH = 4  # images per synthesis call: a 1024 px StyleGAN2 batch of 4 takes about 2 GB on the CPU
MAPPING_BATCH = 512


@dataclass(frozen=True)
class StyleOptions:
    """How ws are made and rendered: the official scripts' --trunc, truncation_cutoff, --noise-mode,
    --translate and --rotate."""

    truncation_psi: float = 1.0
    truncation_cutoff: int | None = None
    noise_mode: str = "const"
    translate: tuple[float, float] = (0.0, 0.0)
    rotate: float = 0.0


def is_style_model(model: LoadedModel) -> bool:
    return model.info.pipeline == "style"


def style_options(model: LoadedModel) -> dict:
    """A style model's ``ModelInfo.options``.

    Raises:
        WrongTaskError: the model is not a StyleGAN-type generator.
    """
    if not is_style_model(model) or model.info.latent is None:
        raise WrongTaskError(
            f"model '{model.name}' ({model.arch}) has no mapping and synthesis networks: style mixing, W-space "
            "walks and principal directions need a StyleGAN model."
        )
    return model.info.options


def check_options(model: LoadedModel, *, truncation_psi: float | None = 1.0, truncation_cutoff: int | None = None,
                  noise_mode: str | None = "const", translate: Sequence[float] | None = None,
                  rotate: float | None = None) -> StyleOptions:
    """The options as a ``StyleOptions``, checked against what the model has.

    Raises:
        GanStudioError: psi, cutoff, translation or angle out of range, or an unknown noise mode.
        WrongTaskError: translate / rotate for a model without an input transform.
    """
    options = style_options(model)
    psi = 1.0 if truncation_psi is None else truncation_psi
    low, high = PSI_RANGE
    if isinstance(psi, bool) or not isinstance(psi, int | float) or not math.isfinite(psi) or not low <= psi <= high:
        raise GanStudioError(f"truncation psi must be between {low} and {high} (1 = off, 0 = the average image), not {psi!r}.")
    num_ws = options["num_ws"]
    if truncation_cutoff is not None:
        if isinstance(truncation_cutoff, bool) or not isinstance(truncation_cutoff, int | np.integer) \
                or not 1 <= truncation_cutoff <= num_ws:
            raise GanStudioError(f"truncation cutoff must be 1 to {num_ws} (the number of ws), or empty for all of them, "
                                 f"not {truncation_cutoff!r}.")
        truncation_cutoff = int(truncation_cutoff)
    mode = noise_mode or "const"
    if mode not in NOISE_MODES:
        raise GanStudioError(f"noise mode must be one of {', '.join(NOISE_MODES)}, not {mode!r}.")
    shift = (0.0, 0.0) if translate is None else tuple(float(v) for v in translate)
    angle = 0.0 if rotate is None else float(rotate)
    if len(shift) != 2 or not all(math.isfinite(v) and abs(v) <= TRANSLATE_RANGE for v in shift):
        raise GanStudioError(f"translate takes two numbers X,Y between -{TRANSLATE_RANGE} and {TRANSLATE_RANGE} "
                             f"(fractions of the image), not {translate!r}.")
    if not math.isfinite(angle):
        raise GanStudioError(f"rotate takes an angle in degrees, not {rotate!r}.")
    if (shift != (0.0, 0.0) or angle != 0.0) and not options.get("input_transform"):
        raise WrongTaskError(
            f"model '{model.name}' cannot be translated or rotated: only generators with a Fourier-feature input "
            "(StyleGAN3) have an input transform. Leave translate and rotate at 0."
        )
    return StyleOptions(truncation_psi=float(psi), truncation_cutoff=truncation_cutoff, noise_mode=mode,
                        translate=(shift[0], shift[1]), rotate=angle)


# -- seeds to ws ---------------------------------------------------------------------


def _mapping(model: LoadedModel, z: np.ndarray, class_index: int | None, psi: float = 1.0) -> np.ndarray:
    """The mapping network on ``z`` (N, z_dim) with the inputs the model's options name, in batches."""
    options = style_options(model)
    latent = model.info.latent
    network = model.network("mapping")
    outputs = []
    for start in range(0, len(z), MAPPING_BATCH):
        chunk = np.ascontiguousarray(z[start:start + MAPPING_BATCH], dtype=np.float32)
        values = {"z": chunk, "c": class_labels(class_index if latent.conditional else None, latent.num_classes, len(chunk)),
                  "truncation_psi": np.array(psi, dtype=np.float32)}
        outputs.append(network(*(values[name] for name in options["mapping_inputs"])))
    return np.concatenate(outputs).astype(np.float32, copy=False)


def stored_average_w(model: LoadedModel, class_index: int | None = None) -> np.ndarray:
    """The average w the file stores (``w_avg``, ``latent_avg``), ``(w_dim,)``: the mapping's output at psi 0,
    which is that average exactly (``w_avg.lerp(w, 0)``; ``latent + 0 * (w - latent)``).

    Raises:
        GanStudioError: the file stores none (rosinality train.py checkpoints).
    """
    if "truncation_psi" not in style_options(model)["mapping_inputs"]:
        raise GanStudioError(f"model '{model.name}' stores no average w.")
    z = np.zeros((1, model.info.latent.size), dtype=np.float32)
    if class_index is None and model.info.latent.conditional:
        class_index = 0  # w_avg is one vector whatever the class
    return _mapping(model, z, class_index, psi=0.0)[0, 0]


def mean_w(model: LoadedModel, z: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """The mapping's mean over ``z`` (rosinality's ``mean_latent``), ``(w_dim,)``."""
    return _mapping(model, z, class_index)[:, 0].mean(axis=0, dtype=np.float32)


def truncate(ws: np.ndarray, average: np.ndarray, psi: float, cutoff: int | None = None) -> np.ndarray:
    """``average + psi * (ws - average)`` on the first ``cutoff`` ws (all when None); ``average`` is ``(w_dim,)``
    or one per sample ``(N, w_dim)``. psi 1 returns ``ws`` untouched."""
    if psi == 1.0:
        return ws
    average = np.asarray(average, dtype=np.float32)
    if average.ndim == 2:
        average = average[:, None, :]
    truncated = np.array(ws, dtype=np.float32, copy=True)
    end = ws.shape[1] if cutoff is None else cutoff
    truncated[:, :end] = average + np.float32(psi) * (ws[:, :end] - average)
    return truncated


def seeds_to_z(model: LoadedModel, seeds: Sequence[int], psi: float = 1.0) -> tuple[np.ndarray, np.ndarray | None]:
    """The z of each seed ``(N, z_dim)``, and the ``(N, mean_count, z_dim)`` draws of its average w when the file
    stores none and psi is not 1 (rosinality generate.py draws those first), else None."""
    latent = model.info.latent
    mean_count = int(style_options(model).get("truncation_mean") or 0)
    if mean_count and psi != 1.0:
        draws = [generate_py_latents(seed, latent.size, mean_count) for seed in seeds]
        return np.concatenate([z for _, z in draws]), np.stack([mean_z for mean_z, _ in draws])
    return np.concatenate([seed_latent(seed, latent.size, latent.seed_rule) for seed in seeds]), None


def average_ws(model: LoadedModel, mean_draws: np.ndarray | None, count: int, class_index: int | None) -> np.ndarray:
    """The average w to truncate towards, ``(w_dim,)`` (stored) or ``(count, w_dim)`` (one per seed, from its draws)."""
    if mean_draws is None:
        return stored_average_w(model, class_index)
    return np.stack([mean_w(model, draws, class_index) for draws in mean_draws])


def map_seeds(model: LoadedModel, seeds: Sequence[int], class_index: int | None, options: StyleOptions) -> np.ndarray:
    """The truncated ws ``(N, num_ws, w_dim)`` of each seed, as the official scripts make them."""
    z, mean_draws = seeds_to_z(model, seeds, options.truncation_psi)
    ws = _mapping(model, z, class_index)
    if options.truncation_psi == 1.0:
        return ws
    average = average_ws(model, mean_draws, len(seeds), class_index)
    return truncate(ws, average, options.truncation_psi, options.truncation_cutoff)


def map_latents(model: LoadedModel, z: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """Untruncated ws ``(N, num_ws, w_dim)`` of given z."""
    return _mapping(model, z, class_index)


# -- ws to images --------------------------------------------------------------------


def synthesize(model: LoadedModel, ws: np.ndarray, options: StyleOptions) -> list[Image.Image]:
    """Render ws ``(N, num_ws, w_dim)`` in batches and convert each as the official scripts write their PNGs."""
    names = style_options(model)["synthesis_inputs"]
    network = model.network("synthesis")
    transform = input_transform(options.translate, options.rotate)
    images: list[Image.Image] = []
    for start in range(0, len(ws), SYNTHESIS_BATCH):
        chunk = np.ascontiguousarray(ws[start:start + SYNTHESIS_BATCH], dtype=np.float32)
        values = {"ws": chunk, "noise": noise_weights(options.noise_mode, len(chunk)), "transform": transform}
        output = network(*(values[name] for name in names))
        images.extend(finish_image(model, sample) for sample in output)
    return images
