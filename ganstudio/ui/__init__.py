"""The web UI: ``build_app(registry)`` composes one module per tab into a ``gr.Blocks``.

Each tab module lays out its widgets and wires callbacks that only translate between
widgets and task calls; this module adds the header, the per-session runtime choice
(Models tab) that every tab reads, and the few links between tabs.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import gradio as gr

from ganstudio.registry import Registry
from ganstudio.tasks.background import BackgroundRuns
from ganstudio.train.jobs import JobManager
from ganstudio.ui import (
    common,
    edit,
    finetune,
    generate,
    interpolate,
    models,
    stylize,
    translate,
)

TITLE = "GAN Studio"
DEFAULT_CONCURRENCY = int(os.environ.get("GANSTUDIO_CONCURRENCY", "2"))  # networks running at once, all tabs together
QUEUE_SIZE = 64

HEADER = f"# 🎨 {TITLE}"
ABOUT = """
Generate images with GANs, walk their latent space, translate pictures (pix2pix, CycleGAN), edit attributes and
borrow styles (StarGAN v1 and v2), and paint in the style of another image. Built-in models, your own official
checkpoints (**Models** tab), or models fine-tuned on your pictures (**Fine-tune** tab). Every button is also an API
endpoint (see *Use via API* at the bottom).
"""

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
.dice { font-size: 1.3em; align-self: end; }
.run-info { color: var(--body-text-color-subdued); font-size: 0.92em; }
.model-about { color: var(--body-text-color-subdued); font-size: 0.9em; min-height: 1.5em; }
#header { margin-bottom: 0.3em; }
#about { margin-bottom: 0.4em; }
/* Phones: a smaller header and tighter tab buttons (the tab bar wraps: overflow_behavior="wrap"). */
@media (max-width: 640px) {
  .tab-wrapper .tab-container button { padding: 4px 9px; }
  #header h1 { font-size: 1.35em; margin: 0; }
}
.finetune-progress progress { width: 100%; height: 0.9em; accent-color: var(--color-accent); }
"""


def build_app(registry: Registry | None = None, *, jobs: JobManager | None = None,
              runs: BackgroundRuns | None = None) -> gr.Blocks:
    """The whole app for a registry; nothing is loaded until a request needs a model.

    ``jobs`` is the fine-tuning queue (default: one over the registry's user folder); its
    scheduler thread starts with the first job, or now when jobs are queued from a previous run.
    ``runs`` is the queue of long tasks run in a thread of the app (style optimisation).
    """
    registry = registry or Registry()
    jobs = jobs or JobManager(registry)
    runs = runs or BackgroundRuns()
    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600)) as app:
        gr.Markdown(HEADER, elem_id="header")
        with gr.Accordion("What is this?", open=False, elem_id="about"):
            gr.Markdown(ABOUT)
        backends = gr.State({})  # model name -> "torch" | "onnx" for this session (Models tab)
        # every tab stays in sight on a phone: the bar wraps instead of hiding tabs behind a "more" menu
        with gr.Tabs(overflow_behavior="wrap") as tabs:
            with gr.Tab("Generate", id="generate"):
                generate_parts = generate.build_tab(registry, backends)
            with gr.Tab("Interpolate", id="interpolate"):
                interpolate_parts = interpolate.build_tab(registry, backends)
            with gr.Tab("Translate", id="translate"):
                translate_parts = translate.build_tab(registry, backends)
            with gr.Tab("StarGAN", id="stargan"):
                edit_parts = edit.build_tab(registry, backends)
            with gr.Tab("Style transfer", id="stylize"):
                stylize_parts = stylize.build_tab(registry, backends, runs=runs)
            with gr.Tab("Models", id="models") as models_tab:
                models_parts = models.build_tab(registry, backends, tab=models_tab)
            with gr.Tab("Fine-tune", id="finetune") as finetune_tab:
                finetune_parts = finetune.build_tab(registry, backends, jobs=jobs, tab=finetune_tab)
        _link_generate_to_interpolate(generate_parts, interpolate_parts, tabs)
        pickers: list[tuple[gr.Dropdown, Callable[[], list[str]]]] = [
            (generate_parts["model"], lambda: registry.names("generate")),
            (interpolate_parts["model"], lambda: registry.names("generate")),
            (translate_parts["model"], lambda: registry.names("translate")),
            (edit_parts["model"], lambda: registry.names("edit")),
            (stylize_parts["model"], lambda: registry.names("stylize")),
            (models_parts["runtime_model"], registry.names),
            (models_parts["export_model"], lambda: models.exportable(registry)),
            (finetune_parts["base"], lambda: finetune.base_choices(registry)),
        ]

        def refresh_pickers(*current: str | None) -> list[gr.Dropdown]:
            """Every model picker lists the registry's models again (after an import, or when a page opens)."""
            return [common.refresh_picker(names(), value) for (_, names), value in zip(pickers, current)]

        dropdowns = [dropdown for dropdown, _ in pickers]
        models_parts["imported"].then(refresh_pickers, dropdowns, dropdowns, api_name="refresh_pickers",
                                      api_visibility="undocumented", queue=False)
        # A fine-tuning job of this page has registered its model (the tab's timer noticed).
        finetune_parts["registered"].change(refresh_pickers, dropdowns, dropdowns, queue=False,
                                            api_name="refresh_pickers_after_training", api_visibility="undocumented")
        app.load(refresh_pickers, dropdowns, dropdowns, api_name="refresh_pickers_on_load",
                 api_visibility="undocumented", queue=False)
    return app


def launch_options() -> dict:
    """Theme and CSS, which Gradio 6 takes in ``launch()``."""
    return {"theme": gr.themes.Soft(primary_hue="indigo", secondary_hue="amber"), "css": CSS}


def _link_generate_to_interpolate(generate_parts: dict, interpolate_parts: dict, tabs: gr.Tabs) -> None:
    """"Interpolate from/to it": the picked seed (and its model and label) becomes an end of the Interpolate tab."""

    def send(model_name: str | None, seed: float | None, label: str | None):
        if seed is None:
            raise gr.Error("click an image in the gallery first.", print_exception=False)
        return model_name, int(seed), label, gr.Tabs(selected="interpolate")

    inputs = [generate_parts["model"], generate_parts["selected"], generate_parts["label"]]
    for button, end in (("to_start", "seed_a"), ("to_end", "seed_b")):
        generate_parts[button].click(
            send, inputs, [interpolate_parts["model"], interpolate_parts[end], interpolate_parts["label"], tabs],
            api_name=f"send_seed_{end}", api_visibility="undocumented", queue=False,
        )
