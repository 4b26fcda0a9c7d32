"""Latent Lab's Gradio app: widgets only; every computation is an engine call."""

import os

# Offline by default: Gradio's usage analytics would try to reach outside servers.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
