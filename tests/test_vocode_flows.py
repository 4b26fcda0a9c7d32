"""WaveGlow and FloWaveNet: exact inversion end to end, log-determinants, shapes, a tiny training run."""

import pytest
import torch
from torch.autograd.functional import jacobian

from engine.models.vocoders.flowavenet import FloWaveNet, FloWaveNetConfig
from engine.models.vocoders.waveglow import WaveGlow, WaveGlowConfig
from engine.ops.vocode import load_vocoder
from engine.train.vocode import train_vocode
from helpers.train import read_losses
from helpers.vocode import write_corpus

TINY = {
    "waveglow": WaveGlowConfig(flows=6, wn_layers=2, wn_channels=8, early_every=2),
    "flowavenet": FloWaveNetConfig(blocks=3, flows_per_block=2, wn_channels=8),
}
CLASSES = {"waveglow": WaveGlow, "flowavenet": FloWaveNet}


def _model(name: str, frames: int = 4, seed: int = 0):
    """A tiny model moved off its identity initialisation (and its ActNorms initialised from data)."""
    torch.manual_seed(seed)
    model = CLASSES[name](TINY[name])
    audio, mel = 0.3 * torch.randn(2, frames * 256), torch.randn(2, 80, frames) - 5
    model.train()
    model(audio, mel)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval(), audio, mel


@pytest.mark.parametrize("name", ["waveglow", "flowavenet"])
def test_inverts_end_to_end(name):
    model, audio, mel = _model(name)
    with torch.no_grad():
        z, logdet = model(audio, mel)
        assert z.shape[0] == 2 and z[0].numel() == audio.shape[1] and logdet.shape == (2,)
        assert not torch.allclose(z.flatten(1), audio, atol=1e-2)
        assert torch.allclose(model.reverse(z, mel), audio, atol=1e-4)


@pytest.mark.parametrize("name", ["waveglow", "flowavenet"])
def test_logdet_matches_brute_force_jacobian(name):
    model, _, _ = _model(name, frames=1)
    model = model.double()
    audio, mel = 0.3 * torch.randn(1, 256, dtype=torch.float64), torch.randn(1, 80, 1, dtype=torch.float64) - 5
    jac = jacobian(lambda a: model(a.view(1, -1), mel)[0].flatten(), audio.flatten())
    assert jac.shape == (256, 256)
    assert torch.allclose(model(audio, mel)[1][0], torch.linalg.slogdet(jac)[1], atol=1e-5)


@pytest.mark.parametrize("name", ["waveglow", "flowavenet"])
def test_infer_shapes_seed_and_sigma(name):
    model, _, mel = _model(name)
    a = model.infer(mel, seed=3)
    assert a.shape == (2, 4 * 256) and a.abs().max() <= 1.0
    assert torch.equal(a, model.infer(mel, seed=3))
    assert not torch.equal(a, model.infer(mel, seed=4))
    quiet = model.infer(mel, sigma=0.0, seed=3)
    assert quiet.std() < a.std(), "sigma 0 must be less noisy than the default temperature"


@pytest.mark.parametrize("name", ["waveglow", "flowavenet"])
def test_tiny_training_run_lowers_the_loss(name, tmp_path):
    data = write_corpus(tmp_path / "data")
    out = train_vocode(name, data, out=tmp_path / "ckpt", run_dir=tmp_path / "run", steps=16, batch_size=2,
                        config=TINY[name], progress=False, lr=3e-3, log_every=2, val_every=16, save_every=16)
    losses = read_losses(tmp_path / "run")
    assert sum(losses[-2:]) < sum(losses[:2]), losses
    vocoder = load_vocoder(name, checkpoint=out)
    assert vocoder.config == TINY[name]
    assert vocoder.infer(torch.randn(1, 80, 3) - 5).shape == (1, 3 * 256)
