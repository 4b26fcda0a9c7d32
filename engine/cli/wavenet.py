"""``latentlab bench wavenet``: the WaveNet core's generation speed."""

from __future__ import annotations

import argparse


def register_groups(groups: dict[str, argparse._SubParsersAction]) -> None:
    pass
