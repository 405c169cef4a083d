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
GATYS_SIDE = 512  # the side Gatys et al. and neural-style work at
# zlib level 1: a 1024 px PNG saves in a third of the default level's time, for files about a fifth larger
PNG_OPTIONS = {"compress_level": 1}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ganstudio",
        description="GAN Studio: generate, interpolate, translate, edit and stylize images with GANs, "
        "from the built-in models or official checkpoints.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_command(name: str, help_text: str, *, image_task: bool = True, model_required: bool = True
                    ) -> argparse.ArgumentParser:
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--json", action="store_true", help="print a machine-readable result")
        if image_task:
            command.add_argument("--model", required=model_required,
                                 help="registry name, checkpoint file or folder, or hf://owner/repo/file[@rev]")
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
    generate.add_argument("--class", dest="class_index", type=int, metavar="C",
                          help="class index for a conditional model (as the NVlabs scripts' --class)")
    generate.add_argument("--truncation", type=float, help="truncation threshold for latents (e.g. 1.5); off by default")
    generate.add_argument("--codes", help="latent codes of an InfoGAN model, NAME=VALUE,... (e.g. cat=3,c1=0.5); "
                          "codes not given are drawn from each seed")
    add_style_options(generate)
    generate.add_argument("--translate", type=parse_pair, metavar="X,Y",
                          help="StyleGAN3: move the image by X,Y (fractions of its size), as gen_images.py")
    generate.add_argument("--rotate", type=float, metavar="DEG", help="StyleGAN3: turn the image by DEG degrees")
    generate.add_argument("--output", required=True, help="a file for one image, or a folder (one PNG per seed)")

    style_mix = add_command("style-mix", "StyleGAN style mixing: the row seeds' images with some ws taken from the "
                            "column seeds' (NVlabs style_mixing.py; rosinality's inject_index)")
    style_mix.add_argument("--row-seeds", "--row-seed", type=parse_numbers, metavar="LIST",
                           help="seeds of the rows, e.g. 85,100,75 or 1-4")
    style_mix.add_argument("--col-seeds", "--col-seed", type=parse_numbers, metavar="LIST", help="seeds of the columns")
    style_mix.add_argument("--col-styles", type=parse_numbers, metavar="LIST",
                           help="the ws taken from the column seed, e.g. 0-6 (style_mixing.py's --styles)")
    style_mix.add_argument("--seed", type=int, help="rosinality style: the first latent's seed (a single row)")
    style_mix.add_argument("--mix-seed", type=int, help="rosinality style: the second latent's seed (a single column)")
    style_mix.add_argument("--inject-index", type=int, metavar="K",
                           help="rosinality style: the first K ws from --seed, the rest from --mix-seed")
    style_mix.add_argument("--label", help="class for a conditional model (index or name)")
    style_mix.add_argument("--class", dest="class_index", type=int, metavar="C", help="class index for a conditional model")
    add_style_options(style_mix)
    style_mix.add_argument("--output", required=True,
                           help="a PNG (the mixed image for one row and column, else the grid), or a folder "
                                "(ROW-COL.png for each pair and grid.png)")

    interpolate = add_command("interpolate", "walk the latent space between two seeds")
    interpolate.add_argument("--seeds", type=int, nargs=2, required=True, metavar=("A", "B"))
    interpolate.add_argument("--steps", type=int, default=8)
    interpolate.add_argument("--mode", choices=["lerp", "slerp"], default="slerp")
    interpolate.add_argument("--label", help="class for a conditional model")
    interpolate.add_argument("--codes", help="InfoGAN latent codes held all along, NAME=VALUE,...")
    interpolate.add_argument("--space", choices=["z", "w"], default="z",
                             help="StyleGAN: walk between the latents z (default) or the mapped ws")
    add_style_options(interpolate, cutoff=False)
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

    stylize = add_command("stylize", "paint an image in a style, with a network (--model) or by optimisation "
                          "(--method gatys)", model_required=False)
    stylize.add_argument("--method", choices=["network", "gatys"], default="network",
                         help="network: a style model (--model); gatys: optimise the pixels against VGG-19 "
                              "(Gatys et al.), minutes")
    stylize.add_argument("--content", required=True)
    stylize.add_argument("--style", help="style image (arbitrary-style models, gatys)")
    stylize.add_argument("--style-index", help="built-in style: its number or its name (multi-style models; "
                                               "`python -m ganstudio models --json` lists the names)")
    stylize.add_argument("--alpha", type=float, default=1.0, help="strength, 0..1")
    stylize.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    stylize.add_argument("--color-method", choices=["auto", "coral", "luminance"], default="auto",
                         help="with --preserve-color: coral recolours the style image first (AdaIN's test.py), "
                              "luminance keeps the result's brightness only (default: coral where a style image is used)")
    stylize.add_argument("--max-side", type=int,
                         help=f"cap on the longer side (default {images.DEFAULT_MAX_SIDE}; gatys: the side worked on, "
                              f"default {GATYS_SIDE})")
    stylize.add_argument("--output", required=True, help="gatys writes it again at every report, so it always holds "
                         "the latest image (also after Ctrl-C)")
    gatys = stylize.add_argument_group("gatys (--method gatys)")
    gatys.add_argument("--vgg", help="VGG-19 weights: torchvision's vgg19-dcbb9e9d.pth or AdaIN's vgg_normalised.pth "
                       "(default: the torch hub cache)")
    gatys.add_argument("--steps", type=int, default=300, help="VGG-19 forward and backward passes (default 300)")
    gatys.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs")
    gatys.add_argument("--init", choices=["content", "noise"], default="content", help="start from the content or noise")
    gatys.add_argument("--content-weight", type=float, default=1.0)
    gatys.add_argument("--style-weight", type=float, default=1e6)
    gatys.add_argument("--tv-weight", type=float, default=0.0, help="smoothness (total variation); 0 = off, as the paper")
    gatys.add_argument("--style-layers", help="comma-separated VGG-19 layers (default relu1_1,relu2_1,relu3_1,relu4_1,"
                       "relu5_1)")
    gatys.add_argument("--content-layer", default="relu4_2")
    gatys.add_argument("--pooling", choices=["max", "avg"], default="max", help="avg as Gatys et al.")
    gatys.add_argument("--lr", type=float, help="step size (default: 1 for L-BFGS, 10/255 for Adam)")
    gatys.add_argument("--seed", type=int, help="seed of a noise start (random when omitted)")
    gatys.add_argument("--progress-every", type=int, default=10, help="report and write the image every N steps")

    info = add_command("info", "show how an image made by GAN Studio was made (its recipe)", image_task=False)
    info.add_argument("image", help="a PNG saved by the app or the command line")

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
    finetune.add_argument("--data-b", nargs="+", default=[], help="CycleGAN domain B, pix2pix targets matched by file "
                          "name, or the one style image of a fast style network (content photos in --data)")
    finetune.add_argument("--vgg", help="fast_style: the VGG-19 file of the perceptual loss (default: the user "
                          "folder's vgg19/, then the torch hub cache)")
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


def add_style_options(command: argparse.ArgumentParser, *, cutoff: bool = True) -> None:
    """The StyleGAN options, named as the NVlabs scripts name them."""
    command.add_argument("--truncation-psi", type=float, default=1.0, metavar="P",
                         help="StyleGAN: move w towards the average w (1 = off, 0 = the average image)")
    if cutoff:
        command.add_argument("--truncation-cutoff", type=int, metavar="K", help="StyleGAN: truncate only the first K ws")
    command.add_argument("--noise-mode", choices=["const", "random", "none"], default="const",
                         help="StyleGAN2: the stored noise (default), fresh noise, or none")


def parse_pair(text: str) -> tuple[float, float]:
    """``"0.25,-0.1"`` -> ``(0.25, -0.1)`` (gen_images.py's ``--translate``)."""
    parts = text.split(",")
    try:
        if len(parts) == 2:
            return float(parts[0]), float(parts[1])
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"write two numbers separated by a comma, e.g. 0.25,-0.1 (not {text!r})")


def parse_numbers(text: str) -> list[int]:
    """``"1,3-5"`` -> ``[1, 3, 4, 5]`` (the NVlabs scripts' ``num_range``)."""
    from ganstudio.tasks.style_mix import parse_number_list

    try:
        return parse_number_list(text)
    except GanStudioError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


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


def _save_images(pictures: list, seeds: list[int], output: str, model_name: str) -> list[str]:
    """One image to a file; several into a folder, one PNG per seed named ``<model>-seed<seed>.png``."""
    target = Path(output)
    if len(pictures) == 1 and target.suffix:
        return [_save_one(pictures[0], output)]
    target.mkdir(parents=True, exist_ok=True)
    return [_save_one(picture, str(target / f"{model_name}-seed{seed}.png")) for picture, seed in zip(pictures, seeds)]


def _save_one(picture, output: str) -> str:
    """A PNG keeps the recipe of how it was made (``python -m ganstudio info`` reads it); other formats do not."""
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".png":
        images.save_png(picture, target, **PNG_OPTIONS)
    else:
        picture.save(target)
    return str(target)


def run_generate(args: argparse.Namespace) -> dict:
    from ganstudio.tasks.generate import generate

    codes = parse_codes(args.codes) if args.codes else None
    model = _load(args)
    result = generate(model, seed=args.seed, num_images=args.count, label=_label(args), truncation=args.truncation,
                      codes=codes, **_style_options(args))
    paths = _save_images(result.images, result.seeds, args.output, model.name)
    return {**_model_info(model), "outputs": paths, "seeds": result.seeds, "label": result.label, "codes": result.codes,
            "message": f"wrote {len(paths)} image(s) (seeds {result.seeds[0]}..{result.seeds[-1]}) to {args.output}"}

def parse_codes(text: str) -> dict[str, float]:
    """``"cat=3,c1=0.5"`` -> ``{"cat": 3.0, "c1": 0.5}``.

    Raises:
        GanStudioError: a part is not NAME=NUMBER.
    """
    codes: dict[str, float] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            codes[name.strip()] = float(value)
        except ValueError:
            raise GanStudioError(f"bad code {part!r}: write NAME=NUMBER, separated by commas (e.g. cat=3,c1=0.5).") from None
    return codes


def _label(args: argparse.Namespace) -> str | int | None:
    """``--label`` or ``--class`` (not both)."""
    if args.class_index is not None and args.label is not None:
        raise GanStudioError("give either --label or --class, not both.")
    return args.class_index if args.class_index is not None else args.label


def _style_options(args: argparse.Namespace) -> dict:
    """The StyleGAN options that were given, as task keywords; a model without them refuses any that is set."""
    options = {"truncation_psi": args.truncation_psi, "noise_mode": args.noise_mode}
    for name in ("truncation_cutoff", "translate", "rotate"):
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    return options


def run_style_mix(args: argparse.Namespace) -> dict:
    from ganstudio.tasks.style_mix import style_mix

    rows, cols = args.row_seeds, args.col_seeds
    if args.seed is not None or args.mix_seed is not None:
        if rows or cols:
            raise GanStudioError("give --row-seeds/--col-seeds (NVlabs) or --seed/--mix-seed (rosinality), not both.")
        if args.seed is None or args.mix_seed is None:
            raise GanStudioError("--seed and --mix-seed go together: the first and the second latent's seed.")
        rows, cols = [args.seed], [args.mix_seed]
    if not rows or not cols:
        raise GanStudioError("style-mix needs --row-seeds and --col-seeds (or --seed and --mix-seed).")
    model = _load(args)
    if (args.col_styles is None) == (args.inject_index is None):
        raise GanStudioError("give either --col-styles (the ws taken from the column seed) or --inject-index K "
                             "(the ws from K on taken from --mix-seed).")
    if args.inject_index is not None:
        num_ws = model.info.options.get("num_ws", 0)
        if not 1 <= args.inject_index < max(num_ws, 1):
            raise GanStudioError(f"--inject-index must be 1 to {num_ws - 1} (this model takes {num_ws} ws).")
        col_styles = list(range(args.inject_index, num_ws))
    else:
        col_styles = args.col_styles
    options = _style_options(args)
    result = style_mix(model, row_seeds=rows, col_seeds=cols, col_styles=col_styles, label=_label(args), **options)
    target = Path(args.output)
    if target.suffix:
        picture = result.images[0][0] if len(rows) == len(cols) == 1 else result.grid
        paths = [_save_one(picture, args.output)]
    else:
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        for row, row_images in zip(rows, result.images):
            for col, picture in zip(cols, row_images):
                picture.save(target / f"{row}-{col}.png", **PNG_OPTIONS)
                paths.append(str(target / f"{row}-{col}.png"))
        result.grid.save(target / "grid.png", **PNG_OPTIONS)
        paths.append(str(target / "grid.png"))
    return {**_model_info(model), "outputs": paths, "row_seeds": rows, "col_seeds": cols, "col_styles": col_styles,
            "message": f"wrote {len(paths)} image(s) to {args.output}"}


def run_interpolate(args: argparse.Namespace) -> dict:
    from ganstudio.tasks.interpolate import interpolate

    codes = parse_codes(args.codes) if args.codes else None
    model = _load(args)
    result = interpolate(model, seeds=tuple(args.seeds), steps=args.steps, mode=args.mode, label=args.label, codes=codes,
                         space=args.space, **_style_options(args))
    target = Path(args.output)
    if target.suffix.lower() == ".gif":
        paths = [str(images.save_animation(result.frames, target))]
    else:
        target.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, frame in enumerate(result.frames):
            paths.append(_save_one(frame, str(target / f"{model.name}-frame{index:03d}.png")))
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

    if args.method == "gatys":
        return run_gatys(args)
    if not args.model:
        raise GanStudioError("stylize needs --model (a style network), or --method gatys to optimise against VGG-19.")
    content = images.open_image(args.content)
    style = images.open_image(args.style) if args.style else None
    model = _load(args)
    output = stylize(model, content, style=style, style_index=args.style_index, alpha=args.alpha,
                     preserve_color=args.preserve_color, color_method=args.color_method,
                     max_side=args.max_side or images.DEFAULT_MAX_SIDE)
    path = _save_one(output, args.output)
    return {**_model_info(model), "outputs": [path], "size": list(output.size), "message": f"wrote {path}"}


def run_info(args: argparse.Namespace) -> dict:
    recipe = images.read_recipe(args.image)
    if recipe is None:
        raise GanStudioError(f"'{Path(args.image).name}' carries no GAN Studio recipe (it was not saved by this app, "
                             "or was saved as another format or re-encoded).")
    settings = recipe.get("settings", {})
    lines = [images.describe_recipe(recipe)]
    if recipe.get("task") == "generate" and "seed" in settings:
        again = f"python -m ganstudio generate --model {recipe.get('model')} --seed {settings['seed']}"
        if settings.get("label") is not None:
            again += f" --label {settings['label']}"
        if settings.get("truncation") is not None:
            again += f" --truncation {settings['truncation']}"
        lines.append(f"make it again: {again} --output again.png")
    return {"recipe": recipe, "message": "\n".join(lines)}


def run_gatys(args: argparse.Namespace) -> dict:
    """Style transfer by optimisation, run by the same background queue as the app's Optimise mode.

    The output file is written at every report, so it always holds the latest image; Ctrl-C stops
    the run after its current step and keeps that image.
    """
    from ganstudio.registry import default_user_dir
    from ganstudio.tasks.background import BackgroundRuns, RunState
    from ganstudio.tasks.optimize_style import submit_optimization

    if args.model:
        raise GanStudioError("--method gatys optimises against VGG-19 and takes no --model; pass --vgg PATH instead.")
    if not args.style:
        raise GanStudioError("--method gatys needs --style (the picture whose style to take).")
    options = {"steps": args.steps, "optimizer": args.optimizer, "init": args.init, "content_weight": args.content_weight,
               "style_weight": args.style_weight, "tv_weight": args.tv_weight, "content_layer": args.content_layer,
               "learning_rate": args.lr, "seed": args.seed, "progress_every": args.progress_every,
               "max_side": args.max_side or GATYS_SIDE}
    if args.style_layers:
        options["style_layers"] = [layer.strip() for layer in args.style_layers.split(",") if layer.strip()]
    runs = BackgroundRuns()
    status = submit_optimization(runs, images.open_image(args.content), images.open_image(args.style), vgg=args.vgg,
                                 search=[default_user_dir() / "vgg19"], pooling=args.pooling, device=args.device,
                                 **options)
    shown, path = -1, None
    try:
        while status.active:
            time.sleep(0.1)
            status = runs.status(status.id)
            report = status.latest
            if report is not None and report.step != shown:
                shown, path = report.step, _save_one(report.image, args.output)
                if not args.json:
                    losses = ", ".join(f"{name} {value:.4g}" for name, value in report.losses.items())
                    print(f"step {report.step}/{report.steps} ({report.seconds:.1f} s): {losses}", file=sys.stderr)
    except KeyboardInterrupt:
        runs.cancel(status.id)
        status = runs.wait(status.id, timeout=600)
        if status.latest is not None:
            path = _save_one(status.latest.image, args.output)
    if status.state == RunState.FAILED:
        raise GanStudioError(status.message)
    report = status.latest
    if report is None:
        raise GanStudioError("stopped before the first step: no image was written.")
    stopped = status.state == RunState.CANCELLED
    return {"method": "gatys", "outputs": [path], "size": list(report.image.size), "steps": report.step,
            "losses": report.losses, "seed": report.seed, "stopped": stopped,
            "message": f"{'stopped at' if stopped else 'finished'} step {report.step}/{report.steps}; wrote {path}"}


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
                             diff_augment=not args.no_diff_augment, ema_decay=args.ema, seed=args.seed, vgg=args.vgg)
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
    "style-mix": run_style_mix,
    "interpolate": run_interpolate,
    "translate": run_translate,
    "edit": run_edit,
    "stylize": run_stylize,
    "info": run_info,
    "models": run_models,
    "import": run_import,
    "extract": run_extract,
    "remove": run_remove,
    "export": run_export,
    "finetune": run_finetune,
    "jobs": run_jobs,
}
