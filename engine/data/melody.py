"""Melody training data: tunes from the music21 corpus and/or a folder of MIDI files -> windows.

``latentlab data melody`` runs :func:`build_melody_data`, which writes (no pickles anywhere):

- ``tunes.npz`` -- every extracted tune as melody events (concatenated ``events`` + ``offsets``), its
  ``names`` and ``sources``; the slow part (parsing), kept so windows can be re-cut quickly;
- ``mel_2bar.npz`` / ``mel_16bar.npz`` -- ``train`` ``uint8[N x T]`` windows (every transposition
  within +-``transpose`` semitones that stays in 21..108), ``val`` ``uint8[M x T]`` windows (original
  key only), ``train_tune`` / ``val_tune`` (index into ``tunes.npz``) and ``steps``.

The validation split is by tune (a stable hash of the tune's name: a score of the corpus, a MIDI file),
so no window of a validation tune is ever trained on. Every corpus score gives the melodies of its top
part by Magenta's rules (:mod:`engine.data.score_melodies`, through note_seq): sections in duple meters only
(4/4, 2/4, 2/2, 4/2: bars of 8, 16 or 32 16th steps, so 16-step windows start on bar lines), a new melody
after a bar of silence. MIDI folders keep 4/4 pieces only and split tracks into melodies at gaps of a bar,
as MusicVAE does for Lakh (:mod:`engine.data.midi_melodies`). ``summary.json`` records the counts, and per
source the tunes, melodies, seconds of extraction (wall clock) and why scores were dropped (``"meter 6/8"``, ...).
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Iterator

import numpy as np

from ..core.errors import LatentLabError
from ..core.midi import (
    FIRST_PITCH_CLASS,
    STEPS_PER_BAR,
    STEPS_PER_QUARTER,
    pad_melody,
    transpose_melody,
)
from .midi_melodies import GAP_BARS, midi_melodies
from .score_melodies import parse_file, score_melodies

DEFAULT_DIR = Path("data/melodies")
TUNES_FILE = "tunes.npz"
# music21 corpus folders, one key each: folk-song collections (ABC), Bach (the chorales' soprano lines) and
# the other composers' scores, whose top part is read the same way. Left out: demos/ and theoryExercises/
# (test files and exercises, not music).
CORPUS_SOURCES = {
    "essen": "essenFolksong",
    "ryans": "ryansMammoth",
    "oneills": "oneills1850",
    "airds": "airdsAirs",
    "miscfolk": "miscFolk",
    "nottingham": "nottingham-dataset",
    "bach": "bach",
    "beach": "beach",
    "beethoven": "beethoven",
    "chopin": "chopin",
    "ciconia": "ciconia",
    "corelli": "corelli",
    "cpebach": "cpebach",
    "handel": "handel",
    "haydn": "haydn",
    "johnson": "johnson_j_r",
    "joplin": "joplin",
    "josquin": "josquin",
    "leadsheet": "leadSheet",
    "liliuokalani": "liliuokalani",
    "luca": "luca",
    "lusitano": "lusitano",
    "monteverdi": "monteverdi",
    "mozart": "mozart",
    "palestrina": "palestrina",
    "schoenberg": "schoenberg",
    "schubert": "schubert",
    "schumann_clara": "schumann_clara",
    "schumann_robert": "schumann_robert",
    "trecento": "trecento",
    "verdi": "verdi",
    "weber": "weber",
    "webern": "webern",
}
# Score formats music21 reads, the preferred first where one piece comes in several (bach/bwv277.krn and
# .mxl); others in the corpus (.rntxt analyses, Finale .mus/.musx) are not read.
SCORE_SUFFIXES = (".mxl", ".musicxml", ".xml", ".krn", ".abc")
DUPLE_BAR_STEPS = (8, 16, 32)  # 2/4, 4/4 or 2/2, 4/2
# Window lengths and hops of the two recipes, in 16th steps.
WINDOWS = {"mel_2bar": (2 * STEPS_PER_BAR, STEPS_PER_BAR), "mel_16bar": (16 * STEPS_PER_BAR, 2 * STEPS_PER_BAR)}
MIN_ONSETS_PER_BAR = 0.5  # windows with fewer onsets than this (per bar, on average) are mostly silence
MIN_16BAR_TUNE_BARS = 12  # tunes of 12..15 bars are padded with rests to 16 bars


@dataclass
class Tune:
    name: str  # unique, e.g. "essenFolksong/han1.abc#12"
    source: str  # collection or folder
    melody: np.ndarray  # int64 events


def is_validation(name: str, val_fraction: float) -> bool:
    """Stable split by tune name (the same tune is always on the same side)."""
    return zlib.crc32(name.encode("utf-8")) % 10_000 < val_fraction * 10_000


# -- music21 corpus -----------------------------------------------------------------------------------


def _corpus_files(collection: str) -> list[Path]:
    """The score files of one corpus folder (subfolders too), one format per piece."""
    from music21 import corpus

    root = Path(corpus.__file__).parent / collection
    if not root.is_dir():
        raise LatentLabError(f"music21's corpus has no {collection!r} collection: upgrade music21 (pip install -U music21)")
    best: dict[Path, Path] = {}
    for path in root.rglob("*"):
        if path.suffix in SCORE_SUFFIXES and path.is_file():
            key = path.with_suffix("")
            if key not in best or SCORE_SUFFIXES.index(path.suffix) < SCORE_SUFFIXES.index(best[key].suffix):
                best[key] = path
    return sorted(best.values())


def _dropped_reason(score) -> str:
    """Why a score gave no melody: no meter, the first meter that is not duple, or too little music."""
    from music21 import meter

    signatures = list(score.recurse().getElementsByClass(meter.TimeSignature))
    if not signatures:
        return "no time signature"
    for ts in signatures:
        if round(ts.barDuration.quarterLength * STEPS_PER_QUARTER) not in DUPLE_BAR_STEPS:
            return f"meter {ts.ratioString}"
    return "no melody of a bar or more"


def _score_file_tunes(path: Path, collection: str, gap_bars: float) -> tuple[list[Tune], Counter]:
    """The melodies of one corpus file (every score of an Opus) and why its scores gave none (see corpus_tunes)."""
    from music21 import corpus, stream

    skipped: Counter = Counter()
    try:
        parsed = parse_file(path)
    except LatentLabError:
        skipped["unparsable file"] += 1
        return [], skipped
    root = Path(corpus.__file__).parent
    scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
    tunes = []
    for i, score in enumerate(scores):
        name = f"{path.relative_to(root).as_posix()}#{i}"
        try:
            melodies = score_melodies(score, DUPLE_BAR_STEPS, gap_bars, in_place=True)
        except Exception as e:  # one odd score must not stop a corpus
            skipped[f"extraction error ({type(e).__name__})"] += 1
            continue
        if not melodies:
            skipped[_dropped_reason(score)] += 1
            continue
        skipped["kept"] += 1
        tunes += [Tune(f"{name}|{m.piece}.{m.start_step // STEPS_PER_BAR}", collection, m.melody) for m in melodies]
    return tunes, skipped


def corpus_tunes(
    collection: str, limit: int | None = None, skipped: Counter | None = None, gap_bars: float = GAP_BARS,
    jobs: int = 1,
) -> Iterator[Tune]:
    """Melodies of one music21 corpus collection: the top line of every score, by Magenta's rules.

    Every score (one tune of an ABC book, a chorale, a movement) is read by
    :func:`engine.data.score_melodies.score_melodies`: sections in duple meters (DUPLE_BAR_STEPS) only, a new
    melody after every bar of silence. Melodies are named ``"<file>#<score>|<section>.<bar>"``; the
    validation split keeps a score's melodies together (its group is ``"<file>#<score>"``).

    Parameters
    ----------
    collection : a corpus folder (a value of CORPUS_SOURCES)
    limit : stop after this many melodies
    skipped : if given, counts why scores gave nothing (``"meter 6/8"``, ``"no time signature"``,
        ``"unparsable file"``, ...) and how many scores gave melodies (``"kept"``)
    gap_bars : bars of silence that end a melody
    jobs : processes parsing files at once (music21's parser is the slow part); the melodies come in file
        order whatever the number
    """
    skipped = Counter() if skipped is None else skipped
    files = _corpus_files(collection)
    read = partial(_score_file_tunes, collection=collection, gap_bars=gap_bars)
    count = 0
    with _file_map(jobs) as map_files:
        for tunes, counts in map_files(read, files):
            skipped.update(counts)
            for tune in tunes:
                yield tune
                count += 1
                if limit and count >= limit:
                    return


@contextmanager
def _file_map(jobs: int):
    """``map`` in this process (jobs <= 1) or an ordered ``imap`` over a pool of ``jobs`` processes."""
    if jobs <= 1:
        yield map
        return
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        yield partial(pool.imap, chunksize=4)


# -- MIDI folders -------------------------------------------------------------------------------------


def midi_folder_tunes(folder: str | Path, limit: int | None = None, skipped: Counter | None = None) -> Iterator[Tune]:
    """Melodies of every MIDI file under ``folder``, extracted as MusicVAE does (``midi_melodies``).

    Programs 0-31, 4/4 pieces only, the top line of each track, a new melody after every bar of silence
    (see :mod:`engine.data.midi_melodies`). Every melody is its own tune, named
    ``"<file>|<track>@<piece>.<bar>"``; the validation split keeps a file's melodies together. ``skipped``,
    if given, counts the files that could not be read or gave no melody, and those kept.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise LatentLabError(f"{folder}: no such folder of MIDI files")
    skipped = Counter() if skipped is None else skipped
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".mid", ".midi")):
        try:
            melodies = midi_melodies(path)
        except LatentLabError:
            skipped["unreadable file"] += 1
            continue
        skipped["kept" if melodies else "no melody (no 4/4 piece, no melodic track)"] += 1
        for m in melodies:
            name = f"{path.relative_to(folder)}|{m.instrument}@{m.piece}.{m.start_step // STEPS_PER_BAR}"
            yield Tune(name, f"midi:{folder}", m.melody)
            count += 1
            if limit and count >= limit:
                return


def split_group(name: str) -> str:
    """The unit of the validation split: a score of the corpus (all its melodies), or a whole MIDI file."""
    return name.split("|", 1)[0]


# -- windows ------------------------------------------------------------------------------------------


def melody_windows(melody: np.ndarray, steps: int, hop: int) -> list[np.ndarray]:
    """Windows of ``steps`` steps every ``hop`` steps that hold music (short tunes are padded).

    16-bar windows: a tune of at least MIN_16BAR_TUNE_BARS bars but shorter than ``steps`` becomes one
    window padded with rests.
    """
    bars = steps // STEPS_PER_BAR
    if len(melody) < steps:
        if steps > 2 * STEPS_PER_BAR and len(melody) >= MIN_16BAR_TUNE_BARS * STEPS_PER_BAR:
            melody = pad_melody(melody, steps)
        else:
            return []
    out = []
    for start in range(0, len(melody) - steps + 1, hop):
        w = melody[start : start + steps]
        if int((w >= FIRST_PITCH_CLASS).sum()) >= max(2, MIN_ONSETS_PER_BAR * bars):
            out.append(w)
    return out


def save_tunes(tunes: list[Tune], path: Path, command: str) -> None:
    """Write tunes (and the command that extracted them) to ``path``."""
    offsets = np.cumsum([0] + [len(t.melody) for t in tunes]).astype(np.int64)
    events = np.concatenate([t.melody for t in tunes]).astype(np.uint8) if tunes else np.zeros(0, np.uint8)
    np.savez_compressed(
        path, events=events, offsets=offsets, names=np.array([t.name for t in tunes]),
        sources=np.array([t.source for t in tunes]), command=np.array(command),
    )


def load_tunes(path: Path) -> tuple[list[Tune], str]:
    """The tunes of a ``tunes.npz`` and the command that extracted them."""
    if not path.exists():
        raise LatentLabError(f"{path} is missing: run `latentlab data melody` first")
    with np.load(path, allow_pickle=False) as z:
        events, offsets = z["events"].astype(np.int64), z["offsets"]
        tunes = [Tune(str(n), str(s), events[offsets[i] : offsets[i + 1]]) for i, (n, s) in enumerate(zip(z["names"], z["sources"]))]
        return tunes, str(z["command"]) if "command" in z.files else "latentlab data melody"


def data_command(corpus: list[str] | None, midi_dirs: list[str] | None, transpose: int, val_fraction: float, limit: int | None) -> str:
    """The ``latentlab data melody`` command line that builds this data (recorded in the files)."""
    parts = ["latentlab data melody"]
    if corpus is not None and sorted(corpus) != sorted(CORPUS_SOURCES):
        parts.append(f"--corpus {','.join(corpus) or 'none'}")
    parts += [f"--midi {d}" for d in midi_dirs or []]
    if transpose != 5:
        parts.append(f"--transpose {transpose}")
    if val_fraction != 0.1:
        parts.append(f"--val-fraction {val_fraction}")
    if limit:
        parts.append(f"--limit {limit}")
    return " ".join(parts)


def cut_windows(tunes: list[Tune], steps: int, hop: int, transpose: int, val_fraction: float) -> dict[str, np.ndarray]:
    """Train windows (every transposition within +-``transpose``) and validation windows (original key)."""
    train, train_tune, val, val_tune = [], [], [], []
    for index, tune in enumerate(tunes):
        windows = melody_windows(tune.melody, steps, hop)
        if is_validation(split_group(tune.name), val_fraction):
            val += windows
            val_tune += [index] * len(windows)
            continue
        for w in windows:
            for shift in range(-transpose, transpose + 1):
                moved = transpose_melody(w, shift)
                if moved is not None:
                    train.append(moved)
                    train_tune.append(index)
    def stack(rows):
        return np.stack(rows).astype(np.uint8) if rows else np.zeros((0, steps), np.uint8)

    return {
        "train": stack(train),
        "val": stack(val),
        "train_tune": np.array(train_tune, dtype=np.int32),
        "val_tune": np.array(val_tune, dtype=np.int32),
        "steps": np.array(steps),
    }


def check_corpus(keys: list[str]) -> None:
    """One clear error for keys that are not in :data:`CORPUS_SOURCES`."""
    unknown = [c for c in keys if c not in CORPUS_SOURCES]
    if unknown:
        raise LatentLabError(f"unknown corpus {', '.join(unknown)}: choose from {', '.join(CORPUS_SOURCES)}")


def parse_corpus(text: str) -> list[str] | None:
    """``--corpus`` text -> collection keys: "all" -> None (every one), "none" -> [], "a,b" -> those,
    "all,-a" (or "-a") -> every collection but those named."""
    if text in ("all", "none"):
        return None if text == "all" else []
    keys = [c.strip() for c in text.split(",") if c.strip()]
    excluded = [c[1:] for c in keys if c.startswith("-")]
    if not excluded:
        return keys
    check_corpus(excluded)
    return [c for c in CORPUS_SOURCES if c not in excluded]


def build_melody_data(
    out_dir: str | Path = DEFAULT_DIR,
    corpus: list[str] | None = None,
    midi_dirs: list[str] | None = None,
    transpose: int = 5,
    val_fraction: float = 0.1,
    limit: int | None = None,
    reuse_tunes: bool = False,
    progress: bool = True,
    tunes_from: str | Path | None = None,
    jobs: int = 1,
) -> dict[str, dict[str, int]]:
    """Extract tunes and cut the ``mel_2bar`` / ``mel_16bar`` window sets into ``out_dir``.

    Parameters
    ----------
    corpus : keys of CORPUS_SOURCES (default: all of them); [] for none
    midi_dirs : folders of MIDI files (Lakh-compatible) to add
    transpose : train windows are augmented with every shift in -transpose..+transpose semitones
    val_fraction : fraction of tunes held out for validation
    limit : at most this many melodies per source (quick runs and tests)
    jobs : processes parsing corpus files at once (the same result whatever the number)
    reuse_tunes : skip parsing and re-cut windows from an existing ``tunes.npz`` (``out_dir``'s, or ``tunes_from``);
        with ``corpus``, only those collections' tunes are kept

    Returns
    -------
    counts per output file: {"tunes": {...}, "mel_2bar": {"train": N, "val": M}, ...}
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    extraction: dict[str, dict] = {}
    if reuse_tunes:
        tunes, command = load_tunes(Path(tunes_from) if tunes_from else out_dir / TUNES_FILE)
        if transpose != 5 or val_fraction != 0.1:
            command = f"{command} (windows re-cut with --transpose {transpose} --val-fraction {val_fraction})"
        if corpus is not None:  # keep only these collections' tunes
            check_corpus(corpus)
            kept = {CORPUS_SOURCES[c] for c in corpus}
            tunes = [t for t in tunes if t.source in kept]
            if not tunes:
                raise LatentLabError(f"the tunes file holds no tunes of {', '.join(corpus)}")
            command = f"{command} (windows re-cut from --corpus {','.join(corpus)})"
        if tunes_from or corpus is not None:
            save_tunes(tunes, out_dir / TUNES_FILE, command)  # the windows' tune indices refer to this file
    else:
        command = data_command(corpus, midi_dirs, transpose, val_fraction, limit)
        corpus = list(CORPUS_SOURCES) if corpus is None else corpus
        check_corpus(corpus)
        if not corpus and not midi_dirs:
            raise LatentLabError("nothing to build from: name a --corpus collection or a --midi folder")
        sources = [(c, partial(corpus_tunes, CORPUS_SOURCES[c], limit, jobs=jobs)) for c in corpus]
        sources += [(f"midi:{d}", partial(midi_folder_tunes, d, limit)) for d in midi_dirs or []]
        tunes = []
        for label, make in sources:
            before, skipped, started = len(tunes), Counter(), time.perf_counter()
            tunes.extend(make(skipped=skipped))
            melodies = tunes[before:]
            extraction[label] = {
                "tunes": len({split_group(t.name) for t in melodies}), "melodies": len(melodies),
                "seconds": round(time.perf_counter() - started, 1),
                "dropped": {k: v for k, v in sorted(skipped.items()) if k != "kept"},
            }
            if progress:
                e = extraction[label]
                dropped = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items(), key=lambda kv: -kv[1]) if k != "kept")
                print(f"{label}: {e['tunes']} tunes, {e['melodies']} melodies in {e['seconds']} s"
                      + (f"; dropped: {dropped}" if dropped else ""), flush=True)
        if not tunes:
            raise LatentLabError("no usable tunes found (only duple-meter tunes and 4/4 MIDI files with melodic tracks are used)")
        save_tunes(tunes, out_dir / TUNES_FILE, command)
    counts: dict[str, dict[str, int]] = {"tunes": {"total": len(tunes)}}
    for recipe, (steps, hop) in WINDOWS.items():
        arrays = cut_windows(tunes, steps, hop, transpose, val_fraction)
        tmp = out_dir / f"{recipe}.tmp.npz"
        sources, source_tunes = np.unique([t.source for t in tunes], return_counts=True)
        np.savez_compressed(
            tmp, **arrays, transpose=np.array(transpose), val_fraction=np.array(val_fraction),
            command=np.array(command), sources=sources, source_tunes=source_tunes,
        )
        os.replace(tmp, out_dir / f"{recipe}.npz")
        counts[recipe] = {"train": len(arrays["train"]), "val": len(arrays["val"])}
        if progress:
            print(f"{recipe}: {counts[recipe]['train']} train windows, {counts[recipe]['val']} validation windows", flush=True)
    summary = {**counts, "extraction": extraction} if extraction else counts
    parsed = (Path(tunes_from).parent if tunes_from else out_dir) / "summary.json"
    if reuse_tunes and parsed.exists():  # keep the extraction figures of the parse
        previous = json.loads(parsed.read_text(encoding="utf-8"))
        summary = {**counts, **({"extraction": previous["extraction"]} if "extraction" in previous else {})}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return counts


def load_windows(path: str | Path) -> dict[str, np.ndarray]:
    """Read a window file written by :func:`build_melody_data` (``train``, ``val``, ...)."""
    path = Path(path)
    if not path.exists():
        raise LatentLabError(f"{path} is missing: build it with `latentlab data melody --out {path.parent}`")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# -- bundled examples ---------------------------------------------------------------------------------

# Public-domain tunes (Ryan's Mammoth Collection, 1883; a Bach chorale melody) for assets/melodies/:
# (corpus file, output name, first bar, bars).
EXAMPLES = (
    ("ryansMammoth/ArkansasTravellerReel.abc", "arkansas_traveller", 0, 4),
    ("ryansMammoth/BlackberryBlossomReel.abc", "blackberry_blossom", 0, 4),
    ("ryansMammoth/AmericanHornpipe.abc", "american_hornpipe", 0, 4),
    ("ryansMammoth/BanjoReel.abc", "banjo_reel", 0, 4),
    ("bach/bwv10.7.mxl", "bach_bwv10_7", 0, 4),
    ("ryansMammoth/BelleOfBostonReel.abc", "belle_of_boston_16bar", 0, 16),
)


def write_examples(out_dir: str | Path = "assets/melodies") -> list[Path]:
    """Write the bundled example melodies (top lines of EXAMPLES, cut to whole bars) as MIDI files."""
    from music21 import corpus, stream

    from ..core.midi import melody_to_midi, write_midi

    out_dir = Path(out_dir)
    written = []
    for rel, name, first_bar, bars in EXAMPLES:
        parsed = parse_file(Path(corpus.__file__).parent / rel)
        score = parsed.scores[0] if isinstance(parsed, stream.Opus) else parsed
        melodies = score_melodies(score, DUPLE_BAR_STEPS)
        if not melodies:
            raise LatentLabError(f"example {rel} has no duple-meter melody")
        melody = melodies[0].melody
        start = first_bar * STEPS_PER_BAR
        window = pad_melody(melody[start:], bars * STEPS_PER_BAR)
        written.append(write_midi(melody_to_midi(window), out_dir / f"{name}.mid"))
    return written
