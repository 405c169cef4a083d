"""Style transfer tab: a content image in the style of another image, or in one of a network's built-in styles.

Two methods: a network (instant) or, in the Optimise mode (``ui/optimize_style.py``), Gatys et al.'s
optimisation of the pixels, which runs in the background and shows its image as it goes.
"""

from __future__ import annotations

import time

import gradio as gr
from PIL import Image

from ganstudio.manifest import ModelEntry
from ganstudio.registry import Registry
from ganstudio.tasks.background import BackgroundRuns
from ganstudio.tasks.stylize import needs_style_image, style_count, stylize
from ganstudio.ui import common, optimize_style
from ganstudio.ui.examples import example, preview_image

METHODS = [("Network (instant)", "network"), ("Optimise (Gatys et al., minutes)", "optimise")]


def build_tab(registry: Registry, backends: gr.State, *, runs: BackgroundRuns | None = None
              ) -> dict[str, gr.components.Component]:
    """Lay out the Style transfer tab and wire its events; returns the parts other tabs link to.

    ``runs`` is the app's queue of background runs, where the Optimise mode runs (default: one of its own).
    """
    runs = runs or BackgroundRuns()
    names = registry.names("stylize")
    first = common.find_entry(registry, names[0] if names else None, "stylize")
    most_styles = max([_styles(registry, registry.get(name)) for name in names] + [2])
    previews: dict[tuple[str, str], list[tuple[Image.Image, str]]] = {}  # built-in style thumbnails, made once
    # -- layout
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=420):
            method = gr.Radio(METHODS, value="network", label="Method", elem_id="stylize-method",
                              info="A trained network paints at once; optimising repaints the pixels step by step")
            model = common.model_picker(registry, "stylize", elem_id="stylize-model")
            about = gr.Markdown(common.describe_entry(first), elem_classes=["model-about"])
            with gr.Row(equal_height=True):
                content = common.image_input("Content image", height=240, min_width=200, elem_id="stylize-content")
                style = common.image_input("Style image", height=240, min_width=200, visible=_takes_image(registry, first),
                                           elem_id="stylize-style")
            with gr.Group(visible=_styles(registry, first) > 0) as builtin:
                style_index = gr.Slider(0, most_styles - 1, value=0, step=1, label="Built-in style",
                                        info="Or click a style in the gallery")
                style_gallery = gr.Gallery(label="Built-in styles", columns=6, height=260, allow_preview=False,
                                           format="png", elem_id="style-gallery")
                show_styles = gr.Button("Show the styles", size="sm")
            alpha = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Strength (alpha)")
            preserve = gr.Checkbox(False, label="Keep the original colours")
            max_side = gr.Slider(128, 1024, value=512, step=64, label="Output size (longest side, px)",
                                 info="Smaller pictures keep their size")
            run = gr.Button("Stylize", variant="primary")
            optimise = optimize_style.build_controls(registry)
        with gr.Column(scale=6, min_width=360):
            result = gr.Image(height=520, label="Result", format="png", interactive=False, elem_id="stylize-result",
                              buttons=["download", "fullscreen"])
            info = common.run_info()
    rows = []
    for name in names[:3]:
        entry = registry.get(name)
        for content_path, style_path, index in ((example("cat"), example("cells"), 3),
                                                (example("rocket"), example("hubble"), 11)):
            if content_path:
                style_path = style_path if _takes_image(registry, entry) else None
                rows.append([name, content_path, style_path, index if _styles(registry, entry) > index else 0])
    if rows:
        gr.Examples(rows, [model, content, style, style_index], label="Examples: built-in models, scikit-image pictures")

    # -- callbacks
    @common.user_errors
    def model_options(model_name: str | None):
        """Style-image input or built-in styles, as the model needs."""
        entry = common.find_entry(registry, model_name, "stylize")
        count = _styles(registry, entry)
        return (gr.Image(visible=_takes_image(registry, entry)), gr.Group(visible=count > 0),
                gr.Slider(maximum=max(count - 1, 1), value=0), gr.Gallery(value=None), common.describe_entry(entry))

    @common.user_errors
    def style_previews(model_name: str, backends: dict, progress=gr.Progress()):
        """Thumbnails of every built-in style of a multi-style network (made once per model and backend).

        Args:
            model_name: a multi-style model of the Style transfer tab.
        """
        model = common.load_model(registry, model_name, "stylize", backends, progress)
        key = (model.name, model.backend)
        if key not in previews:
            thumbnail = preview_image()
            previews[key] = [stylize(model, thumbnail, style_index=index)
                             for index in progress.tqdm(range(style_count(model.info)), desc="Painting the styles")]
        folder = common.output_folder()
        return [(common.save_png(picture, folder, f"style{index}"), f"{index} · {name}")
                for index, (picture, name) in enumerate(zip(previews[key], model.labels))]

    @common.as_visitor
    def previews_on_change(model_name: str, backends: dict, progress=gr.Progress()):
        """The built-in styles, as soon as a multi-style model is picked."""
        if _styles(registry, common.find_entry(registry, model_name, "stylize")) == 0:
            return gr.skip()
        return style_previews(model_name, backends, progress)

    @common.user_errors
    def stylize_image(model_name: str, content: Image.Image | None, style: Image.Image | None, style_index: float,
                      alpha: float, preserve_color: bool, max_side: float, backends: dict, progress=gr.Progress()):
        """Paint a content image in a style: from a style image, or a built-in style number.

        Args:
            model_name: a model of the Style transfer tab.
            content: the picture to paint.
            style: the style picture, for arbitrary-style models (Magenta arbitrary, AdaIN).
            style_index: the built-in style, for multi-style networks.
            alpha: strength, 0 to 1.
            preserve_color: keep the content's colours.
            max_side: longest side of the result in pixels.
        """
        if content is None:
            raise gr.Error("give a content image first (upload, paste or webcam).", print_exception=False)
        started = time.perf_counter()
        model = common.load_model(registry, model_name, "stylize", backends, progress)
        progress(0.3, desc="Stylizing…")
        takes_image = needs_style_image(model.info)
        output = stylize(model, content, style=style if takes_image else None,
                         style_index=int(style_index or 0) if style_count(model.info) else None,
                         alpha=float(alpha), preserve_color=bool(preserve_color), max_side=int(max_side))
        source = "style image" if takes_image else \
            (f"style {int(style_index or 0)} ({model.labels[int(style_index or 0)]})" if style_count(model.info) else "its style")
        path = common.save_png(output, common.output_folder(), f"{model.name}-stylized")
        return path, common.describe_run(model, started, f"{source} · {output.width}×{output.height} px")

    @common.user_errors
    def method_options(chosen: str, model_name: str | None):
        """The network's controls, or the Optimise mode's (which always takes a style image)."""
        optimising = chosen == "optimise"
        entry = common.find_entry(registry, model_name, "stylize")
        network = gr.update(visible=not optimising)
        note = optimize_style.vgg_note(registry) if optimising else gr.skip()
        return (network, network, gr.Group(visible=not optimising and _styles(registry, entry) > 0), network, network,
                network, network, gr.Image(visible=optimising or _takes_image(registry, entry)),
                gr.Group(visible=optimising), note)

    def pick_style(event: gr.SelectData) -> int:
        """The number of the clicked built-in style."""
        return event.index

    # -- events
    model.change(model_options, model, [style, builtin, style_index, style_gallery, about],
                 api_name="stylize_model_options", api_visibility="undocumented", queue=False).then(
        previews_on_change, [model, backends], style_gallery, api_name="style_previews_on_change",
        api_visibility="undocumented", concurrency_id=common.MODEL_QUEUE)
    show_styles.click(style_previews, [model, backends], style_gallery, api_name="style_previews",
                      concurrency_id=common.MODEL_QUEUE)
    style_gallery.select(pick_style, None, style_index, api_name="pick_style", api_visibility="undocumented", queue=False)
    run.click(stylize_image, [model, content, style, style_index, alpha, preserve, max_side, backends], [result, info],
              api_name="stylize", concurrency_id=common.MODEL_QUEUE)
    method.change(method_options, [method, model],
                  [model, about, builtin, alpha, preserve, max_side, run, style, optimise["group"], optimise["note"]],
                  api_name="stylize_method", api_visibility="undocumented", queue=False)
    optimize_style.wire_controls(optimise, registry, runs, content=content, style=style, result=result, info=info)
    return {"model": model}


# The task's helpers read the model's info, which the registry has from the entry: no load needed to lay out the tab.
def _takes_image(registry: Registry, entry: ModelEntry | None) -> bool:
    return entry is not None and needs_style_image(registry.info(entry))


def _styles(registry: Registry, entry: ModelEntry | None) -> int:
    return style_count(registry.info(entry)) if entry is not None else 0
