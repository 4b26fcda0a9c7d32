"""bench melody's pitch-range sanity figure: computed on a tiny model, and able to fail."""

from __future__ import annotations

import numpy as np
import torch

from engine.bench.melody import interpolation_pitch_range, range_pairs, steps_in_range
from engine.core.midi import NOTE_OFF, pitch_to_class
from engine.models.musicvae import MusicVAE, MusicVAEConfig


def melody(*pitches: int, steps: int = 32) -> np.ndarray:
    """One note every 4 steps (0 = a rest there)."""
    m = np.zeros(steps, dtype=np.int64)
    for k, p in enumerate(pitches):
        m[4 * k] = pitch_to_class(p) if p else NOTE_OFF
    return m


def test_steps_inside_the_endpoints_range_count_and_outside_ones_do_not():
    a, b = melody(60, 62, 64), melody(67, 65, 72)  # combined range 60..72
    inside, outside, silent = melody(60, 72, 66), melody(60, 73), np.zeros(32, np.int64)
    path = [a, inside, outside, melody(59, 64), silent, b]
    np.testing.assert_array_equal(steps_in_range(a, b, path), [True, False, False, True])
    assert steps_in_range(a, b, [a, inside, inside, b]).mean() == 1.0
    assert steps_in_range(a, b, [a, outside, inside, b]).mean() == 0.5


def test_pairs_come_from_different_tunes_and_skip_silent_windows():
    windows = np.stack([melody(60), melody(62), np.zeros(32, np.int64), melody(64), melody(65)])
    tunes = np.array([0, 0, 1, 1, 2])
    pairs = range_pairs(windows, tunes, 6, seed=1)
    assert len(pairs) == 6
    for i, j in pairs:
        assert i != j and 2 not in (i, j) and tunes[i] != tunes[j]


def test_figure_on_a_tiny_model_is_a_fraction():
    torch.manual_seed(0)
    model = MusicVAE(MusicVAEConfig(steps=32, embed_dim=8, encoder_hidden=16, decoder_hidden=16, z_dim=6))
    rng = np.random.default_rng(0)
    windows = np.stack([melody(*rng.integers(55, 75, size=8)) for _ in range(10)])
    r = interpolation_pitch_range(model, windows, np.arange(10), pairs=4, steps=5)
    assert r["pairs"] == 4 and len(r["per_pair"]) == 4 and r["steps"] == 5
    assert 0.0 <= r["fraction_in_range"] <= 1.0 and 0.0 <= r["fraction_silent"] <= 1.0
    assert all(abs(f * 3 - round(f * 3)) < 1e-9 for f in r["per_pair"]), "thirds: 3 intermediate steps"


class HighDecoder(MusicVAE):
    """Decodes every latent to one note far above every endpoint."""

    def decode(self, z, temperature=0.0, generator=None):
        out = torch.zeros(z.shape[0], self.cfg.steps, dtype=torch.long)
        out[:, 0] = pitch_to_class(100)
        return out


def test_figure_drops_when_the_decodes_leave_the_range():
    model = HighDecoder(MusicVAEConfig(steps=32, embed_dim=8, encoder_hidden=16, decoder_hidden=16, z_dim=6))
    windows = np.stack([melody(60, 64), melody(62, 67), melody(65, 69), melody(59, 60)])
    r = interpolation_pitch_range(model, windows, pairs=3, steps=11)
    assert r["fraction_in_range"] == 0.0 and r["fraction_silent"] == 0.0
