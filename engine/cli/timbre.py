"""``latentlab timbre ...``, ``latentlab data timbre``, ``latentlab train timbre``, ``latentlab bench timbre``."""

from __future__ import annotations

import argparse
import sys

from ..core.errors import LatentLabError
from .common import add_device_arg, add_group, add_train_args

HELP = "timbre autoencoders (DDSP, NSynth WaveNet): encode, decode, reconstruct and morph notes"
MODEL_HELP = ("checkpoint name or folder: timbre_ddsp (DDSP harmonic-plus-noise, the default) or timbre "
              "(NSynth WaveNet autoencoder)")
DEFAULT_MODEL = "timbre_ddsp"


def _common(p: argparse.ArgumentParser) -> None:
    """--model, the decoder's pitch and the sampling options, --device."""
    p.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    p.add_argument("--pitch", type=int, help="MIDI pitch for the decoder (default: estimated from the audio, and the "
                                             "DDSP model follows the note's pYIN f0; 60 for decode)")
    p.add_argument("--temperature", type=float, help="sampling temperature, 0 = always the likeliest sample (default: engine.ops.timbre.TEMPERATURE, 1.0)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    add_device_arg(p)


def register(commands: argparse._SubParsersAction) -> None:
    group = add_group(commands, "timbre", HELP)

    p = group.add_parser("reconstruct", help="encode a note and decode it again",
                         description="Encode a note (any audio; cut or padded to 4 s at 16 kHz) and decode it.")
    p.add_argument("input", help="audio file (WAV, FLAC, OGG, MP3)")
    p.add_argument("-o", "--out", required=True, help="WAV to write")
    _common(p)
    p.set_defaults(func=run_reconstruct)

    p = group.add_parser("morph", help="interpolate the embeddings of two notes in N steps",
                         description="Decode N embeddings on the line from A's to B's; beside each, the plain audio "
                                     "mix at the same weights (DIR/step_NN.wav and DIR/mix_NN.wav).")
    p.add_argument("a", help="first audio file")
    p.add_argument("b", help="second audio file")
    p.add_argument("--steps", type=int, default=5, help="number of steps including both ends (default 5)")
    p.add_argument("-o", "--out", required=True, help="folder to write step_00.wav ... and mix_00.wav ...")
    _common(p)
    p.set_defaults(func=run_morph)

    p = group.add_parser("encode", help="a note's embedding as .npy [16 x frames]",
                         description="Write the temporal embedding of a note as a float32 .npy array [16 x frames]; "
                                     "with a DDSP model and an .npz name, also its f0 (Hz) and loudness (dB) tracks.")
    p.add_argument("input", help="audio file")
    p.add_argument("-o", "--out", required=True, help=".npy (the embedding) or .npz (embedding, f0, loudness) to write")
    p.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    add_device_arg(p)
    p.set_defaults(func=run_encode)

    p = group.add_parser("decode", help="decode an embedding .npy to audio",
                         description="Decode a [16 x frames] .npy embedding (from `timbre encode`) to a WAV. A DDSP "
                                     "model plays an .npy at a steady --pitch and loudness; an .npz brings its tracks.")
    p.add_argument("embedding", help=".npy file [16 x frames], or .npz from `timbre encode` with a DDSP model")
    p.add_argument("-o", "--out", required=True, help="WAV to write")
    _common(p)
    p.set_defaults(func=run_decode)


def register_groups(groups: dict[str, argparse._SubParsersAction]) -> None:
    help_text = "render an NSynth-format note dataset with FluidSynth (4 s notes at 16 kHz)"
    d = groups["data"].add_parser("timbre", aliases=["notes"], help=help_text, description=help_text)
    d.add_argument("-o", "--out", default="data/notes", help="dataset folder (default data/notes)")
    d.add_argument("--programs", type=int, nargs="+", help="General MIDI programs (default: 33, three per NSynth family)")
    d.add_argument("--pitches", nargs="+", help="MIDI pitches, e.g. 48 60 72 or 24-96:2 (default 21-108, "
                                                "within each instrument's range)")
    d.add_argument("--velocities", type=int, nargs="+", help="MIDI velocities (default NSynth's 25 50 75 100 127)")
    d.add_argument("--no-split", action="store_true", help="one folder with every note instead of nsynth-train/valid")
    d.set_defaults(func=run_data)

    help_text = "train a timbre autoencoder on a `latentlab data timbre` (or real NSynth) folder; resumable"
    t = groups["train"].add_parser("timbre", help=help_text, description=help_text)
    t.add_argument("--arch", choices=("ddsp", "nsynth"), default="ddsp",
                   help="ddsp: harmonic-plus-noise autoencoder (default); nsynth: WaveNet autoencoder")
    t.add_argument("--data", default="data/notes", help="dataset folder (default data/notes)")
    t.add_argument("--window", type=int, help="nsynth: samples per training window (default: the recipe's)")
    t.add_argument("--config", help="model size overrides as JSON, e.g. '{\"decoder_layers\": 10}'")
    t.add_argument("--init", help="ddsp: a checkpoint whose weights a new run starts from (e.g. timbre_ddsp)")
    add_train_args(t, run_dir="runs/timbre_ddsp or runs/timbre", out="checkpoints/timbre_ddsp or checkpoints/timbre")
    t.set_defaults(func=run_train)

    help_text = "timbre figures on validation notes: pitch kept, MR-STFT distance, decode speed"
    b = groups["bench"].add_parser("timbre", help=help_text, description=help_text)
    b.add_argument("--data", default="data/notes", help="dataset whose validation notes are scored")
    b.add_argument("--notes", type=int, default=20, help="validation notes to reconstruct (default 20)")
    b.add_argument("--model", default=DEFAULT_MODEL, help=MODEL_HELP)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--temperature", type=float, help="sampling temperature, 0 = always the likeliest sample (default: engine.ops.timbre.TEMPERATURE, 1.0)")
    b.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    b.add_argument("--card", action="store_true", help="also write the figures into the checkpoint's card.md")
    add_device_arg(b)
    b.set_defaults(func=run_bench)


def parse_pitches(tokens: list[str] | None) -> list[int] | None:
    """``["48", "60", "70-80:5"]`` -> ``[48, 60, 70, 75, 80]``."""
    if tokens is None:
        return None
    pitches = []
    for token in tokens:
        span, _, step = token.partition(":")
        low, dash, high = span.partition("-")
        try:
            if dash:
                pitches += list(range(int(low), int(high) + 1, int(step or 1)))
            else:
                pitches.append(int(span))
        except ValueError as e:
            raise LatentLabError(f"pitch {token!r} is not a number or a range like 24-96:2") from e
    return pitches


def run_data(args: argparse.Namespace) -> int:
    from ..data.timbre import build_timbre_data

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            print(f"\r{done}/{total} notes", end="" if done < total else "\n", file=sys.stderr, flush=True)

    counts = build_timbre_data(args.out, args.programs, parse_pitches(args.pitches), args.velocities,
                         split=not args.no_split, progress=progress)
    print(f"wrote {', '.join(f'{n} {name}' for name, n in counts.items())} notes to {args.out}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from ..core.device import resolve_device

    name = "timbre_ddsp" if args.arch == "ddsp" else "timbre"
    paths = {"out": args.out or f"checkpoints/{name}", "run_dir": args.run_dir or f"runs/{name}"}
    common = {"device": resolve_device(args.device), "steps": args.steps, "batch_size": args.batch_size,
              "lr": args.lr, "config": args.config, "export_only": args.export, **paths}
    if args.arch == "ddsp":
        if args.window is not None:
            raise LatentLabError("--window is for --arch nsynth; the DDSP recipe trains on fixed crops")
        from ..train.timbre_ddsp import train_ddsp

        out = train_ddsp(args.data, init=args.init, **common)
    else:
        if args.init is not None:
            raise LatentLabError("--init is for --arch ddsp")
        from ..train.timbre import train_timbre

        out = train_timbre(args.data, window=args.window, **common)
    print(f"saved {out}")
    return 0


def _temperature(args: argparse.Namespace) -> float:
    from ..ops.timbre import TEMPERATURE

    return TEMPERATURE if args.temperature is None else args.temperature


def _model(args: argparse.Namespace):
    from ..core.device import resolve_device
    from ..ops.timbre import load_model

    return load_model(args.model, resolve_device(args.device))


def _progress(label: str):
    def report(fraction: float) -> None:
        print(f"\r{label} {100 * fraction:5.1f}%", end="\n" if fraction >= 1 else "", file=sys.stderr, flush=True)

    return report


def run_reconstruct(args: argparse.Namespace) -> int:
    from ..core.audio import save_wav
    from ..ops.timbre import SAMPLE_RATE, prepare, reconstruct

    model = _model(args)
    result = reconstruct(model, prepare(args.input), args.pitch, _temperature(args), args.seed, _progress("decoding"))
    save_wav(args.out, result.audio, SAMPLE_RATE)
    print(f"wrote {args.out} (decoded at pitch {result.pitch})")
    return 0


def run_morph(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..core.audio import save_wav
    from ..ops.timbre import SAMPLE_RATE, morph, morph_weights, prepare

    morph_weights(args.steps)  # check before loading anything
    model = _model(args)
    a, b = prepare(args.a), prepare(args.b)
    result = morph(model, a, b, args.steps, args.pitch, args.pitch, _temperature(args), args.seed,
                   _progress(f"decoding {args.steps} steps"))
    out = Path(args.out)
    for i, (step, mix) in enumerate(zip(result.audio, result.mixes)):
        save_wav(out / f"step_{i:02d}.wav", step, SAMPLE_RATE)
        save_wav(out / f"mix_{i:02d}.wav", mix, SAMPLE_RATE)
    print(f"wrote {out}/step_00.wav .. step_{args.steps - 1:02d}.wav and mix_00.wav .. mix_{args.steps - 1:02d}.wav "
          f"(pitches {result.pitches})")
    return 0


def run_encode(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from ..ops.timbre import encode, prepare

    model = _model(args)
    audio = prepare(args.input)
    z = encode(model, audio)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        from ..ops.timbre import f0_track, is_ddsp, loudness

        if not is_ddsp(model):
            raise LatentLabError("an .npz with f0 and loudness tracks needs a DDSP model; write an .npy instead")
        np.savez(out, z=z.astype(np.float32), f0=f0_track(audio, None, model.config.hop),
                 loudness=loudness(model, audio))
    else:
        np.save(out, z.astype(np.float32), allow_pickle=False)
    print(f"wrote {out} (embedding {z.shape[0]} x {z.shape[1]})")
    return 0


def run_decode(args: argparse.Namespace) -> int:
    import numpy as np

    from ..core.audio import save_wav
    from ..ops.timbre import DEFAULT_PITCH, SAMPLE_RATE, decode

    tracks: dict[str, np.ndarray] = {}
    try:
        z = np.load(args.embedding, allow_pickle=False)
        if isinstance(z, np.lib.npyio.NpzFile):
            with z:
                if "z" not in z:
                    raise LatentLabError(f"{args.embedding} holds no array 'z' (make one with `latentlab timbre encode`)")
                tracks = {k: z[k] for k in ("f0", "loudness") if k in z}
                z = z["z"]
    except FileNotFoundError as e:
        raise LatentLabError(f"no such embedding file: {args.embedding}") from e
    except (ValueError, OSError) as e:
        raise LatentLabError(f"{args.embedding} is not a .npy array (make one with `latentlab timbre encode`)") from e
    model = _model(args)
    pitch = DEFAULT_PITCH if args.pitch is None else args.pitch
    if args.pitch is not None:
        tracks.pop("f0", None)  # a pitch given plays the note at that steady pitch
    audio = decode(model, z, pitch, _temperature(args), args.seed, _progress("decoding"), **tracks)
    save_wav(args.out, audio, SAMPLE_RATE)
    print(f"wrote {args.out} (decoded at pitch {pitch})")
    return 0


def run_bench(args: argparse.Namespace) -> int:
    import json

    from ..core.device import resolve_device
    from ..bench.timbre import bench_timbre, format_figures

    figures = bench_timbre(args.data, args.model, notes=args.notes, seed=args.seed, device=resolve_device(args.device),
                           card=args.card, temperature=_temperature(args))
    print(format_figures(figures))
    if args.json:
        print(json.dumps(figures))
    return 0
