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


def add_train_args(parser: argparse.ArgumentParser, *, run_dir: str, out: str, fixed: bool = False,
                   lr: bool = True, export: bool = True) -> None:
    """The options every ``latentlab train`` command shares: --steps, --batch-size, --lr, --run-dir, --out,
    --export and --device.

    run_dir, out : the defaults of --run-dir and --out, as --help shows them
    fixed : they are the defaults themselves (else they only describe what the trainer works out, e.g.
        ``runs/<config>``, and the options default to None)
    lr, export : whether the command takes --lr / --export
    """
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    parser.add_argument("--batch-size", type=int, default=None, help="examples per batch (default: the recipe's)")
    if lr:
        parser.add_argument("--lr", type=float, default=None, help="learning rate (default: the recipe's)")
    parser.add_argument("--run-dir", default=run_dir if fixed else None,
                        help=f"resumable state and loss log (default {run_dir})")
    parser.add_argument("--out", default=out if fixed else None, help=f"checkpoint folder to write (default {out})")
    if export:
        parser.add_argument("--export", action="store_true",
                            help="only write the checkpoint from the run's last saved state (no training)")
    add_device_arg(parser)
