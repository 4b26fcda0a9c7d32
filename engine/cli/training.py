"""``latentlab bench train`` (every recipe's step time against the machine's peak) and ``latentlab train all``.

    latentlab bench train [RECIPE ...] [--baseline] [--compile] [--steps N] [--threads N] [--json]
    latentlab train all --device cuda --minutes N
"""

from __future__ import annotations

import argparse
import json
import sys

BENCH_HELP = "training step time of every recipe, GFLOP/s against this machine's matmul peak, in one run"


def register_groups(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["bench"].add_parser("train", help=BENCH_HELP, description=BENCH_HELP + (
        " (synthetic batches of each recipe's real shapes and its real model and batch size; no dataset needed). "
        "On a busy machine use --threads 1: two threads fighting other jobs for two cores run many times slower"))
    p.add_argument("recipes", nargs="*", metavar="RECIPE",
                   help="recipes to run (default: all; ':adv' rows are a GAN vocoder's adversarial phase)")
    p.add_argument("--baseline", action="store_true",
                   help="also run each recipe as before bf16 on the CPU (float32 throughout): the gain is a ratio")
    p.add_argument("--compile", action="store_true",
                   help="also run each recipe with its modules under torch.compile (its gain is against the recipe)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per recipe after 2 warm-up steps (default 5)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    p.set_defaults(func=run_bench)

    help_text = "resume or start every shipped recipe, each with a share of --minutes, and replace a shipped checkpoint where the new one measures better"
    t = groups["train"].add_parser("all", help=help_text, description=help_text + (
        ". Each recipe's steps come from its share of the budget and its step time measured first on the device "
        "(batches 4x the recipe's on a GPU). Runs resume from runs/<recipe>; recipes whose data are missing are "
        "skipped with the command that makes them"))
    t.add_argument("--minutes", type=float, required=True, help="wall-clock budget for all recipes together")
    t.add_argument("--checkpoints", default="checkpoints", help="the shipped checkpoints (default checkpoints)")
    t.add_argument("--batch-scale", type=int, default=None,
                   help="batch = the recipe's x this (default: 4 on CUDA, 1 on the CPU)")
    t.add_argument("--only", nargs="+", default=None, metavar="NAME", help="only these shipped recipes")
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when present, else CPU)")
    t.add_argument("--json", action="store_true", help="end with one JSON line of the rows")
    t.set_defaults(func=run_train_all)


def run_train_all(args: argparse.Namespace) -> int:
    from ..core.device import resolve_device
    from ..core.errors import LatentLabError
    from ..train.all import format_rows, shipped_jobs, train_all

    jobs = shipped_jobs(args.checkpoints)
    if args.only:
        unknown = sorted(set(args.only) - {j.name for j in jobs})
        if unknown:
            raise LatentLabError(f"no shipped recipe {', '.join(unknown)}: choose from {', '.join(j.name for j in jobs)}")
        jobs = [j for j in jobs if j.name in args.only]
    device = str(resolve_device(args.device))
    rows = train_all(jobs, args.minutes, device, args.checkpoints, args.batch_scale,
                     log=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_rows(rows), flush=True)
    if args.json:
        print(json.dumps(rows))
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from ..bench.train import bench_train, format_table

    report = bench_train(args.recipes or None, steps=args.steps, baseline=args.baseline, threads=args.threads,
                         compile_=args.compile,
                         device=args.device, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(format_table(report), flush=True)
    if args.json:
        print(json.dumps(report))
    return 0
