"""``latentlab serve``: the Gradio app."""

from __future__ import annotations

import argparse

from .common import add_device_arg

HELP = "start the web app (listens on 127.0.0.1 unless --host says otherwise)"


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help=HELP, description=HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--share", action="store_true", help=argparse.SUPPRESS)
    add_device_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.main import launch

    launch(host=args.host, port=args.port, device=args.device)
    return 0
