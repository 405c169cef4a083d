"""Fine-tune tab: a placeholder until fine-tuning lands (its own issue fills this module)."""

from __future__ import annotations

import gradio as gr

from ganstudio.registry import Registry


def build_tab(registry: Registry, backends: gr.State) -> dict[str, gr.components.Component]:
    """A note saying fine-tuning is coming; the tab keeps its place in the app."""
    gr.Markdown(
        "### Fine-tuning is coming\n"
        "Train a built-in or imported model further on your own images, watch its samples as it learns, "
        "and use the result in the other tabs. Until then, train with the official repositories and "
        "import the checkpoint in the **Models** tab."
    )
    return {}
