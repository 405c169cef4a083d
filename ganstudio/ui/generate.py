"""Generate tab: sample images from a generator, one seed per image, crisp previews and original downloads."""

from __future__ import annotations

import time

import gradio as gr

from ganstudio.registry import Registry
from ganstudio.tasks.generate import MAX_IMAGES, generate, random_seed
from ganstudio.ui import common


def build_tab(registry: Registry, backends: gr.State) -> dict[str, gr.components.Component]:
    """Lay out the Generate tab and wire its events; returns the parts other tabs link to."""
    # -- layout
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            model = common.model_picker(registry, "generate", elem_id="generate-model")
            first = common.find_entry(registry, model.value, "generate")
            about = gr.Markdown(common.describe_entry(first), elem_classes=["model-about"])
            with gr.Row(equal_height=True):
                seed = gr.Number(value=42, label="Seed", precision=0, minimum=0, maximum=2**32 - 1, scale=5,
                                 info="Image i uses seed + i")
                dice = gr.Button("🎲", scale=1, min_width=48, elem_classes=["dice"])
            num_images = gr.Slider(1, MAX_IMAGES, value=8, step=1, label="Number of images")
            label = gr.Dropdown(**label_options(registry, model.value, None), label="Class label", allow_custom_value=True,
                                info="What a class-conditional model draws")
            truncation = gr.Slider(0.0, 3.0, value=0.0, step=0.1, label="Truncation",
                                   info="0 = off; lower = more typical, less varied images")
            run = gr.Button("Generate", variant="primary")
        with gr.Column(scale=2, min_width=360):
            gallery = gr.Gallery(label="Images (seed under each)", columns=4, format="png", object_fit="contain",
                                 buttons=["download", "download_all", "fullscreen"], elem_classes=["pixelated"],
                                 elem_id="generate-gallery")
            info = common.run_info()
            with gr.Row(equal_height=False, elem_classes=["picked-row"]):
                selected = gr.Number(label="Picked seed", placeholder="click an image", precision=0, interactive=False,
                                     scale=2, min_width=160)
                with gr.Column(scale=3, min_width=240):
                    reuse = gr.Button("↺ Use as the seed", size="sm")
                    with gr.Row():
                        to_start = gr.Button("Interpolate from it", size="sm")
                        to_end = gr.Button("Interpolate to it", size="sm")
            with gr.Accordion("Full-resolution downloads (PNG, one per seed)", open=False):
                originals = gr.File(label="Originals", file_count="multiple", elem_id="generate-originals")
            seeds = gr.State([])
    examples = []
    for name in registry.names("generate")[:3]:
        labels = label_options(registry, name, None)["choices"]
        examples.append([name, 42, 8, labels[0] if labels else None, 0.0])
        if labels:  # a conditional model: another class, with truncation
            examples.append([name, 7, 8, labels[-1], 1.5])
    if examples:
        gr.Examples(examples, [model, seed, num_images, label, truncation], label="Examples: built-in models")

    # -- callbacks
    @common.user_errors
    def model_options(model_name: str | None, current_label: str | None):
        """The class labels and the description of a generator."""
        about = common.describe_entry(common.find_entry(registry, model_name, "generate"))
        return gr.Dropdown(**label_options(registry, model_name, current_label)), about

    @common.user_errors
    def generate_images(model_name: str, seed: float | None, num_images: float, label: str | None, truncation: float,
                        backends: dict, progress=gr.Progress()):
        """Sample images from a generator; image i uses seed + i.

        Args:
            model_name: a model of the Generate tab (see /list_models).
            seed: the first seed; empty for a random one.
            num_images: how many images (1 to 64).
            label: the class, for a class-conditional model.
            truncation: redraw latent values beyond this (0 = off).
        """
        started = time.perf_counter()
        model = common.load_model(registry, model_name, "generate", backends, progress)
        progress(0.3, desc=f"Generating {int(num_images)} image(s)…")
        result = generate(model, seed=None if seed is None else int(seed), num_images=int(num_images),
                          label=label if "num_classes" in model.config else None,
                          truncation=truncation or None)
        folder = common.output_folder()
        files = [common.save_png(image, folder, f"{model.name}-seed{s}") for image, s in zip(result.images, result.seeds)]
        captions = [f"seed {s}" for s in result.seeds]
        shown = [(common.shown_png(image, folder, f"seed{s}"), caption)
                 for image, s, caption in zip(result.images, result.seeds, captions)]
        span = f"seeds {result.seeds[0]}–{result.seeds[-1]}" if len(result.seeds) > 1 else f"seed {result.seeds[0]}"
        width, height = result.images[0].size
        return shown, files, common.describe_run(model, started, f"{span} · {width}×{height} px"), result.seeds

    def select_seed(seeds: list[int], event: gr.SelectData) -> int | None:
        """The seed of the clicked image."""
        return seeds[event.index] if 0 <= event.index < len(seeds) else None

    # -- events
    dice.click(random_seed, outputs=seed, api_name="random_seed", queue=False)
    model.change(model_options, [model, label], [label, about], api_name="generate_model_options",
                 api_visibility="undocumented", queue=False)
    gr.on([run.click, seed.submit], generate_images, [model, seed, num_images, label, truncation, backends],
          [gallery, originals, info, seeds], api_name="generate", concurrency_id=common.MODEL_QUEUE)
    gallery.select(select_seed, seeds, selected, api_name="select_seed", api_visibility="undocumented", queue=False)
    reuse.click(lambda picked, current: current if picked is None else picked, [selected, seed], seed,
                api_name="reuse_seed", api_visibility="undocumented", queue=False)
    return {"model": model, "label": label, "selected": selected, "to_start": to_start, "to_end": to_end}


def label_options(registry: Registry, name: str | None, current: str | None) -> dict:
    """Choices, value and visibility of the class-label dropdown for a model."""
    entry = common.find_entry(registry, name, "generate")
    conditional = entry is not None and (entry.arch == "cgan" or "num_classes" in entry.config)
    labels = list(common.model_labels(registry, name)) if conditional else []
    if conditional and not labels and "num_classes" in entry.config:  # an imported model without class names
        labels = [str(index) for index in range(int(entry.config["num_classes"]))]
    value = current if current in labels else (labels[0] if labels else None)
    return {"choices": labels, "value": value, "visible": bool(labels)}

