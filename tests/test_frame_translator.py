"""The frame translator: shapes, gradient reversal, the paired loss, mel pitch shift, training, adding a domain."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.core.checkpoint import load_checkpoint
from engine.core.errors import LatentLabError
from engine.data.translate_frames import MEL, PairedMels, shift_mel
from engine.models.frame_translator import FrameTranslator, FrameTranslatorConfig, grad_reverse, sized_config
from engine.train.translate_frames import train_frames

from helpers.train import read_log
from helpers.translate import make_clips

RATE = 22_050


def tiny(domains=("sine", "saw")) -> FrameTranslator:
    torch.manual_seed(0)
    return FrameTranslator(sized_config("tiny", domains))


def test_shapes_and_translate():
    model = tiny()
    mel = torch.randn(3, 80, 37) - 5
    z = model.encode(mel)
    assert list(z.shape) == [3, model.config.latent_channels, 19], z.shape  # ceil(37 / pool 2)
    out = model.translate(mel, "saw")
    assert list(out.shape) == [3, 80, 37] and out.min() >= -11.52
    with pytest.raises(LatentLabError, match="unknown domain 'kazoo'"):
        model.translate(mel, "kazoo")


def test_config_rejects_repeated_domains():
    with pytest.raises(LatentLabError, match="distinct"):
        FrameTranslatorConfig(domains=("piano", "piano"))


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.randn(4, 3, requires_grad=True)
    (grad_reverse(x, 0.25) * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.25 * torch.arange(3.0).expand(4, 3))


def test_confusion_reaches_the_encoder_reversed():
    model = tiny()
    mels = torch.randn(2, 2, 80, 16) - 5
    out = model.losses(mels, mels, None)
    enc = [p for p in model.encoder.parameters()]
    g_conf = torch.autograd.grad(out["confusion"], enc + list(model.classifier.parameters()), retain_graph=True)
    # the classifier's own gradient, as if no reversal: descend CE(classifier(z)) with respect to z
    z = out["z"]
    own = torch.arange(2).repeat(2)
    g_z_plain = torch.autograd.grad(F.cross_entropy(model.classifier(z), own), z, retain_graph=True)[0]
    g_enc_plain = torch.autograd.grad(z, enc, grad_outputs=g_z_plain, retain_graph=True)
    for reversed_, plain in zip(g_conf[: len(enc)], g_enc_plain):
        assert torch.allclose(reversed_, -model.config.confusion_weight * plain, atol=1e-6)
    assert any(g.abs().sum() > 0 for g in g_conf[len(enc):])  # the classifier itself learns


def test_paired_loss_targets_the_other_domains_render():
    model = tiny()
    b, d = 2, 2
    inputs = torch.randn(b, d, 80, 16) - 5
    mels = torch.randn(b, d, 80, 16) - 5
    paired = torch.tensor([[1, 0], [1, 0]])
    out = model.losses(inputs, mels, paired)
    with torch.no_grad():
        z = model.encoder(model.scale(inputs.reshape(b * d, 80, 16)))
        expected = 0.0
        for row in range(b * d):
            j, k = divmod(row, d)
            target = int(paired[j, k])
            pred = model.decoders[model.domains[target]](z[row : row + 1])
            expected += float(F.l1_loss(pred, model.scale(mels[j, target])[None], reduction="sum"))
    assert out["paired"].item() == pytest.approx(expected / mels.numel(), rel=1e-4)


def test_mel_pitch_shift_moves_a_partial_up():
    t = np.arange(RATE) / RATE
    wave = torch.from_numpy(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32))
    from engine.core.mel import mel_spectrogram

    mel = mel_spectrogram(wave, MEL).numpy()
    up, down = shift_mel(mel, 2.0), shift_mel(mel, -2.0)
    centre = lambda m: float((np.exp(m).mean(1) * np.arange(80)).sum() / np.exp(m).mean(1).sum())
    assert centre(up) > centre(mel) + 0.2 and centre(down) < centre(mel) - 0.2
    assert np.allclose(shift_mel(mel, 0.0), mel, atol=1e-5)


def test_paired_excerpts_are_paired_augmented_and_reproducible(tmp_path):
    data = make_clips(tmp_path / "clips", rate=RATE, pieces=3, seconds=1.5)
    train = PairedMels(data, "train", 24, seed=3)
    item = train[5]
    assert list(item["mel"].shape) == [2, 80, 24] and list(item["input"].shape) == [2, 80, 24]
    assert torch.equal(train[5]["input"], item["input"])
    assert not torch.equal(item["input"], item["mel"])  # a part of each row is pitch-shifted
    plain = PairedMels(data, "train", 24, augment=False, seed=3)[5]
    assert torch.equal(plain["mel"], plain["input"]) and torch.equal(plain["mel"], item["mel"])
    # the same excerpt on both domains: the loudness envelope (frame energy) moves together
    energy = plain["mel"].exp().sum(1)
    assert np.corrcoef(energy[0], energy[1])[0, 1] > 0.8
    assert (data / "mels" / "sine" / "piece1.npy").exists()  # cached for the next run


def test_16k_renders_are_refused(tmp_path):
    data = make_clips(tmp_path / "clips")
    with pytest.raises(LatentLabError, match="22050 Hz"):
        PairedMels(data, "train", 24)


def test_training_lowers_the_loss_and_add_domain_freezes_the_rest(tmp_path):
    data = make_clips(tmp_path / "clips", domains=("sine", "saw", "odd"), rate=RATE, pieces=4, seconds=1.5)
    base = train_frames(data, out=tmp_path / "base", run_dir=tmp_path / "run1", size="tiny", steps=30, lr=3e-3,
                        domains="sine,saw", progress=False)
    log = [r for r in read_log(tmp_path / "run1") if "recon" in r]
    assert log[-1]["recon"] < log[0]["recon"] and log[-1]["paired"] < log[0]["paired"], log
    before = load_checkpoint(base).tensors
    grown = load_checkpoint(train_frames(data, out=tmp_path / "grown", run_dir=tmp_path / "run2", size="tiny",
                                         steps=15, lr=3e-3, add_domain="odd", base=base, progress=False))
    assert tuple(grown.config["domains"]) == ("sine", "saw", "odd") and grown.arch == "umt_frames"
    for key, value in before.items():
        if key.startswith(("encoder.", "decoders.")):
            assert torch.equal(grown.tensors[key], value), key
    new = {k.replace("decoders.odd.", "decoders.sine."): v for k, v in grown.tensors.items() if k.startswith("decoders.odd.")}
    assert new and any(not torch.equal(v, before[k]) for k, v in new.items())
    with pytest.raises(LatentLabError, match="no audio for 'oboe'"):
        train_frames(data, run_dir=tmp_path / "run3", add_domain="oboe", base=base, progress=False)


def test_translation_keeps_the_inputs_phase_unless_told_otherwise():
    from engine.ops.translate import translate

    model = tiny().eval()
    t = np.arange(int(0.5 * RATE)) / RATE
    audio = (0.5 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    kept = translate(audio, "saw", model=model, vocoder="griffinlim")["saw"]
    own = translate(audio, "saw", model=model, vocoder="griffinlim", phase="vocoder")["saw"]
    assert kept.shape == own.shape == audio.shape and not np.allclose(kept, own, atol=1e-3)
    with pytest.raises(LatentLabError, match="unknown phase"):
        translate(audio, "saw", model=model, vocoder="griffinlim", phase="random")
