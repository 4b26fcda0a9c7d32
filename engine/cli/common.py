"""Small helpers shared by the capability CLIs."""

from __future__ import annotations

import argparse


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when present, else CPU)")


def add_group(commands: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    """A top-level group whose bare invocation prints its help."""
    group = commands.add_parser(name, help=help_text, description=help_text)
    group.set_defaults(_group_parser=group)
    return group.add_subparsers(title=f"{name} commands", metavar="COMMAND")
