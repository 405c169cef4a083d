"""The Style transfer tab's Optimise mode: Gatys et al.'s optimisation as a background run, watched by a timer.

Pressing Start queues a run in the app's ``BackgroundRuns`` (``tasks/background.py``) and returns at
once; a timer then reads the run's latest report every second (the image every few steps, and the
losses) until it ends. Cancel stops it after the current step and keeps the last image. The tab
module (``ui/stylize.py``) owns the content and style inputs and the result; this module adds the
mode's options, its buttons and its events.

VGG-19 is never downloaded: the mode looks for the file where ``feature_network.find_vgg19`` does,
and in ``<user folder>/vgg19/``, and says where to put which file when there is none.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from PIL import Image

from ganstudio.errors import GanStudioError, ModelNotFoundError
from ganstudio.registry import Registry
from ganstudio.tasks.background import BackgroundRuns, RunState, RunStatus
from ganstudio.ui import common

POLL_S = 1.0
DEFAULT_SIDE = 256  # a CPU takes about a second per step at 256 px, four at 512
ICONS = {"queued": "⏳", "running": "🏃", "done": "✅", "cancelled": "⏹", "failed": "❌"}


def vgg_folders(registry: Registry) -> list[Path]:
    """Where the app looks for VGG-19 besides the torch hub cache: the user folder's ``vgg19/``."""
    return [registry.user_dir / "vgg19"]


def vgg_note(registry: Registry) -> str:
    """Which VGG-19 file the mode will use, or exactly where to put which file."""
    from ganstudio.feature_network import find_vgg19

    try:
        path = find_vgg19(folders=vgg_folders(registry))
    except ModelNotFoundError as error:
        return f"⚠️ **No VGG-19 weights here.** {error}"
    return f"Loss network: VGG-19 from `{path}`."


def build_controls(registry: Registry) -> dict[str, gr.components.Component]:
    """The mode's options and buttons (hidden until the mode is picked), laid out where this is called."""
    from ganstudio.models.vgg19 import (
        GATYS_CONTENT_LAYER,
        GATYS_STYLE_LAYERS,
        layer_names,
    )

    taps = [name for name in layer_names("torchvision") if name.startswith("relu")]
    with gr.Group(visible=False) as group:
        note = gr.Markdown(elem_classes=["model-about"], elem_id="optimize-vgg")
        with gr.Row():
            steps = gr.Number(300, label="Steps", precision=0, minimum=1, maximum=2000,
                              info="One VGG-19 pass each; 300 to 500 is usual")
            every = gr.Number(10, label="Show every", precision=0, minimum=1, maximum=2000, info="steps")
            side = gr.Slider(32, 1024, value=DEFAULT_SIDE, step=32, label="Size (longest side, px)",
                             info="Each step costs ~4x more at twice the side")
        with gr.Row():
            optimizer = gr.Radio([("L-BFGS (Gatys)", "lbfgs"), ("Adam", "adam")], value="lbfgs", label="Optimiser")
            init = gr.Radio([("Content image", "content"), ("Noise", "noise")], value="content", label="Start from")
            pooling = gr.Radio([("Max", "max"), ("Average (Gatys)", "avg")], value="max", label="Pooling")
        with gr.Row():
            content_weight = gr.Number(1.0, label="Content weight", minimum=0)
            style_weight = gr.Number(1e6, label="Style weight", minimum=0)
            tv_weight = gr.Number(0.0, label="Smoothness (TV) weight", minimum=0)
        with gr.Row():
            style_layers = gr.CheckboxGroup(taps, value=list(GATYS_STYLE_LAYERS), label="Style layers", scale=3)
            content_layer = gr.Dropdown(taps, value=GATYS_CONTENT_LAYER, label="Content layer", scale=1)
        seed = gr.Number(0, label="Seed (noise start)", precision=0, minimum=0)
        with gr.Row():
            start = gr.Button("Start optimising", variant="primary", elem_id="optimize-start")
            cancel = gr.Button("⏹ Cancel (keep the image)", interactive=False, elem_id="optimize-cancel")
        progress = gr.Markdown(elem_id="optimize-progress")
    run_id = gr.Textbox(visible=False, elem_id="optimize-run")  # this page's run (the API returns it too)
    seen = gr.State(-1)  # the step this page shows: the timer sends the image only when it changed
    timer = gr.Timer(POLL_S, active=False)
    return {"group": group, "note": note, "steps": steps, "every": every, "side": side, "optimizer": optimizer,
            "init": init, "pooling": pooling, "content_weight": content_weight, "style_weight": style_weight,
            "tv_weight": tv_weight, "style_layers": style_layers, "content_layer": content_layer, "seed": seed,
            "start": start, "cancel": cancel, "progress": progress, "run_id": run_id, "seen": seen, "timer": timer}


def wire_controls(parts: dict, registry: Registry, runs: BackgroundRuns, *, content: gr.Image, style: gr.Image,
                  result: gr.Image, info: gr.Markdown) -> None:
    """The mode's events: start a run, watch it, cancel it."""

    @common.user_errors
    def start_optimization(content: Image.Image | None, style: Image.Image | None, steps: float, every: float,
                           side: float, optimizer: str, init: str, pooling: str, content_weight: float,
                           style_weight: float, tv_weight: float, style_layers: list[str], content_layer: str,
                           seed: float):
        """Start style transfer by optimisation (Gatys et al.) in the background; returns the run id at once.

        Poll /optimize_style_status with that id for the image and the losses; /optimize_style_cancel stops it.

        Args:
            content: the picture to paint.
            style: the picture whose style to take.
            steps: optimisation steps (one VGG-19 forward and backward pass each), 1 to 2000.
            every: show the image every this many steps.
            side: the longest side of the image worked on, 32 to 1024 px.
            optimizer: "lbfgs" or "adam".
            init: start from the "content" image or from "noise".
            pooling: VGG-19's pooling, "max" or "avg".
            content_weight: weight of the content term.
            style_weight: weight of the style term (Gram matrices).
            tv_weight: weight of the smoothness term (total variation).
            style_layers: VGG-19 layers whose Gram matrices make the style.
            content_layer: the VGG-19 layer that keeps the content.
            seed: the seed of a noise start.
        """
        from ganstudio.tasks.optimize_style import submit_optimization

        if content is None or style is None:
            raise gr.Error("give a content image and a style image first.", print_exception=False)
        status = submit_optimization(
            runs, content, style, search=vgg_folders(registry), pooling=pooling,
            steps=_whole(steps), progress_every=_whole(every), max_side=_whole(side), optimizer=optimizer, init=init,
            content_weight=_number(content_weight), style_weight=_number(style_weight), tv_weight=_number(tv_weight),
            style_layers=list(style_layers or []), content_layer=content_layer, seed=_whole(seed),
        )
        return (status.id, describe(status), gr.Timer(active=True), gr.Button(interactive=True), -1)

    @common.user_errors
    def optimization_status(run_id: str | None, seen: int):
        """The image and losses of a style optimisation so far.

        Args:
            run_id: the id /optimize_style returned.
        """
        if not run_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=False), gr.Button(interactive=False), seen
        status = runs.status(run_id)
        report = status.latest
        image, line, shown = gr.skip(), gr.skip(), seen
        if report is not None and (report.step != seen or not status.active):
            image = common.save_png(report.image, common.output_folder(), f"optimised-step{report.step}")
            line = (f"**Style optimisation** (Gatys et al.) · step {report.step}/{report.steps} · "
                    f"{report.seconds:.1f} s · {report.image.width}×{report.image.height} px · seed {report.seed}")
            shown = report.step
        return (image, describe(status), line, gr.Timer(active=status.active), gr.Button(interactive=status.active),
                shown)

    @common.user_errors
    def cancel_optimization(run_id: str | None):
        """Stop a style optimisation after its current step; its last image stays.

        Args:
            run_id: the id /optimize_style returned.
        """
        if not run_id:
            raise GanStudioError("no optimisation is running on this page.")
        return describe(runs.cancel(run_id))

    parts["start"].click(
        start_optimization,
        [content, style, *(parts[name] for name in ("steps", "every", "side", "optimizer", "init", "pooling",
                                                    "content_weight", "style_weight", "tv_weight", "style_layers",
                                                    "content_layer", "seed"))],
        [parts["run_id"], parts["progress"], parts["timer"], parts["cancel"], parts["seen"]],
        api_name="optimize_style", concurrency_limit=None)
    watched = [result, parts["progress"], info, parts["timer"], parts["cancel"], parts["seen"]]
    parts["timer"].tick(optimization_status, [parts["run_id"], parts["seen"]], watched, api_name="optimize_style_status",
                        queue=False, show_progress="hidden")
    parts["cancel"].click(cancel_optimization, parts["run_id"], parts["progress"], api_name="optimize_style_cancel",
                          queue=False)


def describe(status: RunStatus) -> str:
    """Where a run stands, its last losses, and what to do next."""
    report = status.latest
    icon = ICONS.get(status.state, "")
    if status.state == RunState.QUEUED:
        return f"{icon} **Queued** · {status.ahead} run(s) ahead; it starts on its own."
    if status.state == RunState.FAILED:
        return f"{icon} **Failed** · {status.message}"
    if report is None:
        return f"{icon} **Starting** · loading VGG-19 and reading the images…"
    losses = " · ".join(f"{name} {value:.4g}" for name, value in report.losses.items() if value or name == "total")
    head = f"{icon} **{status.state.capitalize()}** · step {report.step}/{report.steps}"
    if status.state == RunState.RUNNING:
        rate = report.seconds / max(report.step, 1)
        head += f" · {rate:.2f} s/step, about {rate * (report.steps - report.step):.0f} s left"
    elif status.state == RunState.CANCELLED:
        head += " · stopped; the image is the last one"
    return f"{head}\n\nLosses: {losses}"


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)


def _number(value: float | None) -> float:
    return 0.0 if value is None else float(value)
