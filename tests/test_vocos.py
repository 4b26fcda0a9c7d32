"""Vocos: the mel-framed STFT and its inverse, the ConvNeXt backbone, the model, checkpoints, tiny training."""

import dataclasses
import json
import math

import pytest
import torch

from engine.core.mel import CLAMP, MelConfig, magnitude, mel_spectrogram, mel_to_linear
from engine.data.vocode import VocoderSegments
from engine.models.vocoders.vocos import Vocos, VocosConfig, carrier_phase
from engine.nn.convnext import ConvNeXtBackbone, ConvNeXtBlock
from engine.nn.spectral import anti_wrap, fast_griffin_lim, istft, keep_phase, phase_losses, stft
from engine.train import TrainConfig, Trainer
from engine.train.vocode_gan import GANWeights
from engine.train.vocode_vocos import VocosTask
from helpers.vocode import harmonic_note, make_corpus, write_corpus

TINY = VocosConfig(dim=16, intermediate=32, layers=2)


def test_istft_inverts_the_mel_framed_stft_exactly():
    x = torch.randn(2, 4096, generator=torch.Generator().manual_seed(0)) * 0.3
    spec = stft(x)
    assert list(spec.shape) == [2, 513, 16], spec.shape  # T // hop frames, as the mel
    y = istft(spec)
    assert list(y.shape) == [2, 4096]
    assert torch.allclose(y, x, atol=1e-5), (y - x).abs().max()  # edges included


def test_stft_frames_are_the_mels_frames():
    x = torch.from_numpy(harmonic_note(220.0, 0.5, 1.0))[None, :10240]
    assert torch.allclose(stft(x).abs(), magnitude(x), atol=1e-3)


def test_istft_of_one_frame_lands_where_the_mel_took_it():
    # An impulse at sample 1000 is seen by frames 1..6 of hop 256 (window 1024 starting at t*256 - 384);
    # keeping only frame 3 and inverting must put the impulse back at 1000, scaled by that frame's window.
    x = torch.zeros(1, 2048)
    x[0, 1000] = 1.0
    spec = stft(x)
    keep = torch.zeros_like(spec)
    keep[..., 3] = spec[..., 3]
    y = istft(keep)[0]
    assert int(y.abs().argmax()) == 1000


def test_istft_runs_in_float32_under_bfloat16_autocast():
    spec = stft(torch.randn(1, 2048))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = istft(spec)
    assert y.dtype == torch.float32


def test_keep_phase_takes_the_sources_phase_where_the_source_is_loud():
    t = torch.arange(24 * 256, dtype=torch.float32)
    source = (0.5 * torch.sin(2 * math.pi * 440 * t / 22050))[None]
    audio = (0.3 * torch.sin(2 * math.pi * 440 * t / 22050 + 2.0))[None]  # another level, another phase
    kept = keep_phase(audio, source)
    inner = slice(4 * 256, 20 * 256)
    expected = 0.6 * source  # the audio's magnitude with the source's phase
    assert (kept - expected)[:, inner].abs().max() < 0.02
    assert (audio - expected)[:, inner].abs().max() > 0.2
    # a floor no bin reaches keeps the audio's own phase (and the STFT round trip is exact)
    assert torch.allclose(keep_phase(audio, source, floor=2.0), audio, atol=1e-4)
    with pytest.raises(ValueError, match="same shape"):
        keep_phase(audio, source[:, :256])
    with pytest.raises(ValueError, match="multiple of the hop"):
        keep_phase(audio[:, :1000], source[:, :1000])


def test_phase_losses_ignore_wrapping_and_see_shifts():
    phase = torch.rand(2, 9, 12, generator=torch.Generator().manual_seed(0)) * 2 * torch.pi
    assert all(float(x) < 1e-5 for x in phase_losses(phase + 4 * torch.pi, phase))  # the same phases
    assert torch.allclose(anti_wrap(torch.tensor([0.5, 2 * torch.pi - 0.5, -3.0])), torch.tensor([0.5, 0.5, 3.0]))
    # a constant offset is an instantaneous-phase error only: group delay and frequency are unchanged
    ip, gd, iaf = phase_losses(phase + 1.0, phase)
    assert abs(float(ip) - 1.0) < 1e-5 and float(gd) < 1e-5 and float(iaf) < 1e-5
    # a linear ramp along time is a frequency error (and no group-delay error)
    ramp = 0.3 * torch.arange(12.0)
    ip, gd, iaf = phase_losses(phase + ramp, phase)
    assert abs(float(iaf) - 0.3) < 1e-5 and float(gd) < 1e-5


def test_convnext_block_starts_near_identity_and_keeps_shape():
    block = ConvNeXtBlock(8, 16, layer_scale=1e-6)
    x = torch.randn(2, 8, 11)
    assert torch.allclose(block(x), x, atol=1e-4)
    backbone = ConvNeXtBackbone(80, 16, 32, layers=2)
    assert list(backbone(torch.randn(2, 80, 11)).shape) == [2, 11, 16]


def test_vocos_shapes_range_and_size():
    model = Vocos(TINY).eval()
    audio = model.infer(torch.randn(2, 80, 7) - 5)
    assert list(audio.shape) == [2, 7 * 256] and audio.dtype == torch.float32
    assert audio.abs().max() <= 1.0
    # the default: Conv1d 80 -> 256, 8 ConvNeXt blocks of 256 (MLP 768), a linear head to 2 x 513
    assert Vocos().num_parameters == 3_584_770


def test_magnitude_prior_is_the_pseudo_inverse_when_the_head_is_silent():
    model = Vocos(TINY).eval()
    torch.nn.init.zeros_(model.head.weight)
    x = torch.from_numpy(harmonic_note(330.0, 0.3, 2.0))[None, :4096]
    mel = mel_spectrogram(x)
    expected = mel_to_linear(mel, MelConfig()).clamp(min=CLAMP)
    assert torch.allclose(model.spectrum(mel).abs(), expected, rtol=1e-4, atol=1e-6)
    no_prior = Vocos(dataclasses.replace(TINY, mag_prior=False))
    torch.nn.init.zeros_(no_prior.head.weight)
    assert torch.allclose(no_prior.spectrum(mel).abs(), torch.ones(1, 513, 16))  # exp(0)


def test_carrier_phase_is_a_steady_partials_stft_phase_advance():
    # a cosine at bin k's centre: its STFT phase at bin k grows by 2 pi k hop / n_fft a frame, which is the carrier
    k, n = 37, 24
    t = torch.arange(n * 256, dtype=torch.float64)
    spec = stft(torch.cos(2 * math.pi * k / 1024 * t).float()[None])[0, k, 2:-2]
    carrier = carrier_phase(513, n, 1024, 256)[k, 2:-2]
    residual = torch.angle(spec * torch.polar(torch.ones(()), -carrier))
    assert float(anti_wrap(residual - residual[0]).abs().max()) < 1e-3  # constant once the carrier is removed
    assert float(anti_wrap(torch.angle(spec[1:] / spec[:-1]) - math.pi * k / 2).abs().max()) < 1e-3
    # exact in integers for long clips (float32 k * t products would be off by tenths of a radian here)
    late = carrier_phase(512, 4097, 1024, 256)[511]
    assert float(late[4096]) == 0.0 and abs(float(late[4095]) - math.pi / 2) < 1e-6


def test_phase_demod_turns_the_heads_phase_by_the_carrier():
    torch.manual_seed(0)
    plain = Vocos(TINY).eval()
    demod = Vocos(dataclasses.replace(TINY, phase_demod=True)).eval()
    demod.load_state_dict(plain.state_dict())
    mel = torch.randn(1, 80, 9) - 5
    a, b = plain.spectrum(mel), demod.spectrum(mel)
    assert torch.allclose(a.abs(), b.abs())
    expected = torch.polar(torch.ones(()), carrier_phase(513, 9, 1024, 256))
    assert torch.allclose(b, a * expected, atol=1e-4)
    assert not torch.allclose(a, b, atol=1e-2)


def test_phase_integrate_sums_the_heads_frequency_over_frames():
    torch.manual_seed(0)
    demod = Vocos(dataclasses.replace(TINY, phase_demod=True)).eval()
    integrate = Vocos(dataclasses.replace(TINY, phase_integrate=True)).eval()
    state = integrate.state_dict()
    bins = demod.bins
    for name, value in demod.state_dict().items():
        if name.startswith("head."):
            state[name][: 2 * bins] = value
            state[name][2 * bins :] = 0.0
        else:
            state[name] = value
    state["head.bias"][2 * bins :] = 0.3  # a steady advance of 0.3 rad a frame on every bin
    integrate.load_state_dict(state)
    mel = torch.randn(1, 80, 9) - 5
    a, b = demod.spectrum(mel), integrate.spectrum(mel)
    drift = 0.3 * torch.arange(1, 10, dtype=torch.float32)  # the sum up to and including frame t
    assert torch.allclose(b, a * torch.polar(torch.ones(()), drift), atol=1e-4)
    assert integrate.head.out_features == 3 * bins


def test_bf16_backbone_stays_close_to_float32(monkeypatch):
    from engine.core import device as device_module

    monkeypatch.setattr(device_module, "cpu_has_bf16", lambda: True)  # bf16 even where the CPU emulates it
    torch.manual_seed(0)
    model = Vocos(TINY).eval()
    mel = mel_spectrogram(torch.from_numpy(harmonic_note(200.0, 0.3, 1.0))[None, :4096])
    full = model.infer(mel)
    half = model.infer(mel, bf16=True)
    assert half.dtype == torch.float32
    assert (half - full).abs().max() < 0.05 * full.abs().max() + 1e-4
    assert model.bf16 is False  # infer restores the training setting


def test_bf16_discriminators_score_in_float32_close_to_float32(monkeypatch):
    from engine.core import device as device_module

    monkeypatch.setattr(device_module, "cpu_has_bf16", lambda: True)
    torch.manual_seed(0)
    pair = VocosTask.create(TINY).model
    assert pair.discriminator_bf16  # the recipe's adversarial phase runs its discriminators in bfloat16
    audio = torch.from_numpy(harmonic_note(220.0, 0.5, 1.0))[None, :8192].float()
    half_scores, half_features = pair("discriminate", audio)
    pair.discriminator_bf16 = False
    full_scores, full_features = pair("discriminate", audio)
    assert len(half_scores) == len(full_scores) and len(half_features) == len(full_features)
    pairs = list(zip(half_scores + sum(half_features, []), full_scores + sum(full_features, [])))
    for half, full in pairs:
        assert half.dtype == torch.float32 and half.shape == full.shape
        assert (half - full).abs().max() <= 0.05 * full.abs().max() + 1e-3
    assert any(not torch.equal(half, full) for half, full in pairs)  # the bf16 pass did run in bfloat16


def test_checkpoint_round_trip(tmp_path):
    model = Vocos(TINY).eval()
    mel = torch.randn(1, 80, 6) - 4
    expected = model.infer(mel)
    model.save(tmp_path / "vocos", card="# test\n")
    loaded = Vocos.from_checkpoint(tmp_path / "vocos")
    assert loaded.config == TINY
    assert "inverse_basis" not in loaded.state_dict()  # derived from the mel, not stored
    assert torch.allclose(loaded.infer(mel), expected, atol=1e-6)


def test_tiny_training_lowers_the_loss_and_resumes(tmp_path):
    corpus = make_corpus(tmp_path)
    torch.manual_seed(0)
    task = VocosTask.create(TINY)
    assert task.vocoder.bf16  # trains with the backbone under bfloat16 autocast
    data = VocoderSegments(corpus, "train", segment=2048)
    val = VocoderSegments(corpus, "val", segment=2048, jitter=False)
    cfg = TrainConfig(steps=30, batch_size=2, lr=3e-3, betas=(0.8, 0.9), log_every=10, val_every=30,
                      save_every=15, amp=False)
    task.weights = dataclasses.replace(task.weights, adv_start=10_000, recon_lr=3e-3)
    Trainer(task, data, val, cfg, tmp_path / "run", progress=False).fit()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    train = [r for r in log if "loss" in r]
    assert train[-1]["loss"] < 0.9 * train[0]["loss"], [r["loss"] for r in train]
    assert "val_loss" in log[-1] and "val_mel_l1" in log[-1]
    # a second Trainer on the same run directory resumes at step 30 and goes on to 40
    again = VocosTask.create(TINY)
    again.weights = task.weights
    trainer = Trainer(again, data, val, dataclasses.replace(cfg, steps=40), tmp_path / "run", progress=False)
    trainer.fit()
    assert trainer.step == 40
    steps = [r["step"] for r in (json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines())]
    assert steps == sorted(steps) and steps[-1] == 40


def test_phase_losses_join_the_generator_loss_when_weighted(tmp_path):
    corpus = make_corpus(tmp_path)
    torch.manual_seed(0)
    task = VocosTask.create(TINY)
    task.phase_weight = 2.0
    data = VocoderSegments(corpus, "train", segment=2048)
    cfg = TrainConfig(steps=2, batch_size=2, log_every=1, val_every=100, save_every=100, amp=False)
    Trainer(task, data, None, cfg, tmp_path / "run", progress=False).fit()
    r = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()][0]
    assert abs(r["aux"] - 2.0 * (r["ip"] + r["gd"] + r["iaf"])) < 1e-4
    w = task.weights
    assert abs(r["loss"] - (w.stft * r["stft"] + w.mel * r["mel_l1"] + r["aux"])) < 1e-3 * r["loss"]


def test_adversarial_phase_trains_the_discriminators(tmp_path):
    corpus = make_corpus(tmp_path)
    torch.manual_seed(0)
    task = VocosTask.create(TINY)
    task.weights = GANWeights(stft=15.0, mel=45.0, adversarial=1.0, feature_matching=2.0, adv_start=0)
    before = [p.detach().clone() for p in task.model.discriminator.parameters()]
    data = VocoderSegments(corpus, "train", segment=2048)
    cfg = TrainConfig(steps=2, batch_size=2, log_every=1, val_every=100, save_every=100, amp=False)
    Trainer(task, data, None, cfg, tmp_path / "run", progress=False).fit()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all("d_loss" in r and "fm" in r and "g_adv" in r for r in log)
    assert any(not torch.equal(a, b) for a, b in zip(before, task.model.discriminator.parameters()))


@pytest.mark.parametrize("n_fft", [1000, 128])
def test_config_refuses_an_fft_the_hop_does_not_divide(n_fft):
    with pytest.raises(ValueError):
        VocosConfig(n_fft=n_fft)


def test_adv_start_moves_the_discriminators_in_and_the_run_keeps_it(tmp_path):
    from engine.train.vocode import ADVERSARIAL, train_vocode

    corpus = write_corpus(tmp_path / "data", train_seconds=4.0, val_seconds=1.0)
    shape = json.dumps(dataclasses.asdict(TINY))
    kwargs = dict(out=tmp_path / "ckpt", run_dir=tmp_path / "run", batch_size=1, config=shape, progress=False,
                  log_every=1, val_every=100, save_every=1)
    out = train_vocode("vocos", corpus, steps=2, adv_start=1, **kwargs)
    assert json.loads((tmp_path / "run" / ADVERSARIAL).read_text()) == {"adv_start": 1}
    assert "--adv-start 1" in (out / "card.md").read_text()
    train_vocode("vocos", corpus, steps=3, **kwargs)  # the resume keeps the run's adv_start
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    adversarial = {r["step"]: "d_loss" in r for r in log if "loss" in r}
    assert adversarial == {1: False, 2: True, 3: True}, adversarial


def test_adv_start_is_refused_for_a_vocoder_without_an_adversarial_phase(tmp_path):
    from engine.core.errors import LatentLabError
    from engine.train.vocode import train_vocode

    corpus = write_corpus(tmp_path / "data")
    with pytest.raises(LatentLabError, match="no adversarial phase"):
        train_vocode("waveglow", corpus, steps=1, adv_start=0, run_dir=tmp_path / "run", progress=False)


def test_fast_griffin_lim_retrieves_a_phase_and_keeps_a_true_one():
    torch.manual_seed(0)
    t = torch.arange(8192) / 22050.0
    audio = (0.3 * torch.sin(2 * math.pi * 220 * t) + 0.2 * torch.sin(2 * math.pi * 660 * t))[None]
    true = stft(audio)
    mag = true.abs()

    def inconsistency(y):  # spectral convergence of the rebuilt signal against the target magnitude
        return float((stft(y).abs() - mag).norm() / mag.norm())

    random_phase = 2 * math.pi * torch.rand(mag.shape)
    start = inconsistency(istft(torch.polar(mag, random_phase)))
    retrieved = inconsistency(fast_griffin_lim(mag, random_phase, n_iter=32))
    assert retrieved < 0.5 * start
    kept = fast_griffin_lim(mag, torch.angle(true), n_iter=8)
    assert torch.allclose(kept, istft(true), atol=1e-3)
    assert fast_griffin_lim(mag, random_phase, n_iter=0).shape == (1, 8192)
