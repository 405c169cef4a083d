"""Command line interface over the same task functions as the UI.

It never imports Gradio, and imports torch only when the model is a PyTorch model.
Errors print one line and exit with status 2 (``{"error": ...}`` with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ganstudio import images
from ganstudio.errors import GanStudioError
from ganstudio.runtime import PRECISIONS
from ganstudio.train.kinds import KINDS

EXIT_USER_ERROR = 2
# zlib level 1: a 1024 px PNG saves in a third of the default level's time, for files about a fifth larger
PNG_OPTIONS = {"compress_level": 1}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ganstudio",
        description="GAN Studio: generate, interpolate, translate, edit and stylize images with GANs, "
        "from the built-in models or official checkpoints.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_command(name: str, help_text: str, *, image_task: bool = True) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--json", action="store_true", help="print a machine-readable result")
        if image_task:
            command.add_argument("--model", required=True, help="registry name, checkpoint file or folder, or hf://owner/repo/file[@rev]")
            command.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto", help="runtime (default: the model's own format)")
            command.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto", help="default: CUDA when present, else CPU")
            command.add_argument("--precision", choices=PRECISIONS, default="fp32",
                                 help="fp32 (default: the official pixels); bf16 (PyTorch, on a GPU or a CPU with bf16 "
                                 "instructions); fp16 (GPU); int8 (ONNX Runtime on the CPU: quantised on first use, "
                                 "then cached; prints what it changes)")
        return command

    generate = add_command("generate", "sample images from a generator")
    generate.add_argument("--seed", type=int, help="first seed (image i uses seed+i); random when omitted")
    generate.add_argument("--count", type=int, default=1, help="number of images")
    generate.add_argument("--label", help="class for a conditional model (index or name)")
    generate.add_argument("--truncation", type=float, help="truncation threshold for latents (e.g. 1.5); off by default")
    generate.add_argument("--output", required=True, help="a file for one image, or a folder (one PNG per seed)")

    interpolate = add_command("interpolate", "walk the latent space between two seeds")
    interpolate.add_argument("--seeds", type=int, nargs=2, required=True, metavar=("A", "B"))
    interpolate.add_argument("--steps", type=int, default=8)
    interpolate.add_argument("--mode", choices=["lerp", "slerp"], default="slerp")
    interpolate.add_argument("--label", help="class for a conditional model")
    interpolate.add_argument("--output", required=True, help="an animated .gif, or a folder of frames")

    translate = add_command("translate", "translate an image with a pix2pix or CycleGAN model")
    translate.add_argument("--input", required=True)
    translate.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB")
    translate.add_argument("--max-side", type=int, default=images.DEFAULT_MAX_SIDE, help="cap on the longer side before processing")
    translate.add_argument("--output", required=True)

    edit = add_command("edit", "edit attributes (StarGAN) or move to a domain with a reference or a seed (StarGAN v2)")
    edit.add_argument("--input", required=True)
    target = edit.add_mutually_exclusive_group(required=True)
    target.add_argument("--attrs", help="StarGAN v1 target attributes: NAME=0|1,... (names or indices 0..c_dim-1)")
    target.add_argument("--domain", help="StarGAN v2 target domain (index or name)")
    edit.add_argument("--reference", help="StarGAN v2: take the style of this image")
    edit.add_argument("--seed", type=int, help="StarGAN v2: take a random style from this seed")
    edit.add_argument("--max-side", type=int, default=images.DEFAULT_MAX_SIDE)
    edit.add_argument("--output", required=True)

    stylize = add_command("stylize", "paint an image in a style")
    stylize.add_argument("--content", required=True)
    stylize.add_argument("--style", help="style image (arbitrary-style models)")
    stylize.add_argument("--style-index", type=int, help="built-in style number (multi-style models)")
    stylize.add_argument("--alpha", type=float, default=1.0, help="strength, 0..1")
    stylize.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    stylize.add_argument("--max-side", type=int, default=images.DEFAULT_MAX_SIDE)
    stylize.add_argument("--output", required=True)

    add_command("models", "list the models in the registry", image_task=False)

    import_command = add_command("import", "register a checkpoint (file, folder or hf:// address) as a user model", image_task=False)
    import_command.add_argument("path")
    import_command.add_argument("--name", help="registry name (default: from the file name)")
    import_command.add_argument("--overwrite", action="store_true", help="replace a user model of the same name")

    extract = add_command("extract", "save one network of a training checkpoint that holds several as a file of its own",
                          image_task=False)
    extract.add_argument("path")
    extract.add_argument("--key", required=True, help="where the network sits, e.g. g_ema or state_dict.generator "
                         "(opening the checkpoint lists them)")
    extract.add_argument("--output", required=True, help="the .safetensors file to write")

    remove = add_command("remove", "delete an imported or fine-tuned model (built-in models stay)", image_task=False)
    remove.add_argument("name")

    finetune = add_command("finetune", "train a model on your own pictures (in this terminal; the app runs it in the background)",
                           image_task=False)
    finetune.add_argument("--base", help="model to start from (registry name); omit with --kind to train from scratch")
    finetune.add_argument("--kind", choices=KINDS,
                          help="architecture to train from scratch")
    finetune.add_argument("--data", nargs="+", help="images, folders or zips (a folder per class for conditional models; "
                          "side-by-side pairs or inputs for pix2pix; domain A for CycleGAN)")
    finetune.add_argument("--data-b", nargs="+", default=[], help="CycleGAN domain B, or pix2pix targets matched by file name")
    finetune.add_argument("--name", help="registry name of the result")
    finetune.add_argument("--steps", type=int, default=300)
    finetune.add_argument("--batch-size", type=int)
    finetune.add_argument("--lr", type=float)
    finetune.add_argument("--image-size", type=int)
    finetune.add_argument("--freeze-d", type=int, default=0,
                          help="FreezeD: start from the base model's trained discriminator and freeze its first N layers "
                               "(default 0: a fresh discriminator)")
    finetune.add_argument("--no-diff-augment", action="store_true", help="turn off differentiable augmentation")
    finetune.add_argument("--ema", type=float, help="EMA decay of the generator weights (0 = off)")
    finetune.add_argument("--seed", type=int, default=0)
    finetune.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                          help="where to train (default: CUDA when present, else CPU)")
    finetune.add_argument("--overwrite", action="store_true", help="replace a user model of the same name")
    finetune.add_argument("--resume", metavar="JOB_ID", help="continue an interrupted or cancelled job from its checkpoint")

    add_command("jobs", "list fine-tuning jobs and where they stand", image_task=False)

    export = add_command("export", "export a model to ONNX (one file per network, plus model.json)", image_task=False)
    export.add_argument("--model", required=True)
    export.add_argument("--format", choices=["onnx"], default="onnx")
    export.add_argument("--output", help="folder (default: the user folder's onnx/<name>)")
    export.add_argument("--register", action="store_true", help="also register the export as a user model '<name>-onnx'")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    try:
        result = COMMANDS[args.command](args)
    except GanStudioError as error:
        _fail(args, str(error))
        return EXIT_USER_ERROR
    except (OSError, ValueError) as error:  # e.g. an output folder that cannot be written
        _fail(args, f"{type(error).__name__}: {error}")
        return EXIT_USER_ERROR
    if args.json:
        result["seconds"] = round(time.perf_counter() - started, 3)
        print(json.dumps(result, indent=2))
    elif result.get("message"):
        print(result["message"])
    return 0


def _fail(args: argparse.Namespace, message: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps({"error": message}))
    else:
        print(f"error: {message}", file=sys.stderr)


def _registry():
    from ganstudio.registry import Registry

    return Registry()


def _load(args: argparse.Namespace):
    from ganstudio.serving import int8_fidelity, load_model
    from ganstudio.tasks.calibrate import TaskCalibration

    model = load_model(_registry(), args.model, backend=args.backend, device=args.device, precision=args.precision,
                       calibration=TaskCalibration())
    fidelity = int8_fidelity(model) if model.precision == "int8" else None
    if fidelity is not None and fidelity.visible and not args.json:
        print(f"note: int8 changes this model's pictures visibly ({fidelity.describe()}, measured on held-out "
              "pictures); --precision fp32 gives the official pixels.", file=sys.stderr)
    return model


def _model_info(model) -> dict:
    from ganstudio.serving import int8_fidelity

    info = {"model": model.name, "arch": model.arch, "backend": model.backend, "device": model.device,
            "precision": model.precision}
    fidelity = int8_fidelity(model) if model.precision == "int8" else None
    if fidelity is not None:
        info["fidelity"] = {**fidelity.to_json(), "visible": fidelity.visible}
    return info


def _save_images(pictures: list, seeds: list[int], output: str) -> list[str]:
    """One image to a file; several into a folder, one PNG per seed."""
    target = Path(output)
    if len(pictures) == 1 and target.suffix:
        target.parent.mkdir(parents=True, exist_ok=True)
        pictures[0].save(target, **_save_options(target))
        return [str(target)]
    target.mkdir(parents=True, exist_ok=True)
    paths = []
    for picture, seed in zip(pictures, seeds):
        path = target / f"seed{seed}.png"
        picture.save(path, **PNG_OPTIONS)
        paths.append(str(path))
    return paths


def _save_options(path: Path) -> dict:
    return PNG_OPTIONS if path.suffix.lower() == ".png" else {}


def _save_one(picture, output: str) -> str:
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    picture.save(target, **_save_options(target))
    return str(target)


def run_generate(args: argparse.Namespace) -> dict:
    from ganstudio.tasks.generate import generate

    model = _load(args)
    result = generate(model, seed=args.seed, num_images=args.count, label=args.label, truncation=args.truncation)
    paths = _save_images(result.images, result.seeds, args.output)
    return {**_model_info(model), "outputs": paths, "seeds": result.seeds, "label": result.label,
            "message": f"wrote {len(paths)} image(s) (seeds {result.seeds[0]}..{result.seeds[-1]}) to {args.output}"}


def run_interpolate(args: argparse.Namespace) -> dict:
    from ganstudio.tasks.interpolate import interpolate

    model = _load(args)
    result = interpolate(model, seeds=tuple(args.seeds), steps=args.steps, mode=args.mode, label=args.label)
    target = Path(args.output)
    if target.suffix.lower() == ".gif":
        paths = [str(images.save_animation(result.frames, target))]
    else:
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, frame in enumerate(result.frames):
            frame.save(target / f"frame{index:03d}.png", **PNG_OPTIONS)
            paths.append(str(target / f"frame{index:03d}.png"))
    return {**_model_info(model), "outputs": paths, "seeds": list(result.seeds), "steps": args.steps, "mode": args.mode,
            "message": f"wrote {args.steps} frames ({args.mode}) to {args.output}"}


def run_translate(args: argparse.Namespace) -> dict:
    from ganstudio.tasks.translate import translate

    image = images.open_image(args.input)
    model = _load(args)
    output = translate(model, image, direction=args.direction, max_side=args.max_side)
    path = _save_one(output, args.output)
    return {**_model_info(model), "outputs": [path], "direction": args.direction, "size": list(output.size),
            "message": f"wrote {path}"}


def parse_attributes(text: str) -> dict[str, float]:
    """``"Black_Hair=1,Male=0"`` -> ``{"Black_Hair": 1.0, "Male": 0.0}``.

    Raises:
        GanStudioError: a part is not NAME=VALUE.
    """
    attributes: dict[str, float] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            attributes[name.strip()] = float(value) if sep else 1.0
        except ValueError:
            raise GanStudioError(f"bad attribute {part!r}: write NAME=0 or NAME=1, separated by commas.") from None
    return attributes


def run_edit(args: argparse.Namespace) -> dict:
    from ganstudio.tasks.edit import edit_attributes, edit_domain

    image = images.open_image(args.input)
    model = _load(args)
    if args.attrs is not None:
        if args.reference or args.seed is not None:
            raise GanStudioError("--reference and --seed go with --domain (StarGAN v2), not with --attrs.")
        output = edit_attributes(model, image, attributes=parse_attributes(args.attrs), max_side=args.max_side)
        detail = {"attributes": parse_attributes(args.attrs)}
    else:
        if args.reference and args.seed is not None:
            raise GanStudioError("give either --reference or --seed, not both.")
        reference = images.open_image(args.reference) if args.reference else None
        edited = edit_domain(model, image, domain=args.domain, reference=reference, seed=args.seed)
        output = edited.image
        detail = {"domain": args.domain, "reference": args.reference, "seed": edited.seed}
    path = _save_one(output, args.output)
    return {**_model_info(model), **detail, "outputs": [path], "message": f"wrote {path}"}


def run_stylize(args: argparse.Namespace) -> dict:
    from ganstudio.tasks.stylize import stylize

    content = images.open_image(args.content)
    style = images.open_image(args.style) if args.style else None
    model = _load(args)
    output = stylize(model, content, style=style, style_index=args.style_index, alpha=args.alpha,
                     preserve_color=args.preserve_color, max_side=args.max_side)
    path = _save_one(output, args.output)
    return {**_model_info(model), "outputs": [path], "size": list(output.size), "message": f"wrote {path}"}


def run_models(args: argparse.Namespace) -> dict:
    registry = _registry()
    rows = [
        {"name": e.name, "tasks": list(e.tasks), "arch": e.arch, "format": e.format,
         "source": e.source, "description": e.description, "user": not _is_bundled(registry, e)}
        for e in registry.entries()
    ]
    width = max((len(row["name"]) for row in rows), default=4)
    lines = [f"{'name':<{width}}  {'tasks':<18} {'arch':<18} {'format':<11} source"]
    lines += [f"{r['name']:<{width}}  {','.join(r['tasks']):<18} {r['arch']:<18} {r['format']:<11} {r['source']}" for r in rows]
    return {"models": rows, "user_dir": str(registry.user_dir), "message": "\n".join(lines)}


def _is_bundled(registry, entry) -> bool:
    return Path(entry.base_dir).resolve() == registry.weights_dir.resolve()


def run_import(args: argparse.Namespace) -> dict:
    registry = _registry()
    entry = registry.import_model(args.path, name=args.name, overwrite=args.overwrite)
    return {"name": entry.name, "arch": entry.arch, "tasks": list(entry.tasks), "files": entry.files,
            "config": entry.config, "message": f"imported '{entry.name}' ({entry.arch}, {', '.join(entry.tasks)})"}


def run_extract(args: argparse.Namespace) -> dict:
    from ganstudio.checkpoints import extract_network

    found = extract_network(args.path, key=args.key, output=args.output)
    return {"key": found.key, "arch": found.arch, "output": args.output,
            "message": f"wrote the '{found.key}' network ({found.arch}) to {args.output}; open that file as a model"}


def run_remove(args: argparse.Namespace) -> dict:
    _registry().remove(args.name)
    return {"name": args.name, "message": f"removed '{args.name}' and its files"}


def run_export(args: argparse.Namespace) -> dict:
    from ganstudio.export import export_onnx

    registry = _registry()
    model = registry.load(args.model, backend="torch", device="cpu")
    target = Path(args.output) if args.output else registry.user_dir / "onnx" / model.name
    entry = export_onnx(model, target)
    if args.register:
        registry.register(entry.with_updates(
            base_dir="", files={role: str((target / path).resolve()) for role, path in entry.files.items()}))
    return {"name": entry.name, "folder": str(target), "files": entry.files, "metrics": entry.metrics,
            "message": f"exported {len(entry.files)} network(s) to {target} (parity {entry.metrics})"}


def run_finetune(args: argparse.Namespace) -> dict:
    from ganstudio.train.finetune import plan_finetune
    from ganstudio.train.jobs import JobManager, run_job
    from ganstudio.train.uploads import build_training_set

    registry = _registry()
    jobs = JobManager(registry)
    if args.resume:
        job = jobs.resume(args.resume)
    else:
        if not args.data or not args.name:
            raise GanStudioError("finetune needs --data and --name (or --resume JOB_ID).")
        plan = plan_finetune(registry, base=args.base, kind=args.kind, steps=args.steps, batch_size=args.batch_size,
                             lr=args.lr, image_size=args.image_size, freeze_d_layers=args.freeze_d,
                             diff_augment=not args.no_diff_augment, ema_decay=args.ema, seed=args.seed)
        data, report = build_training_set(plan.kind, files=args.data, files_b=args.data_b, size=plan.config.image_size,
                                          channels=plan.channels, class_names=plan.class_names)
        if not args.json:
            print(f"{report.summary()}; training {plan.kind} for {plan.config.steps} steps", file=sys.stderr)
        job = jobs.submit(name=args.name, config=plan.config, data=data, base=plan.base, data_report=report.to_json(),
                          overwrite=args.overwrite, device=args.device)
    run_job(jobs.root / job.id)
    status = jobs.finish(job.id)
    if status.state != "done":
        raise GanStudioError(f"job {job.id} {status.state}: {status.message}")
    return {"job": job.id, "state": status.state, "model": status.model, "steps": status.step,
            "message": f"job {job.id}: {status.message}"}


def run_jobs(args: argparse.Namespace) -> dict:
    from dataclasses import asdict

    from ganstudio.train.jobs import JobManager

    statuses = JobManager(_registry()).jobs()
    lines = [f"{status.id}  {status.describe()}" for status in statuses] or ["no fine-tuning jobs yet"]
    return {"jobs": [asdict(status) for status in statuses], "message": "\n".join(lines)}


COMMANDS = {
    "generate": run_generate,
    "interpolate": run_interpolate,
    "translate": run_translate,
    "edit": run_edit,
    "stylize": run_stylize,
    "models": run_models,
    "import": run_import,
    "extract": run_extract,
    "remove": run_remove,
    "export": run_export,
    "finetune": run_finetune,
    "jobs": run_jobs,
}
