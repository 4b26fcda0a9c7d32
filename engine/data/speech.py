"""Speech for the vocoder corpus, rendered from text with Debian's text-to-speech voices.

Nothing is recorded or downloaded: sentences come from a seeded grammar (:func:`sentences`), and each
paragraph of 2-4 of them is spoken by two voices drawn from whatever engines are installed
(:func:`available_voices`), each at a random rate and pitch:

- ``espeak-ng``: six English accents x 20 voice variants (m1-m7, f1-f5, klatt, klatt2-4, ...), 22,050 Hz;
- ``flite``: kal16, awb, rms, slt (16 kHz);
- ``festival`` (``text2wave``): kal_diphone, ked_diphone, cmu_us_slt_arctic_hts (16 / 32 kHz).

Every clip is resampled to 22,050 Hz and peak-normalised to a random level. Its name
``speech|text=NNNNN|engine:voice|rate=..|pitch=..`` carries the paragraph id; :func:`split_key` returns
``speech|text=NNNNN`` so that both renderings of a paragraph land in the same split (no validation
sentence is ever trained on). Install the engines with ``sudo apt-get install espeak-ng flite festival
festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts``; :func:`require_tts` names what is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import LatentLabError

SAMPLE_RATE = 22050  # the standard mel's rate
INSTALL_HINT = ("install a voice with `sudo apt-get install espeak-ng flite festival festvox-kallpc16k "
                "festvox-kdlpc16k festvox-us-slt-hts` (Debian/Ubuntu)")
TIMEOUT_S = 60.0  # one engine call (a paragraph) never takes this long

ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "klatt4", "adam", "linda", "steph", "robert")
FLITE_VOICES = ("kal16", "awb", "rms", "slt")  # "kal" is 8 kHz: left out
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")


@dataclass(frozen=True)
class Voice:
    """One text-to-speech voice: ``engine`` ("espeak-ng", "flite", "festival") and its voice name."""

    engine: str
    name: str

    def __str__(self) -> str:
        return f"{self.engine}:{self.name}"


# -- text ------------------------------------------------------------------------------------------
_NOUNS = ("river", "garden", "teacher", "window", "violin", "market", "mountain", "letter", "bicycle", "engine",
          "harbour", "kitchen", "doctor", "student", "forest", "piano", "station", "village", "painter", "ticket",
          "castle", "sailor", "library", "museum", "orchestra", "bridge", "farmer", "island", "lantern", "meadow",
          "pilot", "queen", "rabbit", "soldier", "tower", "umbrella", "valley", "wagon", "yard", "zebra",
          "album", "basket", "candle", "desert", "elephant", "feather", "guitar", "hammer", "jacket", "kettle",
          "lemon", "mirror", "needle", "ocean", "pencil", "quilt", "rocket", "saddle", "tunnel", "volcano")
_ADJECTIVES = ("old", "quiet", "bright", "heavy", "narrow", "golden", "broken", "gentle", "crowded", "distant",
               "tiny", "enormous", "green", "purple", "wooden", "frozen", "noisy", "careful", "lonely", "famous",
               "strange", "ancient", "modern", "silver", "sleepy", "angry", "happy", "rusty", "smooth", "windy")
_VERBS_PAST = ("found", "painted", "carried", "followed", "repaired", "visited", "described", "remembered",
               "opened", "watched", "borrowed", "delivered", "discovered", "ignored", "measured", "cleaned",
               "played", "sold", "built", "lost", "forgot", "heard", "saw", "bought", "wrote about")
_VERBS = ("find", "paint", "carry", "follow", "repair", "visit", "describe", "remember", "open", "watch",
          "borrow", "deliver", "discover", "measure", "clean", "play", "sell", "build", "hear", "see")
_PLACES = ("near the station", "behind the castle", "across the river", "under the old bridge", "in the garden",
           "at the market", "beside the harbour", "on the island", "inside the museum", "along the valley")
_TIMES = ("yesterday", "last winter", "this morning", "every Sunday", "before dawn", "after the storm",
          "on Tuesday", "in nineteen ninety four", "at midnight", "two weeks ago", "later tonight", "in April")
_NAMES = ("Anna", "Peter", "Maria", "James", "Sofia", "Daniel", "Chloe", "Oliver", "Grace", "Samuel",
          "Lucy", "Henry", "Emma", "Thomas", "Nina", "Victor", "Clara", "Felix", "Rosa", "Hugo")
_ADVERBS = ("slowly", "quickly", "carefully", "happily", "suddenly", "quietly", "loudly", "gently", "rarely")
_NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve",
                 "fifteen", "twenty", "thirty", "forty five", "a hundred", "three hundred")


def _sentence(rng: np.random.Generator) -> str:
    pick = lambda words: str(words[int(rng.integers(len(words)))])  # noqa: E731
    kind = int(rng.integers(8))
    if kind == 0:
        s = f"the {pick(_ADJECTIVES)} {pick(_NOUNS)} {pick(_VERBS_PAST)} the {pick(_NOUNS)} {pick(_PLACES)}."
    elif kind == 1:
        s = f"{pick(_NAMES)} {pick(_ADVERBS)} {pick(_VERBS_PAST)} a {pick(_ADJECTIVES)} {pick(_NOUNS)} {pick(_TIMES)}."
    elif kind == 2:
        s = f"did you {pick(_VERBS)} the {pick(_NOUNS)} {pick(_TIMES)}?"
    elif kind == 3:
        s = (f"{pick(_NAMES)} and {pick(_NAMES)} counted {pick(_NUMBER_WORDS)} {pick(_ADJECTIVES)} "
             f"{pick(_NOUNS)}s {pick(_PLACES)}.")
    elif kind == 4:
        s = f"please {pick(_VERBS)} the {pick(_NOUNS)} before the {pick(_NOUNS)} gets {pick(_ADJECTIVES)}."
    elif kind == 5:
        s = (f"the train to {pick(_NAMES)}ville leaves at {int(rng.integers(1, 13))} {int(rng.integers(10, 60))}, "
             f"from platform {int(rng.integers(1, 20))}.")
    elif kind == 6:
        s = (f"why would a {pick(_ADJECTIVES)} {pick(_NOUNS)} {pick(_VERBS)} the {pick(_NOUNS)}, "
             f"when the {pick(_NOUNS)} is so {pick(_ADJECTIVES)}?")
    else:
        s = (f"{pick(_TIMES)}, {pick(_NAMES)} {pick(_VERBS_PAST)} the {pick(_NOUNS)}, "
             f"and the {pick(_NOUNS)} was {pick(_ADVERBS)} {pick(_VERBS_PAST).split()[0]} too.")
    return s[0].upper() + s[1:]


def sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct English sentences from a seeded grammar (the same ``seed`` gives the same list)."""
    rng = np.random.default_rng(seed)
    out, seen = [], set()
    for _ in range(n * 20):
        if len(out) == n:
            break
        s = _sentence(rng)
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


# -- voices ----------------------------------------------------------------------------------------
def _festival_voice_installed(name: str) -> bool:
    roots = [Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices")]
    return any(root.is_dir() and any(root.glob(f"*/{name}")) for root in roots)


def available_voices() -> list[Voice]:
    """Every voice of the installed engines (empty when none is installed)."""
    voices: list[Voice] = []
    if shutil.which("espeak-ng"):
        voices += [Voice("espeak-ng", f"{a}+{v}") for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS]
    if shutil.which("flite"):
        voices += [Voice("flite", v) for v in FLITE_VOICES]
    if shutil.which("text2wave"):
        voices += [Voice("festival", v) for v in FESTIVAL_VOICES if _festival_voice_installed(v)]
    return voices


def require_tts() -> list[Voice]:
    """The installed voices, or a clear error naming what to install."""
    voices = available_voices()
    if not voices:
        raise LatentLabError(f"no text-to-speech engine is installed, and rendering speech needs one: {INSTALL_HINT}")
    return voices


def _read(path: Path) -> np.ndarray:
    from ..core.audio import resample

    import soundfile as sf

    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    audio = audio.mean(axis=1)
    return resample(audio, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else audio


def speak(voice: Voice, text: str, rate: float = 1.0, pitch: float = 1.0) -> np.ndarray:
    """``text`` spoken by ``voice`` as float32[T] at 22,050 Hz.

    rate : speaking rate relative to the voice's default (1.2 = 20% faster)
    pitch : pitch relative to the voice's default (espeak-ng and flite natively; festival by resampling,
        which moves the formants a little too)
    """
    if not text.strip():
        raise LatentLabError("nothing to say: the text is empty")
    with tempfile.TemporaryDirectory() as tmp:
        text_file, wav = Path(tmp) / "text.txt", Path(tmp) / "out.wav"
        text_file.write_text(text + "\n", encoding="utf-8")
        if voice.engine == "espeak-ng":
            cmd = ["espeak-ng", "-v", voice.name, "-s", str(round(175 * rate)), "-p", str(round(50 * pitch)),
                   "-f", str(text_file), "-w", str(wav)]
        elif voice.engine == "flite":
            f0 = {"slt": 170.0}.get(voice.name, 110.0) * pitch
            cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1 / rate:.3f}",
                   "--setf", f"int_f0_target_mean={f0:.0f}", "-f", str(text_file), "-o", str(wav)]
        elif voice.engine == "festival":
            cmd = ["text2wave", "-eval", f"(voice_{voice.name})",
                   "-eval", f"(Parameter.set 'Duration_Stretch {1 / rate:.3f})", "-o", str(wav), str(text_file)]
        else:
            raise LatentLabError(f"unknown text-to-speech engine {voice.engine!r}")
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=TIMEOUT_S)
        except FileNotFoundError as e:
            raise LatentLabError(f"{voice.engine} is not installed: {INSTALL_HINT}") from e
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            raise LatentLabError(f"{voice} could not speak ({e})") from e
        audio = _read(wav)
    if voice.engine == "festival" and abs(pitch - 1.0) > 1e-3:
        from ..core.audio import resample

        audio = resample(audio, round(SAMPLE_RATE * pitch), SAMPLE_RATE)  # played back faster = higher
    return audio.astype(np.float32)


def split_key(name: str) -> str:
    """The part of a clip name the train / validation split hashes: the paragraph for speech clips."""
    return name.split("|", 2)[0] + "|" + name.split("|", 2)[1] if name.startswith("speech|") else name


def is_speech(name: str) -> bool:
    """Whether a corpus clip name is a speech clip of this module."""
    return name.startswith("speech|")


def _pick_voices(voices: list[Voice], n: int, rng: np.random.Generator) -> list[Voice]:
    """``n`` different voices, engines drawn evenly first (espeak-ng has far more voices than the others)."""
    engines = sorted({v.engine for v in voices})
    order = [engines[int(i)] for i in rng.permutation(len(engines))]
    picked: list[Voice] = []
    for i in range(min(n, len(voices))):
        candidates = [v for v in voices if v.engine == order[i % len(order)] and v not in picked]
        candidates = candidates or [v for v in voices if v not in picked]
        picked.append(candidates[int(rng.integers(len(candidates)))])
    return picked


def render_speech(minutes: float, seed: int = 0, voices: list[Voice] | None = None, renders_per_text: int = 2,
                  progress: bool = True) -> list[tuple[str, np.ndarray]]:
    """Speak seeded paragraphs until ``minutes`` of speech are made: ``[(name, float32[T] at 22,050 Hz)]``.

    Each paragraph (2-4 sentences) is spoken ``renders_per_text`` times, each by a different random voice
    (engines drawn evenly) at a random rate (0.8-1.3) and pitch (0.8-1.25), peak-normalised to a random level in 0.3-0.95.
    """
    from ..core.audio import peak_normalize

    if minutes <= 0:
        raise LatentLabError(f"speech minutes must be positive, got {minutes}")
    voices = voices if voices is not None else require_tts()
    rng = np.random.default_rng(seed)
    pool = sentences(max(200, int(minutes * 60)), seed)  # more than enough: a sentence lasts 2-4 s, spoken twice
    clips: list[tuple[str, np.ndarray]] = []
    total, paragraph, cursor = 0.0, 0, 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(minutes, 1), unit="min", desc="speaking")
    while total < minutes * 60 and cursor < len(pool):
        k = int(rng.integers(2, 5))  # each sentence belongs to one paragraph only: the split stays clean
        text = " ".join(pool[cursor : cursor + k])
        cursor += k
        for voice in _pick_voices(voices, renders_per_text, rng):
            rate, pitch = float(rng.uniform(0.8, 1.3)), float(rng.uniform(0.8, 1.25))
            try:
                audio = speak(voice, text, rate, pitch)
            except LatentLabError:
                continue  # a voice that fails on this text: skip it
            if len(audio) < SAMPLE_RATE // 2 or float(np.abs(audio).max(initial=0.0)) < 1e-3:
                continue
            audio = peak_normalize(audio, float(rng.uniform(0.3, 0.95)))
            clips.append((f"speech|text={paragraph:05d}|{voice}|rate={rate:.2f}|pitch={pitch:.2f}", audio))
            total += len(audio) / SAMPLE_RATE
            if bar is not None:
                bar.update(round(len(audio) / SAMPLE_RATE / 60, 2))
        paragraph += 1
    if bar is not None:
        bar.close()
    return clips
