"""``latentlab bench wavenet``: the WaveNet core's generation speed.

    latentlab bench wavenet                                   # 20 layers, 64 ch, 128 skip, batch 1, 1 thread
    latentlab bench wavenet --batch 256 --device cuda --json  # CUDA graphs over many streams
"""

from __future__ import annotations

import argparse
import json

HELP = "WaveNet generation speed: naive loop vs cached PyTorch vs the fast path, side by side"


def register_groups(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["bench"].add_parser(
        "wavenet", help=HELP, description=HELP + " (a randomly initialised decoder with 256 mu-law classes; "
        "for one core, also pin the process: taskset -c 0 latentlab bench wavenet)",
    )
    p.add_argument("--layers", type=int, default=20, help="residual layers (default 20)")
    p.add_argument("--dilation-cycle", type=int, default=10, help="dilation 2**(i %% cycle) (default 10)")
    p.add_argument("--kernel-size", type=int, default=2, help="dilated conv kernel (default 2)")
    p.add_argument("--channels", type=int, default=64, help="residual (and gate) channels (default 64)")
    p.add_argument("--skip-channels", type=int, default=128, help="skip channels (default 128)")
    p.add_argument("--cond-channels", type=int, default=80, help="local conditioning channels, 0 for none (default 80)")
    p.add_argument("--cond-hop", type=int, default=1,
                   help="samples per conditioning frame: 1 = a new vector every sample (transposed-conv upsampling), "
                   "256 = mel frames repeated (default 1)")
    p.add_argument("--global-channels", type=int, default=0, help="global conditioning channels (default 0)")
    p.add_argument("--batch", type=int, default=1, help="streams generated at once (default 1)")
    p.add_argument("--samples", type=int, default=16000, help="samples per stream for the fast path (default 16000)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="best of this many timed runs (default 3)")
    p.add_argument("--no-half", action="store_true", help="skip the float16-weights run of the fast CPU path")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    p.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    from ..bench.wavenet import bench_wavenet, format_result

    result = bench_wavenet(
        layers=args.layers, channels=args.channels, skip_channels=args.skip_channels, kernel_size=args.kernel_size,
        dilation_cycle=args.dilation_cycle, cond_channels=args.cond_channels, cond_hop=args.cond_hop,
        global_channels=args.global_channels,
        batch=args.batch, samples=args.samples, threads=args.threads, device=args.device, repeats=args.repeats,
        half=not args.no_half,
    )
    print(format_result(result), flush=True)
    if args.json:
        print(json.dumps(result))
    return 0
