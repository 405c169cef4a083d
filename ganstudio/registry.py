"""The model registry: turns a name, a path or a hub address into a loaded, runnable model.

Sources a model can come from:
- a name listed in ``weights/manifest.json`` (bundled) or in the user manifest (imported);
- a checkpoint file or folder on disk, in an official layout (recognised from its keys);
- ``hf://owner/repo/path/in/repo[@revision]``, through ``huggingface_hub`` and its cache;
- ``package://package_name/path``, a file shipped inside an installed Python package.

Loading is lazy and cached: a model is read once per backend and device, and at most
``max_loaded`` stay in memory (least recently used goes first).

Addresses and descriptions may come from strangers (a public studio, ``ganstudio.policy``): an ``hf://``
path is proven to stay inside its snapshot, a ``model.json`` may name only files in its own folder, and
only regular files of a bounded size are read or copied. User models carry their owner; a visitor sees
the built-in and shared ones and their own, and may replace or remove only their own.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import ModuleType

from ganstudio.errors import (
    BackendError,
    CheckpointError,
    GanStudioError,
    LimitError,
    ModelNotFoundError,
    UnsafePathError,
    WrongTaskError,
)
from ganstudio.files import check_regular_file, copy_regular_file, file_lock, is_inside
from ganstudio.manifest import ModelEntry, read_manifest, write_manifest
from ganstudio.models import ARCHITECTURES, get_architecture
from ganstudio.models.spec import ModelInfo
from ganstudio.policy import Policy, current_visitor, visible_to
from ganstudio.runtime import Device, Network, Precision

logger = logging.getLogger(__name__)

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_WEIGHTS_DIR = Path(os.environ.get("GANSTUDIO_WEIGHTS", PACKAGE_ROOT.parent / "weights"))
DEFAULT_MAX_LOADED = int(os.environ.get("GANSTUDIO_MAX_LOADED_MODELS", "4"))
MAX_MODEL_JSON_BYTES = 1 << 20  # a model.json is a few kB; a larger one is not read
# Reservations: (name, owner) of models that will be registered later (queued fine-tuning jobs).
Reservations = Callable[[], list[tuple[str, str]]]

def default_user_dir() -> Path:
    """Where imported and fine-tuned models live: ``$GANSTUDIO_HOME`` or ``~/.cache/ganstudio``."""
    return Path(os.environ.get("GANSTUDIO_HOME", Path.home() / ".cache" / "ganstudio"))


@dataclass
class LoadedModel:
    """A model ready to run: its entry, its networks by name, its config, and what its tasks need to know (``info``).

    ``precision`` is what its networks compute in: "fp32" (the official pixels), "fp16"/"bf16" (autocast or a
    half-precision graph) or "int8" (a quantised ONNX file).
    """

    entry: ModelEntry
    networks: dict[str, Network]
    config: dict
    info: ModelInfo
    backend: str
    device: str
    precision: str = "fp32"

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def arch(self) -> str:
        return self.entry.arch

    @property
    def preprocessing(self) -> dict:
        return self.info.preprocessing

    @functools.cached_property
    def fingerprint(self) -> str:
        """A short hash of the weight files' bytes: which weights made a result, whatever the model is called."""
        return weights_fingerprint(self.entry)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    def network(self, name: str) -> Network:
        try:
            return self.networks[name]
        except KeyError:
            raise WrongTaskError(
                f"model '{self.name}' has no '{name}' network (it has: {', '.join(self.networks)})."
            ) from None

    def require_task(self, task: str) -> None:
        """Raise a clear error when this model cannot do ``task``."""
        if task not in self.entry.tasks:
            raise WrongTaskError(
                f"model '{self.name}' ({self.arch}) is for {', '.join(self.entry.tasks) or 'training only'}, not {task}. "
                f"Run `python -m ganstudio models` to see which models do {task}."
            )


class Registry:
    """Bundled and user models, resolved by name, path or address, loaded on demand.

    ``policy`` is what the studio allows (default: from the environment, ``Policy.from_environment``);
    ``max_user_models`` overrides its model cap. Listing, getting, replacing and removing models answer
    to the visitor of the request being served (``ganstudio.policy.visiting``); outside a request, to nobody
    in particular (everything is visible).
    """

    def __init__(self, weights_dir: str | os.PathLike | None = None, user_dir: str | os.PathLike | None = None,
                 *, max_loaded: int = DEFAULT_MAX_LOADED, max_user_models: int | None = None,
                 policy: Policy | None = None):
        self.weights_dir = Path(weights_dir) if weights_dir else DEFAULT_WEIGHTS_DIR
        self.user_dir = Path(user_dir) if user_dir else default_user_dir()
        self.max_loaded = max(1, max_loaded)
        self.policy = policy or Policy.from_environment()
        if max_user_models is not None:
            self.policy = dataclasses.replace(self.policy, max_user_models=max(0, max_user_models))
        self._loaded: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._model_locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()
        self._reservations: list[Reservations] = []

    @property
    def max_user_models(self) -> int:
        return self.policy.max_user_models

    def visitor(self) -> str | None:
        """Who the request being served is, for this studio: the visitor in a public one; nobody in particular
        (None: every model is visible and models are shared) in a private one, or outside a request."""
        return current_visitor() if self.policy.public else None

    def add_reservations(self, source: Reservations) -> None:
        """Count the (name, owner) pairs ``source`` returns as models already kept: queued fine-tuning jobs
        take a place under the model cap when they are queued, not when they finish."""
        self._reservations.append(source)

    def reserved(self) -> list[tuple[str, str]]:
        return [pair for source in self._reservations for pair in source()]

    # -- listing ---------------------------------------------------------------

    @property
    def user_manifest_path(self) -> Path:
        return self.user_dir / "manifest.json"

    def entries(self, task: str | None = None) -> list[ModelEntry]:
        """Every model the visitor may see, bundled first; user models with a bundled model's name are skipped."""
        bundled = read_manifest(self.weights_dir / "manifest.json")
        names = {entry.name for entry in bundled}
        visitor = self.visitor()
        user = [entry for entry in read_manifest(self.user_manifest_path)
                if entry.name not in names and visible_to(entry.owner, visitor)]
        everything = bundled + user
        return [entry for entry in everything if task is None or task in entry.tasks]

    def names(self, task: str | None = None) -> list[str]:
        return [entry.name for entry in self.entries(task)]

    def get(self, name: str) -> ModelEntry:
        """The manifest entry called ``name``.

        Raises:
            ModelNotFoundError: no model has that name.
        """
        for entry in self.entries():
            if entry.name == name:
                return entry
        known = ", ".join(self.names()) or "none"
        raise ModelNotFoundError(
            f"model '{name}' not found. Known: {known}. Run `python -m ganstudio models` to list them, "
            "or pass a checkpoint path or an hf:// address."
        )

    # -- resolving -------------------------------------------------------------

    def resolve(self, spec: str | os.PathLike | ModelEntry) -> ModelEntry:
        """A manifest entry for a name, a checkpoint file or folder, or an ``hf://`` address.

        Raises:
            ModelNotFoundError: nothing answers to ``spec``.
            CheckpointError: the file exists but is not a checkpoint this app knows.
        """
        if isinstance(spec, ModelEntry):
            return spec
        text = str(spec)
        if text.startswith("hf://"):
            return detect_model(resolve_source(text, policy=self.policy), source=text)
        if text.startswith("package://"):
            return detect_model(resolve_source(text), source=text)
        names = {entry.name: entry for entry in self.entries()}
        if text in names:
            return names[text]
        path = Path(text).expanduser()
        if path.exists():
            return detect_model(path)
        self.get(text)  # raises ModelNotFoundError with the list of names
        raise AssertionError("unreachable")

    # -- loading ---------------------------------------------------------------

    def load(self, spec: str | os.PathLike | ModelEntry, *, backend: str = "auto", device: Device = "auto",
             precision: Precision = "fp32") -> LoadedModel:
        """Resolve and load a model once per (model, backend, device, precision); later calls hit the cache.

        ``backend`` is "torch", "onnx" or "auto" (the model's own format). A PyTorch model runs with
        ONNX Runtime through ``ganstudio.serving``, which exports it first. ``precision`` "fp16" or "bf16" autocasts
        a PyTorch model, and "fp16" converts an ONNX graph; an int8 model is its own (quantised) ONNX entry, which
        ``ganstudio.serving`` makes, so here "int8" only labels it.

        The registry's lock guards the cache only: files are read and networks built outside it, so
        a model that is already loaded never waits behind another one's load. Two requests for the
        same model wait for one load (a lock per model).

        Raises:
            BackendError: an unknown backend, PyTorch asked of an ONNX-only model, or ONNX of a PyTorch one.
        """
        entry = self.resolve(spec)
        chosen = backend if backend != "auto" else ("onnx" if entry.format == "onnx" else "torch")
        if chosen not in ("torch", "onnx"):
            raise BackendError(f"backend must be 'torch', 'onnx' or 'auto', not {backend!r}.")
        if chosen == "torch" and entry.format == "onnx":
            raise BackendError(
                f"model '{entry.name}' exists only as ONNX; run it with the ONNX Runtime backend (--backend onnx)."
            )
        if chosen == "onnx" and entry.format != "onnx":
            raise BackendError(
                f"model '{entry.name}' holds PyTorch weights; load it through ganstudio.serving.load_model, "
                "which exports it to ONNX once."
            )
        # the source tells apart two exports cached under one name (the ONNX cache records the weights it came from)
        key = (entry.name, entry.base_dir, entry.source, tuple(sorted(entry.files.items())), chosen, device, precision)
        with self._model_lock(key):
            with self._lock:
                if key in self._loaded:
                    self._loaded.move_to_end(key)
                    return self._loaded[key]
            if chosen == "onnx":
                model = load_onnx_model(entry, device=device, precision=precision)
            else:
                model = load_torch_model(entry, device=device, precision=precision)
            with self._lock:
                self._loaded[key] = model
                while len(self._loaded) > self.max_loaded:
                    self._loaded.popitem(last=False)
            return model

    def _model_lock(self, key: tuple) -> threading.Lock:
        with self._lock:
            return self._model_locks.setdefault(key, threading.Lock())

    def loaded_names(self) -> list[str]:
        with self._lock:
            return [model.name for model in self._loaded.values()]

    def info(self, spec: str | os.PathLike | ModelEntry) -> ModelInfo:
        """What the tasks know about a model (labels, latent, conventions), from its entry when it says
        enough, else by loading it."""
        entry = self.resolve(spec)
        if entry.format == "onnx" or entry.config:
            return entry_info(entry)
        return self.load(entry).info

    # -- importing -------------------------------------------------------------

    def import_model(self, path: str | os.PathLike, *, name: str | None = None, overwrite: bool = False,
                     source: str | None = None) -> ModelEntry:
        """Copy a checkpoint (file, folder or hf:// address) into the user folder as safetensors and register it,
        as the visitor's own model (shared when there is no visitor).

        ``source`` is what the model's origin is recorded as (default: the path or address).

        Raises:
            CheckpointError: the checkpoint cannot be read or does not fit its architecture, or it is an ONNX
                file from elsewhere and the policy runs only this studio's own exports.
            GanStudioError: the name is taken (pass ``overwrite=True`` to replace a user model of your own).
            LimitError: the studio (or the visitor) keeps as many models as it may.
        """
        if name is not None and len(name) > MAX_NAME_CHARS:
            raise GanStudioError(f"a model name has at most {MAX_NAME_CHARS} characters; choose a shorter one.")
        detected = self.resolve(str(path))
        if detected.format == "onnx" and not self.policy.foreign_onnx:
            raise CheckpointError(
                "this public studio runs only the ONNX files it exported itself (a crafted ONNX graph can ask for "
                "any amount of memory). Import the PyTorch checkpoint instead; the Models tab exports it to ONNX here."
            )
        model_name = safe_name(name or detected.name)
        self.check_name_free(model_name, overwrite=overwrite)
        self.check_room_for(model_name)
        staging = self.user_dir / "models" / f".{model_name}.{os.getpid()}.{threading.get_ident()}.incoming"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            if detected.format == "onnx":
                entry = _copy_onnx(detected, staging, model_name)
            else:
                entry = _save_as_safetensors(detected, staging, model_name)
            entry = entry.with_updates(base_dir="", owner=self.visitor() or "",
                                       source=_shorten(source) if source is not None else entry.source)
            return self.register(entry, files_from=staging, overwrite=overwrite)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def check_name_free(self, name: str, *, overwrite: bool) -> None:
        """Refuse a name that a built-in model has, that another visitor's model or a queued job has, or (without
        ``overwrite``) that a model of the visitor has.

        Raises:
            GanStudioError: the name is taken; the message says whether replacing it is possible.
        """
        bundled = {entry.name for entry in read_manifest(self.weights_dir / "manifest.json")}
        if name in bundled:
            raise GanStudioError(f"a model called '{name}' already exists: it is a built-in model. Choose another name with --name.")
        visitor = self.visitor()
        existing = next((entry for entry in read_manifest(self.user_manifest_path) if entry.name == name), None)
        reserved_by = {owner for reserved_name, owner in self.reserved() if reserved_name == name}
        if visitor is not None and ((existing is not None and existing.owner != visitor) or reserved_by - {visitor}):
            raise GanStudioError(f"the name '{name}' is taken. Choose another name.")
        if existing is not None and not overwrite:
            raise GanStudioError(f"a model called '{name}' already exists. Choose another name with --name, "
                                 "or replace it with --overwrite.")

    def check_room_for(self, name: str) -> None:
        """Refuse a new user model when the studio already keeps ``max_user_models``, or the visitor
        ``max_models_per_visitor`` (replacing one is fine). Models that queued jobs will register count.

        Raises:
            LimitError: a limit is reached; the message says how to make room.
        """
        visitor = self.visitor()
        owners = {entry.name: entry.owner for entry in read_manifest(self.user_manifest_path)}
        for reserved_name, owner in self.reserved():
            owners.setdefault(reserved_name, owner)
        if name in owners:
            return
        mine = sum(1 for owner in owners.values() if owner == visitor)
        per_visitor = self.policy.max_models_per_visitor
        if visitor is not None and per_visitor and mine >= per_visitor:
            raise LimitError(
                f"you keep {mine} models here (queued fine-tuning jobs count), the most one visitor may. "
                "Remove one of yours in the Models tab, or replace one by reusing its name."
            )
        cap = self.policy.max_user_models
        if cap and len(owners) >= cap:
            raise LimitError(
                f"this studio keeps at most {cap} models of its users (queued fine-tuning jobs count), and has "
                f"{len(owners)}. Remove one of yours in the Models tab (or with `python -m ganstudio remove NAME`), "
                "or replace one by reusing its name."
            )

    def register(self, entry: ModelEntry, *, files_from: str | os.PathLike | None = None,
                 overwrite: bool = True) -> ModelEntry:
        """Add or replace an entry in the user manifest (files relative to the user folder).

        With ``files_from`` (a staging folder), the folder becomes ``models/<name>`` in the same step, under the
        manifest's lock, after the name is checked again: two imports of one name cannot mix their files.
        """
        with file_lock(self.user_manifest_path):
            if files_from is not None:
                self.check_name_free(entry.name, overwrite=overwrite)
                target = self.user_dir / "models" / entry.name
                shutil.rmtree(target, ignore_errors=True)
                os.replace(files_from, target)
            user_entries = [e for e in read_manifest(self.user_manifest_path) if e.name != entry.name]
            write_manifest(self.user_manifest_path, [*user_entries, entry])
        self._forget(entry.name)
        return self.get(entry.name)

    def _forget(self, name: str) -> None:
        # a replaced model must not be served from the cache with its old weights
        with self._lock:
            for key in [k for k in self._loaded if k[0] == name]:
                del self._loaded[key]

    def remove(self, name: str) -> None:
        """Delete a user model (bundled models cannot be removed; a visitor removes only their own)."""
        visitor = self.visitor()
        with file_lock(self.user_manifest_path):
            user_entries = read_manifest(self.user_manifest_path)
            removable = {e.name for e in user_entries if visitor is None or e.owner == visitor}
            if name not in removable:
                raise ModelNotFoundError(f"'{_shorten(name)}' is not one of your models; only imported or fine-tuned "
                                         "models can be removed, by whoever imported or trained them.")
            write_manifest(self.user_manifest_path, [e for e in user_entries if e.name != name])
        shutil.rmtree(self.user_dir / "models" / name, ignore_errors=True)
        self._forget(name)


# -- sources ---------------------------------------------------------------------

def resolve_source(source: str, base_dir: str | os.PathLike = "", *, policy: Policy | None = None) -> Path:
    """A local path for a manifest source (relative path, absolute path, hf:// or package://).

    ``policy`` says how hub addresses may be fetched (default: ``Policy.local()``).

    Raises:
        ModelNotFoundError: the file is not there, not cached (offline), or its package is missing.
        UnsafePathError: an address whose path leaves its repository or package.
    """
    if source.startswith("hf://"):
        return _resolve_hub(source, policy or Policy.local())
    if source.startswith("package://"):
        return _resolve_package(source)
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir:
        path = Path(base_dir) / path
    if not path.exists():
        raise ModelNotFoundError(f"model file '{path}' is missing. Restore it, or run the training script that makes it.")
    return path


MAX_ADDRESS_CHARS = 500
_REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
_REVISION = re.compile(r"[A-Za-z0-9._/-]{1,100}")
_HUB_FORM = "hf://owner/repo/path/to/file[@revision]"


def parse_hub_address(address: str) -> tuple[str, str, str | None]:
    """``hf://owner/repo/path/in/repo@rev`` -> (repo_id, path, revision).

    The path must stay inside the repository: no empty, ``.`` or ``..`` parts, no backslashes or control
    characters (the cache folder is joined with it).

    Raises:
        ModelNotFoundError: not an address of this form.
        UnsafePathError: a path that would leave the repository.
    """
    if len(address) > MAX_ADDRESS_CHARS:
        raise ModelNotFoundError(f"a hub address has at most {MAX_ADDRESS_CHARS} characters; write {_HUB_FORM}.")
    body = address.removeprefix("hf://")
    revision = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
    parts = body.strip("/").split("/")
    if len(parts) < 3:
        raise ModelNotFoundError(f"'{address}' is not a hub address of a file; write {_HUB_FORM}.")
    if not all(_REPO_PART.fullmatch(part) and ".." not in part and "--" not in part for part in parts[:2]):
        raise ModelNotFoundError(f"'{address}' does not name a repository as owner/repo; write {_HUB_FORM}.")
    inner = parts[2:]
    if any(part in ("", ".", "..") or "\\" in part or any(ord(char) < 32 for char in part) for part in inner):
        raise UnsafePathError(f"'{address}': the path inside the repository may not contain empty, '.' or '..' parts "
                              f"or backslashes; write {_HUB_FORM}.")
    if revision is not None and (not _REVISION.fullmatch(revision) or ".." in revision):
        raise ModelNotFoundError(f"'{address}' has a revision that is not a branch, tag or commit; write {_HUB_FORM}.")
    return "/".join(parts[:2]), "/".join(inner), revision


def _resolve_hub(address: str, policy: Policy) -> Path:
    """The local file (or folder) of a hub address: from the cache when it is there, else downloaded.

    A download is announced by one metadata request with ``policy.hub_timeout_s`` and no retries (an
    unreachable Hub answers in seconds, not after minutes of back-off), and refused over ``policy.hub_max_bytes``.
    """
    from huggingface_hub import (
        constants,
        hf_hub_download,
        snapshot_download,
        try_to_load_from_cache,
    )
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_id, path, revision = parse_hub_address(address)
    is_file = bool(PurePosixPath(path).suffix)
    if not is_file and not policy.hub_folders:
        raise ModelNotFoundError(f"this studio downloads single files from the Hub; '{address}' names a folder. "
                                 f"Write {_HUB_FORM} (e.g. .../latest_net_G.pth).")
    try:
        if is_file:
            if not constants.HF_HUB_OFFLINE:
                try:
                    _check_hub_file(repo_id, path, revision, policy)
                except LocalEntryNotFoundError:
                    # the Hub cannot be reached: a cached copy serves, as huggingface_hub would after its retries
                    cached = try_to_load_from_cache(repo_id, path, revision=revision)
                    if not isinstance(cached, str):
                        raise
                    return _inside_snapshot(Path(cached), path, address)
            return _inside_snapshot(Path(hf_hub_download(repo_id, path, revision=revision,
                                                         etag_timeout=policy.hub_timeout_s)), path, address)
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=[f"{path}/*"])
        return _inside_snapshot(Path(folder) / path, path, address)
    except LocalEntryNotFoundError:
        raise ModelNotFoundError(
            f"'{address}' is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and the Hub cannot be "
            f"reached. On a connected machine run `hf download {repo_id} {path}` and copy the cache folder here, "
            "or download the file and pass its path instead."
        ) from None
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise ModelNotFoundError(f"'{address}' does not exist on the Hub ({type(exc).__name__}). Check the address.") from None


def _check_hub_file(repo_id: str, path: str, revision: str | None, policy: Policy) -> None:
    """Ask the Hub once, without retrying, whether the file exists and how large it is."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    address = f"hf://{repo_id}/{path}" + (f"@{revision}" if revision else "")
    try:
        metadata = get_hf_file_metadata(hf_hub_url(repo_id, path, revision=revision), timeout=policy.hub_timeout_s)
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError):
        raise
    except HfHubHTTPError as exc:
        status = getattr(exc.response, "status_code", "?")
        raise ModelNotFoundError(f"the Hub did not serve '{address}' (HTTP {status}). Check the address, "
                                 "or try again later.") from None
    except Exception as exc:  # the HTTP client's connection and timeout errors: the Hub cannot be reached
        raise LocalEntryNotFoundError(_first_words(exc)) from None
    if policy.hub_max_bytes and (metadata.size is None or metadata.size > policy.hub_max_bytes):
        size = "of unknown size" if metadata.size is None else f"{metadata.size / 2**20:.0f} MiB"
        raise LimitError(f"'{address}' is {size}; this studio downloads files of at most "
                         f"{policy.hub_max_bytes / 2**20:.0f} MiB.")


def _inside_snapshot(local: Path, path: str, address: str) -> Path:
    """``local``, once proven to be the file ``path`` of a snapshot folder: its own path stays inside the
    snapshot, and its target (the cache links snapshot files to blobs) inside the repository's cache folder."""
    snapshot = local
    for _ in PurePosixPath(path).parts:
        snapshot = snapshot.parent
    repo_folder = snapshot.parent.parent
    lexical = Path(os.path.normpath(local))
    if not lexical.is_relative_to(os.path.normpath(snapshot)) or not is_inside(local, repo_folder):
        raise UnsafePathError(f"'{address}' resolves outside its repository's files, so it was not read.")
    return local


def _resolve_package(address: str) -> Path:
    body = address.removeprefix("package://")
    package, _, inner = body.partition("/")
    # find_spec locates the package without importing it: some run code on import (load a model onto the GPU,
    # import their own dependencies, which are not installed with them).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"'{address}' needs the Python package '{package}'. Install it: pip install {package.replace('_', '-')}"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / inner
    if not is_inside(path, root):
        raise UnsafePathError(f"'{address}' leaves the package '{package}', so it was not read.")
    if not path.exists():
        raise ModelNotFoundError(f"'{inner}' is not inside the installed package '{package}'. Reinstall or upgrade it.")
    return path


# -- detection -------------------------------------------------------------------

# Checkpoint names that no one family claims: the last resort when picking the file out of a folder.
GENERIC_FILE_NAMES = ("*.safetensors", "*.pth", "*.pt", "*.ckpt", "*.onnx")


def folder_layouts() -> list[tuple[str, dict[str, tuple[str, ...]]]]:
    """(arch, role -> file-name patterns) in the order folders are matched: the families' multi-file layouts,
    then their single-file names, then the generic names (arch "" : recognised from the keys)."""
    modules = [get_architecture(arch) for arch in ARCHITECTURES]
    layouts = [(m.SPEC.arch, dict(layout)) for m in modules for layout in m.SPEC.folder_layouts]
    names = tuple(dict.fromkeys(name for m in modules for name in m.SPEC.file_names))
    return [*layouts, ("", {"G": names + GENERIC_FILE_NAMES})]


def detect_model(path: str | os.PathLike, *, source: str = "", name: str | None = None) -> ModelEntry:
    """Recognise a checkpoint file or folder and describe it as a (not yet registered) manifest entry.

    Raises:
        CheckpointError: nothing in it is a checkpoint of a supported architecture.
    """
    path = Path(path)
    name = name or safe_name(path.stem if path.is_file() else path.name)
    layout_arch = ""
    if path.is_dir():
        if (path / "model.json").is_file():
            return read_model_json(path / "model.json")
        matched = _match_folder(path)
        if matched is None:
            examples = ", ".join(" + ".join(patterns[0] for patterns in roles.values()) for _, roles in folder_layouts()[:-1])
            raise CheckpointError(
                f"folder '{path.name}' holds no checkpoint this app recognises. Expected one of: {examples}, "
                "a single checkpoint file, or a model.json."
            )
        layout_arch, files = matched
    else:
        files = {"G": str(path)}
    first = Path(next(iter(files.values())))
    if first.suffix == ".onnx":
        return _describe_onnx(first, name=name, source=source or str(path))
    arch = _detect_arch(files, layout_arch)
    fmt = "safetensors" if first.suffix == ".safetensors" else "pytorch"
    return ModelEntry(name=name, arch=arch, tasks=tuple(_architecture(arch).SPEC.tasks), format=fmt, files=files,
                      source=source or str(path))


def _match_folder(folder: Path) -> tuple[str, dict[str, str]] | None:
    for arch, roles in folder_layouts():
        found: dict[str, str] = {}
        for role, patterns in roles.items():
            for pattern in patterns:
                hits = sorted(folder.glob(pattern))
                if hits:
                    found[role] = str(hits[-1])
                    break
        if len(found) == len(roles):
            return arch, found
    return None


def _architecture(arch: str) -> ModuleType:
    try:
        return get_architecture(arch)
    except KeyError as exc:
        raise CheckpointError(str(exc.args[0])) from None


def read_weights(files: dict[str, str]):
    """Read one or several checkpoint files as ``checkpoints.NetworkWeights``: one file's network (with the
    constructor arguments a network pickle stores), or several merged with their role as prefix."""
    from ganstudio.checkpoints import (
        NetworkWeights,
        flatten_state_dict,
        read_network,
        read_network_state_dict,
    )

    if len(files) == 1:
        return read_network(next(iter(files.values())))
    return NetworkWeights(flatten_state_dict({role: read_network_state_dict(path) for role, path in files.items()}))


def read_state_dict(files: dict[str, str]) -> dict:
    """Read and flatten one or several checkpoint files; several are merged with their role as prefix."""
    return read_weights(files).state_dict


def _detect_arch(files: dict[str, str], layout_arch: str = "") -> str:
    """The first family (in ``ARCHITECTURES`` order) whose ``matches`` takes the checkpoint's keys.

    A container family's folder (AdaIN's two files) is read whole; several files of a one-network
    family (a CycleGAN pair) are recognised from the first.
    """
    from ganstudio.models import torch_architectures

    whole = layout_arch and _architecture(layout_arch).SPEC.container
    sample = files if whole else dict([next(iter(files.items()))])
    state_dict = read_state_dict(sample)
    modules = torch_architectures()
    for module in modules:
        if module.matches(module.normalize_keys(state_dict)):
            return module.SPEC.arch
    first_keys = ", ".join(list(state_dict)[:3]) or "no tensors"
    raise CheckpointError(
        f"'{Path(next(iter(files.values()))).name}' is not a checkpoint of a supported architecture (its first keys: "
        f"{first_keys}). Supported: {', '.join(m.SPEC.arch for m in modules)}. Pass the generator's state dict "
        "(e.g. latest_net_G.pth, netG_epoch_N.pth)."
    )


# -- loading ---------------------------------------------------------------------

def entry_info(entry: ModelEntry, config: dict | None = None) -> ModelInfo:
    """What the tasks need to know about an entry: its family's ``describe(config)`` (or, for an ONNX export,
    the description it carries), with the entry's own preprocessing and labels on top."""
    if entry.info:
        info = ModelInfo.from_json(entry.info)
    else:
        info = _architecture(entry.arch).describe(entry.config if config is None else config)
    return info.with_overrides(preprocessing=entry.preprocessing, labels=entry.labels)


def build_module(arch: ModuleType, config, *, state_dict: dict | None = None, init: bool = False):
    """The one sequence from a config to a network in eval mode: build -> strict load of ``state_dict``
    (or the family's official initialisation with ``init``) -> ``eval()``. The registry, the benchmark
    and the evaluation all build through here.

    Raises:
        CheckpointError: the state dict does not fit the architecture.
    """
    from ganstudio.checkpoints import load_state_dict_strictly

    module = arch.build(config)
    if state_dict is not None:
        load_state_dict_strictly(module, state_dict, arch=arch.SPEC.arch)
    elif init:
        arch.init_weights(module)
    return module.eval()


def build_networks(arch: ModuleType, config, *, role: str = "G", init: bool = False) -> dict:
    """Fresh networks of a config as a loaded model runs them (``inference_networks``), for timing and baselines."""
    return arch.inference_networks(build_module(arch, config, init=init), role)


def load_network(arch: ModuleType, state_dict: dict, *, overrides: dict | None = None, init_kwargs: dict | None = None):
    """A family's network from a state dict: normalize_keys -> infer_config (+ manifest overrides) ->
    ``build_module``. Returns the module (eval mode) and its config.

    ``init_kwargs`` (a network pickle's constructor arguments) go to the families whose spec says
    their ``infer_config`` takes them; they are checked against the shapes there.

    Raises:
        CheckpointError: the state dict does not fit the architecture, or the init kwargs contradict it.
    """
    state_dict = arch.normalize_keys(state_dict)
    if init_kwargs is not None and arch.SPEC.takes_init_kwargs:
        inferred = arch.infer_config(state_dict, init_kwargs=init_kwargs)
    else:
        inferred = arch.infer_config(state_dict)
    config = _apply_overrides(inferred, overrides or {})
    return build_module(arch, config, state_dict=state_dict), config


def load_torch_model(entry: ModelEntry, *, device: Device = "auto", precision: Precision = "fp32") -> LoadedModel:
    """Build and load a PyTorch model as the manifest entry describes, on the best device.

    Raises:
        CheckpointError: a file cannot be read or does not fit the architecture.
    """
    from ganstudio.runtime import TorchNetwork, torch_device

    arch = _architecture(entry.arch)
    place = torch_device(device)
    paths = {role: str(resolve_source(source, entry.base_dir)) for role, source in entry.files.items()}
    groups = [paths] if arch.SPEC.container else [{role: path} for role, path in paths.items()]
    networks: dict[str, Network] = {}
    config = None
    for group in groups:
        weights = read_weights(group)
        module, config = load_network(arch, weights.state_dict, overrides=entry.config, init_kwargs=weights.init_kwargs)
        named = arch.inference_networks(module, next(iter(group)))
        networks.update({net: TorchNetwork(net_module, place, precision=precision) for net, net_module in named.items()})
    config_dict = dataclasses.asdict(config)
    return LoadedModel(entry=entry, networks=networks, config=config_dict, info=entry_info(entry, config_dict),
                       backend="torch", device=place, precision=precision)


def load_onnx_model(entry: ModelEntry, *, device: Device = "auto", precision: Precision = "fp32") -> LoadedModel:
    """Open one ONNX Runtime session per network of an ONNX entry (torch is not imported).

    Raises:
        BackendError: ``precision`` is bf16 (no ONNX Runtime provider runs it).
    """
    from ganstudio.runtime import OnnxNetwork

    if precision == "bf16":
        raise BackendError("ONNX Runtime does not run bf16 graphs; use fp16 on a GPU, int8 on the CPU, or PyTorch for bf16.")
    networks = {role: OnnxNetwork(resolve_source(source, entry.base_dir), device, float16=precision == "fp16")
                for role, source in entry.files.items()}
    devices = {network.device for network in networks.values()}
    return LoadedModel(entry=entry, networks=networks, config=dict(entry.config), info=entry_info(entry),
                       backend="onnx", device="cuda" if devices == {"cuda"} else "cpu", precision=precision)


def _apply_overrides(config, overrides: dict):
    """Config from the checkpoint, with manifest values for what a checkpoint cannot tell (e.g. U-Net dropout)."""
    known = {f.name for f in dataclasses.fields(config)}
    values = {key: value for key, value in overrides.items() if key in known}
    return dataclasses.replace(config, **values) if values else config


# -- ONNX entries ------------------------------------------------------------------

def read_model_json(path: str | os.PathLike) -> ModelEntry:
    """A folder's ``model.json`` (written by the ONNX exporter) as an ONNX entry whose files live beside it.

    The description may come from anywhere (an upload, a hub folder), so it is held to what the exporter
    writes: ONNX format, and files named relative to its own folder, which are regular files inside it.
    Every field and number is checked (``ModelEntry.from_json``, ``entry_info``).

    Raises:
        CheckpointError: not a valid description.
        UnsafePathError: a file outside the folder, or not a regular file.
    """
    path = Path(path)
    try:
        check_regular_file(path, max_bytes=MAX_MODEL_JSON_BYTES)
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"'{path.name}' is not a valid model description ({_first_words(exc)}). "
                              "Export the model again.") from None
    entry = ModelEntry.from_json(data, base_dir=path.parent)
    if entry.format != "onnx":
        raise CheckpointError(f"'{path.name}' describes a {entry.format} model; a model.json describes an ONNX export. "
                              "Import the checkpoint files themselves.")
    for source in [*entry.files.values(), *entry.training_files.values()]:
        _check_beside(source, path.parent, path.name)
    entry_info(entry)  # its numbers, before anything is sized by them
    return entry


def _check_beside(source: str, folder: Path, described_by: str) -> None:
    """Refuse a file that a description names outside its own folder, or that is not a regular file."""
    parts = PurePosixPath(source).parts
    if (not parts or PurePosixPath(source).is_absolute() or ":" in source or "\\" in source
            or any(part in ("", ".", "..") for part in parts) or not is_inside(folder / source, folder)):
        raise UnsafePathError(f"'{described_by}' names a file outside its own folder, so it was not used. "
                              "A model description may name only the files beside it.")
    check_regular_file(folder / source, max_bytes=_checkpoint_limit())


def _checkpoint_limit() -> int:
    from ganstudio.checkpoints import MAX_CHECKPOINT_BYTES

    return MAX_CHECKPOINT_BYTES


def _describe_onnx(path: Path, *, name: str, source: str) -> ModelEntry:
    """An entry for a lone ONNX file, from the metadata the exporter writes into it (checked like any description).

    Raises:
        CheckpointError: not a readable ONNX file, or its description is missing or not valid.
        UnsafePathError: not a regular file, or over the checkpoint size limit.
    """
    import onnx

    check_regular_file(path, max_bytes=_checkpoint_limit())
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends
        raise CheckpointError(f"'{path.name}' is not a readable ONNX file ({_first_words(exc)}).") from None
    meta = {prop.key: prop.value for prop in model.metadata_props}
    if "ganstudio" not in meta:
        raise CheckpointError(
            f"'{path.name}' is an ONNX file without GAN Studio metadata, so its pre- and post-processing are unknown. "
            "Export it with `python -m ganstudio export`, or import the original checkpoint."
        )
    try:
        data = json.loads(meta["ganstudio"])
    except ValueError:
        raise CheckpointError(f"'{path.name}' carries GAN Studio metadata that is not valid JSON. Export it again.") from None
    if not isinstance(data, dict) or not isinstance(data.get("network", "G"), str):
        raise CheckpointError(f"'{path.name}' carries GAN Studio metadata that is not a model description. Export it again.")
    data.update(name=name, format="onnx", files={data.get("network", "G")[:100]: str(path)}, source=source)
    entry = ModelEntry.from_json(data)
    entry_info(entry)  # its numbers, before anything is sized by them
    return entry


def _copy_onnx(entry: ModelEntry, folder: Path, name: str) -> ModelEntry:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for role, source in entry.files.items():
        src = resolve_source(source, entry.base_dir)
        copy_regular_file(src, folder / src.name, max_bytes=_checkpoint_limit())
        files[role] = f"models/{name}/{src.name}"
    return entry.with_updates(name=name, files=files)


def _save_as_safetensors(entry: ModelEntry, folder: Path, name: str) -> ModelEntry:
    from ganstudio.checkpoints import write_safetensors

    arch = _architecture(entry.arch)
    paths = {role: str(resolve_source(source, entry.base_dir)) for role, source in entry.files.items()}
    groups = {"model": paths} if arch.SPEC.container else {role: {role: path} for role, path in paths.items()}
    files, config = {}, None
    for role, group in groups.items():
        model = load_torch_model(entry.with_updates(files=group), device="cpu")  # validates before anything is written
        config = model.config
        state_dict = arch.normalize_keys(read_state_dict(group))
        write_safetensors(folder / f"{role}.safetensors", state_dict, arch=entry.arch, config=config)
        files[role] = f"models/{name}/{role}.safetensors"
    return entry.with_updates(
        name=name, format="safetensors", files=files, config=config or {},
        labels=entry.labels or entry_info(entry, config or {}).labels,
        description=entry.description or f"Imported from {entry.source or 'a local file'}.",
    )


def weights_fingerprint(entry: ModelEntry) -> str:
    """sha256 over an entry's files (in role order), first 16 hex digits; "" when a file cannot be read."""
    digest = hashlib.sha256()
    try:
        for _, source in sorted(entry.files.items()):
            with open(resolve_source(source, entry.base_dir), "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    except (ModelNotFoundError, OSError):
        return ""
    return digest.hexdigest()[:16]


MAX_NAME_CHARS = 64


def safe_name(text: str) -> str:
    """A model name fit for a folder: lowercase letters, digits and hyphens, at most MAX_NAME_CHARS."""
    name = re.sub(r"[^a-z0-9]+", "-", text[: 4 * MAX_NAME_CHARS].lower()).strip("-")[:MAX_NAME_CHARS].strip("-")
    return name or "model"


def _shorten(text: str, limit: int = 200) -> str:
    """Text from a request, cut to ``limit`` characters for a message or a record."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_words(exc: BaseException) -> str:
    """The start of an exception's message, for a message of ours (never a whole dump)."""
    text = str(exc).strip().splitlines()
    return _shorten(text[0], 120) if text else type(exc).__name__
