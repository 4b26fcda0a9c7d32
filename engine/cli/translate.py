"""``latentlab translate IN.wav --to DOMAIN -o OUT.wav``"""

from __future__ import annotations

import argparse

HELP = "universal music translation: play a clip on another instrument"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("translate", help=HELP, description=HELP)
    p.set_defaults(_group_parser=p)
