"""Translate tab: pix2pix and CycleGAN on an uploaded, pasted, webcam or drawn image; before and after side by side."""

from __future__ import annotations

import time

import gradio as gr
from PIL import Image

from ganstudio.manifest import ModelEntry
from ganstudio.registry import Registry
from ganstudio.tasks.translate import translate
from ganstudio.ui import common
from ganstudio.ui.examples import model_examples

DIRECTIONS = [("A → B", "AtoB"), ("B → A", "BtoA")]


def build_tab(registry: Registry, backends: gr.State) -> dict[str, gr.components.Component]:
    """Lay out the Translate tab and wire its events; returns the parts other tabs link to."""
    names = registry.names("translate")
    first = common.find_entry(registry, names[0] if names else None, "translate")
    # -- layout
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            model = common.model_picker(registry, "translate", elem_id="translate-model")
            about = gr.Markdown(common.describe_entry(first), elem_classes=["model-about"])
            direction = gr.Radio(DIRECTIONS, value="AtoB", label="Direction", visible=_two_way(first),
                                 info="A two-way CycleGAN translates both ways")
            with gr.Tabs(selected="sketch" if _is_sketch_model(first) else "photo") as input_tabs:
                with gr.Tab("Photo", id="photo"):
                    image = common.image_input("Input image (upload, paste or webcam)", height=300, elem_id="translate-image")
                    run = gr.Button("Translate", variant="primary")
                with gr.Tab("Sketch", id="sketch"):
                    sketch = common.sketch_input("Sketch", type="pil", image_mode="RGBA",
                                          canvas_size=(256, 256), fixed_canvas=True, height=320,
                                          brush=gr.Brush(default_size=14, colors=["#000000", "#404040"],
                                                         default_color="#000000", color_mode="fixed"),
                                          elem_id="translate-sketch")
                    gr.Markdown("Pick the brush, draw dark strokes on the white canvas.", elem_classes=["model-about"])
                    run_sketch = gr.Button("Translate the sketch", variant="primary")
        with gr.Column(scale=2, min_width=360):
            with gr.Row(equal_height=True):
                before = gr.Image(label="Before", format="png", interactive=False, elem_classes=["pixelated"])
                after = gr.Image(label="After", format="png", interactive=False, elem_classes=["pixelated"],
                                 elem_id="translate-after")
            download = common.download_button()
            info = common.run_info()
    # each model with the inputs it was made for: photos for the photo models, digits for the digit ones, a drawing
    # for the sketch models (manifest "examples")
    entries = [registry.get(name) for name in names]
    pictures = [[entry.name, path] for entry in entries if not _is_sketch_model(entry) for path in model_examples(entry)]
    drawings = [[entry.name, path] for entry in entries if _is_sketch_model(entry) for path in model_examples(entry)]
    if pictures:
        gr.Examples(pictures, [model, image], label="Examples: each model with the pictures it was made for")
    if drawings:
        gr.Examples(drawings, [model, sketch], label="Example: a drawing (draw over it)")

    # -- callbacks
    @common.user_errors
    def model_options(model_name: str | None):
        """Direction choice and input kind for a translation model."""
        entry = common.find_entry(registry, model_name, "translate")
        tab = "sketch" if _is_sketch_model(entry) else "photo"
        return gr.Radio(visible=_two_way(entry), value="AtoB"), gr.Tabs(selected=tab), common.describe_entry(entry)

    def run_translation(model_name: str, picture: Image.Image, direction: str, backends: dict, progress: gr.Progress):
        started = time.perf_counter()
        model = common.load_model(registry, model_name, "translate", backends, progress)
        progress(0.3, desc="Translating…")
        result = translate(model, picture, direction=direction or "AtoB")
        folder = common.output_folder()
        path = common.save_png(result, folder, f"{model.name}-{direction or 'AtoB'}")
        detail = f"{direction} · {result.width}×{result.height} px"
        before, after = common.shown_png(picture, folder, "before"), common.shown_png(result, folder, "after")
        return before, after, path, common.describe_run(model, started, detail)

    @common.user_errors
    def translate_image(model_name: str, image: Image.Image | None, direction: str, backends: dict,
                        progress=gr.Progress()):
        """Translate an image with a pix2pix or CycleGAN model; the result has the input's size.

        Args:
            model_name: a model of the Translate tab.
            image: the picture to translate.
            direction: "AtoB", or "BtoA" for a two-way CycleGAN.
        """
        if image is None:
            raise gr.Error("upload, paste or take a picture first.", print_exception=False)
        return run_translation(model_name, image, direction, backends, progress)

    @common.user_errors
    def translate_sketch(model_name: str, sketch: dict | None, direction: str, backends: dict, progress=gr.Progress()):
        """Translate a drawing from the sketchpad (strokes over white) with a sketch-to-image model.

        Args:
            model_name: a model of the Translate tab.
            sketch: the sketchpad's value.
            direction: "AtoB", or "BtoA" for a two-way CycleGAN.
        """
        return run_translation(model_name, common.sketch_to_image(sketch), direction, backends, progress)

    # -- events
    model.change(model_options, model, [direction, input_tabs, about], api_name="translate_model_options",
                 api_visibility="undocumented", queue=False)
    run.click(translate_image, [model, image, direction, backends], [before, after, download, info],
              api_name="translate", concurrency_id=common.MODEL_QUEUE)
    run_sketch.click(translate_sketch, [model, sketch, direction, backends], [before, after, download, info],
                     api_name="translate_sketch", concurrency_id=common.MODEL_QUEUE)
    return {"model": model}


def _two_way(entry: ModelEntry | None) -> bool:
    """A CycleGAN pair has a generator for each direction."""
    return entry is not None and {"G_A", "G_B"} <= set(entry.files)


def _is_sketch_model(entry: ModelEntry | None) -> bool:
    """A model that takes drawings: marked in its manifest entry (``"input": "sketch"``) or named so."""
    return entry is not None and (entry.preprocessing.get("input") == "sketch" or "sketch" in entry.name)
