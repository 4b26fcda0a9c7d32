"""``latentlab vocode``, ``latentlab data vocode``, ``latentlab train vocode NAME``, ``latentlab bench vocode``,
``latentlab bench curve NAME``.

    latentlab vocode IN.wav --vocoder hifigan -o OUT.wav        # analysis -> mel -> vocoder
    latentlab vocode --mel MEL.npy --vocoder melgan -o OUT.wav  # an [80, frames] natural-log mel
    latentlab vocode --list                                      # the vocoders and whether each is installed
"""

from __future__ import annotations

import argparse

from .common import add_device_arg, add_train_args

HELP = "mel spectrogram to audio with Griffin-Lim and neural vocoders"
NAMES = ("griffinlim", "wavenet", "waveglow", "flowavenet", "melgan", "parallel_wavenet", "hifigan", "vocos")


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "vocode", help=HELP, description=HELP + ". Give an audio file, or --mel with an [80, frames] "
        "natural-log mel .npy (22,050 Hz, n_fft 1024, hop 256, 80 mels, fmin 0, fmax 8000: the HiFi-GAN / "
        "Tacotron 2 standard).",
    )
    p.add_argument("input", nargs="?", help="audio file to analyse and resynthesize (WAV, FLAC, OGG, MP3)")
    p.add_argument("--mel", help="an [80, frames] natural-log mel .npy to vocode instead of an audio file")
    p.add_argument("--vocoder", choices=NAMES,
                   help="which vocoder (default: vocos when its checkpoint is installed, else hifigan, else griffinlim)")
    p.add_argument("-o", "--output", help="output WAV (22,050 Hz)")
    p.add_argument("--list", action="store_true", help="list the vocoders and whether each is installed")
    p.add_argument("--checkpoint", help="a checkpoint directory to use instead of checkpoints/NAME")
    p.add_argument("--iterations", type=int, help="Griffin-Lim iterations (default 32)")
    p.add_argument("--momentum", type=float, help="Griffin-Lim momentum (default 0.99)")
    p.add_argument("--sigma", type=float, help="sampling temperature of the flow vocoders (WaveGlow, FloWaveNet)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="any other vocoder option")
    add_device_arg(p)
    p.set_defaults(func=run_vocode, _group_parser=p)


def register_groups(groups: dict[str, argparse._SubParsersAction]) -> None:
    help_text = ("render a vocoder corpus at 22,050 Hz: music21 pieces on General MIDI programs, speech from "
                 "Debian's text-to-speech voices, and/or your audio")
    d = groups["data"].add_parser("vocode", aliases=["audio"], help=help_text, description=help_text)
    d.add_argument("-o", "--out", default="data/vocoder", help="output folder (default data/vocoder)")
    d.add_argument("--wav-dir", help="also take every audio file under this folder (speech works the same)")
    d.add_argument("--no-corpus", action="store_true", help="skip the music21 renders (use --wav-dir alone)")
    d.add_argument("--programs", type=int, nargs="+", help="General MIDI programs to render on (default: 21 of them)")
    d.add_argument("--minutes", type=float, default=40.0, help="minutes of corpus audio to render (default 40)")
    d.add_argument("--speech-minutes", type=float, default=120.0,
                   help="minutes of text-to-speech to add (default 120; needs espeak-ng, flite or festival; 0: none)")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=run_data)

    help_text = "train a vocoder on a `latentlab data vocode` corpus (resumable)"
    t = groups["train"].add_parser("vocode", aliases=["vocoder"], help=help_text, description=help_text)
    t.add_argument("name", choices=[n for n in NAMES if n != "griffinlim"], help="which vocoder")
    t.add_argument("--data", default="data/vocoder", help="corpus folder (default data/vocoder)")
    add_train_args(t, run_dir="runs/vocoder_NAME", out="checkpoints/NAME")
    t.add_argument("--init", metavar="CHECKPOINT",
                   help="start a new run from this checkpoint's weights (e.g. checkpoints/vocos); a run that "
                        "already has a saved state resumes from it instead")
    t.add_argument("--snapshot-every", type=int, default=None, metavar="N",
                   help="keep the vocoder every N steps in RUN_DIR/snapshots (the points `latentlab bench curve` "
                        "scores; default: the recipe's)")
    t.add_argument("--config", help="model shape overrides for a new run as JSON, e.g. '{\"phase_demod\": true}' "
                                    "(a run resumes with the shape it started with)")
    t.add_argument("--adv-start", type=int, default=None, metavar="STEP",
                   help="a GAN vocoder's discriminators join at STEP instead of the recipe's (e.g. the step a "
                        "reconstruction-only run has reached); the run keeps it for its resumes")
    t.set_defaults(func=run_train)

    help_text = ("every vocoder side by side: parameters, real-time factor, PESQ and STOI on validation speech, "
                 "MR-STFT distance and mel L1 on validation music")
    b = groups["bench"].add_parser("vocode", aliases=["vocoders"], help=help_text, description=help_text)
    b.add_argument("--data", default="data/vocoder", help="corpus whose validation split is scored")
    b.add_argument("--clips", type=int, default=8, help="validation music clips (default 8)")
    b.add_argument("--speech-clips", type=int, default=8, help="validation speech clips (default 8; 0: none)")
    b.add_argument("--seconds", type=float, default=4.0, help="seconds per clip (default 4)")
    b.add_argument("--threads", type=int, default=2, help="CPU threads for the timing (default 2)")
    b.add_argument("--vocoders", nargs="+", choices=NAMES, help="only these (default: all)")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.add_argument("--card", action="store_true", help="also write each trained vocoder's row into its card.md")
    b.add_argument("--swap", metavar="NAME", help="instead: rebuild validation speech from NAME's (vocos) magnitudes "
                                             "and phases swapped with the true ones, to see which half falls short")
    add_device_arg(b)
    b.set_defaults(func=run_bench)

    help_text = ("a vocoder's learning curve: every snapshot of a run scored beside Griffin-Lim (MR-STFT on validation "
                 "speech and music, PESQ / STOI), and the CPU-hours extrapolated to beat it")
    c = groups["bench"].add_parser("curve", help=help_text, description=help_text)
    c.add_argument("name", choices=[n for n in NAMES if n != "griffinlim"], help="which vocoder")
    c.add_argument("--run-dir", required=True, help="a run trained with --snapshot-every")
    c.add_argument("--data", default="data/vocoder", help="corpus whose validation split is scored")
    c.add_argument("--clips", type=int, default=4, help="validation music clips (default 4)")
    c.add_argument("--speech-clips", type=int, default=4, help="validation speech clips (default 4)")
    c.add_argument("--seconds", type=float, default=2.0, help="seconds per clip (default 2)")
    c.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.add_argument("--card", nargs="?", const="", metavar="DIR",
                   help="also write the curve into DIR/card.md (default checkpoints/NAME/)")
    c.set_defaults(func=run_curve)


def _parse_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _options(args: argparse.Namespace) -> dict:
    from ..core.errors import LatentLabError

    options = {}
    if args.iterations is not None:
        options["n_iter"] = args.iterations
    if args.momentum is not None:
        options["momentum"] = args.momentum
    if args.sigma is not None:
        options["sigma"] = args.sigma
    for item in args.option:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise LatentLabError(f"--option takes KEY=VALUE, got {item!r}")
        options[key] = _parse_value(value)
    return options


def run_vocode(args: argparse.Namespace) -> int:
    from ..core.errors import LatentLabError

    if args.list:
        return _list()
    if (args.input is None) == (args.mel is None):
        raise LatentLabError("give either an audio file or --mel MEL.npy (one of them)")
    if not args.output:
        raise LatentLabError("say where to write the audio with -o OUT.wav")
    from ..core.audio import save_wav
    from ..core.device import resolve_device
    from ..core.metrics import mel_distance, mr_stft_distance
    from ..ops.vocode import MEL, analyze_file, default_vocoder, load_mel, synthesize

    device = resolve_device(args.device)
    reference = None
    if args.mel:
        mel = load_mel(args.mel)
    else:
        reference, mel = analyze_file(args.input)
    args.vocoder = args.vocoder or default_vocoder()
    result = synthesize(mel, args.vocoder, device, checkpoint=args.checkpoint, **_options(args))
    save_wav(args.output, result.audio, MEL.sample_rate)
    line = f"{args.output}: {result.seconds:.2f} s by {args.vocoder} at {result.rtf:.1f}x real time"
    if reference is not None:
        line += (f"; MR-STFT distance {mr_stft_distance(result.audio, reference):.3f}, "
                 f"mel L1 {mel_distance(result.audio, reference):.3f} to the input")
    print(line)
    return 0


def _list() -> int:
    from ..ops.vocode import VOCODERS, checkpoint_dir, is_available, vocoder_class

    for name in VOCODERS:
        if is_available(name):
            cls = vocoder_class(name)
            state = "ready (no weights needed)" if not cls.needs_checkpoint else f"ready ({checkpoint_dir(name)})"
        else:
            state = f"not trained (latentlab train vocode {name})"
            card = checkpoint_dir(name) / "card.md"
            if card.exists():
                state += f"; its learning curve: {card}"
        print(f"{name:<17} {state}")
    return 0


def run_data(args: argparse.Namespace) -> int:
    from ..data.vocode import DEFAULT_PROGRAMS, build_vocode_data

    manifest = build_vocode_data(
        args.out, minutes=args.minutes, programs=tuple(args.programs or DEFAULT_PROGRAMS), wav_dir=args.wav_dir,
        corpus=not args.no_corpus, seed=args.seed, speech_minutes=args.speech_minutes,
    )
    print(f"{args.out}: {manifest['train_minutes']} min in {manifest['train_clips']} training clips, "
          f"{manifest['val_minutes']} min in {manifest['val_clips']} validation clips")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from ..core.device import resolve_device
    from ..train.vocode import train_vocode

    out = train_vocode(
        args.name, args.data, out=args.out, run_dir=args.run_dir, device=resolve_device(args.device),
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, export_only=args.export, init=args.init,
        config=args.config, adv_start=args.adv_start, **({"snapshot_every": args.snapshot_every} if args.snapshot_every is not None else {}),
    )
    print(f"saved {out}")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    import json

    from ..core.device import resolve_device
    from ..bench.vocode import bench_vocode, format_table, write_cards

    if args.swap:
        from ..bench.vocode_swap import format_swap, phase_swap
        from ..core.metrics import torch_threads

        with torch_threads(args.threads):
            swapped = phase_swap(args.data, args.swap, speech_clips=args.speech_clips, seconds=args.seconds)
        print(json.dumps(swapped, indent=1) if args.json else format_swap(swapped, args.swap))
        return 0
    rows = bench_vocode(
        args.data, names=args.vocoders, device=resolve_device(args.device), clips=args.clips,
        seconds=args.seconds, threads=args.threads, speech_clips=args.speech_clips,
    )
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    if args.card:
        command = (f"latentlab bench vocode --data {args.data} --clips {args.clips} "
                   f"--speech-clips {args.speech_clips} --seconds {args.seconds:g} --threads {args.threads}" + (f" --vocoders {' '.join(args.vocoders)}" if args.vocoders else ""))
        for card in write_cards(rows, command):
            print(f"wrote {card}")
    return 0


def run_curve(args: argparse.Namespace) -> int:
    import json

    from ..bench.curve import format_curve, learning_curve, write_card
    from ..core.metrics import torch_threads

    with torch_threads(args.threads):
        curve = learning_curve(args.name, args.run_dir, args.data, clips=args.clips, speech_clips=args.speech_clips,
                               seconds=args.seconds)
    print(json.dumps(curve, indent=1) if args.json else format_curve(curve))
    if args.card is not None:
        command = (f"latentlab bench curve {args.name} --run-dir {args.run_dir} --data {args.data} --clips {args.clips} "
                   f"--speech-clips {args.speech_clips} --seconds {args.seconds:g}")
        print(f"wrote {write_card(curve, command, args.card or None)}")
    return 0
