"""What every tab shares: the request adapter, model pickers and loading, image inputs, output files.

Callbacks in the tabs stay small because the repeated parts live here: serving each request as
its visitor (``ganstudio.policy``) and turning a ``GanStudioError`` into a ``gr.Error`` whose message
shows no server path, checking that a picked model fits the tab, loading it with the session's
backend choice (with progress), decoding uploads with the studio's own limits, and writing files
people can download.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Optional, TypeVar

import gradio as gr
from PIL import Image

from ganstudio import images
from ganstudio.errors import (
    GanStudioError,
    ImageError,
    ModelNotFoundError,
    WrongTaskError,
)
from ganstudio.files import is_inside, trim_to_budget
from ganstudio.manifest import ModelEntry
from ganstudio.policy import current_visitor, visiting
from ganstudio.registry import LoadedModel, Registry
from ganstudio.serving import load_model as load_on_backend
from ganstudio.tasks.calibrate import TaskCalibration
from ganstudio.ui.components import ImageInput, SketchInput

logger = logging.getLogger("ganstudio.ui")

BACKEND_NAMES = {"auto": "Model default", "torch": "PyTorch", "onnx": "ONNX Runtime"}
BACKEND_CHOICES = [(label, value) for value, label in BACKEND_NAMES.items()]
TASK_TABS = {"generate": "Generate", "translate": "Translate", "edit": "StarGAN", "stylize": "Style transfer"}
MODEL_QUEUE = "models"  # concurrency_id shared by every event that runs a network: one limit for all of them
DISPLAY_SIDE = 256  # small results (32 px digits) are shown enlarged to at least this
OUTPUT_ROOT = Path(tempfile.gettempdir()) / "ganstudio-outputs"
OUTPUT_MAX_AGE_S = 3600
# Results wait here to be downloaded; beyond this, the oldest go first (whatever their age).
OUTPUT_BUDGET_BYTES = int(os.environ.get("GANSTUDIO_OUTPUT_BUDGET_BYTES", str(1024**3)))
MAX_MESSAGE_CHARS = 1500

Callback = TypeVar("Callback", bound=Callable)


# -- who is asking -----------------------------------------------------------------

# session hash -> the id a browser keeps in its storage (``remember_browser``), so that a visitor's models
# and jobs stay theirs after a page reload. Bounded: the oldest sessions are forgotten first.
_BROWSERS: OrderedDict[str, str] = OrderedDict()
_BROWSERS_LOCK = threading.Lock()
MAX_SESSIONS = 100_000
BROWSER_ID = re.compile(r"[A-Za-z0-9_-]{32}")


def remember_browser(stored: str | None, request: gr.Request) -> str:
    """The page-load event: the id this browser keeps (a new one the first time), tied to this session.

    The id is random and never shown to anyone else; a session keeps the first id it was tied to, so a
    request that names someone else's session cannot take it over.
    """
    browser = stored if isinstance(stored, str) and BROWSER_ID.fullmatch(stored) else secrets.token_urlsafe(24)
    session = getattr(request, "session_hash", None)
    if not session:
        return browser
    with _BROWSERS_LOCK:
        browser = _BROWSERS.setdefault(session, browser)
        _BROWSERS.move_to_end(session)
        while len(_BROWSERS) > MAX_SESSIONS:
            _BROWSERS.popitem(last=False)
    return browser


def visitor_of(request: gr.Request | None) -> str:
    """The owner id of a request: its browser's id, else its session (``gradio_client`` keeps one per client),
    else a new one (a request without a session owns nothing anyone can ask for again). Hashed, so that the
    ids that prove who someone is never reach a manifest."""
    session = getattr(request, "session_hash", None) if request is not None else None
    with _BROWSERS_LOCK:
        browser = _BROWSERS.get(session) if session else None
    key = f"browser:{browser}" if browser else f"session:{session}" if session else f"once:{secrets.token_hex(16)}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def as_visitor(fn: Callback) -> Callback:
    """Run a callback as the visitor of its request (``ganstudio.policy.visiting``).

    The wrapper takes one more parameter, ``request: gr.Request``, which Gradio fills in; the callback keeps
    its own signature otherwise. Generator callbacks stay generators.
    """
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) != len(params):
        raise TypeError(f"{fn.__name__}: a callback run as its visitor takes positional parameters only")
    extra = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                              annotation=Optional[gr.Request])  # noqa: UP045 - Gradio compares with typing.Optional
    count = len(params)

    def split(args: tuple, kwargs: dict) -> tuple[tuple, gr.Request | None]:
        request = kwargs.pop("request", None)
        if len(args) > count:
            args, request = args[:count], args[count]
        return args, request

    def visitor(request: gr.Request | None) -> str:
        # a callback called by another one (no request of its own) serves the same visitor
        return current_visitor() if request is None and current_visitor() is not None else visitor_of(request)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            args, request = split(args, kwargs)
            with visiting(visitor(request)):
                yield from fn(*args, **kwargs)
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            args, request = split(args, kwargs)
            with visiting(visitor(request)):
                return fn(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*params, extra])
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": Optional[gr.Request]}  # noqa: UP045
    wrapper.runs_as_visitor = True
    return wrapper  # type: ignore[return-value]


# -- errors ------------------------------------------------------------------------

def user_errors(fn: Callback) -> Callback:
    """Run a callback as its visitor (``as_visitor``); show a ``GanStudioError`` as a readable message (without
    server paths, and cut short); log anything else and show a short one.

    The wrapper keeps the callback's signature and docstring, which Gradio reads for
    ``gr.Progress`` and ``gr.SelectData`` parameters and for the API description.
    """

    def translate(error: Exception) -> gr.Error:
        if isinstance(error, gr.Error):
            return error
        if isinstance(error, GanStudioError):
            return gr.Error(clean_message(str(error)), print_exception=False)
        logger.exception("%s failed", fn.__name__)
        return gr.Error(
            f"Something went wrong in {fn.__name__.replace('_', ' ')} ({type(error).__name__}). "
            "The details are in the server log; try other inputs or another model.",
            print_exception=False,
        )

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as error:
                raise translate(error) from None
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as error:
                raise translate(error) from None

    return as_visitor(wrapper)  # type: ignore[return-value]


# an absolute POSIX path (not the tail of a URL or of hf://owner/repo/...): shown as its last part
_SERVER_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s'\"`<>|/]+/)+([^\s'\"`<>|/]*)")
_LONG_RUN = re.compile(r"\S{121,}")


def clean_message(text: str) -> str:
    """A message for the person: server paths shown by their last part, long runs of one word (echoed input)
    cut short, the whole at most MAX_MESSAGE_CHARS."""
    text = _SERVER_PATH.sub(lambda match: match.group(1) or "…", text)
    text = _LONG_RUN.sub(lambda match: match.group(0)[:60] + "…", text)
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


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

def sketch_input(label: str, **kwargs) -> SketchInput:
    """A sketchpad whose layers are checked (count, pixels, aspect) before they are decoded."""
    return SketchInput(label=label, **kwargs)


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
    """A fresh folder for one request's downloads; folders older than an hour are removed, and the oldest
    also when all of them pass OUTPUT_BUDGET_BYTES."""
    OUTPUT_ROOT.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - OUTPUT_MAX_AGE_S
    for old in OUTPUT_ROOT.iterdir():
        try:
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:  # another request removed it first
            pass
    trim_to_budget(OUTPUT_ROOT, OUTPUT_BUDGET_BYTES)
    folder = OUTPUT_ROOT / uuid.uuid4().hex
    folder.mkdir()
    return folder


def upload_folder() -> Path:
    """Where Gradio keeps uploaded files (``GRADIO_TEMP_DIR``, else the system's temporary folder)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")


def discard_uploads(paths: Iterable[str | os.PathLike | None]) -> None:
    """Delete uploaded files once they have been used (imported, or made into a training set).

    Gradio serves every file of its upload folder to whoever names its path; a used upload need not wait
    there for an hour. Only files inside that folder are touched.
    """
    root = upload_folder()
    for path in paths:
        if path and is_inside(path, root) and Path(path).is_file():
            Path(path).unlink(missing_ok=True)
            try:
                Path(path).parent.rmdir()  # its own folder, when nothing else is in it
            except OSError:
                pass


def save_png(image: Image.Image, folder: Path, name: str) -> str:
    """Save a result as PNG, with its recipe when it has one, and return its path (for a gr.File download)."""
    return str(images.save_png(image, folder / f"{name}.png"))
