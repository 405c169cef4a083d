"""Model manifest: what models exist, where their files come from, how to run them.

Plain data, standard library only. ``weights/manifest.json`` lists the bundled models;
a second manifest in the user models folder lists imported and fine-tuned ones.
The file holds one model per line so that diffs stay readable.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from ganstudio.errors import CheckpointError
from ganstudio.files import write_text_atomically

FORMATS = ("pytorch", "safetensors", "onnx")
TASKS = ("generate", "translate", "edit", "stylize")
# An entry can come from a file someone else wrote (a model.json, an ONNX file's metadata): its fields are
# checked for type and size before anything uses them.
MAX_NAME_CHARS = 100
MAX_TEXT_CHARS = 2000
MAX_FILES = 16
MAX_LABELS = 100_000


@dataclass(frozen=True)
class ModelEntry:
    """One model: its name, what it does, its architecture and the files that hold it.

    ``files`` maps a role to a source: "G" for one generator, "G_A"/"G_B" for the two
    directions of a CycleGAN, "vgg"/"decoder" for AdaIN, a network name for an ONNX set.
    A source is a path (relative to the manifest's folder, or absolute), a Hugging Face
    file ``hf://owner/repo/path/in/repo[@revision]``, or a file inside an installed
    package ``package://package_name/path/in/package``.

    ``info`` is set on ONNX exports only: the family's description of this model (``ModelInfo`` as JSON),
    which the model needs at run time and which would otherwise take importing its PyTorch family.

    ``training_files`` holds networks that only training uses (the discriminators, by the trainer's
    network name: "D", "D_A"/"D_B", "discriminator"); inference never loads them, and a fine-tune
    starts from them.

    ``owner`` is the visitor a public studio made the model for ("" = shared: built-in, imported on the
    command line or in a private studio); see ``ganstudio.policy``.
    """

    name: str
    arch: str
    tasks: tuple[str, ...]
    format: str
    files: dict[str, str]
    config: dict = field(default_factory=dict)
    preprocessing: dict = field(default_factory=dict)
    labels: tuple[str, ...] = ()
    source: str = ""
    description: str = ""
    metrics: dict = field(default_factory=dict)
    training_files: dict[str, str] = field(default_factory=dict)  # discriminators by network name, for fine-tuning
    info: dict = field(default_factory=dict)  # an ONNX export's ModelInfo, so it runs without its PyTorch family
    examples: tuple[str, ...] = ()  # example inputs the model was made for (names in ganstudio.ui.examples)
    owner: str = ""
    base_dir: str = field(default="", compare=False)

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("base_dir")
        data["tasks"] = list(self.tasks)
        data["labels"] = list(self.labels)
        data["examples"] = list(self.examples)
        return {k: v for k, v in data.items() if v not in ({}, [], "")}

    @classmethod
    def from_json(cls, data: dict, *, base_dir: str | os.PathLike = "") -> ModelEntry:
        """An entry from its JSON form, every field checked for type and size.

        Raises:
            CheckpointError: a missing field, or one of the wrong type or size.
        """
        if not isinstance(data, dict):
            raise CheckpointError("a manifest entry must be a JSON object.")
        known = {f.name for f in fields(cls)} - {"base_dir"}
        missing = {"name", "arch", "tasks", "format", "files"} - set(data)
        name = data.get("name")
        shown = repr(name[:MAX_NAME_CHARS]) if isinstance(name, str) else "?"
        if missing:
            raise CheckpointError(f"manifest entry {shown} lacks {', '.join(sorted(missing))}.")
        if data["format"] not in FORMATS:
            raise CheckpointError(f"manifest entry {shown}: format must be one of {', '.join(FORMATS)}.")
        values = {k: v for k, v in data.items() if k in known}
        problem = _check_fields(values)
        if problem:
            raise CheckpointError(f"manifest entry {shown}: {problem}. The description may be damaged or forged.")
        values["tasks"] = tuple(values["tasks"])
        values["labels"] = tuple(values.get("labels", ()))
        values["examples"] = tuple(values.get("examples", ()))
        return cls(**values, base_dir=str(base_dir))

    def with_updates(self, **changes) -> ModelEntry:
        return replace(self, **changes)


def _check_fields(values: dict) -> str:
    """What is wrong with an entry's fields ("" when nothing is)."""
    for key in ("name", "arch"):
        if not isinstance(values[key], str) or not 0 < len(values[key]) <= MAX_NAME_CHARS:
            return f"{key} must be text of 1 to {MAX_NAME_CHARS} characters"
    for key in ("source", "description", "owner"):
        if not isinstance(values.get(key, ""), str) or len(values.get(key, "")) > MAX_TEXT_CHARS:
            return f"{key} must be text of at most {MAX_TEXT_CHARS} characters"
    tasks = values["tasks"]
    if not isinstance(tasks, (list, tuple)) or any(task not in TASKS for task in tasks):
        return f"tasks must be a list of {', '.join(TASKS)}"
    for key in ("files", "training_files"):
        files = values.get(key, {})
        if not isinstance(files, dict) or len(files) > MAX_FILES or not all(
                isinstance(k, str) and isinstance(v, str) and 0 < len(k) <= MAX_NAME_CHARS and 0 < len(v) <= MAX_TEXT_CHARS
                for k, v in files.items()):
            return f"{key} must map at most {MAX_FILES} network names to file names"
    if not values["files"]:
        return "files names no file"
    labels = values.get("labels", ())
    if not isinstance(labels, (list, tuple)) or len(labels) > MAX_LABELS or not all(
            isinstance(label, str) and len(label) <= MAX_TEXT_CHARS for label in labels):
        return f"labels must be a list of at most {MAX_LABELS} names"
    for key in ("config", "preprocessing", "metrics", "info"):
        if not isinstance(values.get(key, {}), dict):
            return f"{key} must be a JSON object"
    return ""


def read_manifest(path: str | os.PathLike) -> list[ModelEntry]:
    """The entries of a manifest file, in order (an absent file is an empty manifest).

    Raises:
        CheckpointError: the file is not valid JSON or an entry is incomplete.
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"manifest '{path}' is not valid JSON ({exc}). Fix or delete it.") from exc
    return [ModelEntry.from_json(item, base_dir=path.parent) for item in data.get("models", [])]


def write_manifest(path: str | os.PathLike, entries: list[ModelEntry]) -> None:
    """Write entries atomically, one model per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ",\n".join("    " + json.dumps(entry.to_json(), sort_keys=False) for entry in entries)
    text = '{\n  "models": [\n' + lines + ("\n" if lines else "") + "  ]\n}\n"
    write_text_atomically(path, text)
