"""Entry point of the ``latentlab`` command.

Groups: ``melody``, ``timbre``, ``translate``, ``vocode``, ``data``, ``train``, ``bench``, ``serve``.
Each capability module in this package has ``register(commands)``, which adds its top-level command,
and may have ``register_groups(groups)``, which adds its entries to the ``data`` / ``train`` / ``bench``
groups.
Heavy imports (torch, gradio) happen inside the handlers, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..core.errors import LatentLabError

# Capability modules, in the order their commands appear in --help.
CAPABILITIES = ("melody", "timbre", "translate", "vocode", "serve")
# Modules that only add to the data / train / bench groups.
GROUP_ONLY = ("wavenet", "training")
CONTAINER_GROUPS = {
    "data": "build training datasets from audio and MIDI we can make here",
    "train": "train a model (resumable; GPU when present; torchrun-ready)",
    "bench": "measure speed and quality side by side in one run",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentlab",
        description="Latent Lab: explore music and sound through learned latent spaces.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"latentlab {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    modules = [importlib.import_module(f".{name}", __package__) for name in CAPABILITIES]
    # Capabilities first (melody, timbre, translate, vocode), then the container groups, then serve.
    for module in modules[:-1]:
        module.register(commands)
    for name, help_text in CONTAINER_GROUPS.items():
        group = commands.add_parser(name, help=help_text, description=help_text)
        group.set_defaults(_group_parser=group)
        groups[name] = group.add_subparsers(title=f"{name} commands", metavar="WHAT")
    modules[-1].register(commands)
    modules += [importlib.import_module(f".{name}", __package__) for name in GROUP_ONLY]
    for module in modules:
        if hasattr(module, "register_groups"):
            module.register_groups(groups)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "func", None)
    if handler is None:
        (getattr(args, "_group_parser", None) or parser).print_help(sys.stderr)
        return 2
    try:
        result = handler(args)
    except LatentLabError as e:
        print(f"latentlab: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("latentlab: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
