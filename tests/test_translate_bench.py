"""`latentlab bench translate` on tiny datasets and checkpoints: the report, mono and poly apart, and the card."""

from __future__ import annotations

import json

import numpy as np

import torch

from engine.cli.main import main
from engine.models.frame_translator import FrameTranslator
from engine.models.frame_translator import sized_config as frame_config
from engine.models.translator import Translator, sized_config
from engine.train.translate import export
from engine.train.translate_frames import export as export_frames

from helpers.translate import make_clips

DOMAINS = ("sine", "saw", "odd")


def test_bench_reports_every_target_and_writes_the_card(tmp_path, capsys):
    data = make_clips(tmp_path / "clips", domains=DOMAINS, pieces=4, seconds=2.5)
    torch.manual_seed(0)
    model = export(Translator(sized_config("tiny", DOMAINS)), tmp_path / "model", {"step": 0})
    report_path = tmp_path / "report.json"
    rc = main(["bench", "translate", "--data", str(data), "--model", str(model), "--source", "sine",
               "--clips", "2", "--seconds", "0.5", "--speed-seconds", "1", "--json", str(report_path), "--card"])
    assert rc == 0
    report = json.loads(report_path.read_text())
    block = report["kinds"]["mono"]
    assert set(report["kinds"]) == {"mono"} and set(block["per_target"]) == {"saw", "odd"} and block["excerpts"] == 2
    overall = block["overall"]
    # the same notes on another timbre share the chroma; an unrelated excerpt does not
    assert overall["chroma_corr_true_render"] > overall["chroma_corr_unrelated"] + 0.2
    assert 0.0 <= overall["classified_as_target"] <= 1.0 and report["seconds_for_clip"] > 0
    card = (model / "card.md").read_text()
    assert "## Measured figures" in card and "latentlab bench translate --data" in card and "| **all** |" in card
    assert "chroma_corr" in capsys.readouterr().out


def test_bench_frames_reports_mono_and_poly_apart(tmp_path, capsys):
    data = make_clips(tmp_path / "clips", domains=DOMAINS, pieces=6, seconds=2.5, rate=22050, poly=True)
    torch.manual_seed(0)
    model = export_frames(FrameTranslator(frame_config("tiny", DOMAINS)), tmp_path / "model", {"step": 0})
    report_path = tmp_path / "report.json"
    assert main(["bench", "translate", "--data", str(data), "--model", str(model), "--source", "sine", "--clips", "1",
                 "--seconds", "0.5", "--speed-seconds", "0", "--vocoder", "griffinlim", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert set(report["kinds"]) == {"mono", "poly"} and report["vocoder"] == "griffinlim"
    assert report["seconds_for_clip"] is None
    ceiling = report["kinds"]["mono"]["overall"]
    assert -1.0 <= ceiling["chroma_corr_vocoded_render"] <= 1.0 and ceiling["mfcc_dist_vocoded_render"] >= 0
    assert -1.0 <= ceiling["chroma_corr_mel_true_phase"] <= 1.0
    for block in report["kinds"].values():  # every excerpt no nearer than the input is named, and only those
        pairs = block["excerpts"] * len(block["per_target"])
        assert len(block["farther"]) == round(pairs * (1 - block["overall"]["closer_than_input"]))
        assert all(f["mfcc_dist_output"] >= f["mfcc_dist_input"] for f in block["farther"])
    out = capsys.readouterr().out
    assert "**Monophonic tunes** (1 excerpts)" in out and "**Polyphonic chorales** (1 excerpts)" in out


def test_bench_refuses_data_at_another_rate(tmp_path, capsys):
    data = make_clips(tmp_path / "clips", domains=DOMAINS, pieces=3, seconds=2.5)  # 16 kHz
    model = export_frames(FrameTranslator(frame_config("tiny", DOMAINS)), tmp_path / "model", {"step": 0})
    assert main(["bench", "translate", "--data", str(data), "--model", str(model), "--source", "sine"]) == 1
    assert "--sample-rate 22050" in capsys.readouterr().err


def test_the_mel_with_the_true_phase_keeps_a_chords_chroma():
    from engine.bench.translate import chroma_correlation
    from engine.bench.vocode_swap import mel_with_true_phase

    rate = 22050
    t = np.arange(int(1.5 * rate)) / rate
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (130.81, 164.81, 196.00))  # C3 E3 G3
    kept = mel_with_true_phase(chord.astype(np.float32))
    assert len(kept) == len(chord) // 256 * 256
    assert chroma_correlation(kept, chord[: len(kept)], rate) > 0.95
    noise = np.random.default_rng(0).standard_normal(len(kept)).astype(np.float32) * 0.1
    assert chroma_correlation(noise, chord[: len(kept)], rate) < 0.5  # the figure can fail
