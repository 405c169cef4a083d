"""Generate tab: sample images from a generator, one seed per image, crisp previews and original downloads.

The controls follow the picked model's ``ModelInfo``: a class for a conditional model, a truncation
threshold for a "latent" model, and for a StyleGAN ("style" pipeline) truncation psi and cutoff, the
noise modes it has, translate / rotate when it has an input transform, style mixing and the
principal directions (sliders that move the first seed's image).
"""

from __future__ import annotations

import time

import gradio as gr

from ganstudio.models.spec import ModelInfo
from ganstudio.registry import Registry
from ganstudio.tasks.directions import (
    MAX_AMOUNT,
    edit_along_directions,
    principal_directions,
)
from ganstudio.tasks.generate import MAX_IMAGES, generate, random_seed
from ganstudio.tasks.style_mix import parse_number_list, style_mix
from ganstudio.tasks.styles import PSI_RANGE, TRANSLATE_RANGE
from ganstudio.ui import common

NOISE_CHOICES = [("Stored (the official scripts' default)", "const"), ("Fresh each time", "random"), ("None", "none")]
DIRECTION_SLIDERS = 6


def build_tab(registry: Registry, backends: gr.State) -> dict[str, gr.components.Component]:
    """Lay out the Generate tab and wire its events; returns the parts other tabs link to."""
    # -- layout
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            model = common.model_picker(registry, "generate", elem_id="generate-model")
            first = common.find_entry(registry, model.value, "generate")
            start = model_info(registry, model.value)
            about = gr.Markdown(common.describe_entry(first), elem_classes=["model-about"])
            with gr.Row(equal_height=True):
                seed = gr.Number(value=42, label="Seed", precision=0, minimum=0, maximum=2**32 - 1, scale=5,
                                 info="Image i uses seed + i")
                dice = gr.Button("🎲", scale=1, min_width=48, elem_classes=["dice"])
            num_images = gr.Slider(1, MAX_IMAGES, value=8, step=1, label="Number of images")
            label = gr.Dropdown(**label_options(registry, model.value, None), label="Class label", allow_custom_value=True,
                                info="What a class-conditional model draws")
            truncation = gr.Slider(0.0, 3.0, value=0.0, step=0.1, label="Truncation", elem_id="generate-truncation",
                                   info="0 = off; lower = more typical, less varied images", **_shown(start, "threshold"))
            psi = gr.Slider(*PSI_RANGE, value=1.0, step=0.05, label="Truncation psi", elem_id="generate-psi",
                            info="1 = off; towards 0 = closer to the average image", **_shown(start, "psi"))
            cutoff = gr.Slider(0, _num_ws(start), value=0, step=1, label="Truncation cutoff",
                               info="Truncate only the first K ws (0 = all of them)", **_shown(start, "psi"))
            noise = gr.Radio(_noise_choices(start), value="const", label="Noise", elem_id="generate-noise",
                             **_shown(start, "noise"))
            with gr.Row():
                translate_x = gr.Slider(-TRANSLATE_RANGE, TRANSLATE_RANGE, value=0.0, step=0.01, label="Translate X",
                                        **_shown(start, "transform"))
                translate_y = gr.Slider(-TRANSLATE_RANGE, TRANSLATE_RANGE, value=0.0, step=0.01, label="Translate Y",
                                        **_shown(start, "transform"))
            rotate = gr.Slider(-180, 180, value=0, step=1, label="Rotate (degrees)", elem_id="generate-rotate",
                               **_shown(start, "transform"))
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
            with gr.Accordion("Style mixing: the rows' images with some ws from the columns'", open=False,
                              **_shown(start, "style")) as mixing:
                with gr.Row():
                    row_seeds = gr.Textbox("1,2,3", label="Row seeds", info="e.g. 85,100,75 or 1-4")
                    col_seeds = gr.Textbox("10,11", label="Column seeds")
                    col_styles = gr.Textbox("0-3", label="Styles from the column",
                                            info="ws indices: low = coarse (shape, pose), high = fine (colours)")
                run_mix = gr.Button("Mix styles")
                mix_grid = gr.Image(label="Grid: column seeds on top, row seeds on the left", interactive=False,
                                    elem_classes=["pixelated"], elem_id="generate-mix")
                mix_download = common.download_button()
                mix_info = common.run_info()
            with gr.Accordion("Principal directions: move the seed's image along the main axes of W (GANSpace)",
                              open=False, **_shown(start, "style")) as directions:
                amounts = [gr.Slider(-MAX_AMOUNT / 2, MAX_AMOUNT / 2, value=0.0, step=0.25, label=f"Direction {i + 1}",
                                     info="standard deviations") for i in range(DIRECTION_SLIDERS)]
                with gr.Row():
                    first_layer = gr.Slider(0, _num_ws(start) - 1, value=0, step=1, label="From w")
                    last_layer = gr.Slider(1, _num_ws(start), value=_num_ws(start), step=1, label="To w (excluded)")
                reset = gr.Button("Reset", size="sm")
                moved = gr.Image(label="The seed's image, moved", interactive=False, elem_classes=["pixelated"],
                                 elem_id="generate-moved")
                directions_info = common.run_info()
            seeds = gr.State([])
    examples = []
    for name in registry.names("generate")[:3]:
        labels = label_options(registry, name, None)["choices"]
        examples.append([name, 42, 8, labels[0] if labels else None, 0.0])
        if labels:  # a conditional model: another class, with truncation
            examples.append([name, 7, 8, labels[-1], 1.5])
    if examples:
        gr.Examples(examples, [model, seed, num_images, label, truncation], label="Examples: built-in models")
    style_inputs = [psi, cutoff, noise, translate_x, translate_y, rotate]

    # -- callbacks
    @common.user_errors
    def model_options(model_name: str | None, current_label: str | None):
        """The controls a generator has: class labels, truncation kind, noise, transform, StyleGAN sections."""
        about = common.describe_entry(common.find_entry(registry, model_name, "generate"))
        return (gr.Dropdown(**label_options(registry, model_name, current_label)), about,
                *control_updates(model_info(registry, model_name)))

    @common.user_errors
    def generate_images(model_name: str, seed: float | None, num_images: float, label: str | None, truncation: float,
                        backends: dict, psi: float = 1.0, cutoff: float = 0, noise: str = "const",
                        translate_x: float = 0.0, translate_y: float = 0.0, rotate: float = 0.0, progress=gr.Progress()):
        """Sample images from a generator; image i uses seed + i.

        Args:
            model_name: a model of the Generate tab (see /list_models).
            seed: the first seed; empty for a random one.
            num_images: how many images (1 to 64).
            label: the class, for a class-conditional model.
            truncation: redraw latent values beyond this (0 = off); models without a mapping network.
            psi: StyleGAN truncation psi (1 = off).
            cutoff: StyleGAN: truncate only the first K ws (0 = all).
            noise: StyleGAN2 noise: "const", "random" or "none".
            translate_x: StyleGAN3: move the image (fraction of its width).
            translate_y: StyleGAN3: move the image (fraction of its height).
            rotate: StyleGAN3: turn the image (degrees).
        """
        started = time.perf_counter()
        model = common.load_model(registry, model_name, "generate", backends, progress)
        progress(0.3, desc=f"Generating {int(num_images)} image(s)…")
        result = generate(model, seed=None if seed is None else int(seed), num_images=int(num_images),
                          label=label if model.info.label_kind == "classes" else None, truncation=truncation or None,
                          **style_values(model.info, psi, cutoff, noise, translate_x, translate_y, rotate))
        folder = common.output_folder()
        files = [common.save_png(image, folder, f"{model.name}-seed{s}") for image, s in zip(result.images, result.seeds)]
        captions = [f"seed {s}" for s in result.seeds]
        shown = [(common.shown_png(image, folder, f"seed{s}"), caption)
                 for image, s, caption in zip(result.images, result.seeds, captions)]
        span = f"seeds {result.seeds[0]}–{result.seeds[-1]}" if len(result.seeds) > 1 else f"seed {result.seeds[0]}"
        width, height = result.images[0].size
        return shown, files, common.describe_run(model, started, f"{span} · {width}×{height} px"), result.seeds

    @common.user_errors
    def mix_styles(model_name: str, row_seeds: str, col_seeds: str, col_styles: str, label: str | None, backends: dict,
                   psi: float = 1.0, cutoff: float = 0, noise: str = "const", translate_x: float = 0.0,
                   translate_y: float = 0.0, rotate: float = 0.0, progress=gr.Progress()):
        """StyleGAN style mixing (style_mixing.py): each row seed's image with the ws at the given indices taken
        from each column seed's. Returns the grid as shown (small images enlarged), the grid at its own size,
        and a line about the run.

        Args:
            model_name: a StyleGAN model of the Generate tab.
            row_seeds: e.g. "85,100,75" or "1-4" (up to 8).
            col_seeds: the same, for the columns.
            col_styles: the ws taken from the column seed, e.g. "0-6".
            label: the class, for a class-conditional model.
        """
        started = time.perf_counter()
        model = common.load_model(registry, model_name, "generate", backends, progress)
        result = style_mix(model, row_seeds=parse_number_list(row_seeds), col_seeds=parse_number_list(col_seeds),
                           col_styles=parse_number_list(col_styles), label=label if model.info.label_kind else None,
                           **style_values(model.info, psi, cutoff, noise, translate_x, translate_y, rotate))
        folder = common.output_folder()
        grid = common.save_png(result.grid, folder, f"{model.name}-style-mix")
        detail = f"{len(result.row_seeds)}×{len(result.col_seeds)} mixes, ws {col_styles} from the columns"
        return common.shown_png(result.grid, folder, "style-mix"), grid, common.describe_run(model, started, detail)

    @common.user_errors
    def move_along_directions(model_name: str, seed: float | None, label: str | None, first_layer: float,
                              last_layer: float, backends: dict, psi: float = 1.0, noise: str = "const",
                              translate_x: float = 0.0, translate_y: float = 0.0, rotate: float = 0.0,
                              amount_1: float = 0.0, amount_2: float = 0.0, amount_3: float = 0.0, amount_4: float = 0.0,
                              amount_5: float = 0.0, amount_6: float = 0.0, progress=gr.Progress()):
        """StyleGAN: the seed's image moved along the principal directions of W (found once per model, then cached).

        Args:
            model_name: a StyleGAN model of the Generate tab.
            seed: the image's seed.
            label: the class, for a class-conditional model.
            first_layer: the first w moved.
            last_layer: the w after the last one moved.
            amount_1: how far along the first direction, in standard deviations (amount_2..6: the next ones).
        """
        amounts = (amount_1, amount_2, amount_3, amount_4, amount_5, amount_6)
        started = time.perf_counter()
        model = common.load_model(registry, model_name, "generate", backends, progress)
        progress(0.2, desc="Finding the principal directions (once per model)…")
        found = principal_directions(model, cache_dir=registry.user_dir / "directions")
        options = style_values(model.info, psi, 0, noise, translate_x, translate_y, rotate)
        options.pop("truncation_cutoff")
        image = edit_along_directions(model, found, seed=int(seed or 0), amounts=[float(a) for a in amounts],
                                      layers=(int(first_layer), int(last_layer)),
                                      label=label if model.info.label_kind else None, **options)
        shown = common.shown_png(image, common.output_folder(), f"{model.name}-seed{int(seed or 0)}-moved")
        share = ", ".join(f"{100 * value:.1f}%" for value in found.explained[:DIRECTION_SLIDERS])
        return shown, common.describe_run(model, started, f"seed {int(seed or 0)} · variance per direction: {share}")

    def select_seed(seeds: list[int], event: gr.SelectData) -> int | None:
        """The seed of the clicked image."""
        return seeds[event.index] if 0 <= event.index < len(seeds) else None

    # -- events
    dice.click(random_seed, outputs=seed, api_name="random_seed", queue=False)
    model.change(model_options, [model, label], [label, about, truncation, psi, cutoff, noise, translate_x, translate_y,
                                                 rotate, mixing, directions, first_layer, last_layer],
                 api_name="generate_model_options", api_visibility="undocumented", queue=False)
    gr.on([run.click, seed.submit], generate_images, [model, seed, num_images, label, truncation, backends, *style_inputs],
          [gallery, originals, info, seeds], api_name="generate", concurrency_id=common.MODEL_QUEUE)
    run_mix.click(mix_styles, [model, row_seeds, col_seeds, col_styles, label, backends, *style_inputs],
                  [mix_grid, mix_download, mix_info], api_name="style_mix", concurrency_id=common.MODEL_QUEUE)
    gr.on([slider.release for slider in (*amounts, first_layer, last_layer)], move_along_directions,
          [model, seed, label, first_layer, last_layer, backends, psi, noise, translate_x, translate_y, rotate, *amounts],
          [moved, directions_info], api_name="move_along_directions", concurrency_id=common.MODEL_QUEUE)
    reset.click(lambda: [0.0] * DIRECTION_SLIDERS, outputs=amounts, api_name="reset_directions",
                api_visibility="undocumented", queue=False)
    gallery.select(select_seed, seeds, selected, api_name="select_seed", api_visibility="undocumented", queue=False)
    reuse.click(lambda picked, current: current if picked is None else picked, [selected, seed], seed,
                api_name="reuse_seed", api_visibility="undocumented", queue=False)
    return {"model": model, "label": label, "selected": selected, "to_start": to_start, "to_end": to_end}


def label_options(registry: Registry, name: str | None, current: str | None) -> dict:
    """Choices, value and visibility of the class-label dropdown for a model."""
    entry = common.find_entry(registry, name, "generate")
    labels = list(common.model_labels(registry, name)) if entry is not None and registry.info(entry).label_kind == "classes" else []
    value = current if current in labels else (labels[0] if labels else None)
    return {"choices": labels, "value": value, "visible": bool(labels)}


def model_info(registry: Registry, name: str | None) -> ModelInfo | None:
    """What a picked generator is (None when nothing valid is picked), without loading it when its entry says enough."""
    entry = common.find_entry(registry, name, "generate")
    return registry.info(entry) if entry is not None else None


def is_style(info: ModelInfo | None) -> bool:
    """Whether a model has StyleGAN's mapping and synthesis (the "style" pipeline)."""
    return info is not None and info.pipeline == "style"


def _num_ws(info: ModelInfo | None) -> int:
    return int(info.options.get("num_ws", 18)) if is_style(info) else 18


def _noise_choices(info: ModelInfo | None) -> list[tuple[str, str]]:
    modes = info.options.get("noise_modes", []) if is_style(info) else []
    return [choice for choice in NOISE_CHOICES if choice[1] in modes] or NOISE_CHOICES


def _shown(info: ModelInfo | None, part: str) -> dict:
    """``visible`` for a control: "threshold" (latent truncation), "psi", "noise", "transform", "style"."""
    latent = info.latent if info is not None else None
    visible = {
        "threshold": latent is not None and latent.truncation == "resample",
        "psi": is_style(info),
        "noise": is_style(info) and bool(info.options.get("noise_modes")),
        "transform": is_style(info) and bool(info.options.get("input_transform")),
        "style": is_style(info),
    }[part]
    return {"visible": visible}


def control_updates(info: ModelInfo | None) -> list:
    """Updates of truncation, psi, cutoff, noise, translate x/y, rotate, the two StyleGAN sections and the layer range."""
    num_ws = _num_ws(info)
    return [gr.Slider(**_shown(info, "threshold")), gr.Slider(**_shown(info, "psi")),
            gr.Slider(maximum=num_ws, **_shown(info, "psi")),
            gr.Radio(choices=_noise_choices(info), value="const", **_shown(info, "noise")),
            gr.Slider(**_shown(info, "transform")), gr.Slider(**_shown(info, "transform")),
            gr.Slider(**_shown(info, "transform")), gr.Accordion(**_shown(info, "style")),
            gr.Accordion(**_shown(info, "style")), gr.Slider(maximum=num_ws - 1, value=0),
            gr.Slider(maximum=num_ws, value=num_ws)]


def style_values(info: ModelInfo, psi: float | None, cutoff: float | None, noise: str | None, translate_x: float | None,
                 translate_y: float | None, rotate: float | None) -> dict:
    """The StyleGAN controls as task keywords; left at their defaults for a model without them, whose task would
    refuse them (hidden controls keep the last model's values)."""
    if not is_style(info):
        return {}
    shift = (float(translate_x or 0.0), float(translate_y or 0.0))
    moves = bool(info.options.get("input_transform"))
    return {"truncation_psi": 1.0 if psi is None else float(psi), "truncation_cutoff": int(cutoff) if cutoff else None,
            "noise_mode": noise or "const", "translate": shift if moves else None,
            "rotate": float(rotate or 0.0) if moves else None}
