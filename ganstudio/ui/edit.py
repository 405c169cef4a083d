"""StarGAN tab: attribute editing (v1); target domain from a reference image or a seed, and every domain at once (v2)."""

from __future__ import annotations

import time

import gradio as gr
from PIL import Image

from ganstudio.manifest import ModelEntry
from ganstudio.registry import Registry
from ganstudio.tasks.edit import domain_grid, edit_attributes, edit_domain
from ganstudio.tasks.generate import random_seed
from ganstudio.ui import common
from ganstudio.ui.examples import model_examples

GUIDANCE = [("Reference image (its style)", "reference"), ("Random style from a seed", "seed")]


def build_tab(registry: Registry, backends: gr.State) -> dict[str, gr.components.Component]:
    """Lay out the StarGAN tab and wire its events; returns the parts other tabs link to."""
    names = registry.names("edit")
    first = common.find_entry(registry, names[0] if names else None, "edit")
    options = _options(registry, first)
    # -- layout
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            model = common.model_picker(registry, "edit", elem_id="edit-model")
            about = gr.Markdown(common.describe_entry(first), elem_classes=["model-about"])
            image = common.image_input("Source image (upload, paste or webcam)", height=260, elem_id="edit-image")
            with gr.Column(visible=options["v1"]) as v1_controls:
                attributes = gr.CheckboxGroup(choices=options["labels"] if options["v1"] else [], label="Target attributes",
                                              info="Tick every attribute the result should have (any combination)")
                run_v1 = gr.Button("Edit attributes", variant="primary")
            with gr.Column(visible=options["v2"]) as v2_controls:
                domain = gr.Dropdown(choices=options["labels"] if options["v2"] else [], label="Target domain",
                                     allow_custom_value=True,
                                     value=options["labels"][0] if options["v2"] and options["labels"] else None)
                guidance = gr.Radio(GUIDANCE, value="seed", label="Style from")
                reference = common.image_input("Reference image", height=200, visible=False)
                with gr.Row(equal_height=True) as seed_row:
                    seed = gr.Number(value=7, label="Style seed", precision=0, minimum=0, maximum=2**32 - 1, scale=5)
                    dice = gr.Button("🎲", scale=1, min_width=48, elem_classes=["dice"])
                with gr.Row():
                    run_v2 = gr.Button("Transfer to the domain", variant="primary")
                    run_grid = gr.Button("Show every domain")
        with gr.Column(scale=2, min_width=360):
            with gr.Row(equal_height=True):
                before = gr.Image(label="Before", format="png", interactive=False, elem_classes=["pixelated"])
                after = gr.Image(label="After", format="png", interactive=False, elem_classes=["pixelated"],
                                 elem_id="edit-after")
            download = common.download_button()
            grid = gr.Gallery(label="The source in every domain", columns=4, format="png", visible=options["v2"],
                              object_fit="contain", elem_classes=["pixelated"], elem_id="edit-grid")
            info = common.run_info()
    pictures = [[name, path] for name in names for path in model_examples(registry.get(name))]
    if pictures:
        gr.Examples(pictures, [model, image], label="Examples: each model with the pictures it was made for")

    # -- callbacks
    @common.user_errors
    def model_options(model_name: str | None):
        """Controls for a StarGAN v1 (attributes) or v2 (domains) model."""
        entry = common.find_entry(registry, model_name, "edit")
        found = _options(registry, entry)
        labels = found["labels"]
        return (gr.Column(visible=found["v1"]), gr.CheckboxGroup(choices=labels if found["v1"] else [], value=[]),
                gr.Column(visible=found["v2"]), gr.Dropdown(choices=labels if found["v2"] else [],
                                                           value=labels[0] if found["v2"] and labels else None),
                gr.Gallery(visible=found["v2"], value=None), common.describe_entry(entry))

    def finish(model, source: Image.Image, result: Image.Image, started: float, detail: str):
        folder = common.output_folder()
        path = common.save_png(result, folder, f"{model.name}-edit")
        return (common.shown_png(source, folder, "before"), common.shown_png(result, folder, "after"), path,
                common.describe_run(model, started, detail))

    @common.user_errors
    def edit_image_attributes(model_name: str, image: Image.Image | None, attributes: list[str], backends: dict,
                              progress=gr.Progress()):
        """Give an image the ticked attributes with a StarGAN v1 model (unticked ones are off).

        Args:
            model_name: a StarGAN v1 model of the StarGAN tab.
            image: the source picture.
            attributes: the names of the attributes the result should have.
        """
        _require_image(image)
        started = time.perf_counter()
        model = common.load_model(registry, model_name, "edit", backends, progress)
        progress(0.3, desc="Editing…")
        result = edit_attributes(model, image, attributes={name: 1.0 for name in attributes or []})
        return finish(model, image, result, started, ", ".join(attributes or []) or "no attribute")

    @common.user_errors
    def edit_image_domain(model_name: str, image: Image.Image | None, domain: str, guidance: str,
                          reference: Image.Image | None, seed: float | None, backends: dict, progress=gr.Progress()):
        """Move an image to a domain with a StarGAN v2 model, in the style of a reference image or of a seed.

        Args:
            model_name: a StarGAN v2 model of the StarGAN tab.
            image: the source picture.
            domain: the target domain's name.
            guidance: "reference" (style of the reference image) or "seed" (a random style).
            reference: the reference image, with guidance "reference".
            seed: the style seed, with guidance "seed".
        """
        _require_image(image)
        started = time.perf_counter()
        reference, seed = _style_source(guidance, reference, seed)
        model = common.load_model(registry, model_name, "edit", backends, progress)
        progress(0.3, desc=f"Transferring to {domain}…")
        result = edit_domain(model, image, domain=domain, reference=reference, seed=seed).image
        style = "reference image" if reference is not None else f"seed {seed}"
        return finish(model, image, result, started, f"{domain}, style of {style}")

    @common.user_errors
    def show_every_domain(model_name: str, image: Image.Image | None, guidance: str, reference: Image.Image | None,
                          seed: float | None, backends: dict, progress=gr.Progress()):
        """The source image in every domain of a StarGAN v2 model (same style source for each).

        Args:
            model_name: a StarGAN v2 model of the StarGAN tab.
            image: the source picture.
            guidance: "reference" or "seed".
            reference: the reference image, with guidance "reference".
            seed: the style seed, with guidance "seed".
        """
        _require_image(image)
        started = time.perf_counter()
        reference, seed = _style_source(guidance, reference, seed)
        model = common.load_model(registry, model_name, "edit", backends, progress)
        progress(0.3, desc="Rendering every domain…")
        results = [edited.image for edited in domain_grid(model, image, reference=reference, seed=seed)]
        folder = common.output_folder()
        shown = [(common.shown_png(image, folder, "source"), "source")]
        shown += [(common.shown_png(picture, folder, f"domain{index}"), name)
                  for index, (picture, name) in enumerate(zip(results, model.labels))]
        return shown, common.describe_run(model, started, f"{len(results)} domains")

    # -- events
    model.change(model_options, model, [v1_controls, attributes, v2_controls, domain, grid, about],
                 api_name="edit_model_options", api_visibility="undocumented", queue=False)
    guidance.change(lambda choice: (gr.Image(visible=choice == "reference"), gr.Row(visible=choice == "seed")),
                    guidance, [reference, seed_row], api_name="edit_guidance", api_visibility="undocumented", queue=False)
    dice.click(random_seed, outputs=seed, api_name="random_style_seed", api_visibility="undocumented", queue=False)
    run_v1.click(edit_image_attributes, [model, image, attributes, backends], [before, after, download, info],
                 api_name="edit_attributes", concurrency_id=common.MODEL_QUEUE)
    run_v2.click(edit_image_domain, [model, image, domain, guidance, reference, seed, backends],
                 [before, after, download, info], api_name="edit_domain", concurrency_id=common.MODEL_QUEUE)
    run_grid.click(show_every_domain, [model, image, guidance, reference, seed, backends], [grid, info],
                   api_name="domain_grid", concurrency_id=common.MODEL_QUEUE)
    return {"model": model}


def _options(registry: Registry, entry: ModelEntry | None) -> dict:
    """Which controls a model needs: v1 (attributes) or v2 (domains), and its label names."""
    if entry is None:
        return {"v1": False, "v2": False, "labels": []}
    pipeline = registry.info(entry).pipeline
    return {"v1": pipeline == "attributes", "v2": pipeline == "domains",
            "labels": list(common.model_labels(registry, entry.name))}


def _require_image(image: Image.Image | None) -> None:
    if image is None:
        raise gr.Error("give a source image first (upload, paste or webcam).", print_exception=False)


def _style_source(guidance: str, reference: Image.Image | None, seed: float | None) -> tuple[Image.Image | None, int | None]:
    """(reference, seed) for the task: exactly one of them, as the guidance says."""
    if guidance == "reference":
        if reference is None:
            raise gr.Error("give a reference image, or take the style from a seed.", print_exception=False)
        return reference, None
    return None, random_seed() if seed is None else int(seed)
