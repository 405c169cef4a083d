"""Style transfer by optimisation (Gatys et al.): change the pixels until VGG-19 sees the content and the style.

Paper: Gatys, Ecker, Bethge, "Image Style Transfer Using Convolutional Neural Networks",
CVPR 2016 (arXiv:1508.06576). The losses follow the PyTorch tutorial "Neural Transfer
Using PyTorch" and jcjohnson/neural-style, which normalise alike:

- content: the mean squared difference of the activations at ``content_layer``;
- style: for each of ``style_layers``, the mean squared difference of the Gram matrices
  divided by C*H*W (``vgg19.gram_matrix``), summed over the layers;
- total variation: the mean squared difference of neighbouring pixels (jcjohnson's
  smoothness term; the paper has none, so it is off by default).

The default weights (content 1, style 1e6) are the tutorial's, which it uses with
torchvision's VGG-19 (and shallower style layers). The style term grows with the fourth
power of the activations and the content term with the square, so another network
(AdaIN's normalised VGG has other activation scales) or other layers may want another
style weight.

The image is optimised as RGB in 0..1 and clamped to 0..1 after every step, as the
tutorial does. One *step* is one forward and backward pass through VGG-19, for both
optimisers: Adam takes one update per pass, and L-BFGS runs as
``torch.optim.LBFGS(max_iter=1)`` called once per step, so each call is one closure
evaluation and one update, and its curvature history carries over from call to call.
No line search (as the tutorial and neural-style), and the convergence tolerances are off
(neural-style's ``tolX = tolFun = -1``), so ``steps`` steps are always taken unless
stopped. L-BFGS keeps ``history_size=100`` pairs of image-sized vectors (about 600 MB
at 512x512).

This is the one task that imports torch: it needs gradients with respect to the image,
which the registry's backends do not give.
"""

from __future__ import annotations

import inspect
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from PIL import Image

from ganstudio import images
from ganstudio.errors import GanStudioError
from ganstudio.feature_network import find_vgg19, load_vgg19
from ganstudio.models.vgg19 import (
    GATYS_CONTENT_LAYER,
    GATYS_STYLE_LAYERS,
    Pooling,
    VGG19Features,
    gram_matrix,
    layer_names,
)
from ganstudio.runtime import torch_device
from ganstudio.tasks.background import BackgroundRuns, RunStatus

MAX_STEPS = 2000
MIN_SIDE = 32  # the smallest max_side; relu5_1 sits after four pools and needs 17 px
MAX_SIDE = 1024
MAX_WEIGHT = 1e12
DEFAULT_LEARNING_RATES = {"lbfgs": 1.0, "adam": 10.0 / 255.0}  # torch's LBFGS default; neural-style's Adam 1e1 on 0..255
LBFGS_HISTORY = 100  # torch's default, as optim.lbfgs' in neural-style


@dataclass(frozen=True)
class StyleProgress:
    """Where an optimisation stands.

    ``image`` is the image after ``step`` steps. ``losses`` are the weighted terms of the
    last pass (``content``, ``style``, ``tv``, and their sum ``total``), measured on the image
    before that pass's update. ``stopped`` is True on the last report of a cancelled run.
    """

    step: int
    steps: int
    image: Image.Image
    losses: dict[str, float]
    seed: int
    seconds: float = 0.0
    stopped: bool = False


def optimize_style(
    content: Image.Image,
    style: Image.Image,
    *,
    vgg: VGG19Features,
    content_weight: float = 1.0,
    style_weight: float = 1e6,
    style_layers: Sequence[str] = GATYS_STYLE_LAYERS,
    content_layer: str = GATYS_CONTENT_LAYER,
    tv_weight: float = 0.0,
    steps: int = 300,
    optimizer: Literal["lbfgs", "adam"] = "lbfgs",
    learning_rate: float | None = None,
    init: Literal["content", "noise"] = "content",
    max_side: int = 512,
    seed: int | None = None,
    progress_every: int = 10,
    should_stop: threading.Event | Callable[[], bool] | None = None,
) -> Iterator[StyleProgress]:
    """Paint ``content`` in the style of ``style`` by optimising its pixels; yields progress as it goes.

    Everything is checked before this returns; the work happens as the iterator is consumed,
    so a background worker or a streaming UI callback can show each image. A report comes
    every ``progress_every`` steps, and always one at the end (the last one holds the result).

    Args:
        vgg: the feature network (``ganstudio.feature_network.load_vgg19``); the work runs on its device.
        content_weight, style_weight, tv_weight: weights of the three loss terms, finite and >= 0.
        style_layers, content_layer: VGG-19 layer names (``relu1_1`` ... ``relu5_4``, ``conv4_2``, ...).
        steps: forward-backward passes, 1 to 2000 (see the module docstring for L-BFGS).
        optimizer: ``"lbfgs"`` (Gatys' choice) or ``"adam"``.
        learning_rate: the optimiser's step size; None takes 1.0 for L-BFGS and 10/255 for Adam.
        init: start from the content image, or from uniform noise drawn with ``seed``.
        max_side: the longer side of the image worked on, 32 to 1024. The content is shrunk to fit
            (never enlarged); the style is resized so its longer side matches the content's.
        seed: makes noise initialisation repeatable; None picks one, reported in each StyleProgress.
        progress_every: steps between reports, >= 1.
        should_stop: a ``threading.Event`` or a function; once it is set (returns True), the run ends
            after the current pass and the last report, with ``stopped=True``, holds the last image.

    Raises:
        GanStudioError: a number out of range, an unknown layer or choice, an image too small for the layers.
        ImageError: content or style is not a usable image.
    """
    style_layers = check_options(
        content_weight=content_weight, style_weight=style_weight, style_layers=style_layers, content_layer=content_layer,
        tv_weight=tv_weight, steps=steps, optimizer=optimizer, learning_rate=learning_rate, init=init,
        max_side=max_side, seed=seed, progress_every=progress_every)
    if seed is None:
        seed = int(torch.randint(0, 2**31 - 1, ()).item())
    stop_requested = _stop_function(should_stop)
    if not isinstance(vgg, VGG19Features):
        raise GanStudioError(f"vgg must be a VGG19Features network (load_vgg19), not {type(vgg).__name__}.")
    for layer in (*style_layers, content_layer):
        if layer not in vgg.available_layers:
            raise GanStudioError(
                f"VGG-19 ({vgg.layout} layout) has no layer '{layer}'. Use one of {', '.join(vgg.available_layers)}."
            )

    content = images.fit_within(images.open_image(content), max_side)
    style = images.open_image(style)
    scale = max(content.size) / max(style.size)
    style = images.resize_image(style, (max(1, round(style.width * scale)), max(1, round(style.height * scale))))
    deepest = max((*style_layers, content_layer), key=lambda name: vgg.layer_index(name))
    # One position left at the deepest layer, two where AdaIN's reflection padding needs them: 17 px for relu5_1.
    needed = 2 ** _pools_before(vgg, deepest) + 1
    for role, image in (("content", content), ("style", style)):
        if min(image.size) < needed:
            raise GanStudioError(
                f"the {role} image is {image.width}x{image.height} as worked on; layer '{deepest}' needs both sides "
                f"at least {needed} px. Use a larger or less elongated image, a larger max_side, or shallower layers."
            )
    return _optimize(
        content, style, vgg=vgg, weights={"content": content_weight, "style": style_weight, "tv": tv_weight},
        style_layers=style_layers, content_layer=content_layer, steps=steps, optimizer=optimizer,
        learning_rate=DEFAULT_LEARNING_RATES[optimizer] if learning_rate is None else float(learning_rate),
        init=init, seed=seed, progress_every=progress_every, should_stop=stop_requested,
    )


def submit_optimization(runs: BackgroundRuns, content: Image.Image, style: Image.Image, *,
                        vgg: str | os.PathLike | None = None, search: Sequence[str | os.PathLike] = (),
                        pooling: Pooling = "max", device: str = "auto", **options) -> RunStatus:
    """Queue ``optimize_style`` in ``runs``, to run in its worker thread; returns at once.

    What can be checked without the network is checked now, so a mistake shows before the run is
    queued: the VGG-19 file is found (``feature_network.find_vgg19``), the images decoded, the options
    checked. The worker loads the network (kept for the next run with the same file) and optimises;
    ``runs.status(id).latest`` is the latest ``StyleProgress``, and ``runs.cancel(id)`` stops after
    the current step, keeping the image.

    Args:
        vgg: the VGG-19 file (None: look in ``search`` folders, then the torch hub cache).
        pooling: "max", or "avg" as Gatys et al.
        device: "auto" (the GPU when there is one), "cuda" or "cpu".
        options: ``optimize_style``'s keyword options (weights, layers, steps, optimizer, init, max_side, seed...).

    Raises:
        ModelNotFoundError: no VGG-19 file (the message says where to put which file).
        ImageError: the content or style is not a usable image.
        GanStudioError: an option out of range, or the queue is full.
    """
    path = find_vgg19(vgg, folders=search)
    content, style = images.open_image(content), images.open_image(style)
    if pooling not in ("max", "avg"):
        raise GanStudioError(f"pooling must be 'max' or 'avg', not {pooling!r}.")
    unknown = sorted(set(options) - OPTION_NAMES)
    if unknown:
        raise GanStudioError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(OPTION_NAMES))}.")
    check_options(**options)
    place = torch_device(device)

    def work(stop: threading.Event) -> Iterator[StyleProgress]:
        network = _cached_vgg19(path, pooling, place)
        yield from optimize_style(content, style, vgg=network, should_stop=stop, **options)

    return runs.submit(work, label=f"optimise style ({Path(path).name}, {options.get('steps', 300)} steps)")


# The network stays loaded between runs (reading vgg19-dcbb9e9d.pth takes seconds); one file at a time.
_VGG_CACHE: dict[tuple, VGG19Features] = {}
_VGG_LOCK = threading.Lock()


def _cached_vgg19(path: Path, pooling: Pooling, device: str) -> VGG19Features:
    key = (str(Path(path).resolve()), Path(path).stat().st_mtime_ns, pooling, device)
    with _VGG_LOCK:
        if key not in _VGG_CACHE:
            _VGG_CACHE.clear()
            _VGG_CACHE[key] = load_vgg19(path, pooling=pooling, device=device)
        return _VGG_CACHE[key]


def check_options(*, content_weight: float = 1.0, style_weight: float = 1e6,
                  style_layers: Sequence[str] = GATYS_STYLE_LAYERS, content_layer: str = GATYS_CONTENT_LAYER,
                  tv_weight: float = 0.0, steps: int = 300, optimizer: str = "lbfgs", learning_rate: float | None = None,
                  init: str = "content", max_side: int = 512, seed: int | None = None,
                  progress_every: int = 10) -> tuple[str, ...]:
    """Check ``optimize_style``'s options without a network or images (what a queue checks before it accepts
    a run); returns the style layers as a tuple. Whether the network has the layers is checked when it runs.

    Raises:
        GanStudioError: a number out of range, an unknown layer name or choice.
    """
    _check_choice("optimizer", optimizer, ("lbfgs", "adam"))
    _check_choice("init", init, ("content", "noise"))
    _check_integer("steps", steps, 1, MAX_STEPS, "Fewer steps finish sooner; 300 to 500 is usual.")
    _check_integer("max_side", max_side, MIN_SIDE, MAX_SIDE,
                   "512 is usual; each step costs about 4x more at twice the side.")
    _check_integer("progress_every", progress_every, 1, MAX_STEPS, "Report every 10 to 50 steps, for example.")
    for name, value in (("content_weight", content_weight), ("style_weight", style_weight), ("tv_weight", tv_weight)):
        _check_real(name, value, 0.0, MAX_WEIGHT, "Set it to 0 to leave that term out.")
    if content_weight == 0 and style_weight == 0 and tv_weight == 0:
        raise GanStudioError("every loss weight is 0, so there is nothing to optimise: give style_weight a value > 0.")
    if learning_rate is not None:
        _check_real("learning_rate", learning_rate, 0.0, 100.0, "Leave it unset for the optimiser's usual value.")
        if learning_rate == 0:
            raise GanStudioError("learning_rate must be > 0. Leave it unset for the optimiser's usual value.")
    if seed is not None:
        _check_integer("seed", seed, 0, 2**63 - 1, "Use a whole number from 0, or leave it unset.")
    style_layers = tuple(style_layers) if not isinstance(style_layers, str) else (style_layers,)
    if style_weight > 0 and not style_layers:
        raise GanStudioError(f"no style layers: name at least one, e.g. {', '.join(GATYS_STYLE_LAYERS)}.")
    if len(set(style_layers)) != len(style_layers):
        raise GanStudioError(f"style layers {', '.join(style_layers)} name a layer twice: name each once.")
    taps = [name for name in layer_names("torchvision") if name.startswith(("conv", "relu", "pool"))]
    for layer in (*style_layers, content_layer):
        if layer not in taps:
            raise GanStudioError(f"VGG-19 has no layer '{layer}'. Use one of {', '.join(taps)}.")
    return style_layers


def _optimize(content: Image.Image, style: Image.Image, *, vgg: VGG19Features, weights: dict[str, float],
              style_layers: tuple[str, ...], content_layer: str, steps: int, optimizer: str, learning_rate: float,
              init: str, seed: int, progress_every: int, should_stop: Callable[[], bool]) -> Iterator[StyleProgress]:
    start = time.perf_counter()
    device = vgg.mean.device
    content_tensor = _to_tensor(content, device)
    style_tensor = _to_tensor(style, device)
    with torch.no_grad():
        content_target = vgg(content_tensor, [content_layer])[content_layer] if weights["content"] > 0 else None
        style_targets = (
            {name: gram_matrix(feat) for name, feat in vgg(style_tensor, style_layers).items()}
            if weights["style"] > 0 else {}
        )
    if init == "noise":
        generator = torch.Generator().manual_seed(seed)
        pixels = torch.rand(content_tensor.shape, generator=generator).to(device)
    else:
        pixels = content_tensor.clone()
    pixels.requires_grad_(True)
    layers = [*style_targets, *([content_layer] if content_target is not None else [])]

    def compute_losses() -> dict[str, torch.Tensor]:
        features = vgg(pixels, layers) if layers else {}  # total variation alone needs no VGG
        losses = {"content": pixels.new_zeros(()), "style": pixels.new_zeros(()), "tv": pixels.new_zeros(())}
        if content_target is not None:
            losses["content"] = weights["content"] * F.mse_loss(features[content_layer], content_target)
        if style_targets:
            losses["style"] = weights["style"] * sum(
                F.mse_loss(gram_matrix(features[name]), target) for name, target in style_targets.items()
            )
        if weights["tv"] > 0:
            losses["tv"] = weights["tv"] * _total_variation(pixels)
        losses["total"] = losses["content"] + losses["style"] + losses["tv"]
        return losses

    last: dict[str, float] = {}

    def closure() -> torch.Tensor:
        engine.zero_grad()
        losses = compute_losses()
        losses["total"].backward()
        last.update({name: float(value.detach()) for name, value in losses.items()})
        return losses["total"]

    if optimizer == "lbfgs":
        # max_iter=1: one closure evaluation and one update per call, so a step is one pass here too.
        # Tolerances below zero never trigger, as neural-style's tolX = tolFun = -1.
        engine = torch.optim.LBFGS([pixels], lr=learning_rate, max_iter=1, history_size=LBFGS_HISTORY,
                                   tolerance_grad=-1.0, tolerance_change=-1.0)
    else:
        engine = torch.optim.Adam([pixels], lr=learning_rate)

    def report(step: int, stopped: bool = False) -> StyleProgress:
        return StyleProgress(step=step, steps=steps, image=_to_image(pixels), losses=dict(last), seed=seed,
                             seconds=time.perf_counter() - start, stopped=stopped)

    step = 0
    while step < steps:
        if should_stop():
            yield report(step, stopped=True)
            return
        engine.step(closure)
        with torch.no_grad():
            pixels.clamp_(0.0, 1.0)
        step += 1
        if step % progress_every == 0 or step == steps:
            yield report(step)


def _total_variation(pixels: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between vertical and horizontal neighbours."""
    vertical = (pixels[:, :, 1:, :] - pixels[:, :, :-1, :]).pow(2).mean()
    horizontal = (pixels[:, :, :, 1:] - pixels[:, :, :, :-1]).pow(2).mean()
    return vertical + horizontal


def _pools_before(vgg: VGG19Features, layer: str) -> int:
    index = vgg.layer_index(layer)
    return sum(1 for name in vgg.available_layers if name.startswith("pool") and vgg.layer_index(name) < index)


def _to_tensor(image: Image.Image, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(images.image_to_array(image, (0.0, 1.0))).to(device)


def _to_image(pixels: torch.Tensor) -> Image.Image:
    return images.array_to_image(pixels.detach().cpu().numpy(), (0.0, 1.0), "round")


def _stop_function(should_stop: threading.Event | Callable[[], bool] | None) -> Callable[[], bool]:
    if should_stop is None:
        return lambda: False
    if isinstance(should_stop, threading.Event):
        return should_stop.is_set
    if callable(should_stop):
        return lambda: bool(should_stop())
    raise GanStudioError(f"should_stop must be a threading.Event or a function, not {type(should_stop).__name__}.")


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise GanStudioError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, not {value!r}.")


def _check_integer(name: str, value: object, low: int, high: int, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or not low <= value <= high:
        raise GanStudioError(f"{name} must be a whole number from {low} to {high}, not {value!r}. {hint}")


def _check_real(name: str, value: object, low: float, high: float, hint: str) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or not low <= value <= high:
        raise GanStudioError(f"{name} must be a finite number from {low:g} to {high:g}, not {value!r}. {hint}")


# The options a queued run takes: optimize_style's keywords but the images, the network and the stop signal.
OPTION_NAMES = frozenset(inspect.signature(optimize_style).parameters) - {"content", "style", "vgg", "should_stop"}
