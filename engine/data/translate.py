"""The music-translation data: the same music rendered on several instruments, and the segment loader.

``latentlab data translate -o DIR`` renders monophonic folk tunes (music21's Essen collection) and polyphonic
Bach chorales (music21's corpus) once per *domain* -- a General MIDI program played by FluidSynth with the
FluidR3_GM soundfont -- at 22,050 Hz (the project's mel rate; ``--sample-rate 16000`` for the WaveNet
translator), and writes::

    DIR/manifest.json          {"sample_rate", "domains": {name: program}, "pieces": [{id, kind, source,
                                split, qpm, seconds}]}
    DIR/<domain>/<piece>.wav   16-bit mono, one per piece and domain

The split into train and validation is by piece. The renders are paired (the same piece, tempo and
length on every domain): the frame translator's paired loss uses that (:mod:`engine.train.translate_frames`),
and the bench measures a translation against the true render. :class:`ClipSegments` (the WaveNet
translator's loader) stays unpaired: each domain draws its own pieces and offsets.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pretty_midi
import soundfile as sf
import torch
from torch.utils.data import Dataset

from ..core.errors import LatentLabError

SAMPLE_RATE = 16_000  # the WaveNet translation network's rate
DATA_RATE = 22_050  # the rate `latentlab data translate` renders at by default (the project's mel rate)
MANIFEST = "manifest.json"
# General MIDI programs of the instruments we know by name (a domain may also be given as NAME=PROGRAM).
PROGRAMS = {
    "piano": 0, "violin": 40, "cello": 42, "flute": 73, "trumpet": 56, "guitar": 24,  # nylon acoustic guitar
    "clarinet": 71, "oboe": 68, "organ": 19, "harp": 46, "marimba": 12, "vibraphone": 11,
    "trombone": 57, "bassoon": 70, "viola": 41, "saxophone": 65, "harpsichord": 6, "accordion": 21,
}
DEFAULT_DOMAINS = ("piano", "violin", "cello", "flute", "trumpet", "guitar", "clarinet", "organ")
FOLK_FILES = ("essenFolksong",)  # music21 collections of monophonic tunes (ABC)
TUNES_PER_FILE = 6  # at most this many tunes from one ABC file, for variety
QPM_RANGE = (90.0, 140.0)  # tempo of each piece, drawn once per piece (the same on every domain)
SHIFT_FRACTION = (0.25, 0.5)  # pitch augmentation: this fraction of each segment ...
SHIFT_SEMITONES = 0.5  # ... is shifted by up to this many semitones either way


@dataclass
class Piece:
    """One piece of music, rendered once per domain."""

    id: str  # file stem, e.g. "chorale-bwv10.7"
    kind: str  # "mono" (folk tune) or "poly" (chorale)
    source: str  # where in music21's corpus it came from
    split: str  # "train" or "validation"
    qpm: float
    seconds: float = 0.0


def parse_domains(spec: str | None) -> dict[str, int]:
    """``"piano,violin,oboe=68"`` -> ``{"piano": 0, "violin": 40, "oboe": 68}`` (None: :data:`DEFAULT_DOMAINS`)."""
    names = [s.strip() for s in (spec or ",".join(DEFAULT_DOMAINS)).split(",") if s.strip()]
    domains: dict[str, int] = {}
    for item in names:
        name, _, program = item.partition("=")
        name = name.strip().lower()
        if not name.replace("_", "").replace("-", "").isalnum():
            raise LatentLabError(f"domain name {name!r} must be letters, digits, '-' or '_'")
        if program:
            if not program.strip().isdigit() or not 0 <= int(program) <= 127:
                raise LatentLabError(f"domain {name!r}: the General MIDI program must be 0..127, got {program!r}")
            domains[name] = int(program)
        elif name in PROGRAMS:
            domains[name] = PROGRAMS[name]
        else:
            raise LatentLabError(f"unknown instrument {name!r}: use one of {', '.join(PROGRAMS)} or NAME=PROGRAM")
    if not domains:
        raise LatentLabError("no domains given")
    return domains


def split_of(piece_id: str, val_fraction: float) -> str:
    """Stable split by piece id: the same piece is always on the same side."""
    return "validation" if zlib.crc32(piece_id.encode("utf-8")) % 10_000 < val_fraction * 10_000 else "train"


# -- music ------------------------------------------------------------------------------------------


def _score_notes(score) -> list[list[tuple[float, float, int]]]:
    """Each part of a music21 score as (start, end, pitch) notes in quarter lengths."""
    from music21 import chord, note

    parts = list(score.parts) if getattr(score, "parts", None) else [score]
    result = []
    for part in parts:
        notes = []
        for n in part.flatten().stripTies().notes:
            length = float(n.duration.quarterLength)
            if length <= 0:  # grace notes
                continue
            start = float(n.offset)
            if isinstance(n, chord.Chord):
                notes += [(start, start + length, p.midi) for p in n.pitches]
            elif isinstance(n, note.Note):
                notes.append((start, start + length, n.pitch.midi))
        if notes:
            result.append(notes)
    return result


def _piece_midi(parts: list[list[tuple[float, float, int]]], qpm: float, max_seconds: float, transpose: int) -> pretty_midi.PrettyMIDI:
    """(start, end, pitch) parts in quarters -> a PrettyMIDI at ``qpm``, cut at ``max_seconds`` (program 0)."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    beat = 60.0 / qpm
    for notes in parts:
        instrument = pretty_midi.Instrument(program=0)
        for start, end, pitch in notes:
            s, e = start * beat, min(end * beat, max_seconds)
            if s >= max_seconds - 0.05 or e - s < 0.03:
                continue
            velocity = 90 if len(parts) == 1 else 75
            instrument.notes.append(pretty_midi.Note(velocity=velocity, pitch=int(pitch) + transpose, start=s, end=e))
        if instrument.notes:
            pm.instruments.append(instrument)
    return pm


def folk_tunes(limit: int) -> Iterator[tuple[str, str, list]]:
    """Up to ``limit`` monophonic tunes from music21's folk collections: (id, source, parts)."""
    from music21 import converter, corpus, stream

    root = Path(corpus.__file__).parent
    count = 0
    for collection in FOLK_FILES:
        for path in sorted((root / collection).glob("*.abc")):
            try:
                parsed = converter.parse(str(path))
            except Exception:  # an unparsable file must not stop the corpus
                continue
            scores = list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]
            for i, score in enumerate(scores[:TUNES_PER_FILE]):
                try:
                    parts = _score_notes(score)
                except Exception:
                    continue
                if len(parts) != 1 or len(parts[0]) < 8:
                    continue
                yield f"folk-{path.stem}-{i}", f"{path.relative_to(root)}#{i}", parts
                count += 1
                if count >= limit:
                    return


def chorales(limit: int) -> Iterator[tuple[str, str, list]]:
    """Up to ``limit`` four-part Bach chorales from music21's corpus: (id, source, parts)."""
    from music21 import corpus

    count = 0
    for score in corpus.chorales.Iterator(numberingSystem="bwv", returnType="stream"):
        try:
            parts = _score_notes(score)
        except Exception:
            continue
        if len(parts) < 3:
            continue
        path = Path(str(getattr(score.metadata, "filePath", None) or f"chorale{count}"))
        yield f"chorale-{path.stem}", f"bach/{path.name}", parts
        count += 1
        if count >= limit:
            return


def _transpose_for(parts: list, kind: str) -> int:
    """Octave shift that puts a tune's median pitch in 60..71 (chorales stay as written)."""
    if kind != "mono":
        return 0
    median = float(np.median([p for notes in parts for _, _, p in notes]))
    return int(12 * np.floor((66 - median) / 12 + 0.5))


def build_translate_data(
    out_dir: str | Path,
    domains: dict[str, int] | None = None,
    tunes: int = 80,
    n_chorales: int = 60,
    max_seconds: float = 24.0,
    val_fraction: float = 0.1,
    seed: int = 0,
    progress: bool = True,
    sample_rate: int = DATA_RATE,
) -> dict:
    """Render every piece on every domain and write the manifest. Returns the manifest.

    Parameters
    ----------
    out_dir : output directory (an existing manifest there is extended with new domains)
    domains : name -> General MIDI program (default: :data:`DEFAULT_DOMAINS`)
    tunes, n_chorales : how many monophonic folk tunes and polyphonic chorales
    max_seconds : each piece is cut to this length (plus one second of release)
    val_fraction : share of pieces held out for validation (by piece)
    sample_rate : the renders' rate (an existing manifest at another rate is a clear error)
    """
    from ..core.render import render_midi, require_fluidsynth

    require_fluidsynth()
    domains = domains or {name: PROGRAMS[name] for name in DEFAULT_DOMAINS}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = list(folk_tunes(tunes)) if tunes else []
    kinds = ["mono"] * len(sources)
    if n_chorales:
        extra = list(chorales(n_chorales))
        sources += extra
        kinds += ["poly"] * len(extra)
    if not sources:
        raise LatentLabError("no pieces to render: ask for at least one tune or chorale")
    old = read_manifest(out) if (out / MANIFEST).exists() else None
    if old is not None and old["sample_rate"] != sample_rate:
        raise LatentLabError(f"{out} holds renders at {old['sample_rate']} Hz; render at that rate or pick another folder")
    all_domains = {**(old["domains"] if old else {}), **domains}
    pieces: list[Piece] = []
    iterator = zip(sources, kinds)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(list(iterator), desc="rendering", unit="piece")
    seen: set[str] = set()
    for (piece_id, source, parts), kind in iterator:
        qpm = float(rng.uniform(*QPM_RANGE))
        if piece_id in seen:  # a corpus file holding two versions of a piece: keep the first
            continue
        seen.add(piece_id)
        midi = _piece_midi(parts, qpm, max_seconds, _transpose_for(parts, kind))
        if not midi.instruments:
            continue
        piece = Piece(piece_id, kind, source, split_of(piece_id, val_fraction), round(qpm, 2))
        for name, program in domains.items():
            for instrument in midi.instruments:
                instrument.program = program
            audio = render_midi(midi, sample_rate, backend="fluidsynth", normalize=True)
            path = out / name / f"{piece_id}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), audio, sample_rate, subtype="PCM_16")
            piece.seconds = round(len(audio) / sample_rate, 5)
        pieces.append(piece)
    manifest = {
        "sample_rate": sample_rate,
        "domains": all_domains,
        "pieces": [asdict(p) for p in pieces],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def read_manifest(directory: str | Path) -> dict:
    """Read ``DIR/manifest.json`` (a missing or corrupt one is a clear error)."""
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise LatentLabError(f"no clips dataset at {Path(directory)} (missing {MANIFEST}): make one with `latentlab data translate -o {directory}`")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        assert {"sample_rate", "domains", "pieces"} <= set(manifest)
    except (json.JSONDecodeError, AssertionError, UnicodeDecodeError) as e:
        raise LatentLabError(f"{path} is corrupt: rebuild it with `latentlab data translate`") from e
    return manifest


def piece_files(directory: str | Path, domain: str, split: str) -> list[tuple[Path, int]]:
    """The (wav path, frames) of one domain's pieces in one split."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if domain not in manifest["domains"]:
        raise LatentLabError(f"{directory} has no domain {domain!r} (it has {', '.join(manifest['domains'])})")
    files = []
    for piece in manifest["pieces"]:
        path = directory / domain / f"{piece['id']}.wav"
        if piece["split"] == split and path.exists():
            files.append((path, sf.info(str(path)).frames))
    return files


# -- pitch augmentation -----------------------------------------------------------------------------


def shift_part(source: np.ndarray, length: int, start: int, part: int, semitones: float) -> np.ndarray:
    """Shift the pitch of ``[start, start + part)`` of a segment by ``semitones``; the rest is untouched.

    The part is played ``2 ** (semitones / 12)`` times faster (resampled), so the waveform stays continuous
    and the music after the part simply continues from where the faster playback left off.

    Parameters
    ----------
    source : ndarray[>= length + margin], the audio from the segment's start on (the margin is at most
        ``part * (2 ** (SHIFT_SEMITONES / 12) - 1) + 1`` samples)
    length : samples in the segment
    start, part : the shifted span, inside ``[0, length)``

    Returns
    -------
    segment : ndarray[length], float32
    """
    import librosa

    assert 0 <= start and start + part <= length, (start, part, length)
    taken = int(round(part * 2 ** (semitones / 12)))
    rest = length - start - part
    if len(source) < start + taken + rest:
        raise ValueError(f"source of {len(source)} samples is too short for this shift")
    if part == 0:
        return source[:length].astype(np.float32)
    chunk = source[start : start + taken].astype(np.float32)
    shifted = librosa.resample(chunk, orig_sr=taken, target_sr=part, res_type="soxr_hq", fix=False)
    shifted = np.pad(shifted, (0, max(0, part - len(shifted))))[:part]
    tail = source[start + taken : start + taken + rest]
    return np.concatenate([source[:start], shifted, tail]).astype(np.float32)


def augment_margin(length: int) -> int:
    """Extra source samples :func:`shift_part` may need for a segment of ``length``."""
    return int(np.ceil(length * SHIFT_FRACTION[1] * (2 ** (SHIFT_SEMITONES / 12) - 1))) + 2


class ClipSegments(Dataset):
    """Random segments, one per domain per item, unpaired: each domain draws its own piece and offset.

    Every segment is drawn from a generator seeded by (seed, item, domain), so the data are a pure function
    of the index (a resumed run sees the same segments). Pieces are drawn in proportion to their length.

    Items: ``{"audio": Tensor[D x segment] float32, "domain": LongTensor[D]}`` (domain d is row d); batch
    them with :func:`collate_groups`.
    """

    def __init__(
        self,
        directory: str | Path,
        split: str,
        segment: int,
        domains: list[str] | None = None,
        augment: bool = True,
        size: int = 100_000,
        seed: int = 0,
    ):
        manifest = read_manifest(directory)
        if manifest["sample_rate"] != SAMPLE_RATE:
            raise LatentLabError(f"{directory} is at {manifest['sample_rate']} Hz; the translator needs {SAMPLE_RATE}")
        self.domains = list(domains or manifest["domains"])
        self.files = [piece_files(directory, d, split) for d in self.domains]
        for name, files in zip(self.domains, self.files):
            if not files:
                raise LatentLabError(f"{directory} has no {split} audio for domain {name!r}: rebuild it with `latentlab data translate`")
        self.segment, self.augment, self.size, self.seed = segment, augment, size, seed
        self.margin = augment_margin(segment) if augment else 0

    def __len__(self) -> int:
        return self.size

    def segment_of(self, d: int, rng: np.random.Generator) -> np.ndarray:
        """One random (and, when augmenting, pitch-shifted) segment of domain ``d``: ndarray[segment]."""
        files = self.files[d]
        weights = np.array([frames for _, frames in files], dtype=np.float64)
        path, frames = files[int(rng.choice(len(files), p=weights / weights.sum()))]
        need = self.segment + self.margin
        offset = int(rng.integers(0, max(1, frames - need)))
        audio, _ = sf.read(str(path), start=offset, stop=offset + need, dtype="float32", always_2d=False)
        audio = np.pad(audio, (0, max(0, need - len(audio))))
        if self.augment:
            part = int(self.segment * rng.uniform(*SHIFT_FRACTION))
            start = int(rng.integers(0, self.segment - part + 1))
            audio = shift_part(audio, self.segment, start, part, float(rng.uniform(-SHIFT_SEMITONES, SHIFT_SEMITONES)))
        return audio[: self.segment]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rows = [self.segment_of(d, np.random.default_rng([self.seed, int(i), d])) for d in range(len(self.domains))]
        return {"audio": torch.from_numpy(np.stack(rows)), "domain": torch.arange(len(self.domains))}


def collate_groups(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Items of :class:`ClipSegments` -> one batch ``{"audio": Tensor[N*D x segment], "domain": LongTensor[N*D]}``."""
    return {key: torch.cat([item[key] for item in items]) for key in ("audio", "domain")}
