"""``latentlab melody ...``"""

from __future__ import annotations

import argparse

from .common import add_group

HELP = "MusicVAE melodies: reconstruct, interpolate, sample, attribute arithmetic"


def register(commands: argparse._SubParsersAction) -> None:
    add_group(commands, "melody", HELP)
