"""The model registry: turns a name, a path or a hub address into a loaded, runnable model.

Sources a model can come from:
- a name listed in ``weights/manifest.json`` (bundled) or in the user manifest (imported);
- a checkpoint file or folder on disk, in an official layout (recognised from its keys);
- ``hf://owner/repo/path/in/repo[@revision]``, through ``huggingface_hub`` and its cache;
- ``package://package_name/path``, a file shipped inside an installed Python package.

Loading is lazy and cached: a model is read once per backend and device, and at most
``max_loaded`` stay in memory (least recently used goes first).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import re
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ganstudio.errors import (
    BackendError,
    CheckpointError,
    GanStudioError,
    ModelNotFoundError,
    WrongTaskError,
)
from ganstudio.files import file_lock
from ganstudio.manifest import ModelEntry, read_manifest, write_manifest
from ganstudio.models import ARCHITECTURES, get_architecture
from ganstudio.models.spec import ModelInfo
from ganstudio.runtime import Device, Network, Precision

logger = logging.getLogger(__name__)

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_WEIGHTS_DIR = Path(os.environ.get("GANSTUDIO_WEIGHTS", PACKAGE_ROOT.parent / "weights"))
DEFAULT_MAX_LOADED = int(os.environ.get("GANSTUDIO_MAX_LOADED_MODELS", "4"))
# How many imported and fine-tuned models a studio keeps (0: no limit); a public Space sets one.
DEFAULT_MAX_USER_MODELS = int(os.environ.get("GANSTUDIO_MAX_USER_MODELS", "0"))

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
    """Bundled and user models, resolved by name, path or address, loaded on demand."""

    def __init__(self, weights_dir: str | os.PathLike | None = None, user_dir: str | os.PathLike | None = None,
                 *, max_loaded: int = DEFAULT_MAX_LOADED, max_user_models: int = DEFAULT_MAX_USER_MODELS):
        self.weights_dir = Path(weights_dir) if weights_dir else DEFAULT_WEIGHTS_DIR
        self.user_dir = Path(user_dir) if user_dir else default_user_dir()
        self.max_loaded = max(1, max_loaded)
        self.max_user_models = max(0, max_user_models)
        self._loaded: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._model_locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()

    # -- listing ---------------------------------------------------------------

    @property
    def user_manifest_path(self) -> Path:
        return self.user_dir / "manifest.json"

    def entries(self, task: str | None = None) -> list[ModelEntry]:
        """Every known model, bundled first; user models with a bundled model's name are skipped."""
        bundled = read_manifest(self.weights_dir / "manifest.json")
        names = {entry.name for entry in bundled}
        user = [entry for entry in read_manifest(self.user_manifest_path) if entry.name not in names]
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
            return detect_model(resolve_source(text), source=text)
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

    def import_model(self, path: str | os.PathLike, *, name: str | None = None, overwrite: bool = False) -> ModelEntry:
        """Copy a checkpoint (file, folder or hf:// address) into the user folder as safetensors and register it.

        Raises:
            CheckpointError: the checkpoint cannot be read or does not fit its architecture.
            GanStudioError: the name is taken (pass ``overwrite=True`` to replace a user model).
        """
        detected = self.resolve(str(path))
        model_name = safe_name(name or detected.name)
        existing = {entry.name: entry for entry in self.entries()}
        bundled = {entry.name for entry in read_manifest(self.weights_dir / "manifest.json")}
        if model_name in bundled or (model_name in existing and not overwrite):
            raise GanStudioError(
                f"a model called '{model_name}' already exists. Choose another name with --name"
                + ("" if model_name in bundled else ", or replace it with --overwrite") + "."
            )
        self.check_room_for(model_name)
        folder = self.user_dir / "models" / model_name
        if detected.format == "onnx":
            entry = _copy_onnx(detected, folder, model_name)
        else:
            entry = _save_as_safetensors(detected, folder, model_name)
        return self.register(entry.with_updates(base_dir=""))

    def check_room_for(self, name: str) -> None:
        """Refuse a new user model when the studio already keeps ``max_user_models`` (replacing one is fine).

        Raises:
            GanStudioError: the limit is reached; the message says how to make room.
        """
        user_names = {entry.name for entry in read_manifest(self.user_manifest_path)}
        if self.max_user_models and name not in user_names and len(user_names) >= self.max_user_models:
            raise GanStudioError(
                f"this studio keeps at most {self.max_user_models} models of your own. Remove one in the Models tab "
                "(or with `python -m ganstudio remove NAME`), or replace one by reusing its name."
            )

    def register(self, entry: ModelEntry) -> ModelEntry:
        """Add or replace an entry in the user manifest (files relative to the user folder)."""
        with file_lock(self.user_manifest_path):
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
        """Delete a user model (bundled models cannot be removed)."""
        with file_lock(self.user_manifest_path):
            user_entries = read_manifest(self.user_manifest_path)
            if name not in {e.name for e in user_entries}:
                raise ModelNotFoundError(f"'{name}' is not a user model; only imported or fine-tuned models can be removed.")
            write_manifest(self.user_manifest_path, [e for e in user_entries if e.name != name])
        shutil.rmtree(self.user_dir / "models" / name, ignore_errors=True)
        self._forget(name)


# -- sources ---------------------------------------------------------------------

def resolve_source(source: str, base_dir: str | os.PathLike = "") -> Path:
    """A local path for a manifest source (relative path, absolute path, hf:// or package://).

    Raises:
        ModelNotFoundError: the file is not there, not cached (offline), or its package is missing.
    """
    if source.startswith("hf://"):
        return _resolve_hub(source)
    if source.startswith("package://"):
        return _resolve_package(source)
    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir:
        path = Path(base_dir) / path
    if not path.exists():
        raise ModelNotFoundError(f"model file '{path}' is missing. Restore it, or run the training script that makes it.")
    return path


def parse_hub_address(address: str) -> tuple[str, str, str | None]:
    """``hf://owner/repo/path/in/repo@rev`` -> (repo_id, path, revision)."""
    body = address.removeprefix("hf://")
    revision = None
    if "@" in body:
        body, revision = body.rsplit("@", 1)
    parts = body.strip("/").split("/")
    if len(parts) < 3:
        raise ModelNotFoundError(
            f"'{address}' is not a hub address of a file; write hf://owner/repo/path/to/file[@revision]."
        )
    return "/".join(parts[:2]), "/".join(parts[2:]), revision


def _resolve_hub(address: str) -> Path:
    from huggingface_hub import constants, hf_hub_download, snapshot_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    repo_id, path, revision = parse_hub_address(address)
    try:
        if Path(path).suffix:
            return Path(hf_hub_download(repo_id, path, revision=revision))
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=[f"{path}/*"])
        return Path(folder) / path
    except LocalEntryNotFoundError:
        raise ModelNotFoundError(
            f"'{address}' is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}) and the Hub cannot be "
            f"reached. On a connected machine run `hf download {repo_id} {path}` and copy the cache folder here, "
            "or download the file and pass its path instead."
        ) from None
    except (EntryNotFoundError, RepositoryNotFoundError) as exc:
        raise ModelNotFoundError(f"'{address}' does not exist on the Hub ({type(exc).__name__}). Check the address.") from None


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
    path = Path(next(iter(spec.submodule_search_locations))) / inner
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


def read_state_dict(files: dict[str, str]) -> dict:
    """Read and flatten one or several checkpoint files; several are merged with their role as prefix."""
    from ganstudio.checkpoints import flatten_state_dict, read_network_state_dict

    if len(files) == 1:
        return read_network_state_dict(next(iter(files.values())))
    return flatten_state_dict({role: read_network_state_dict(path) for role, path in files.items()})


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


def load_network(arch: ModuleType, state_dict: dict, *, overrides: dict | None = None):
    """A family's network from a state dict: normalize_keys -> infer_config (+ manifest overrides) ->
    ``build_module``. Returns the module (eval mode) and its config.

    Raises:
        CheckpointError: the state dict does not fit the architecture.
    """
    state_dict = arch.normalize_keys(state_dict)
    config = _apply_overrides(arch.infer_config(state_dict), overrides or {})
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
        module, config = load_network(arch, read_state_dict(group), overrides=entry.config)
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
    """A folder's ``model.json`` (written by the ONNX exporter) as an entry whose files live beside it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"'{path}' is not a valid model description ({exc}). Export the model again.") from exc
    return ModelEntry.from_json(data, base_dir=path.parent)


def _describe_onnx(path: Path, *, name: str, source: str) -> ModelEntry:
    """An entry for a lone ONNX file, from the metadata the exporter writes into it."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends
        raise CheckpointError(f"'{path}' is not a readable ONNX file ({exc}).") from exc
    meta = {prop.key: prop.value for prop in model.metadata_props}
    if "ganstudio" not in meta:
        raise CheckpointError(
            f"'{path}' is an ONNX file without GAN Studio metadata, so its pre- and post-processing are unknown. "
            "Export it with `python -m ganstudio export`, or import the original checkpoint."
        )
    data = json.loads(meta["ganstudio"])
    data.update(name=name, format="onnx", files={data.get("network", "G"): str(path)}, source=source)
    return ModelEntry.from_json(data)


def _copy_onnx(entry: ModelEntry, folder: Path, name: str) -> ModelEntry:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for role, source in entry.files.items():
        src = resolve_source(source, entry.base_dir)
        shutil.copyfile(src, folder / src.name)
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


def safe_name(text: str) -> str:
    """A model name fit for a folder: lowercase letters, digits and hyphens."""
    name = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return name or "model"
