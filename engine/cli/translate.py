"""``latentlab translate IN.wav --to DOMAIN -o OUT.wav`` and its data / train / bench entries.

- ``latentlab translate IN.wav --to violin -o OUT.wav`` (``--to`` may name several domains, comma-separated;
  each is written as OUT-<domain>.wav then)
- ``latentlab translate --list-domains``
- ``latentlab data clips -o DIR``: the same music rendered on several instruments
- ``latentlab train translate --data DIR [--add-domain NAME]``
- ``latentlab bench translate --data DIR``: content kept, moved to the target, decode speed
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_device_arg, add_train_args

HELP = "universal music translation: play a clip on another instrument"
DEFAULT_MODEL = "translate"  # the shipped checkpoint's name


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("translate", help=HELP, description=HELP)
    p.add_argument("input", nargs="?", help="audio file (any format, rate and channel count)")
    p.add_argument("--to", dest="to", help="target domain(s), comma-separated (see --list-domains)")
    p.add_argument("-o", "--out", help="output WAV (16 kHz); with several targets, OUT-<domain>.wav each")
    p.add_argument("--list-domains", action="store_true", help="print the instruments the model can play")
    p.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint name or directory (default: translate)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--temperature", type=float, default=None, help="decoder sampling temperature (default: the model's)")
    add_device_arg(p)
    p.set_defaults(func=run_translate, _group_parser=p)


def register_groups(groups: dict[str, argparse._SubParsersAction]) -> None:
    help_text = "render the same music on several instruments (FluidSynth, 16 kHz) for translation"
    p = groups["data"].add_parser("clips", help=help_text, description=help_text)
    p.add_argument("-o", "--out", required=True, help="output directory")
    p.add_argument("--domains", default=None, help="comma-separated instruments or NAME=PROGRAM "
                   "(default: piano,violin,cello,flute,trumpet,guitar)")
    p.add_argument("--tunes", type=int, default=80, help="monophonic folk tunes (default 80)")
    p.add_argument("--chorales", type=int, default=60, help="polyphonic Bach chorales (default 60)")
    p.add_argument("--max-seconds", type=float, default=24.0, help="cut each piece to this length (default 24)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="pieces held out for validation (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_data)

    help_text = "train the music translation network (shared encoder, one WaveNet decoder per domain)"
    p = groups["train"].add_parser("translate", help=help_text, description=help_text)
    p.add_argument("--data", required=True, help="a directory made by `latentlab data clips`")
    add_train_args(p, run_dir="runs/translate", out="checkpoints/translate", fixed=True, export=False)
    p.add_argument("--segment", type=int, default=None, help="training segment in samples")
    p.add_argument("--size", default="default", help="model size preset: default or tiny (tests)")
    p.add_argument("--domains", default=None, help="comma-separated domains to train (default: all in --data)")
    p.add_argument("--add-domain", default=None, metavar="NAME",
                   help="train one new decoder for NAME against the frozen encoder of --from")
    p.add_argument("--from", dest="base", default=DEFAULT_MODEL, help="the model to extend with --add-domain")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)

    help_text = "translation figures on validation pieces: content kept, moved to the target, decode speed"
    p = groups["bench"].add_parser("translate", help=help_text, description=help_text)
    p.add_argument("--data", required=True, help="a directory made by `latentlab data clips`")
    p.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint name or directory")
    p.add_argument("--source", default="piano", help="domain translated from (default piano)")
    p.add_argument("--clips", type=int, default=12, help="validation excerpts per target (default 12)")
    p.add_argument("--seconds", type=float, default=2.0, help="length of each excerpt (default 2 s)")
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--save-audio", default=None, help="write the translated excerpts to this directory")
    p.add_argument("--card", action="store_true", help="write the figures into the model's card.md")
    p.add_argument("--temperature", type=float, default=None, help="decoder sampling temperature (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    add_device_arg(p)
    p.set_defaults(func=run_bench)


def run_translate(args: argparse.Namespace) -> int:
    from ..core.errors import LatentLabError
    from ..ops import translate as ops

    if args.list_domains:
        for name in ops.list_domains(args.model):
            print(name)
        return 0
    if not args.input or not args.to or not args.out:
        raise LatentLabError("usage: latentlab translate IN.wav --to DOMAIN -o OUT.wav (or --list-domains)")
    targets = [t.strip() for t in args.to.split(",") if t.strip()]
    audio = ops.read_input(args.input)
    results = ops.translate(audio, targets, model=args.model, device=args.device, seed=args.seed,
                            temperature=args.temperature)
    out = Path(args.out)
    from ..core.audio import save_wav

    for target, wave in results.items():
        path = out if len(results) == 1 else out.with_name(f"{out.stem}-{target}{out.suffix or '.wav'}")
        save_wav(path, wave, ops.SAMPLE_RATE)
        print(path)
    return 0


def run_data(args: argparse.Namespace) -> int:
    from ..data.translate import build_translate_data, parse_domains

    manifest = build_translate_data(
        args.out, parse_domains(args.domains), tunes=args.tunes, n_chorales=args.chorales,
        max_seconds=args.max_seconds, val_fraction=args.val_fraction, seed=args.seed,
    )
    splits = [p["split"] for p in manifest["pieces"]]
    print(f"{args.out}: {len(splits)} pieces ({splits.count('train')} train, {splits.count('validation')} validation) "
          f"x {len(manifest['domains'])} domains: {', '.join(manifest['domains'])}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from ..train.translate import train_translate

    out = train_translate(
        data=args.data, out=args.out, run_dir=args.run_dir, device=args.device, size=args.size,
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, segment=args.segment,
        domains=args.domains, add_domain=args.add_domain, base=args.base, progress=not args.quiet,
    )
    print(f"wrote {out}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    import json

    from ..bench.translate import bench_translate, format_report, update_card

    report = bench_translate(
        args.data, model=args.model, source=args.source, clips=args.clips, seconds=args.seconds,
        device=args.device, seed=args.seed, save_audio=args.save_audio, temperature=args.temperature,
    )
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if args.card:
        command = (f"latentlab bench translate --data {args.data} --model {args.model} --source {args.source} "
                   f"--clips {args.clips} --seconds {args.seconds} --seed {args.seed} --card"
                   + (f" --temperature {args.temperature}" if args.temperature is not None else ""))
        print(f"updated {update_card(args.model, report, command)}")
    return 0
