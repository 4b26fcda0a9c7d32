"""MelGAN and HiFi-GAN: shapes, checkpoints, the shared discriminators and losses, tiny training runs."""

import dataclasses

import pytest
import torch

from engine.data.vocode import VocoderSegments
from engine.models.vocoders.hifigan import HiFiGAN, HiFiGANConfig
from engine.models.vocoders.melgan import MelGAN, MelGANConfig
from engine.nn.discriminators import MultiPeriodDiscriminator, MultiScaleDiscriminator
from engine.nn.losses import feature_matching, hinge_d_loss, lsgan_d_loss
from engine.train import TrainConfig, Trainer
from engine.train.vocode_gan import GANWeights, HiFiGANTask, MelGANTask
from helpers.train import read_log
from helpers.vocode import make_corpus

TINY = {"melgan": MelGANConfig(channels=4), "hifigan": HiFiGANConfig(channels=16),
        "melgan_fullband": MelGANConfig(channels=2, upsample=(8, 8, 2, 2), bands=1)}
MODELS = {"melgan": MelGAN, "hifigan": HiFiGAN, "melgan_fullband": MelGAN}
TASKS = {"melgan": MelGANTask, "hifigan": HiFiGANTask}


@pytest.mark.parametrize("name", ["melgan", "hifigan", "melgan_fullband"])
def test_generator_shapes_and_range(name):
    model = MODELS[name](TINY[name]).eval()
    audio = model.infer(torch.randn(2, 80, 7))
    assert list(audio.shape) == [2, 7 * 256], audio.shape
    assert audio.abs().max() <= 1.0


def test_paper_sizes_are_what_the_papers_say():
    # MelGAN (channels 32): 4.3 M parameters; HiFi-GAN V1 (512 channels, blocks "1"): 13.9 M.
    assert abs(MelGAN(MelGANConfig(channels=32, upsample=(8, 8, 2, 2), bands=1)).num_parameters - 4.26e6) < 0.05e6
    v1 = HiFiGANConfig(channels=512, upsample=(8, 8, 2, 2), kernels=(16, 16, 4, 4), resblock="1",
                       resblock_kernels=(3, 7, 11), resblock_dilations=((1, 3, 5),) * 3)
    assert abs(HiFiGAN(v1).num_parameters - 13.93e6) < 0.1e6


@pytest.mark.parametrize("name", ["melgan", "hifigan", "melgan_fullband"])
def test_checkpoint_round_trip_folds_weight_norm(tmp_path, name):
    model = MODELS[name](TINY[name]).eval()
    mel = torch.randn(1, 80, 5)
    expected = model.infer(mel)
    model.save(tmp_path / name, card="# test\n")
    loaded = MODELS[name].from_checkpoint(tmp_path / name)
    assert not any("parametrizations" in k for k in loaded.state_dict())  # weight norm folded away
    assert torch.allclose(loaded.infer(mel), expected, atol=1e-5)
    assert loaded.config == TINY[name]


def test_pqmf_reconstructs_audio():
    from engine.nn.pqmf import PQMF
    from helpers.audio import harmonic_note

    pqmf = PQMF(4)
    x = torch.from_numpy(harmonic_note(440.0, 0.5, 1.0))[None, None, :11024]
    bands = pqmf.analysis(x)
    assert list(bands.shape) == [1, 4, 2756]
    error = (pqmf.synthesis(bands) - x)[..., 100:-100]
    assert 10 * torch.log10(x.pow(2).mean() / error.pow(2).mean()) > 40  # dB


def test_discriminators_give_scores_and_features():
    audio = torch.randn(2, 1, 4096)
    msd = MultiScaleDiscriminator(scales=3, channels=4, max_channels=16)
    scores, features = msd(audio)
    assert len(scores) == 3 and len(features) == 3 and all(len(f) >= 3 for f in features)
    mpd = MultiPeriodDiscriminator((2, 3, 5), channels=(4, 8))
    scores, features = mpd(audio[..., :4001])  # a length no period divides is padded
    assert len(scores) == 3 and all(s.shape[0] == 2 for s in scores)


def test_gan_losses_know_right_from_wrong():
    good = [torch.ones(2, 5)]
    bad = [-torch.ones(2, 5)]
    assert hinge_d_loss(good, bad) == 0  # real scored >= 1, fake <= -1: nothing to learn
    assert hinge_d_loss(bad, good) > 0
    assert lsgan_d_loss(good, [torch.zeros(2, 5)]) == 0
    same = [[torch.randn(3, 4)]]
    assert feature_matching(same, same) == 0


@pytest.mark.parametrize("name", ["melgan", "hifigan"])
def test_tiny_training_lowers_the_reconstruction_loss(tmp_path, name):
    corpus = make_corpus(tmp_path)
    task_cls = TASKS[name]
    torch.manual_seed(0)
    task = task_cls.create(TINY[name])
    task.weights = GANWeights(stft=1.0, mel=1.0, adversarial=1.0, feature_matching=10.0, adv_start=10_000)
    data = VocoderSegments(corpus, "train", segment=2048)
    cfg = TrainConfig(steps=24, batch_size=2, lr=3e-3, betas=(0.8, 0.99), log_every=6, val_every=24,
                      save_every=24, amp=False)
    Trainer(task, data, None, cfg, tmp_path / "run", progress=False).fit()
    log = read_log(tmp_path / "run")
    assert log[-1]["stft"] < 0.8 * log[0]["stft"], [r["stft"] for r in log]


@pytest.mark.parametrize("name", ["melgan", "hifigan"])
def test_adversarial_steps_train_the_discriminator(tmp_path, name):
    corpus = make_corpus(tmp_path)
    torch.manual_seed(0)
    task = TASKS[name].create(TINY[name])
    task.weights = dataclasses.replace(task.weights, adv_start=0)
    d_before = [p.detach().clone() for p in task.model.discriminator.parameters()]
    data = VocoderSegments(corpus, "train", segment=2048)
    cfg = TrainConfig(steps=2, batch_size=2, log_every=1, val_every=100, save_every=100, amp=False)
    Trainer(task, data, VocoderSegments(corpus, "val", segment=2048, jitter=False), cfg, tmp_path / "run",
            progress=False).fit()
    log = read_log(tmp_path / "run")
    assert all("d_loss" in r and "fm" in r for r in log if "loss" in r)
    assert any(not torch.equal(a, b) for a, b in zip(d_before, task.model.discriminator.parameters()))
    assert "val_loss" in log[-1] and "val_mel_l1" in log[-1]
