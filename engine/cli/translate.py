"""``latentlab translate IN.wav --to DOMAIN -o OUT.wav`` and its data / train / bench entries.

- ``latentlab translate IN.wav --to violin -o OUT.wav [--engine auto|umt|tone]`` (``--to`` may name several
  domains, comma-separated; each is written as OUT-<domain>.wav then)
- ``latentlab translate --list-domains [--engine tone]``
- ``latentlab data translate -o DIR``: the same music rendered on several instruments
- ``latentlab train translate --data DIR [--arch frames|wavenet] [--add-domain NAME]``
- ``latentlab bench translate --data DIR``: content kept, moved to the target, decode speed
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_device_arg, add_train_args

HELP = "universal music translation: play a clip on another instrument"
DEFAULT_MODEL = "translate"  # the shipped checkpoint's name
PHASES = ("input", "vocoder")  # engine.ops.translate.PHASES (not imported here: the CLI starts without torch)


def add_phase_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--phase", default=PHASES[0], choices=PHASES,
                   help="frame translator's output phase: input (default: the input's phase where it is loud, so the "
                        "notes stay the input's) or vocoder (the vocoder's own)")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("translate", help=HELP, description=HELP)
    p.add_argument("input", nargs="?", help="audio file (any format, rate and channel count)")
    p.add_argument("--to", dest="to", help="target domain(s), comma-separated (see --list-domains)")
    p.add_argument("-o", "--out", help="output WAV (the engine's rate); with several targets, OUT-<domain>.wav each")
    p.add_argument("--list-domains", action="store_true", help="print the instruments the engine can play")
    p.add_argument("--engine", default="auto", choices=("auto", "umt", "tone"),
                   help="umt: polyphonic translation network; tone: monophonic tone transfer through the DDSP "
                        "timbre model; auto (default): umt when a translation model is installed, else tone")
    p.add_argument("--model", default=DEFAULT_MODEL, help="translation checkpoint name or directory (default: translate)")
    p.add_argument("--vocoder", default=None, help="vocoder of the frame translator (default: the best installed)")
    add_phase_arg(p)
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--temperature", type=float, default=None, help="decoder sampling temperature (default: the model's)")
    add_device_arg(p)
    p.set_defaults(func=run_translate, _group_parser=p)


def register_groups(groups: dict[str, argparse._SubParsersAction]) -> None:
    help_text = "render the same music on several instruments (FluidSynth, 22,050 Hz) for translation"
    p = groups["data"].add_parser("translate", aliases=["clips"], help=help_text, description=help_text)
    p.add_argument("-o", "--out", required=True, help="output directory")
    p.add_argument("--domains", default=None, help="comma-separated instruments or NAME=PROGRAM "
                   "(default: piano,violin,cello,flute,trumpet,guitar,clarinet,organ)")
    p.add_argument("--tunes", type=int, default=80, help="monophonic folk tunes (default 80)")
    p.add_argument("--chorales", type=int, default=60, help="polyphonic Bach chorales (default 60)")
    p.add_argument("--max-seconds", type=float, default=24.0, help="cut each piece to this length (default 24)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="pieces held out for validation (default 0.1)")
    p.add_argument("--sample-rate", type=int, default=22050, choices=(16000, 22050),
                   help="render rate: 22050 (the frame translator's mel, default) or 16000 (the WaveNet translator)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_data)

    help_text = "train the music translation network (shared encoder, one decoder per domain)"
    p = groups["train"].add_parser("translate", help=help_text, description=help_text)
    p.add_argument("--data", required=True, help="a directory made by `latentlab data translate`")
    add_train_args(p, run_dir="runs/translate_frames (wavenet: runs/translate)", out="checkpoints/translate",
                   export=False)
    p.add_argument("--arch", default="frames", choices=("frames", "wavenet"),
                   help="frames (default): mel-frame decoders voiced by a vocoder, 22,050 Hz data; "
                        "wavenet: sample-level WaveNet decoders, 16 kHz data")
    p.add_argument("--recipe", default=None, help="frame recipe: frames (default) or frames_unpaired (no paired loss)")
    p.add_argument("--frames", type=int, default=None, help="mel frames per training excerpt (frames arch)")
    p.add_argument("--segment", type=int, default=None, help="training segment in samples (wavenet arch)")
    p.add_argument("--size", default="default", help="model size preset: default or tiny (tests)")
    p.add_argument("--domains", default=None, help="comma-separated domains to train (default: all in --data)")
    p.add_argument("--add-domain", default=None, metavar="NAME",
                   help="train one new decoder for NAME against the frozen encoder of --from")
    p.add_argument("--from", dest="base", default=DEFAULT_MODEL, help="the model to extend with --add-domain")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)

    help_text = "translation figures on validation pieces: content kept, moved to the target, decode speed"
    p = groups["bench"].add_parser("translate", help=help_text, description=help_text)
    p.add_argument("--data", required=True, help="a directory made by `latentlab data translate`")
    p.add_argument("--model", default=DEFAULT_MODEL, help="checkpoint name or directory")
    p.add_argument("--source", default="piano", help="domain translated from (default piano)")
    p.add_argument("--clips", type=int, default=12, help="validation excerpts per target (default 12)")
    p.add_argument("--seconds", type=float, default=2.0, help="length of each excerpt (default 2 s)")
    p.add_argument("--json", default=None, help="also write the figures here")
    p.add_argument("--save-audio", default=None, help="write the translated excerpts to this directory")
    p.add_argument("--card", action="store_true", help="write the figures into the model's card.md")
    p.add_argument("--temperature", type=float, default=None, help="decoder sampling temperature (default: the model's)")
    p.add_argument("--vocoder", default=None, help="vocoder of the frame translator (default: the best installed)")
    add_phase_arg(p)
    p.add_argument("--engine", default="umt", choices=("umt", "tone"),
                   help="umt: the translation network --model (default); tone: tone transfer (DDSP timbre model)")
    p.add_argument("--speed-seconds", type=float, default=10.0, help="length of the timed clip (default 10 s; 0: none)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--seed", type=int, default=0)
    add_device_arg(p)
    p.set_defaults(func=run_bench)


def run_translate(args: argparse.Namespace) -> int:
    from ..core.errors import LatentLabError
    from ..ops import translate as ops

    engine = ops.resolve_engine(args.engine, args.model)
    if args.list_domains:
        for name in ops.engine_domains(engine, args.model):
            print(name)
        return 0
    if not args.input or not args.to or not args.out:
        raise LatentLabError("usage: latentlab translate IN.wav --to DOMAIN -o OUT.wav (or --list-domains)")
    targets = [t.strip() for t in args.to.split(",") if t.strip()]
    audio = ops.read_input(args.input, ops.engine_rate(engine, args.model), ops.engine_max_seconds(engine, args.model))
    results = ops.translate(audio, targets, model=args.model, device=args.device, seed=args.seed,
                            temperature=args.temperature, engine=engine, vocoder=args.vocoder, phase=args.phase)
    out = Path(args.out)
    from ..core.audio import save_wav

    for target, wave in results.items():
        path = out if len(results) == 1 else out.with_name(f"{out.stem}-{target}{out.suffix or '.wav'}")
        save_wav(path, wave, results.sample_rate)
        print(path)
    return 0


def run_data(args: argparse.Namespace) -> int:
    from ..data.translate import build_translate_data, parse_domains

    manifest = build_translate_data(
        args.out, parse_domains(args.domains), tunes=args.tunes, n_chorales=args.chorales,
        max_seconds=args.max_seconds, val_fraction=args.val_fraction, seed=args.seed, sample_rate=args.sample_rate,
    )
    splits = [p["split"] for p in manifest["pieces"]]
    print(f"{args.out}: {len(splits)} pieces ({splits.count('train')} train, {splits.count('validation')} validation) "
          f"x {len(manifest['domains'])} domains: {', '.join(manifest['domains'])}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    out_dir = args.out or "checkpoints/translate"
    if args.arch == "frames":
        from ..train.translate_frames import train_frames

        out = train_frames(
            data=args.data, out=out_dir, run_dir=args.run_dir or "runs/translate_frames", device=args.device,
            size=args.size, steps=args.steps, batch_size=args.batch_size, lr=args.lr, frames=args.frames,
            domains=args.domains, add_domain=args.add_domain, base=args.base, recipe=args.recipe,
            progress=not args.quiet,
        )
        print(f"wrote {out}")
        return 0
    from ..train.translate import train_translate

    out = train_translate(
        data=args.data, out=out_dir, run_dir=args.run_dir or "runs/translate", device=args.device, size=args.size,
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, segment=args.segment,
        domains=args.domains, add_domain=args.add_domain, base=args.base, progress=not args.quiet,
    )
    print(f"wrote {out}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    import json

    from ..bench.translate import bench_translate, format_report, update_card

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    report = bench_translate(
        args.data, model=args.model, source=args.source, clips=args.clips, seconds=args.seconds,
        device=args.device, seed=args.seed, save_audio=args.save_audio, temperature=args.temperature,
        engine=args.engine, vocoder=args.vocoder, speed_seconds=args.speed_seconds, phase=args.phase,
    )
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if args.card:
        command = (f"latentlab bench translate --data {args.data} --model {args.model} --source {args.source} "
                   f"--clips {args.clips} --seconds {args.seconds} --seed {args.seed} --engine {args.engine} --card"
                   + (f" --temperature {args.temperature}" if args.temperature is not None else "")
                   + (f" --vocoder {args.vocoder}" if args.vocoder else "")
                   + (f" --phase {args.phase}" if args.phase != "input" else "")
                   + (f" --threads {args.threads}" if args.threads else ""))
        print(f"updated {update_card(args.model, report, command)}")
    return 0
