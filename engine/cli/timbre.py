"""``latentlab timbre ...``"""

from __future__ import annotations

import argparse

from .common import add_group

HELP = "NSynth-style WaveNet autoencoder: encode, decode, reconstruct and morph notes"


def register(commands: argparse._SubParsersAction) -> None:
    add_group(commands, "timbre", HELP)
