"""Latent Lab engine: models, data and operations behind the CLI and the app."""

__version__ = "0.1.0"
