"""Reusable layers written once and composed by the models (WaveNet stack, encoders, generation)."""
