"""The differentiable synthesis layers against closed forms (engine.nn.synth)."""

import math

import numpy as np
import torch

from engine.nn.synth import (
    Reverb,
    a_weighted_loudness,
    filtered_noise,
    harmonic_synth,
    hz_to_midi,
    midi_to_hz,
    multiscale_spectral_loss,
)

SR, HOP = 16_000, 128


def spectrum(audio: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    x = audio.detach().double().numpy()
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / SR), mag**2


def test_one_harmonic_at_f0_is_a_sine_at_f0():
    n = 40
    f0 = torch.full((1, n), 440.0)
    amplitude = torch.full((1, 1, n), 0.5)
    distribution = torch.zeros(1, 8, n)
    distribution[:, 0] = 1.0
    audio = harmonic_synth(f0, amplitude, distribution, SR, HOP)[0]
    t = torch.arange(n * HOP, dtype=torch.float64) / SR
    expected = 0.5 * torch.sin(2 * math.pi * 440.0 * t)
    assert audio.shape == (n * HOP,)
    assert torch.allclose(audio.double(), expected, atol=1e-4)


def test_harmonic_amplitudes_follow_the_distribution_and_nyquist_is_silenced():
    n = 64
    f0 = torch.full((1, n), 3000.0)  # harmonics 1, 2 audible (3 kHz, 6 kHz); 3.. above 8 kHz
    distribution = torch.ones(1, 6, n)
    audio = harmonic_synth(f0, torch.ones(1, 1, n), distribution, SR, HOP)[0]
    freqs, power = spectrum(audio)
    band = lambda f: power[(freqs > f - 100) & (freqs < f + 100)].sum()  # noqa: E731
    total = power.sum()
    assert band(3000) / total > 0.45 and band(6000) / total > 0.45  # the two audible harmonics share it evenly
    assert (band(3000) + band(6000)) / total > 0.999  # nothing aliased from the silenced ones
    assert float(audio.abs().max()) <= 1.0 + 1e-4  # normalised to the overall amplitude


def test_harmonic_phase_stays_exact_over_a_long_note():
    n = 2000  # 16 s
    f0 = torch.full((1, n), 4000.0 - 1e-3)
    distribution = torch.zeros(1, 2, n)
    distribution[:, 0] = 1.0
    audio = harmonic_synth(f0, torch.ones(1, 1, n), distribution, SR, HOP)[0]
    t = torch.arange(n * HOP, dtype=torch.float64)[-1000:] / SR
    expected = torch.sin(2 * math.pi * f0[0, 0].double() * t)  # the float32 f0, in float64 arithmetic
    assert torch.allclose(audio[-1000:].double(), expected, atol=1e-3)


def test_noise_band_puts_its_energy_where_asked():
    n, bands = 200, 65
    magnitudes = torch.zeros(1, bands, n)
    magnitudes[:, 32] = 1.0  # band 32 of 65 over 0..8 kHz: 4 kHz
    audio = filtered_noise(magnitudes, HOP, generator=torch.Generator().manual_seed(0))[0]
    freqs, power = spectrum(audio)
    near = power[(freqs > 3700) & (freqs < 4300)].sum() / power.sum()
    assert audio.shape == (n * HOP,)
    assert near > 0.95, near
    silent = filtered_noise(torch.zeros(1, bands, n), HOP)
    assert float(silent.abs().max()) < 1e-6


def test_reverb_passes_the_dry_signal_and_adds_its_impulse_response():
    reverb = Reverb(SR, seconds=0.1)
    impulse = torch.zeros(1, 4000)
    impulse[0, 0] = 1.0
    out = reverb(impulse)[0]
    out = out.detach()
    assert abs(float(out[0]) - 1.0) < 1e-5
    assert torch.allclose(out[1:1600], reverb.ir.detach()[1:1600], atol=1e-5)
    reverb(impulse).sum().backward()
    assert reverb.ir.grad is not None and float(reverb.ir.grad.abs().sum()) > 0


def test_multiscale_spectral_loss_is_zero_only_for_equal_signals():
    x = torch.randn(2, 4096)
    assert float(multiscale_spectral_loss(x, x)) < 1e-6
    y = (x * 0.5).requires_grad_()
    loss = multiscale_spectral_loss(y, x)
    assert float(loss) > 0.5
    loss.backward()
    assert float(y.grad.abs().sum()) > 0


def test_loudness_rises_6_db_when_the_amplitude_doubles():
    t = torch.arange(16_000) / SR
    tone = 0.1 * torch.sin(2 * math.pi * 1000 * t)[None]
    quiet, loud = a_weighted_loudness(tone, SR, HOP), a_weighted_loudness(2 * tone, SR, HOP)
    assert quiet.shape == (1, 16_000 // HOP)
    assert abs(float((loud - quiet)[0, 10:-10].mean()) - 20 * math.log10(2)) < 0.05
    assert float(a_weighted_loudness(torch.zeros(1, 16_000), SR, HOP).max()) <= -100


def test_midi_hz_round_trip():
    pitches = torch.tensor([21.0, 60.0, 69.0, 108.0])
    assert torch.allclose(hz_to_midi(midi_to_hz(pitches)), pitches, atol=1e-4)
    assert float(midi_to_hz(69.0)) == 440.0


def test_reverb_taps_past_max_taps_never_sound_nor_learn():
    reverb = Reverb(SR, seconds=0.1, max_taps=400)
    with torch.no_grad():
        reverb.ir[400:] = 1.0  # whatever lies past max_taps
    impulse = torch.zeros(1, 2000)
    impulse[0, 0] = 1.0
    out = reverb(impulse)
    assert float(out[0, 400:].abs().max()) < 1e-6  # FFT round-off only
    out.sum().backward()
    assert float(reverb.ir.grad[400:].abs().max()) == 0.0 and float(reverb.ir.grad[1:400].abs().min()) > 0
