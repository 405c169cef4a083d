"""Plan a fine-tune: from a base model (or a fresh architecture) and a few options to a FinetuneConfig.

The CLI's ``finetune`` command and the Fine-tune tab both call ``plan_finetune`` and hand the
result to the job queue, so they train exactly the same thing for the same choices.
"""

from __future__ import annotations

from dataclasses import dataclass

from ganstudio.errors import GanStudioError, LimitError
from ganstudio.models.spec import ModelInfo
from ganstudio.policy import Policy
from ganstudio.registry import Registry, entry_info, resolve_source
from ganstudio.tasks.common import check_real, check_whole
from ganstudio.train.config import FinetuneConfig
from ganstudio.train.kinds import KINDS, check_kind, kind_of_arch, trainer_class

DEFAULT_STEPS = 300


@dataclass(frozen=True)
class FinetunePlan:
    """What will be trained and how the uploaded pictures must be prepared for it."""

    config: FinetuneConfig
    channels: int
    class_names: tuple[str, ...]
    base: str | None

    @property
    def kind(self) -> str:
        return self.config.kind


def recipe(kind: str) -> FinetuneConfig:
    """The training recipe of the built-in model of this kind (losses, widths, optimiser), else the kind's own."""
    from ganstudio.train.bundle import MODELS

    for model in MODELS.values():
        if model.config.kind == kind:
            return model.config
    own = trainer_class(check_kind(kind)).recipe
    if own is None:
        raise GanStudioError(f"no training recipe for {kind!r}; kinds: {', '.join(KINDS)}.")
    return own


def plan_finetune(registry: Registry, *, base: str | None = None, kind: str | None = None, steps: int = DEFAULT_STEPS,
                  batch_size: int | None = None, lr: float | None = None, image_size: int | None = None,
                  freeze_d_layers: int = 0, diff_augment: bool = True, ema_decay: float | None = None,
                  seed: int = 0, vgg: str | None = None) -> FinetunePlan:
    """A FinetuneConfig that starts from ``base`` (a registry name) or, with ``kind``, from scratch.

    Unset options take the base model's training recipe (the one that trained the built-in model
    of that kind); checkpoints every tenth of the run, samples every twentieth. With
    ``freeze_d_layers`` the base model's own discriminator (when it has one) is loaded and its first
    layers frozen; otherwise the discriminator starts fresh. A kind that trains against VGG-19 (fast
    style) gets the file ``vgg`` names, else the one found in the user folder's ``vgg19/`` or the torch
    hub cache (``feature_network.find_vgg19``). The numbers are checked against the registry's policy
    (``max_steps``, ``max_batch_size``, ``max_image_size``) whoever calls.

    Raises:
        GanStudioError: no base and no kind, an ONNX-only base, an architecture that cannot be trained, or a
            number that is not a finite one in its range.
        LimitError: more steps, a larger batch or larger images than this studio trains.
        ModelNotFoundError: the kind needs VGG-19 and there is none (the message says where to put which file).
    """
    from ganstudio.train.bundle import MODELS

    policy = registry.policy
    steps = _within_limit("steps", steps, policy.max_steps, policy)
    batch_size = None if batch_size is None else _within_limit("batch size", batch_size, policy.max_batch_size, policy)
    image_size = None if image_size is None else _within_limit("image size", image_size, policy.max_image_size, policy)
    lr = None if lr is None else check_real("learning rate", lr, 1e-8, 1.0, "Leave it empty for the recipe's own.")
    ema_decay = None if ema_decay is None else check_real("EMA decay", ema_decay, 0.0, 0.99999, "0 turns it off.")
    freeze_d_layers = check_whole("frozen discriminator layers", freeze_d_layers, 0, 16)
    seed = check_whole("seed", seed, 0, 2**32 - 1)

    if base:
        entry = registry.get(base)
        if entry.format == "onnx":
            raise GanStudioError(f"'{base}' exists only as ONNX; fine-tuning needs its PyTorch weights.")
        kind = kind_of_arch(entry.arch)
        if kind is None:
            raise GanStudioError(f"'{base}' is a {entry.arch} model, which this app cannot train; "
                                 f"trainable kinds: {', '.join(KINDS)}.")
        template = MODELS[entry.name].config if entry.name in MODELS else recipe(kind)
        arch = dict(entry.config) or dict(template.arch)
        init_from = {role: str(resolve_source(source, entry.base_dir)) for role, source in entry.files.items()}
        discriminators = {name: str(resolve_source(source, entry.base_dir)) for name, source in entry.training_files.items()}
        # the discriminators' widths travel with them (a model trained from scratch may differ from the recipe)
        disc = _discriminator_config(list(discriminators.values())) or dict(template.disc)
        if freeze_d_layers:
            # FreezeD (Mo et al. 2020) freezes the first layers of the base model's trained discriminator.
            # Without it, a fresh discriminator: on 40 sevens it gave more sevens and a lower FD (README).
            init_from.update(discriminators)
        class_names = tuple(entry.labels)
        size = image_size or entry_info(entry, arch).native_size or template.image_size
    elif kind:
        check_kind(kind)
        template = recipe(kind)
        arch, init_from, class_names, disc = dict(template.arch), {}, (), dict(template.disc)
        size = image_size or template.image_size
    else:
        raise GanStudioError("choose a base model to fine-tune, or a kind of model to train from scratch.")
    info = trainer_class(kind).arch.describe(arch)
    if int(size) > policy.max_image_size:
        raise LimitError(f"this {kind} model trains at {int(size)} px; this studio trains at most {policy.max_image_size} px. "
                         "Choose a base that draws smaller images, or a new model with a smaller image size.")
    _check_image_size(kind, info, int(size))
    config = template.with_updates(
        arch=arch, disc=disc, init_from=init_from, steps=int(steps), image_size=int(size), seed=int(seed),
        batch_size=min(int(batch_size or template.batch_size), policy.max_batch_size), lr=float(lr or template.lr),
        lr_decay_start=0, freeze_d_layers=int(freeze_d_layers), diff_augment=bool(diff_augment),
        ema_decay=template.ema_decay if ema_decay is None else float(ema_decay),
        checkpoint_every=max(1, int(steps) // 10), sample_every=max(1, int(steps) // 20),
    )
    if trainer_class(kind).feature_network:
        from ganstudio.feature_network import find_vgg19

        config = config.with_updates(options={**config.options,
                                              "vgg": str(find_vgg19(vgg, folders=[registry.user_dir / "vgg19"]))})
    return FinetunePlan(config=config, channels=info.channels, class_names=class_names, base=base)


def _within_limit(name: str, value: float, highest: int, policy: Policy) -> int:
    """A whole number from 1 to this studio's ``highest`` (a LimitError names the limit)."""
    number = check_whole(name, value, 1, 10**12)
    if number > highest:
        where = "this public studio" if policy.public else "this studio"
        raise LimitError(f"{name} {number} is over {where}'s limit of {highest} for one fine-tuning job.")
    return number


def _discriminator_config(paths: list[str]) -> dict | None:
    """The ``disc`` options recorded in exported discriminators (None when there are none).

    Raises:
        GanStudioError: the recorded options are not small whole numbers and flags (a file's metadata sizes
            the network that is built from it).
    """
    import json

    from ganstudio.checkpoints import read_safetensors_metadata

    for path in paths:
        try:
            recorded = json.loads(read_safetensors_metadata(path).get("config", "{}"))
        except ValueError:
            recorded = {}
        disc = recorded.get("disc") if isinstance(recorded, dict) else None
        if isinstance(disc, dict):
            if not all(isinstance(key, str) and (isinstance(value, (bool, str)) and len(str(value)) <= 40
                                                 or isinstance(value, int) and 0 <= value <= 4096)
                       for key, value in disc.items()):
                raise GanStudioError(f"the discriminator's recorded options are not valid ({str(disc)[:80]}); "
                                     "fine-tune without FreezeD, or from a fresh model.")
            return dict(disc)
    return None


def _check_image_size(kind: str, info: ModelInfo, size: int) -> None:
    """Refuse, before anything starts, an image size the networks cannot take."""
    fixed, multiple = info.preprocessing.get("fixed_size"), info.preprocessing.get("size_multiple") or 1
    if fixed:
        if size != fixed:
            raise GanStudioError(f"this {kind} model works at {fixed}x{fixed} px: use image size {fixed}.")
    elif size % multiple or size < multiple:
        raise GanStudioError(f"image size must be a multiple of {multiple} for this {kind} model, not {size}.")
