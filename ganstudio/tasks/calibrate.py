"""Inputs for int8 calibration, and the check of an int8 model, through the model's own task.

A quantised network is only as good as the value ranges it was calibrated on, so the ranges come from
the inputs the model was made for, as its task prepares them: the task runs on sample pictures (or
seeds, labels, styles, domains) while each network's inputs are recorded. The check runs the same task
on other pictures with the float and the int8 model and compares the images they return, in 8-bit grey
levels: what a person would see, not a network's raw output.

The pictures are scikit-image's, as the app's examples: photos (a cat, coffee, a rocket, stained
cells) and drawn digits for calibration; an astronaut, a motorcycle and another drawn digit, which
calibration never saw, for the check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ganstudio import images
from ganstudio.errors import BackendError
from ganstudio.quantize import Fidelity, compare_levels
from ganstudio.registry import LoadedModel
from ganstudio.tasks.edit import edit_attributes, edit_domain
from ganstudio.tasks.generate import generate, latent_of
from ganstudio.tasks.stylize import needs_style_image, style_count, stylize
from ganstudio.tasks.translate import directions, translate

FIT_PHOTOS = ("chelsea", "coffee", "rocket", "immunohistochemistry")
CHECK_PHOTOS = ("astronaut", "motorcycle")
FIT_SEEDS = range(0, 32, 8)  # four batches of eight latents
CHECK_SEEDS = range(1000, 1016, 8)
# Style transfer at the tab's default output size: large enough for real statistics, small enough that
# recording every intermediate tensor stays within a few hundred MB.
STYLIZE_SIDE = 512

Feeds = dict[str, list[dict[str, np.ndarray]]]


class TaskCalibration:
    """Calibration through the tasks: what ``ganstudio.serving.load_model`` needs to make an int8 model."""

    def record(self, model: LoadedModel) -> Feeds:
        """Each network's inputs (by input name) while the model's task runs on the calibration samples.

        Raises:
            BackendError: the model does no task that can be calibrated, or the sample pictures are missing.
        """
        return record_inputs(model, held_out=False)

    def compare(self, reference: LoadedModel, candidate: LoadedModel) -> Fidelity:
        """Pixels of ``candidate`` against ``reference`` on the held-out samples, in grey levels."""
        expected, actual = [], []
        for run_reference, run_candidate in zip(sample_runs(reference, held_out=True),
                                                sample_runs(candidate, held_out=True), strict=True):
            expected.extend(np.asarray(picture) for picture in run_reference())
            actual.extend(np.asarray(picture) for picture in run_candidate())
        return compare_levels(expected, actual)


def record_inputs(model: LoadedModel, *, held_out: bool) -> Feeds:
    """Each network's inputs, by input name, while the calibration (or held-out) sample runs go through."""
    recorders = {name: _Recorder(network) for name, network in model.networks.items()}
    recording = _with_networks(model, recorders)
    for run in sample_runs(recording, held_out=held_out):
        run()
    return {name: recorder.feeds for name, recorder in recorders.items() if recorder.feeds}


def sample_runs(model: LoadedModel, *, held_out: bool) -> list[Callable[[], list[Image.Image]]]:
    """The task calls that calibrate (or check) a model, each returning the images it made.

    Raises:
        BackendError: the model does none of the tasks.
    """
    task = next((task for task in ("generate", "translate", "edit", "stylize") if task in model.entry.tasks), None)
    if task == "generate":
        return _generate_runs(model, held_out)
    if task == "translate":
        pictures = sample_pictures(held_out)
        return [functools.partial(lambda p, d: [translate(model, p, direction=d)], picture, direction)
                for picture in pictures for direction in directions(model)]
    if task == "edit":
        return _edit_runs(model, sample_pictures(held_out))
    if task == "stylize":
        return _stylize_runs(model, sample_pictures(held_out, sketches=False), held_out)
    raise BackendError(f"model '{model.name}' does no task to calibrate int8 on; run it in fp32.")


def _generate_runs(model: LoadedModel, held_out: bool) -> list[Callable[[], list[Image.Image]]]:
    latent = latent_of(model)
    labels: Sequence[int | None] = list(range(latent.num_classes)) if latent.conditional else [None]
    seeds = CHECK_SEEDS if held_out else FIT_SEEDS
    return [functools.partial(lambda s, c: generate(model, seed=s, num_images=8, label=c).images, seed, label)
            for seed in seeds for label in labels]


def _edit_runs(model: LoadedModel, pictures: list[Image.Image]) -> list[Callable[[], list[Image.Image]]]:
    count = len(model.labels)
    if model.info.pipeline == "attributes":
        # every attribute on and off across the pictures, as a person ticks them
        targets = [[float((index + shift) % 2) for index in range(count)] for shift in range(2)]
        return [functools.partial(lambda p, t: [edit_attributes(model, p, attributes=t)], picture, target)
                for picture in pictures for target in targets]
    # the style from a seed (mapping network) and from another picture (style encoder), into every domain
    by_seed = [functools.partial(lambda p, d, s: [edit_domain(model, p, domain=d, seed=s).image], picture, domain, seed)
               for seed, picture in enumerate(pictures) for domain in range(count)]
    by_reference = [functools.partial(lambda p, d, r: [edit_domain(model, p, domain=d, reference=r).image], picture,
                                      domain, pictures[(index + 1) % len(pictures)])
                    for index, picture in enumerate(pictures) for domain in range(count)]
    return by_seed + by_reference


def _stylize_runs(model: LoadedModel, pictures: list[Image.Image], held_out: bool) -> list[Callable[[], list[Image.Image]]]:
    if needs_style_image(model.info):
        styles = sample_pictures(not held_out, sketches=False)  # another picture as the style
        return [functools.partial(lambda p, s: [stylize(model, p, style=s, max_side=STYLIZE_SIDE)], picture, style)
                for picture, style in zip(pictures, styles)]
    count = max(1, style_count(model.info))
    # spread the built-in styles over the pictures: each style's norm parameters shape the activations
    per_picture = max(1, -(-count // len(pictures)))
    offset = 1 if held_out else 0
    return [functools.partial(lambda p, i: [stylize(model, p, style_index=i, max_side=STYLIZE_SIDE)], picture,
                              (index * per_picture + k + offset) % count if count > 1 else None)
            for index, picture in enumerate(pictures) for k in range(per_picture if count > 1 else 1)]


def sample_pictures(held_out: bool, *, sketches: bool = True) -> list[Image.Image]:
    """The calibration (or held-out) pictures: scikit-image photos, and drawn digits for sketch models.

    Raises:
        BackendError: scikit-image is not installed.
    """
    photos = _photos(CHECK_PHOTOS if held_out else FIT_PHOTOS)
    drawn = [_drawn_digit(7 if held_out else 1), *(() if held_out else (_drawn_digit(4),))] if sketches else []
    return [*photos, *drawn]


@functools.cache
def _photos(names: tuple[str, ...]) -> list[Image.Image]:
    try:
        from skimage import data
    except ImportError:
        raise BackendError("int8 calibration reads scikit-image's sample photos: pip install scikit-image") from None
    pictures = []
    for name in names:
        array = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
        pictures.append(images.array_to_pil(array).convert("RGB"))
    return pictures


def _drawn_digit(digit: int) -> Image.Image:
    """A digit drawn with a thick dark pen on white, as people draw in the Translate tab's sketchpad."""
    strokes = {
        1: [[(96, 72), (136, 48), (136, 212)]],
        4: [[(150, 212), (150, 48), (64, 160), (196, 160)]],
        7: [[(64, 56), (196, 56), (112, 212)], [(96, 136), (170, 136)]],
    }[digit]
    canvas = Image.new("RGB", (256, 256), "white")
    pen = ImageDraw.Draw(canvas)
    for line in strokes:
        pen.line(line, fill="black", width=20, joint="curve")
    return canvas


class _Recorder:
    """A network that keeps a copy of every input it is called with, by input name."""

    def __init__(self, network):
        self.network = network
        self.backend, self.device = network.backend, network.device
        self.names = list(getattr(network, "input_names", ()))
        self.types = list(getattr(network, "input_types", ()))
        self.feeds: list[dict[str, np.ndarray]] = []

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        names = self.names or [f"input{index}" for index in range(len(inputs))]
        self.feeds.append({name: _as_type(array, kind) for name, array, kind in
                           zip(names, inputs, self.types or [""] * len(inputs))})
        return self.network(*inputs)


def _as_type(array: np.ndarray, kind: str) -> np.ndarray:
    dtype = {"tensor(float)": np.float32, "tensor(int64)": np.int64}.get(kind)
    array = np.array(array, copy=True)
    return array.astype(dtype, copy=False) if dtype is not None else array


def _with_networks(model: LoadedModel, networks: dict) -> LoadedModel:
    import dataclasses

    return dataclasses.replace(model, networks=networks)
