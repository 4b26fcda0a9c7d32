"""The "About" tab: the shipped models with their cards, and the device in use."""

from __future__ import annotations

import gradio as gr

from engine import __version__
from engine.checkpoint import list_checkpoints
from engine.device import describe_device

from ..common import AppContext

HEADERS = ["model", "kind", "architecture", "MB"]


def model_table() -> list[list[str]]:
    """One row per shipped model."""
    return [[m.name, m.kind, m.arch, f"{m.size_bytes / 2**20:.1f}"] for m in list_checkpoints()]


def build(ctx: AppContext) -> None:
    models = list_checkpoints()
    gr.Markdown(
        f"**Latent Lab {__version__}** · running on **{describe_device(ctx.device)}** · "
        f"{len(models)} shipped model(s), {sum(m.size_bytes for m in models) / 2**20:.1f} MB in all"
    )
    table = gr.Dataframe(value=model_table(), headers=HEADERS, interactive=False, label="Shipped models")
    refresh = gr.Button("Refresh", size="sm")
    refresh.click(model_table, outputs=table, api_name="list_models")
    for m in models:
        with gr.Accordion(f"{m.name} — model card", open=False):
            gr.Markdown(m.card or "_(no card)_")
