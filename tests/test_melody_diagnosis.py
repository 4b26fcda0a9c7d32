"""bench melody --diagnose: event kinds and onset figures on hand-made melodies, the whole report on tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.bench.melody_diagnosis import (
    KINDS,
    diagnose_musicvae,
    event_kinds,
    format_diagnosis,
    kind_frequencies,
    onset_breakdown,
)
from engine.cli.main import main
from engine.core.midi import NOTE_OFF, pitch_to_class
from engine.models.musicvae import MusicVAE, MusicVAEConfig

C, D, E = pitch_to_class(60), pitch_to_class(62), pitch_to_class(64)
TINY = dict(embed_dim=8, encoder_hidden=16, decoder_hidden=16, conductor_hidden=12, z_dim=6)


def test_event_kinds_tell_holds_from_rests():
    x = np.array([[0, C, 0, 0, NOTE_OFF, 0, D, E, 0, NOTE_OFF]])
    #              rest onset hold hold off rest onset onset hold off
    np.testing.assert_array_equal(event_kinds(x), [[3, 0, 2, 2, 1, 3, 0, 0, 2, 1]])
    freq = kind_frequencies(x)
    assert list(freq) == list(KINDS) and freq == {"onset": 0.3, "note_off": 0.2, "hold": 0.3, "rest": 0.2}


def test_onset_breakdown_separates_timing_from_pitch():
    truth = np.array([[C, 0, D, 0, E, 0, C, 0]])
    pred = np.array([[C, 0, E, 0, 0, 0, C + 12, D]])  # right, wrong pitch, missed, an octave off, extra
    o = onset_breakdown(truth, pred)
    assert o["recall"] == 0.75 and o["precision"] == 0.75
    assert o["pitch"] == pytest.approx(1 / 3) and o["within_octave"] == pytest.approx(2 / 3)


def windows(n: int, steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((n, steps), dtype=np.int64)
    x[:, ::2] = rng.integers(pitch_to_class(55), pitch_to_class(75), size=(n, steps // 2))
    x[:, 3::8] = NOTE_OFF
    return x


@pytest.mark.parametrize("hierarchical", [True, False])
def test_report_on_a_tiny_model(hierarchical):
    torch.manual_seed(0)
    steps = 64 if hierarchical else 32
    model = MusicVAE(MusicVAEConfig(steps=steps, hierarchical=hierarchical, **TINY))
    r = diagnose_musicvae(model, windows(10, steps), windows(20, steps, seed=1), batch_size=4)
    bars = steps // 16
    assert r["windows"] == 10 and r["bars"] == bars
    for mode in ("argmax", "teacher_forced"):
        assert len(r["per_bar"][mode]) == bars and len(r["per_step_in_bar"][mode]) == 16
        assert np.mean(r["per_bar"][mode]) == pytest.approx(r[f"{mode}_accuracy" if mode == "argmax" else "teacher_forced_accuracy"])
        assert set(r["per_kind"][mode]) == set(KINDS)
    assert r["per_kind"]["argmax"]["rest"] is None  # these windows have no rests
    assert sum(r["kind_frequency"]["validation"].values()) == pytest.approx(1.0)
    lat = r["latent"]
    assert len(lat["kl_bits_per_dim"]) == 6 and sum(lat["kl_bits_per_dim"]) == pytest.approx(lat["kl_bits"], rel=1e-5)
    assert 0 <= lat["dims_above_kl_threshold"] <= 6 and 0 <= lat["top10_kl_share"] <= 1.0 + 1e-9
    assert set(r["z_ablation"]) == {"swapped", "zero"}
    if hierarchical:
        c = r["conductor"]
        assert c["variance_across_bars"] >= 0 and c["variance_across_windows"] >= 0 and -1 <= c["consecutive_bar_cosine"] <= 1
        assert 0 <= c["decoded_bar_repeats_previous"] <= 1
    else:
        assert "conductor" not in r
    text = format_diagnosis(r)
    assert "per bar, argmax" in text and ("conductor:" in text) == hierarchical


def test_diagnose_needs_data(capsys):
    assert main(["bench", "melody", "--diagnose"]) == 1
    assert "--diagnose needs --data" in capsys.readouterr().err


def test_latent_probe_optimises_towards_the_targets_and_leaves_the_weights():
    torch.manual_seed(0)
    model = MusicVAE(MusicVAEConfig(steps=64, hierarchical=True, **TINY))
    before = [p.detach().clone() for p in model.parameters()]
    r = diagnose_musicvae(model, windows(6, 64), probe_windows=3)
    p = r["latent_probe"]
    assert p["windows"] == 3
    # Free bar embeddings fit the bars better than the untrained encoder's (teacher-forced, same decoder).
    assert p["optimised_bar_embeddings"]["teacher_forced_accuracy"] > p["encoder"]["teacher_forced_accuracy"]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.requires_grad for p in model.parameters())
    assert "latent probe on 3 windows" in format_diagnosis(r)
