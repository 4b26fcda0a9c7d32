"""``latentlab vocode IN.wav --vocoder NAME -o OUT.wav``"""

from __future__ import annotations

import argparse

HELP = "mel spectrogram to audio with Griffin-Lim and neural vocoders"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("vocode", help=HELP, description=HELP)
    p.set_defaults(_group_parser=p)
