"""The web UI: ``build_app(registry)`` composes one module per tab into a ``gr.Blocks``.

Each tab module lays out its widgets and wires callbacks that only translate between
widgets and task calls; this module adds the header, the per-session runtime choice
(Models tab) that every tab reads, who the visitor is (a page load ties the browser's
stored id to its session), and the few links between tabs.

In a public studio (``registry.policy.public``) the page is laid out for nobody in particular
(built-in and shared models only); each request then lists what its visitor may see.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

import gradio as gr

from ganstudio.policy import NOBODY, visiting
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


PUBLIC_NOTE = """
*This is a public studio: the models you import or fine-tune, and your jobs, are visible to this browser only.
Limits: {limits}.*
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
    public = registry.policy.public
    # a public studio's downloads wait less long in Gradio's cache (each is also in our output folder)
    with visiting(NOBODY), gr.Blocks(title=TITLE, delete_cache=(1800, 1800) if public else (3600, 3600)) as app:
        gr.Markdown(HEADER, elem_id="header")
        if public:
            gr.Markdown(PUBLIC_NOTE.format(limits=registry.policy.describe()))
        with gr.Accordion("What is this?", open=False, elem_id="about"):
            gr.Markdown(ABOUT)
        backends = gr.State({})  # model name -> "torch" | "onnx" for this session (Models tab)
        # this browser's id (kept in its storage): its models and jobs stay its own across page reloads
        browser = gr.BrowserState(None, storage_key="ganstudio-visitor", secret=_browser_secret(registry))
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

        @common.as_visitor
        def refresh_pickers(generate_model: str | None, interpolate_model: str | None, translate_model: str | None,
                            edit_model: str | None, stylize_model: str | None, runtime_model: str | None,
                            export_model: str | None, base_model: str | None) -> list[gr.Dropdown]:
            """Every model picker lists the models of this visitor again (after an import, or when a page opens)."""
            current = (generate_model, interpolate_model, translate_model, edit_model, stylize_model, runtime_model,
                       export_model, base_model)
            return [common.refresh_picker(names(), value) for (_, names), value in zip(pickers, current)]

        dropdowns = [dropdown for dropdown, _ in pickers]
        models_parts["imported"].then(refresh_pickers, dropdowns, dropdowns, api_name="refresh_pickers",
                                      api_visibility="undocumented", queue=False)
        # A fine-tuning job of this page has registered its model (the tab's timer noticed).
        finetune_parts["registered"].change(refresh_pickers, dropdowns, dropdowns, queue=False,
                                            api_name="refresh_pickers_after_training", api_visibility="undocumented")
        # who is here first, then what they may pick
        app.load(common.remember_browser, browser, browser, api_name="remember_browser",
                 api_visibility="undocumented", queue=False).then(
            refresh_pickers, dropdowns, dropdowns, api_name="refresh_pickers_on_load", api_visibility="undocumented",
            queue=False)
    return app


def _browser_secret(registry: Registry) -> str:
    """The key a browser's stored id is encrypted with: kept in the user folder, so that it survives a restart
    (Gradio's default is a new key per start, which would make every visitor a stranger to their own models)."""
    path = registry.user_dir / ".browser-secret"
    try:
        text = path.read_text(encoding="utf-8").strip()
        if len(text) >= 32:
            return text
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    text = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return text


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
