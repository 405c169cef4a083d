"""What the studio knows about an architecture family, as plain data (standard library only).

Every architecture module declares one ``SPEC = ArchitectureSpec(...)`` near its top and a
``describe(config) -> ModelInfo`` function; the registry, the tasks, the CLI, the UI and the
fine-tuning code read these instead of testing architecture ids. A new family is one module
with its spec plus one line in ``ganstudio.models.ARCHITECTURES``.

Two levels of description:

- ``ArchitectureSpec``: what holds for every checkpoint of the family (its tasks, the file
  names and folder layouts it claims, the networks it exposes, how it exports, which
  training kind trains it).
- ``ModelInfo``: what one configuration of it means to a task (image conventions, how a
  seed becomes the generator's input, label names, which pipeline drives the networks).
  It is JSON-able, so an ONNX export carries it and runs without importing torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol, runtime_checkable

from ganstudio.errors import CheckpointError

Task = Literal["generate", "translate", "edit", "stylize"]
LabelKind = Literal["", "classes", "attributes", "domains", "styles"]

# How a task drives the networks of a model. Tasks hold one function per pipeline; a new family
# reuses one of these or adds one there, never a test of its architecture id.
PIPELINES = (
    "latent",          # generate: a seed -> latent (-> class) -> image
    "style",           # generate: a seed -> z -> mapping (+ class, truncation towards w_avg) -> ws -> synthesis (StyleGAN)
    "image",           # translate / stylize: one network, image -> image
    "attributes",      # edit: image + target attribute vector -> image (StarGAN v1)
    "domains",         # edit: image + domain + style from a reference or a seed (StarGAN v2)
    "feature_blend",   # stylize: content + style images, strength blended in feature space (AdaIN)
    "style_vector",    # stylize: a style network turns the style image into a vector (Magenta arbitrary)
    "style_weights",   # stylize: a weight per built-in style (Magenta multi-style)
    "",                # training only (discriminators)
)

# ModelInfo.options of a "style" model: how the pipeline drives its two networks, named by what they take.
#   num_ws, w_dim          the synthesis takes ws (N, num_ws, w_dim); style mixing and edits index num_ws
#   mapping_inputs         input names of "mapping" in order, from: z, c (one-hot, (N, 0) when unconditional),
#                          truncation_psi (a scalar; psi 0 gives the stored average w exactly)
#   synthesis_inputs       input names of "synthesis" in order, from: ws, noise ((N, 2) weights of the stored
#                          and of fresh noise, see models.inputs.NOISE_WEIGHTS), transform (StyleGAN3's 3x3)
#   noise_modes            the noise modes that change its images (empty: it has no noise inputs)
#   input_transform        True when translate / rotate apply (StyleGAN3's Fourier-feature input)
#   truncation_mean        > 0 when no average w is stored: truncation goes towards the mean of the mapping over
#                          this many z drawn from the seed's stream first (rosinality generate.py's mean_latent)
STYLE_OPTIONS = ("num_ws", "w_dim", "mapping_inputs", "synthesis_inputs", "noise_modes", "input_transform",
                 "truncation_mean")

# Bounds on every number a description may carry. A description can come from a file (an ONNX export's
# metadata, a model.json), so each number is checked before anything is sized by it: a forged
# num_classes of 3e7 would otherwise allocate gigabytes per generated batch, a fixed_size of 6000 a
# 6000x6000 network input. The largest released models sit far inside (StyleGAN: 1024 px, z of 512).
MAX_MODEL_SIDE = 2048
MAX_LATENT_SIZE = 8192
MAX_CLASSES = 100_000
MAX_SIZE_MULTIPLE = 1024
MAX_LABEL_CHARS = 200
MAX_OPTION_VALUE = 1e6
SIDE_KEYS = ("fixed_size", "output_size", "short_side")

DEFAULT_PREPROCESSING: dict[str, Any] = {
    "input_range": [-1.0, 1.0],
    "output_range": [-1.0, 1.0],
    "output_rounding": "round",
    "size_multiple": None,
    "fixed_size": None,
}


@dataclass(frozen=True)
class LatentCode:
    """A named part of a generator's input that people set by hand (InfoGAN's latent codes).

    Attributes:
        name: what the CLI and the API call it ("cat", "c1").
        kind: "categorical" (one of ``categories`` values, fed one-hot) or "continuous" (one value).
        categories: the number of values of a categorical code.
        low, high: the range a continuous code was drawn from in training (uniform); a seed draws it there.
            Values up to twice as far out are accepted: the InfoGAN paper shows -2..2 for codes trained on -1..1.
        description: what the code came to mean, when someone has looked (empty: unknown; it is learnt unsupervised).
    """

    name: str
    kind: Literal["categorical", "continuous"]
    categories: int = 0
    low: float = -1.0
    high: float = 1.0
    description: str = ""

    @property
    def width(self) -> int:
        """Values it takes in the generator's input: one per category (one-hot), or one."""
        return self.categories if self.kind == "categorical" else 1

    @property
    def limits(self) -> tuple[float, float]:
        """The values a continuous code accepts: its training range, widened by half its length on each side."""
        half = (self.high - self.low) / 2
        return self.low - half, self.high + half


@dataclass(frozen=True)
class LatentSpec:
    """How a seed becomes a generator's input.

    Attributes:
        size: values per sample (``nz``, ``latent_dim``).
        shape: "nchw" feeds (N, size, 1, 1) (DCGAN's transposed convs), "flat" feeds (N, size).
        seed_rule: which random stream turns a seed into values, so that a seed names the same image as the
            official script: "studio" is ``images.latents_from_seeds`` (NumPy PCG64, one stream per seed);
            "nvlabs" is ``np.random.RandomState(seed).randn`` (gen_images.py); "rosinality" is
            ``torch.manual_seed(seed); torch.randn`` (generate.py).
        truncation: what the truncation option does: "resample" redraws values beyond the threshold;
            "psi" moves w towards the average w (StyleGAN's truncation trick).
        num_classes: > 0 for a class-conditional generator (a class index is fed as a second input).
        class_input: how the class is fed: "index" (int64 (N,)) or "onehot" (float32 (N, num_classes)).
        codes: latent codes fed after the ``size`` noise values, in this order (InfoGAN); the generator's
            input has ``size`` plus the codes' widths values.
    """

    size: int
    shape: Literal["nchw", "flat"] = "nchw"
    seed_rule: Literal["studio", "nvlabs", "rosinality"] = "studio"
    truncation: Literal["resample", "psi", "none"] = "resample"
    num_classes: int = 0
    class_input: Literal["index", "onehot"] = "index"
    codes: tuple[LatentCode, ...] = ()

    def __post_init__(self):
        _check_whole("latent size", self.size, 1, MAX_LATENT_SIZE)
        _check_whole("num_classes", self.num_classes, 0, MAX_CLASSES)
        for name in ("shape", "seed_rule", "truncation", "class_input"):
            allowed = _LATENT_CHOICES[name]
            if getattr(self, name) not in allowed:
                raise CheckpointError(f"latent {name} must be one of {', '.join(allowed)}, not {_shown(getattr(self, name))}.")

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    @property
    def input_size(self) -> int:
        """Values per sample the generator takes: the noise and every code."""
        return self.size + sum(code.width for code in self.codes)


# the choices of LatentSpec's Literal fields, checked at run time (a description may come from a file)
_LATENT_CHOICES = {
    "shape": ("nchw", "flat"),
    "seed_rule": ("studio", "nvlabs", "rosinality"),
    "truncation": ("resample", "psi", "none"),
    "class_input": ("index", "onehot"),
}


@dataclass(frozen=True)
class ModelInfo:
    """What a task needs to know about one configuration of an architecture (JSON-able).

    Attributes:
        tasks: the tasks this model serves.
        pipeline: how its task drives the networks (one of ``PIPELINES``).
        preprocessing: image conventions, the keys of ``DEFAULT_PREPROCESSING`` (plus
            ``output_size`` for generators).
        labels: class, attribute, domain or style names; label_kind says which.
        latent: for generators, what a seed becomes.
        native_size: the image side the model was made for, where it has one (training uses it).
        channels: channels of the images it makes (1 for grey digits); inputs are always RGB.
        options: numbers a pipeline needs that belong to the family (e.g. Magenta's fixed sides; a
            "style" model's ``STYLE_OPTIONS``).
    """

    tasks: tuple[str, ...]
    pipeline: str
    preprocessing: dict = field(default_factory=lambda: dict(DEFAULT_PREPROCESSING))
    labels: tuple[str, ...] = ()
    label_kind: LabelKind = ""
    latent: LatentSpec | None = None
    native_size: int | None = None
    channels: int = 3
    options: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.pipeline not in PIPELINES:
            raise CheckpointError(f"unknown pipeline {_shown(self.pipeline)}; known: {', '.join(p for p in PIPELINES if p)}")
        check_description_numbers(self)

    def with_overrides(self, *, preprocessing: Mapping | None = None, labels: tuple[str, ...] = ()) -> ModelInfo:
        """This info with a manifest entry's own preprocessing values and label names on top."""
        merged = {**self.preprocessing, **(preprocessing or {})}
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(preprocessing=merged, labels=tuple(labels) or self.labels)
        if merged.get("fixed_size"):  # a model trained at one size (the built-in digits) is native there
            values["native_size"] = int(merged["fixed_size"])
        return ModelInfo(**values)

    def to_json(self) -> dict:
        data = asdict(self)
        data["tasks"], data["labels"] = list(self.tasks), list(self.labels)
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> ModelInfo:
        values = {key: value for key, value in data.items() if key in {f.name for f in fields(cls)}}
        values["tasks"] = tuple(values.get("tasks", ()))
        values["labels"] = tuple(values.get("labels", ()))
        latent = values.get("latent")
        if latent is not None:
            if not isinstance(latent, Mapping) or set(latent) - {f.name for f in fields(LatentSpec)}:
                raise CheckpointError("the model's latent description is not valid.")
            latent = dict(latent)
            latent["codes"] = tuple(LatentCode(**code) for code in latent.get("codes", ()))
            values["latent"] = LatentSpec(**latent)
        return cls(**values)


def check_description_numbers(info: ModelInfo) -> None:
    """Refuse a description whose numbers no released model has (see ``MAX_MODEL_SIDE`` and friends).

    Raises:
        CheckpointError: a number out of its range, or a value of the wrong type; the message names it.
    """
    if not isinstance(info.latent, (LatentSpec, type(None))):
        raise CheckpointError("the model's latent description is not valid.")
    if info.native_size is not None:
        _check_whole("native_size", info.native_size, 1, MAX_MODEL_SIDE)
    _check_whole("channels", info.channels, 1, 4)
    if len(info.labels) > MAX_CLASSES or any(not isinstance(label, str) or len(label) > MAX_LABEL_CHARS
                                              for label in info.labels):
        raise CheckpointError(f"a model has at most {MAX_CLASSES} labels of at most {MAX_LABEL_CHARS} characters each.")
    if not isinstance(info.preprocessing, Mapping) or not isinstance(info.options, Mapping):
        raise CheckpointError("the model's preprocessing and options must be mappings.")
    conventions = info.preprocessing
    for key in SIDE_KEYS:
        if conventions.get(key) is not None:
            _check_whole(key, conventions[key], 1, MAX_MODEL_SIDE)
    if conventions.get("size_multiple") is not None:
        _check_whole("size_multiple", conventions["size_multiple"], 1, MAX_SIZE_MULTIPLE)
    for key in ("input_range", "output_range"):
        value = conventions.get(key)
        if value is not None and not (isinstance(value, (list, tuple)) and len(value) == 2
                                      and all(_finite(v, MAX_OPTION_VALUE) for v in value) and value[0] < value[1]):
            raise CheckpointError(f"{key} must be two increasing numbers, not {_shown(value)}.")
    if conventions.get("output_scale") is not None and not (_finite(conventions["output_scale"], MAX_OPTION_VALUE)
                                                             and conventions["output_scale"] > 0):
        raise CheckpointError(f"output_scale must be a positive number, not {_shown(conventions['output_scale'])}.")
    for key, value in info.options.items():
        if key.endswith("_side"):
            _check_whole(key, value, 1, MAX_MODEL_SIDE)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and not _finite(value, MAX_OPTION_VALUE):
            raise CheckpointError(f"option {_shown(key)} must be a number within ±{MAX_OPTION_VALUE:g}, not {_shown(value)}.")


def _finite(value: Any, bound: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and abs(value) <= bound


def _check_whole(name: str, value: Any, low: int, high: int) -> None:
    whole = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value) and value.is_integer())
    if isinstance(value, bool) or not whole or not low <= value <= high:
        raise CheckpointError(f"{name} must be a whole number from {low} to {high}, not {_shown(value)}: "
                              "no supported model has that. The file's description may be damaged or forged.")


def _shown(value: Any) -> str:
    """A value for a message, cut short (a description read from a file may hold anything)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class ArchitectureSpec:
    """What holds for every checkpoint of an architecture family.

    Attributes:
        arch: the id, equal to the module's name.
        title: a short human name ("pix2pix U-Net").
        tasks: the tasks it serves (empty: training only).
        weights: "torch" for families loaded from PyTorch/safetensors state dicts,
            "onnx" for families that exist only as ONNX files.
        container: False when one file holds one network (named by the file's role: "G", "G_A"...);
            True when one model is several networks loaded together, named by ``networks``.
        networks: the networks a loaded model exposes (for a container), or the file roles it takes.
        file_names: checkpoint file names (glob patterns) this family's tools write, used to pick
            the checkpoint out of a folder.
        folder_layouts: role -> file-name patterns for folders holding several files of one model.
        training_kind: the ``ganstudio.train`` kind that trains it (None: not trainable here).
        exports_onnx: whether its networks export to ONNX (height and width stay free unless the
            model has a ``fixed_size``).
        takes_init_kwargs: its ``infer_config`` also takes ``init_kwargs=``, the constructor arguments a
            network pickle stores beside the weights (NVlabs), which say more than the shapes do.
    """

    arch: str
    title: str
    tasks: tuple[str, ...]
    weights: Literal["torch", "onnx"] = "torch"
    container: bool = False
    networks: tuple[str, ...] = ("G",)
    file_names: tuple[str, ...] = ()
    folder_layouts: tuple[Mapping[str, tuple[str, ...]], ...] = ()
    training_kind: str | None = None
    exports_onnx: bool = True
    takes_init_kwargs: bool = False


@runtime_checkable
class ArchitectureModule(Protocol):
    """What every module in ``ARCHITECTURES`` provides (checked by the tests)."""

    SPEC: ArchitectureSpec

    def describe(self, config: Mapping) -> ModelInfo:
        """The ModelInfo of one configuration (a dict of the module's ``Config`` fields)."""


@runtime_checkable
class TorchArchitecture(ArchitectureModule, Protocol):
    """A family whose weights are PyTorch state dicts (``SPEC.weights == "torch"``)."""

    Config: type

    def matches(self, state_dict: Mapping) -> bool: ...

    def normalize_keys(self, state_dict: Mapping) -> dict: ...

    def infer_config(self, state_dict: Mapping) -> Any: ...

    def build(self, config: Any) -> Any: ...

    def inference_networks(self, module: Any, role: str = "G") -> dict: ...

    def example_inputs(self, config: Any, network: str = "G", *, batch: int = 1, size: int | None = None) -> dict: ...

    def init_weights(self, module: Any) -> None: ...


def config_from(config_class: type, values: Any) -> Any:
    """A ``Config`` from a dict of its fields (unknown keys are ignored), or the Config itself."""
    if isinstance(values, config_class):
        return values
    known = {f.name for f in fields(config_class)}
    return config_class(**{key: value for key, value in dict(values or {}).items() if key in known})
