"""Interpolate tab: walk the latent space between two seeds; a strip of frames and an animated GIF.

A StyleGAN model walks in Z (the seeds' latents) or in W (their mapped ws), with a truncation psi.
"""

from __future__ import annotations

import time

import gradio as gr

from ganstudio import images
from ganstudio.registry import Registry
from ganstudio.tasks.generate import random_seed
from ganstudio.tasks.interpolate import MAX_STEPS, interpolate
from ganstudio.tasks.styles import PSI_RANGE
from ganstudio.ui import common
from ganstudio.ui.generate import is_style, label_options, model_info

MODES = [("Spherical (slerp)", "slerp"), ("Linear (lerp)", "lerp")]
SPACES = [("Z: the seeds' latents", "z"), ("W: the mapped styles", "w")]


def build_tab(registry: Registry, backends: gr.State) -> dict[str, gr.components.Component]:
    """Lay out the Interpolate tab and wire its events; returns the parts other tabs link to."""
    # -- layout
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            model = common.model_picker(registry, "generate", elem_id="interpolate-model")
            with gr.Row(equal_height=True):
                seed_a = gr.Number(value=1, label="Start seed", precision=0, minimum=0, maximum=2**32 - 1, scale=5)
                dice_a = gr.Button("🎲", scale=1, min_width=48, elem_classes=["dice"])
            with gr.Row(equal_height=True):
                seed_b = gr.Number(value=2, label="End seed", precision=0, minimum=0, maximum=2**32 - 1, scale=5)
                dice_b = gr.Button("🎲", scale=1, min_width=48, elem_classes=["dice"])
            steps = gr.Slider(2, MAX_STEPS, value=10, step=1, label="Frames", info="Including both ends")
            mode = gr.Radio(MODES, value="slerp", label="Path", info="Spherical keeps the latent's length: smoother")
            label = gr.Dropdown(**label_options(registry, model.value, None), label="Class label", allow_custom_value=True)
            style = is_style(model_info(registry, model.value))
            space = gr.Radio(SPACES, value="z", label="Space", visible=style, elem_id="interpolate-space",
                             info="StyleGAN: W changes the image more evenly along the way")
            psi = gr.Slider(*PSI_RANGE, value=1.0, step=0.05, label="Truncation psi", visible=style,
                            info="1 = off; towards 0 = closer to the average image")
            frame_ms = gr.Slider(20, 500, value=100, step=10, label="Frame duration (ms)", info="For the animation")
            run = gr.Button("Interpolate", variant="primary")
        with gr.Column(scale=2, min_width=360):
            strip = gr.Gallery(label="Frames, start to end", elem_id="interpolate-strip", format="png", columns=6,
                               object_fit="contain", elem_classes=["pixelated"],
                               buttons=["download", "download_all", "fullscreen"])
            with gr.Row():
                animation = gr.Image(label="Animation (plays forward and back)", interactive=False,
                                     elem_classes=["pixelated"], elem_id="interpolate-animation")
                gif = gr.File(label="Download the GIF (original size)")
            info = common.run_info()
    examples = [[name, 1, 2, 10, "slerp", label_options(registry, name, None)["value"]]
                for name in registry.names("generate")[:3]]
    if examples:
        gr.Examples(examples, [model, seed_a, seed_b, steps, mode, label], label="Examples: built-in models")

    # -- callbacks
    @common.user_errors
    def model_options(model_name: str | None, current_label: str | None):
        """The class labels of a generator, and the StyleGAN controls when it has a mapping network."""
        style = is_style(model_info(registry, model_name))
        return gr.Dropdown(**label_options(registry, model_name, current_label)), gr.Radio(visible=style), gr.Slider(visible=style)

    @common.user_errors
    def interpolate_seeds(model_name: str, seed_a: float, seed_b: float, steps: float, mode: str, label: str | None,
                          frame_ms: float, backends: dict, space: str = "z", psi: float = 1.0, progress=gr.Progress()):
        """Frames between the images of two seeds, as a strip and an animated GIF.

        Args:
            model_name: a model of the Generate tab.
            seed_a: the first frame's seed.
            seed_b: the last frame's seed.
            steps: number of frames, both ends included (2 to 120).
            mode: "slerp" (spherical) or "lerp" (linear).
            label: the class, for a class-conditional model.
            frame_ms: how long each frame of the GIF shows.
            space: StyleGAN: "z" (the latents) or "w" (the mapped styles).
            psi: StyleGAN truncation psi (1 = off).
        """
        if seed_a is None or seed_b is None:
            raise gr.Error("give both seeds (or roll the dice).", print_exception=False)
        started = time.perf_counter()
        model = common.load_model(registry, model_name, "generate", backends, progress)
        progress(0.3, desc=f"Rendering {int(steps)} frames…")
        options = {"space": space or "z", "truncation_psi": 1.0 if psi is None else float(psi)} if is_style(model.info) else {}
        result = interpolate(model, seeds=(int(seed_a), int(seed_b)), steps=int(steps), mode=mode,
                             label=label if model.info.label_kind == "classes" else None, **options)
        folder = common.output_folder()
        name = f"{model.name}-{result.seeds[0]}-to-{result.seeds[1]}-{mode}"
        original = images.save_animation(result.frames, folder / f"{name}.gif", duration_ms=int(frame_ms))
        shown = images.save_animation([common.for_display(frame) for frame in result.frames],
                                      folder / f"{name}-preview.gif", duration_ms=int(frame_ms))
        last = len(result.frames) - 1
        strip = [(common.shown_png(frame, folder, f"frame{index}"), f"{index}/{last}")
                 for index, frame in enumerate(result.frames)]
        walk = f"{len(result.frames)} frames, {mode}" + (f" in {result.space.upper()}" if options else "")
        return strip, str(shown), str(original), common.describe_run(model, started, walk)

    # -- events
    dice_a.click(random_seed, outputs=seed_a, api_name="random_seed_start", api_visibility="undocumented", queue=False)
    dice_b.click(random_seed, outputs=seed_b, api_name="random_seed_end", api_visibility="undocumented", queue=False)
    model.change(model_options, [model, label], [label, space, psi], api_name="interpolate_model_options",
                 api_visibility="undocumented", queue=False)
    run.click(interpolate_seeds, [model, seed_a, seed_b, steps, mode, label, frame_ms, backends, space, psi],
              [strip, animation, gif, info], api_name="interpolate", concurrency_id=common.MODEL_QUEUE)
    return {"model": model, "seed_a": seed_a, "seed_b": seed_b, "label": label}
