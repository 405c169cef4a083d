"""What every tab shares: the error adapter, model pickers and loading, image inputs, output files.

Callbacks in the tabs stay small because the repeated parts live here: turning a
``GanStudioError`` into a ``gr.Error``, checking that a picked model fits the tab,
loading it with the session's backend choice (with progress), decoding uploads with
the studio's own limits, and writing files people can download.
"""

from __future__ import annotations

import functools
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import gradio as gr
from PIL import Image

from ganstudio import images
from ganstudio.errors import (
    GanStudioError,
    ImageError,
    ModelNotFoundError,
    WrongTaskError,
)
from ganstudio.manifest import ModelEntry
from ganstudio.registry import LoadedModel, Registry
from ganstudio.serving import load_model as load_on_backend
from ganstudio.tasks.calibrate import TaskCalibration
from ganstudio.ui.components import ImageInput

logger = logging.getLogger("ganstudio.ui")

BACKEND_NAMES = {"auto": "Model default", "torch": "PyTorch", "onnx": "ONNX Runtime"}
BACKEND_CHOICES = [(label, value) for value, label in BACKEND_NAMES.items()]
TASK_TABS = {"generate": "Generate", "translate": "Translate", "edit": "StarGAN", "stylize": "Style transfer"}
MODEL_QUEUE = "models"  # concurrency_id shared by every event that runs a network: one limit for all of them
DISPLAY_SIDE = 256  # small results (32 px digits) are shown enlarged to at least this
OUTPUT_ROOT = Path(tempfile.gettempdir()) / "ganstudio-outputs"
OUTPUT_MAX_AGE_S = 3600

Callback = TypeVar("Callback", bound=Callable)


# -- errors ------------------------------------------------------------------------

def user_errors(fn: Callback) -> Callback:
    """Show a ``GanStudioError`` as a readable message; log anything else and show a short one.

    The wrapper keeps the callback's signature and docstring, which Gradio reads for
    ``gr.Progress`` and ``gr.SelectData`` parameters and for the API description.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except GanStudioError as error:
            raise gr.Error(str(error), print_exception=False) from None
        except Exception as error:
            logger.exception("%s failed", fn.__name__)
            raise gr.Error(
                f"Something went wrong in {fn.__name__.replace('_', ' ')} ({type(error).__name__}). "
                "The details are in the server log; try other inputs or another model.",
                print_exception=False,
            ) from None

    return wrapper  # type: ignore[return-value]


# -- models ------------------------------------------------------------------------

def model_picker(registry: Registry, task: str, *, label: str = "Model", **kwargs) -> gr.Dropdown:
    """A dropdown of the registry's models for ``task``; refreshed after an import."""
    names = registry.names(task)
    return gr.Dropdown(
        choices=names, value=names[0] if names else None, label=label, allow_custom_value=True,
        info=f"Every {task} model: built-in and imported (Models tab)", **kwargs,
    )


def run_info(label: str = "Run info") -> gr.Markdown:
    """The line under a result: model, backend, device, time (or what an action did)."""
    return gr.Markdown(label=label, elem_classes=["run-info"])


def download_button() -> gr.DownloadButton:
    """Downloads the full-resolution result; a callback returns the file's path as its value."""
    return gr.DownloadButton("⬇ Download the result (PNG, full resolution)", size="sm", variant="secondary")


def refresh_picker(names: list[str], current: str | None) -> gr.Dropdown:
    """New choices for a picker, keeping the current model when it still exists."""
    value = current if current in names else (names[0] if names else None)
    return gr.Dropdown(choices=names, value=value)


def find_entry(registry: Registry, name: str | None, task: str) -> ModelEntry | None:
    """The entry of a model of ``task`` by name, or None (nothing picked, or not such a model): for laying out a tab."""
    return registry.get(name) if name and name in registry.names(task) else None


def entry_for(registry: Registry, name: str | None, task: str | None) -> ModelEntry:
    """The entry of a model picked for ``task`` (any task when None); only registry names are accepted, no paths.

    Raises:
        ModelNotFoundError: no model is picked, or the name is unknown.
        WrongTaskError: the model does another task.
    """
    if not name:
        raise ModelNotFoundError("choose a model first: none is picked.")
    if name not in registry.names():
        raise ModelNotFoundError(
            f"model '{name}' is not in the registry. Known: {', '.join(registry.names()) or 'none'}. "
            "Import a checkpoint in the Models tab to add one."
        )
    entry = registry.get(name)
    if task is not None and task not in entry.tasks:
        tab = TASK_TABS.get(entry.tasks[0], "Models") if entry.tasks else "Models"
        raise WrongTaskError(
            f"model '{name}' ({entry.arch}) does {', '.join(entry.tasks) or 'no task'}, not {task}. "
            f"Open it in the {tab} tab, or pick one of: {', '.join(registry.names(task)) or 'none'}."
        )
    return entry


def runtime_choice(backends: Mapping[str, str] | None, name: str) -> tuple[str, str]:
    """The (backend, precision) this session chose for a model in the Models tab: stored as "onnx" or "onnx:int8"."""
    backend, _, precision = (backends or {}).get(name, "auto").partition(":")
    return backend or "auto", precision or "fp32"


def load_model(registry: Registry, name: str | None, task: str | None, backends: Mapping[str, str] | None,
               progress: gr.Progress | None = None) -> LoadedModel:
    """Load a picked model with the backend and precision this session chose for it (Models tab), reporting progress."""
    entry = entry_for(registry, name, task)
    backend, precision = runtime_choice(backends, entry.name)
    if progress is not None and entry.name not in registry.loaded_names():
        exporting = backend == "onnx" and entry.format != "onnx"
        progress(0.05, desc=f"Exporting {entry.name} to ONNX (first time only)…" if exporting else f"Loading {entry.name}…")
    return load_on_backend(registry, entry.name, backend=backend, precision=precision, calibration=TaskCalibration())


def model_labels(registry: Registry, name: str | None) -> tuple[str, ...]:
    """Class, attribute or domain names of a model, from its entry (no load) when it has them."""
    if not name or name not in registry.names():
        return ()
    return registry.info(name).labels


def describe_run(model: LoadedModel, started: float, detail: str = "") -> str:
    """The info line under a result: model, backend, device, time."""
    seconds = time.perf_counter() - started
    backend = BACKEND_NAMES.get(model.backend, model.backend) + ("" if model.precision == "fp32" else f" {model.precision}")
    extra = f" · {detail}" if detail else ""
    return f"**{model.name}** ({model.arch}) · {backend} on **{model.device.upper()}** · {seconds:.2f} s{extra}"


def describe_entry(entry: ModelEntry | None) -> str:
    """One line about a model before it runs."""
    if entry is None:
        return ""
    text = entry.description or f"{entry.arch} model from {entry.source or 'a local file'}."
    return f"*{entry.arch}* · {text}"


# -- images ------------------------------------------------------------------------

def image_input(label: str, **kwargs) -> ImageInput:
    """An image input: upload, paste or webcam; the callback gets a validated RGB ``PIL.Image``."""
    kwargs.setdefault("sources", ["upload", "clipboard", "webcam"])
    return ImageInput(label=label, type="filepath", image_mode=None, format="png", **kwargs)


def sketch_to_image(value: dict | Image.Image | None) -> Image.Image:
    """The drawing of a ``gr.Sketchpad`` as an RGB image (strokes over white).

    Raises:
        ImageError: nothing is drawn.
    """
    picture = value.get("composite") if isinstance(value, dict) else value
    if picture is None:
        raise ImageError("draw something in the sketchpad first.")
    image = images.open_image(picture)
    if images.is_blank(image):
        raise ImageError("the sketchpad is empty: draw something first (dark strokes on white).")
    return image


def for_display(image: Image.Image) -> Image.Image:
    """Small results enlarged with crisp pixels; the original is what downloads get."""
    return images.enlarge_for_display(image, min_side=DISPLAY_SIDE)


def shown_png(image: Image.Image, folder: Path, name: str) -> str:
    """The display version of a result as a PNG file.

    Callbacks return files, not PIL images: Gradio writes a PIL output to a path named by its
    content without a temporary name, so two users getting the same picture at once could be
    served a half-written file. A file output is copied into place atomically.
    """
    return save_png(for_display(image), folder, f"{name}-shown")


# -- files -------------------------------------------------------------------------

def output_folder() -> Path:
    """A fresh folder for one request's downloads; folders older than an hour are removed."""
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - OUTPUT_MAX_AGE_S
    for old in OUTPUT_ROOT.iterdir():
        try:
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:  # another request removed it first
            pass
    folder = OUTPUT_ROOT / uuid.uuid4().hex
    folder.mkdir()
    return folder


def save_png(image: Image.Image, folder: Path, name: str) -> str:
    """Save a result as PNG and return its path (for a gr.File download)."""
    path = folder / f"{name}.png"
    image.save(path)
    return str(path)
