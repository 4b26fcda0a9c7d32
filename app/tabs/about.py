"""The "About" tab: the shipped models with the figures from their cards, and the device in use."""

from __future__ import annotations

import gradio as gr

from engine import __version__
from engine.core.cards import card_title, figure_sections
from engine.core.checkpoint import CheckpointInfo, list_checkpoints
from engine.core.device import describe_device

from ..common import AppContext

HEADERS = ["model", "kind", "architecture", "MB"]
NO_FIGURES = "_Its card holds no measured figures yet._"


def model_table() -> list[list[str]]:
    """One row per shipped model."""
    return [[m.name, m.kind, m.arch, f"{m.size_bytes / 2**20:.1f}"] for m in list_checkpoints()]


def model_summary(m: CheckpointInfo) -> str:
    """A model's title, what it is, and the measured figures from its card, as Markdown."""
    figures = "\n\n".join(f"#### {title}\n{body}" for title, body in figure_sections(m.card)) or NO_FIGURES
    return (f"### {card_title(m.card, m.name)}\n`{m.name}` · {m.kind} · {m.arch} · "
            f"{m.size_bytes / 2**20:.1f} MB\n\n{figures}")


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
        with gr.Group():
            gr.Markdown(model_summary(m), padding=True)
            with gr.Accordion(f"{m.name} — the whole model card", open=False):
                gr.Markdown(m.card or "_(no card)_")
