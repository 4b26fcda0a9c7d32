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


def register_groups(groups: dict[str, argparse._SubParsersAction]) -> None:
    help_text = "load test: concurrent clients against a local server (loopback only)"
    p = groups["bench"].add_parser("serve", help=help_text, description=help_text)
    p.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    p.add_argument("--seconds", type=float, default=60.0, help="how long to drive them (default 60)")
    p.add_argument("--endpoint", default="list_models", help="which workload (default list_models)")
    p.add_argument("--url", default=None, help="a running server on a loopback address (default: start one)")
    p.add_argument("--json", action="store_true", help="end with one JSON line")
    add_device_arg(p)
    p.set_defaults(func=bench)


def bench(args: argparse.Namespace) -> int:
    from ..bench.serve import format_result, result_json, run_serve_bench

    result = run_serve_bench(args.clients, args.seconds, args.endpoint, args.url, args.device or "cpu")
    print(format_result(result))
    if args.json:
        print(result_json(result))
    return 0 if result.failures == 0 else 1


def run(args: argparse.Namespace) -> int:
    from app.main import launch

    launch(host=args.host, port=args.port, device=args.device)
    return 0
