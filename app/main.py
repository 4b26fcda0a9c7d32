"""The Latent Lab web app: one tab per capability plus "About".

Tabs only arrange widgets and call engine functions; each lives in ``app/tabs/<name>.py`` with a
``build(ctx)`` function. ``latentlab serve`` calls :func:`launch`.
"""

from __future__ import annotations

import gradio as gr

from engine.core.device import resolve_device

from .common import MAX_UPLOAD, AppContext
from .tabs import about, melody, timbre, translate, vocode

TABS = (("Melodies", melody), ("Timbre", timbre), ("Translate", translate), ("Vocode", vocode), ("About", about))
INTRO = (
    "# Latent Lab\n"
    "Explore music and sound through learned latent spaces — every model here was trained by us, "
    "runs on this machine, and works offline."
)
CACHE_SECONDS = 3600  # delete uploaded and generated files older than an hour, checked hourly


def build_app(device: str | None = None) -> gr.Blocks:
    """Build (not launch) the Blocks app on ``device`` (None: CUDA when present, else CPU)."""
    ctx = AppContext(device=resolve_device(device))
    with gr.Blocks(title="Latent Lab", delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as demo:
        gr.Markdown(INTRO)
        for label, module in TABS:
            with gr.Tab(label):
                module.build(ctx)
    return demo


def launch(host: str = "127.0.0.1", port: int = 7860, device: str | None = None, block: bool = True):
    """Start the server on ``host:port`` (loopback by default). Returns the Blocks when not blocking."""
    demo = build_app(device)
    # Light events (tables, plots of inputs) run side by side; model calls share the "models" queue.
    demo.queue(default_concurrency_limit=8, max_size=256)
    demo.launch(
        server_name=host,
        server_port=port,
        max_file_size=MAX_UPLOAD,
        prevent_thread_lock=not block,
        show_error=True,
        footer_links=["api"],
        quiet=not block,
    )
    return demo
