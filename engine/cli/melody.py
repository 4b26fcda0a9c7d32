"""``latentlab melody ...`` and the melody entries of ``data``, ``train`` and ``bench``.

Every handler calls :mod:`engine.ops.melody` (MusicVAE) or :mod:`engine.ops.continuation` (continue / inpaint
with the grid models) -- the same functions the app calls -- and returns an exit code.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from .common import add_device_arg, add_group, add_train_args

HELP = "melodies: MusicVAE (reconstruct, interpolate, sample, attributes); PixelCNN / PixelRNN / AR(p) (continue, inpaint)"
ATTRIBUTES = ("c_diatonic", "note_density", "avg_interval", "syncopation_16th", "syncopation_8th")  # = engine.ops.melody
MODELS_HELP = "mel_2bar, mel_16bar or a checkpoint directory (default mel_2bar)"
GRID_MODELS_HELP = ("pixelcnn_16bar (default), row_lstm_16bar, diagonal_bilstm_16bar, ar_16bar or a checkpoint "
                    "directory: the models of `latentlab bench melody --likelihood`")
GRID_RECIPES = ("pixelcnn_16bar", "row_lstm_16bar", "diagonal_bilstm_16bar", "ar_16bar")  # = engine.train.pixel.RECIPES


def _model_args(p: argparse.ArgumentParser, temperature: float = 0.0) -> None:
    p.add_argument("--model", default="mel_2bar", help=MODELS_HELP)
    p.add_argument("--temperature", type=float, default=temperature, help=f"0 = argmax decoding (default {temperature})")
    p.add_argument("--seed", type=int, default=None, help="random seed for sampling")
    add_device_arg(p)


def _grid_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="pixelcnn_16bar", help=GRID_MODELS_HELP)
    p.add_argument("--temperature", type=float, default=1.0, help="0 = the most likely event at each step (default 1)")
    p.add_argument("--seed", type=int, default=None, help="random seed (the same seed, the same result)")
    add_device_arg(p)


def register(commands: argparse._SubParsersAction) -> None:
    sub = add_group(commands, "melody", HELP)

    p = sub.add_parser("reconstruct", help="encode a melody and decode it again", description="Encode IN.mid to mu and decode it.")
    p.add_argument("input", metavar="IN.mid")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid")
    _model_args(p)
    p.set_defaults(func=reconstruct)

    p = sub.add_parser("interpolate", help="melodies on the latent path from A to B", description=(
        "Write DIR/step_00.mid .. DIR/step_{N-1}.mid (the first and last are the reconstructions of A and B) "
        "and DIR/all.mid with every step one after another."))
    p.add_argument("a", metavar="A.mid")
    p.add_argument("b", metavar="B.mid")
    p.add_argument("--steps", type=int, default=11, help="number of melodies, endpoints included (default 11)")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.add_argument("--method", choices=("slerp", "lerp"), default="slerp", help="slerp (Magenta Python) or lerp (magenta.js)")
    _model_args(p)
    p.set_defaults(func=interpolate)

    p = sub.add_parser("sample", help="new melodies from the prior", description="Decode N latents drawn from N(0, I).")
    p.add_argument("--n", type=int, default=4, help="how many melodies (default 4)")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    _model_args(p, temperature=0.5)
    p.set_defaults(func=sample)

    p = sub.add_parser("similar", help="variations of a melody", description="Decode N latents between mu(IN) and prior draws.")
    p.add_argument("input", metavar="IN.mid")
    p.add_argument("--n", type=int, default=4, help="how many variations (default 4)")
    p.add_argument("--similarity", type=float, default=0.8, help="0 = unrelated, 1 = the melody itself (default 0.8)")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    _model_args(p, temperature=0.5)
    p.set_defaults(func=similar)

    p = sub.add_parser("grid", help="a 4-corner bilinear grid", description=(
        "Write DIR/grid_R_C.mid for a SIZE x SIZE grid whose corners are TL, TR, BL, BR."))
    p.add_argument("corners", nargs=4, metavar="CORNER.mid", help="top-left, top-right, bottom-left, bottom-right")
    p.add_argument("--size", type=int, default=5, help="rows and columns (default 5)")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    _model_args(p)
    p.set_defaults(func=grid)

    p = sub.add_parser("attribute", help="add an attribute vector to a melody", description=(
        "Decode mu(IN) + AMOUNT * vector(NAME); the vectors come from the training data."))
    p.add_argument("input", metavar="IN.mid")
    p.add_argument("--attribute", required=True, choices=ATTRIBUTES, metavar="NAME", help=", ".join(ATTRIBUTES))
    p.add_argument("--amount", type=float, required=True, help="how far to move (typically -2 .. 2)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid")
    _model_args(p)
    p.set_defaults(func=attribute)

    p = sub.add_parser("attributes", help="print a melody's five attributes as JSON", description=(
        "Measure c_diatonic, note_density, avg_interval, syncopation_16th, syncopation_8th (no model needed)."))
    p.add_argument("input", metavar="IN.mid")
    p.set_defaults(func=attributes)

    p = sub.add_parser("continue", help="continue a melody by N bars (PixelCNN, PixelRNN or AR(p))", description=(
        "Sample N more bars one 16th step at a time, each given everything before it; OUT.mid holds the input "
        "followed by the continuation. Input and continuation together fit in the model's 16 bars."))
    p.add_argument("input", metavar="IN.mid")
    p.add_argument("--bars", type=int, required=True, help="bars to add")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid")
    _grid_model_args(p)
    p.set_defaults(func=continue_melody)

    p = sub.add_parser("inpaint", help="resample masked bars of a melody (PixelCNN, PixelRNN or AR(p))", description=(
        "Sample the steps of the masked bars given everything before them; with --rescore K, draw K fills and "
        "pick one in proportion to how likely each makes the bars after the gap."))
    p.add_argument("input", metavar="IN.mid")
    p.add_argument("--mask", required=True, metavar="BARS", help="1-based bars to fill, e.g. 3,5-6")
    p.add_argument("--rescore", type=int, default=1, metavar="K", help="candidate fills scored against the bars "
                   "after the gap (default 1: no rescoring)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mid")
    _grid_model_args(p)
    p.set_defaults(func=inpaint)


def register_groups(groups: dict[str, argparse._SubParsersAction]) -> None:
    p = groups["data"].add_parser("melody", aliases=["melodies"], help="melody windows from the music21 corpus and/or MIDI folders", description=(
        "Extract melodies as MusicVAE does, through note_seq (the top line at each onset, a new melody after a "
        "bar of silence): from music21's corpus, the top part of every score in its duple-meter sections; from "
        "MIDI files, every track of programs 0-31 in 4/4 pieces. Cut 2-bar and 16-bar windows, augment by "
        "transposition, split train/validation by tune; summary.json gives the counts and why scores were dropped."))
    p.add_argument("--out", default="data/melodies", help="output folder (default data/melodies)")
    p.add_argument("--corpus", default="all", help="comma-separated music21 collections: the folk songs essen, ryans, "
                   "oneills, airds, miscfolk, nottingham; bach (chorales); one key per composer folder (beethoven, "
                   "mozart, haydn, palestrina, monteverdi, trecento, josquin, leadsheet, ...: engine.data.melody."
                   "CORPUS_SOURCES); 'all' (default), 'none', or 'all,-palestrina' for every collection but those named")
    p.add_argument("--midi", action="append", default=[], metavar="DIR", help="a folder of MIDI files (repeatable)")
    p.add_argument("--transpose", type=int, default=5, help="augment with every shift within +-N semitones (default 5)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="fraction of tunes held out (default 0.1)")
    p.add_argument("--limit", type=int, default=None, help="at most N tunes per source (quick runs)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="processes parsing corpus files at once (default: one per CPU; the same result whatever N)")
    p.add_argument("--reuse-tunes", nargs="?", const=True, default=False, metavar="TUNES_NPZ",
                   help="re-cut windows from an existing tunes.npz without parsing (OUT's, or the one named); with "
                        "--corpus, only those collections' tunes")
    p.add_argument("--examples", metavar="DIR", default=None, help="only write the bundled example melodies "
                   "(public-domain tunes from the corpus) to DIR, e.g. assets/melodies")
    p.set_defaults(func=data_melodies)

    p = groups["train"].add_parser("melody", help="train a melody model (MusicVAE, PixelCNN, PixelRNN, AR(p))", description=(
        "Train a MusicVAE recipe (mel_2bar, mel_16bar) or a grid model (pixelcnn_16bar, row_lstm_16bar, "
        "diagonal_bilstm_16bar; ar_16bar is fitted by least squares) through the shared loop (resumes from "
        "--run-dir), then evaluate it on the validation split and write a checkpoint with a model card to --out."))
    p.add_argument("--config", required=True, choices=("mel_2bar", "mel_16bar", *GRID_RECIPES))
    add_train_args(p, run_dir="runs/<config>", out="<run-dir>/model", export=False)
    p.add_argument("--data", default=None, help="window file (default data/melodies/<config>.npz)")
    p.add_argument("--init", default=None, help="MusicVAE recipes: a checkpoint a new run starts from where tensor "
                   "names and shapes match (e.g. checkpoints/mel_16bar); a wider decoder (--overrides '{\"decoder_hidden\": 256}') "
                   "is grown from the checkpoint's and starts decoding as it did; the others start fresh and are listed")
    p.add_argument("--overrides", default=None, metavar="JSON",
                   help="MusicVAE recipes: model config overrides for a new run, e.g. '{\"sampling_start\": 0}' to go "
                        "on from --init's weights with scheduled sampling from the start")
    p.set_defaults(func=train)

    p = groups["bench"].add_parser("melody", help="MusicVAE latency (and accuracy with --data)", description=(
        "Encode / decode / 11-step interpolation latency; with --data, reconstruction accuracy and KL on "
        "the validation split of a window file, and the fraction of the intermediate steps of 11-step slerps "
        "between 16 pairs of its validation melodies whose notes stay inside the two endpoints' pitch range."))
    p.add_argument("--model", default="mel_2bar", help=MODELS_HELP)
    p.add_argument("--data", default=None, help="window file whose validation split to evaluate")
    p.add_argument("--repeats", type=int, default=20, help="timed repetitions (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--likelihood", action="store_true", help="instead: the likelihood table -- validation bits per "
                   "step of AR(p), PixelCNN, Row LSTM, Diagonal BiLSTM and MusicVAE's ELBO, parameters, sampling speed")
    p.add_argument("--data-2bar", default="data/melodies/mel_2bar.npz", help="with --likelihood: also measure on these "
                   "2-bar validation windows ('none' skips them; --data gives the 16-bar file, default "
                   "data/melodies/mel_16bar.npz)")
    p.add_argument("--diagnose", action="store_true", help="instead: where --model's reconstructions of the --data "
                   "validation split go wrong -- accuracy per bar, step and event kind (onset / note-off / hold / rest), "
                   "argmax and teacher-forced, KL per latent dimension, z ablations, the conductor's bar embeddings")
    p.add_argument("--probe-windows", type=int, default=0, help="with --diagnose, a hierarchical model: also optimise z, "
                   "then the bar embeddings, per window on this many validation windows (which stage limits it; ~2 s a "
                   "window on one thread)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    add_device_arg(p)
    p.set_defaults(func=bench)


# -- handlers --------------------------------------------------------------------------------------------


def _load(args):
    from ..ops import melody as ops

    return ops, ops.load_model(args.model, args.device)


def _write(melody, path: Path) -> None:
    from ..core.midi import melody_to_midi, write_midi

    write_midi(melody_to_midi(melody), path)


def reconstruct(args: argparse.Namespace) -> int:
    from ..core.midi import melody_from_midi

    ops, mm = _load(args)
    out = ops.reconstruct(mm, melody_from_midi(args.input), args.temperature, args.seed)
    _write(out, Path(args.output))
    print(args.output)
    return 0


def interpolate(args: argparse.Namespace) -> int:
    from ..core.midi import melodies_to_midi, melody_from_midi, write_midi

    ops, mm = _load(args)
    steps = ops.interpolate(mm, melody_from_midi(args.a), melody_from_midi(args.b), args.steps, args.method, args.temperature, args.seed)
    out = Path(args.output)
    for i, m in enumerate(steps):
        _write(m, out / f"step_{i:02d}.mid")
    write_midi(melodies_to_midi(steps), out / "all.mid")
    print(f"{len(steps)} steps -> {out}/step_00.mid .. step_{len(steps) - 1:02d}.mid, {out}/all.mid")
    return 0


def sample(args: argparse.Namespace) -> int:
    ops, mm = _load(args)
    out = Path(args.output)
    for i, m in enumerate(ops.sample(mm, args.n, args.temperature, args.seed)):
        _write(m, out / f"sample_{i:02d}.mid")
    print(f"{args.n} samples -> {out}")
    return 0


def similar(args: argparse.Namespace) -> int:
    from ..core.midi import melody_from_midi

    ops, mm = _load(args)
    out = Path(args.output)
    for i, m in enumerate(ops.similar(mm, melody_from_midi(args.input), args.n, args.similarity, args.temperature, args.seed)):
        _write(m, out / f"similar_{i:02d}.mid")
    print(f"{args.n} variations -> {out}")
    return 0


def grid(args: argparse.Namespace) -> int:
    from ..core.midi import melody_from_midi

    ops, mm = _load(args)
    rows = ops.grid(mm, [melody_from_midi(c) for c in args.corners], args.size, args.temperature, args.seed)
    out = Path(args.output)
    for r, row in enumerate(rows):
        for c, m in enumerate(row):
            _write(m, out / f"grid_{r}_{c}.mid")
    print(f"{args.size}x{args.size} grid -> {out}")
    return 0


def attribute(args: argparse.Namespace) -> int:
    from ..core.midi import melody_from_midi

    ops, mm = _load(args)
    source = melody_from_midi(args.input)
    out = ops.apply_attribute(mm, source, args.attribute, args.amount, args.temperature)
    _write(out, Path(args.output))
    before, after = ops.measure_attributes(source)[args.attribute], ops.measure_attributes(out)[args.attribute]
    print(f"{args.output}: {args.attribute} {before:.3f} -> {after:.3f}")
    return 0


def attributes(args: argparse.Namespace) -> int:
    from ..ops.melody import measure_attributes
    from ..core.midi import melody_from_midi

    values = measure_attributes(melody_from_midi(args.input))
    print(json.dumps({k: round(v, 6) for k, v in values.items()}, indent=1))
    return 0


def data_melodies(args: argparse.Namespace) -> int:
    from ..data.melody import build_melody_data, parse_corpus, write_examples

    if args.examples:
        for path in write_examples(args.examples):
            print(path)
        return 0
    corpus = parse_corpus(args.corpus)
    tunes_from = args.reuse_tunes if isinstance(args.reuse_tunes, str) else None
    counts = build_melody_data(args.out, corpus, args.midi, args.transpose, args.val_fraction, args.limit,
                               bool(args.reuse_tunes), tunes_from=tunes_from, jobs=args.jobs)
    print(json.dumps(counts))
    return 0


def continue_melody(args: argparse.Namespace) -> int:
    from ..core.midi import melody_from_midi
    from ..ops import continuation

    gm = continuation.load_model(args.model, args.device)
    source = melody_from_midi(args.input)
    out = continuation.continue_melody(gm, source, args.bars, args.temperature, args.seed)
    _write(out, Path(args.output))
    print(f"{args.output}: {len(source) // 16} bars + {args.bars} continued by {gm.name}")
    return 0


def inpaint(args: argparse.Namespace) -> int:
    from ..core.midi import melody_from_midi
    from ..ops import continuation

    gm = continuation.load_model(args.model, args.device)
    bars = continuation.parse_bars(args.mask)
    out = continuation.inpaint(gm, melody_from_midi(args.input), bars, args.temperature, args.seed, args.rescore)
    _write(out, Path(args.output))
    print(f"{args.output}: bars {args.mask} filled by {gm.name}")
    return 0


def train(args: argparse.Namespace) -> int:
    if args.config in GRID_RECIPES:
        from ..core.errors import LatentLabError
        from ..train.pixel import train_grid_model

        for flag, value in (("--init", args.init), ("--lr", args.lr), ("--overrides", args.overrides)):
            if value is not None:
                raise LatentLabError(f"{flag} is for the MusicVAE recipes (mel_2bar, mel_16bar)")
        figures = train_grid_model(args.config, args.steps, args.batch_size, args.run_dir, args.device, args.out, args.data)
    else:
        from ..train.melody import train_melody

        figures = train_melody(args.config, args.steps, args.batch_size, args.run_dir, args.device, args.out, args.data,
                               model_overrides=args.overrides, init=args.init, lr=args.lr)
    if figures:
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0


def bench(args: argparse.Namespace) -> int:
    import torch

    from ..bench.melody import bench_melody, format_likelihood, format_report, likelihood_table

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.likelihood:
        data_2bar = None if args.data_2bar == "none" else args.data_2bar
        table = likelihood_table(args.data or "data/melodies/mel_16bar.npz", data_2bar, device=args.device)
        print(json.dumps(table, indent=1) if args.json else format_likelihood(table))
        return 0
    if args.diagnose:
        from ..bench.melody_diagnosis import diagnose_musicvae, format_diagnosis
        from ..core.errors import LatentLabError
        from ..data.melody import load_windows
        from ..ops.melody import load_model

        if args.data is None:
            raise LatentLabError("--diagnose needs --data: the window file whose validation split to diagnose")
        mm = load_model(args.model, args.device)
        split = load_windows(args.data)
        if split["val"].shape[1] != mm.steps:
            raise LatentLabError(f"{args.data} holds {split['val'].shape[1]}-step windows but {mm.name} takes {mm.steps}")
        report = diagnose_musicvae(mm.model, split["val"], split.get("train"), probe_windows=args.probe_windows)
        print(json.dumps({"model": mm.name, **report}, indent=1) if args.json else f"model {mm.name}\n" + format_diagnosis(report))
        return 0
    report = bench_melody(args.model, args.data, args.device, args.repeats)
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0
