import librosa
import numpy as np
import pytest
import torch

from engine.core.mel import MelConfig, convert_mel, mel_spectrogram


def test_default_is_the_hifigan_standard():
    cfg = MelConfig()
    assert (cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.win_length, cfg.n_mels) == (22050, 1024, 256, 1024, 80)
    assert (cfg.fmin, cfg.fmax, cfg.log_base) == (0.0, 8000.0, "e")


def test_shape_and_values_match_librosa(tone):
    cfg = MelConfig()
    mel = mel_spectrogram(torch.from_numpy(tone), cfg).numpy()
    assert mel.shape == (80, len(tone) // 256), mel.shape
    pad = (cfg.n_fft - cfg.hop_length) // 2
    reference = librosa.feature.melspectrogram(
        y=np.pad(tone, (pad, pad), mode="reflect"), sr=22050, n_fft=1024, hop_length=256, win_length=1024,
        center=False, power=1.0, n_mels=80, fmin=0, fmax=8000,
    )
    reference = np.log(np.clip(reference, 1e-5, None))
    assert reference.shape == mel.shape
    assert np.abs(np.exp(mel) - np.exp(reference)).max() < 1e-4
    audible = reference > -9  # near the 1e-5 floor float32 rounding dominates the log
    assert np.abs(mel - reference)[audible].max() < 1e-3


def test_batched_equals_single(tone):
    batch = torch.from_numpy(np.stack([tone, tone[::-1].copy()]))
    both = mel_spectrogram(batch)
    assert both.shape == (2, 80, 86)
    assert torch.allclose(both[0], mel_spectrogram(batch[0]), atol=1e-5)


def test_silence_is_clamped_at_log_1e_5():
    mel = mel_spectrogram(torch.zeros(22050))
    assert torch.allclose(mel, torch.full_like(mel, np.log(1e-5)), atol=1e-3)


def test_log10_conversion_is_exact(tone):
    x = torch.from_numpy(tone)
    natural, log10 = mel_spectrogram(x, MelConfig()), mel_spectrogram(x, MelConfig.melgan())
    assert torch.allclose(convert_mel(log10, MelConfig.melgan(), MelConfig()), natural, atol=1e-4)
    assert torch.allclose(convert_mel(natural, MelConfig(), MelConfig.melgan()), log10, atol=1e-4)


def test_fmin_fmax_variant_converts_approximately(tone):
    x = torch.from_numpy(tone)
    r9y9, standard = mel_spectrogram(x, MelConfig.r9y9()), mel_spectrogram(x, MelConfig())
    converted = convert_mel(r9y9, MelConfig.r9y9(), MelConfig())
    assert converted.shape == standard.shape
    loud = standard > -4  # compare where there is energy; bands below 125 Hz are unknowable
    error = (converted - standard)[loud].abs().mean()
    assert error < 0.5, error
    with pytest.raises(ValueError, match="hop_length"):
        convert_mel(standard, MelConfig(hop_length=200), MelConfig())
