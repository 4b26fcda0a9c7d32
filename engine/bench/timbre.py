"""``latentlab bench timbre``: the timbre model's figures on validation notes, reproducibly.

- pitch kept: the fraction of reconstructions whose pYIN median f0 (searched within two octaves of the
  note's pitch) is within 50 cents of it; the same test on the original notes says how far the test itself
  can be trusted;
- multi-resolution STFT distance between each reconstruction and its original (engine.core.metrics), beside the
  distance of the 8-bit mu-law round trip alone (the floor any mu-law model starts from);
- decode speed: samples per second generating one stream (batch 1) on one CPU thread, per second of wall
  time and per second of the process's CPU time (the two differ when other work shares the core);
- DDSP models also: pitch kept when the f0 is tracked by pYIN from the note itself (as for an upload), and
  the wall time of a 5-step morph of two 4 s notes.

Reconstructions are given each note's true pitch (the DDSP decoder also its measured loudness).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from ..core.audio import fit_length, mulaw_decode, mulaw_encode
from ..core.errors import LatentLabError
from ..core.metrics import mr_stft_distance, torch_threads
from ..data.timbre import read_examples, read_note, split_dir
from ..ops.timbre import (
    NOTE_SAMPLES,
    SAMPLE_RATE,
    TEMPERATURE,
    decode,
    encode,
    is_ddsp,
    load_model,
    loudness,
    median_f0,
    morph,
    reconstruct,
)

PITCH_TOLERANCE_CENTS = 50.0
SPEED_SAMPLES = SAMPLE_RATE  # one second decoded for the speed figure


def cents_off(f0: float | None, pitch: int) -> float:
    """How far ``f0`` (Hz) is from MIDI ``pitch`` in cents (inf when there is no f0)."""
    if f0 is None or f0 <= 0:
        return math.inf
    return abs(1200.0 * math.log2(f0 / (440.0 * 2 ** ((pitch - 69) / 12))))


def pick_notes(data: str | Path, n: int, seed: int = 0) -> tuple[Path, list[str], list[int]]:
    """``n`` validation notes drawn (seeded) from ``data``: (their folder, note names, pitches)."""
    folder = split_dir(data, "valid")
    examples = read_examples(folder)
    names = sorted(examples)
    if n < 1:
        raise LatentLabError(f"--notes must be at least 1, got {n}")
    chosen = sorted(np.random.default_rng(seed).choice(len(names), min(n, len(names)), replace=False))
    picked = [names[i] for i in chosen]
    return folder, picked, [int(examples[k]["pitch"]) for k in picked]


def decode_speed(model, seed: int = 0) -> tuple[float, float]:
    """Decoding one stream of :data:`SPEED_SAMPLES` on one CPU thread (after a warm-up): samples per second
    of wall time, and per second of this process's CPU time (what one core would do unshared)."""
    frames = math.ceil(SPEED_SAMPLES / model.config.hop)
    z = np.zeros((model.config.latent_channels, frames), dtype=np.float32)
    with torch_threads(1):
        decode(model, z[:, :1], 60, seed=seed)  # compiles the fast path
        wall, cpu = time.perf_counter(), time.process_time()
        audio = decode(model, z, 60, seed=seed)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return audio.shape[-1] / wall, audio.shape[-1] / cpu


def tracked_kept(model, note: np.ndarray, pitch: int, seed: int) -> bool:
    """Whether the reconstruction of ``note`` from its own pYIN-tracked f0 keeps ``pitch`` (a note in which
    no steady pitch is found counts as not kept)."""
    try:
        audio = reconstruct(model, note, seed=seed).audio
    except LatentLabError:
        return False
    return cents_off(median_f0(audio, pitch), pitch) <= PITCH_TOLERANCE_CENTS


def bench_timbre(data: str | Path, model_name: str = "timbre_ddsp", notes: int = 20, seed: int = 0,
                 device: torch.device | str = "cpu", card: bool = False, temperature: float = TEMPERATURE) -> dict:
    """Reconstruct ``notes`` validation notes (decoded together at ``temperature``, given the notes' true
    pitches) and measure them. Returns the figures as a dict (see :func:`format_figures`)."""
    model = load_model(model_name, device)
    folder, names, pitches = pick_notes(data, notes, seed)
    speed, speed_cpu = decode_speed(model, seed)  # first: it also compiles the fast path
    originals = np.stack([fit_length(read_note(folder, k), NOTE_SAMPLES) for k in names])
    tracks = {"loudness": loudness(model, originals)} if is_ddsp(model) else {}
    start = time.perf_counter()
    recon = decode(model, encode(model, originals), pitches, temperature=temperature, seed=seed, **tracks)
    batch_seconds = time.perf_counter() - start
    floor = mulaw_decode(mulaw_encode(torch.from_numpy(originals))).numpy()
    off_recon = [cents_off(median_f0(r, p), p) for r, p in zip(recon, pitches)]
    off_orig = [cents_off(median_f0(o, p), p) for o, p in zip(originals, pitches)]
    figures = {
        "model": model_name,
        "data": str(data),
        "notes": len(names),
        "seed": seed,
        "temperature": temperature,
        "pitch_kept": float(np.mean([c <= PITCH_TOLERANCE_CENTS for c in off_recon])),
        "pitch_kept_originals": float(np.mean([c <= PITCH_TOLERANCE_CENTS for c in off_orig])),
        "median_cents_off": float(np.median(off_recon)),
        "mr_stft": float(np.mean([mr_stft_distance(r, o) for r, o in zip(recon, originals)])),
        "mr_stft_mulaw_floor": float(np.mean([mr_stft_distance(f, o) for f, o in zip(floor, originals)])),
        "batch_decode_samples_per_s": float(recon.size / batch_seconds),
        "decode_samples_per_s": speed,
        "decode_samples_per_cpu_s": speed_cpu,
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    figures["real_time_factor"] = speed / SAMPLE_RATE
    figures["real_time_factor_cpu"] = speed_cpu / SAMPLE_RATE
    if is_ddsp(model):
        figures["pitch_kept_tracked"] = float(np.mean([tracked_kept(model, o, p, seed)
                                                       for o, p in zip(originals, pitches)]))
        start = time.perf_counter()
        morph(model, originals[0], originals[-1], 5, pitches[0], pitches[-1], seed=seed)
        figures["morph_5_steps_s"] = time.perf_counter() - start
    if card:
        write_card_figures(model_name, figures)
    return figures


def format_figures(f: dict) -> str:
    return "\n".join([
        f"timbre model {f['model']} ({f['parameters']:,} parameters) on {f['notes']} validation notes of {f['data']}"
        f" (temperature {f['temperature']}):",
        f"  pitch kept (pYIN median f0 within 50 cents)  {f['pitch_kept']:.2f}   (originals: {f['pitch_kept_originals']:.2f};"
        f" median {f['median_cents_off']:.0f} cents off)",
        f"  MR-STFT distance to the original           {f['mr_stft']:.3f}  (8-bit mu-law round trip alone: "
        f"{f['mr_stft_mulaw_floor']:.3f})",
        f"  decode speed, batch 1, one CPU thread       {f['decode_samples_per_s']:,.0f} samples/s of wall time "
        f"({f['real_time_factor']:.2f}x real time at 16 kHz)",
        f"                                              {f['decode_samples_per_cpu_s']:,.0f} samples per CPU-second "
        f"({f['real_time_factor_cpu']:.2f}x real time on an unshared core)",
        f"  decode speed, {f['notes']} notes together            {f['batch_decode_samples_per_s']:,.0f} samples/s",
    ] + ([
        f"  pitch kept, f0 tracked by pYIN from the note {f['pitch_kept_tracked']:.2f}",
        f"  5-step morph of two 4 s notes               {f['morph_5_steps_s']:.2f} s",
    ] if "morph_5_steps_s" in f else []))


def write_card_figures(model_name: str, figures: dict) -> Path:
    """Put the figures (and the command that measured them) into the checkpoint's card.md."""
    from ..core.cards import update_card
    from ..core.checkpoint import resolve_checkpoint_dir

    command = f"latentlab bench timbre --data {figures['data']} --notes {figures['notes']} --seed {figures['seed']}"
    if figures["temperature"] != TEMPERATURE:
        command += f" --temperature {figures['temperature']}"
    if model_name != "timbre_ddsp":
        command += f" --model {model_name}"
    body = (f"Measured by `{command} --card` (reconstructions given each note's true pitch, sampled at "
            f"temperature {figures['temperature']} where the decoder samples; CPU):\n\n```\n{format_figures(figures)}\n```")
    return update_card(resolve_checkpoint_dir(model_name), "## Measured figures", body, title=model_name)
