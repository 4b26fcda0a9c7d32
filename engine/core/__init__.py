"""Infrastructure every layer uses: audio, mel, MIDI, rendering, plots, checkpoints, cards, devices, errors, metrics."""
