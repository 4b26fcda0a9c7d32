"""Latent Lab's Gradio app: widgets only; every computation is an engine call."""
