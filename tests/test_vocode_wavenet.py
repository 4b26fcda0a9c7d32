"""The WaveNet vocoder and its Parallel WaveNet student: generation, distributions, distillation, training."""

import importlib.util

import pytest
import torch

from engine.core.audio import mulaw_decode
from engine.core.errors import LatentLabError
from engine.models.vocoders.parallel_wavenet import ParallelWaveNet, ParallelWaveNetConfig, distillation_losses
from engine.models.vocoders.wavenet_vocoder import WaveNetVocoder, WaveNetVocoderConfig
from engine.nn.distributions import discretized_mixture_log_prob, mixture_log_density
from engine.ops.vocode import load_vocoder
from engine.train.vocode import train_vocode
from helpers.train import read_losses
from helpers.vocode import write_corpus

TINY_TEACHER = WaveNetVocoderConfig(layers=4, dilation_cycle=2, residual_channels=8, gate_channels=8,
                                    skip_channels=8, n_mixtures=3)
TINY_STUDENT = dict(flow_layers=(2, 2), dilation_cycle=2, residual_channels=8, gate_channels=8, skip_channels=8,
                    teacher_samples=2)
BACKENDS = ["cached"] + (["fast"] if importlib.util.find_spec("engine.nn.wavenet.fast") else [])


def _teacher(output: str = "logistic_mixture") -> WaveNetVocoder:
    torch.manual_seed(0)
    from dataclasses import replace

    return WaveNetVocoder(replace(TINY_TEACHER, output=output)).eval()


@pytest.mark.parametrize("backend", BACKENDS)
def test_incremental_generation_matches_the_teacher_forced_pass_mixture(backend):
    model = _teacher()
    mel = torch.randn(2, 80, 3) - 5
    x = model.infer(mel, temperature=0.0, backend=backend)
    assert x.shape == (2, 3 * 256)
    params = model(x, mel)  # teacher forced on the generated samples
    m = TINY_TEACHER.n_mixtures
    best = params[:, :m].argmax(1, keepdim=True)
    expected = params[:, m : 2 * m].gather(1, best)[:, 0].clamp(-1, 1)
    assert torch.allclose(x, expected, atol=1e-4), (x - expected).abs().max()


@pytest.mark.parametrize("backend", BACKENDS)
def test_incremental_generation_matches_the_teacher_forced_pass_softmax(backend):
    model = _teacher("softmax")
    mel = torch.randn(1, 80, 2) - 5
    x = model.infer(mel, temperature=0.0, backend=backend)
    logits = model(x, mel)
    assert torch.allclose(x, mulaw_decode(logits.argmax(1)), atol=1e-6)


def test_sampling_is_seeded():
    model = _teacher()
    mel = torch.randn(1, 80, 2) - 5
    a = model.infer(mel, backend="cached", seed=1)
    assert torch.equal(a, model.infer(mel, backend="cached", seed=1))
    assert not torch.equal(a, model.infer(mel, backend="cached", seed=2))


def test_discretized_mixture_sums_to_one_over_the_bins():
    params = torch.randn(1, 9, 1) * torch.tensor([1.0] * 3 + [0.3] * 3 + [0.5] * 3)[None, :, None] - \
        torch.tensor([0.0] * 6 + [1.5] * 3)[None, :, None]
    bins = 64
    levels = torch.linspace(-1, 1, bins)[:, None]  # [bins x 1]: every level as one "batch item"
    logp = discretized_mixture_log_prob(params.expand(bins, -1, -1), levels, bins=bins)
    assert torch.allclose(logp.exp().sum(), torch.tensor(1.0), atol=1e-4)
    # the continuous density integrates to ~1 as well (trapezoid on a fine grid)
    grid = torch.linspace(-6, 6, 20001)[:, None]
    density = mixture_log_density(params.expand(len(grid), -1, -1), grid).exp()[:, 0]
    assert abs(torch.trapezoid(density, grid[:, 0]).item() - 1.0) < 1e-3


def test_student_samples_in_one_parallel_pass():
    torch.manual_seed(0)
    student = ParallelWaveNet(ParallelWaveNetConfig(**TINY_STUDENT)).eval()
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.05 * torch.randn_like(p))
    calls = []
    for flow in student.flows:
        flow.wn.register_forward_hook(lambda *_: calls.append(1))
    mel = torch.randn(2, 80, 5) - 5
    audio = student.infer(mel, seed=0)
    assert audio.shape == (2, 5 * 256) and audio.abs().max() <= 1
    assert len(calls) == len(student.flows), "one pass per IAF layer, not one per sample"
    assert torch.equal(audio, student.infer(mel, seed=0)) and not torch.equal(audio, student.infer(mel, seed=1))
    # the composed per-sample logistic is what the layers produce
    z = torch.randn(2, 5 * 256)
    x, mu, log_s = student(z, mel)
    assert torch.allclose(x, z * log_s.exp() + mu, atol=1e-5)


def test_distillation_needs_a_logistic_teacher(tmp_path):
    _teacher("softmax").save(tmp_path / "softmax")
    with pytest.raises(LatentLabError, match="logistic-mixture"):
        from engine.train.vocode_wavenet import ParallelWaveNetTask

        ParallelWaveNetTask.create(ParallelWaveNetConfig(**TINY_STUDENT, teacher=str(tmp_path / "softmax")))
    with pytest.raises(LatentLabError, match="train it first"):
        ParallelWaveNetTask.create(ParallelWaveNetConfig(**TINY_STUDENT, teacher=str(tmp_path / "missing")))


def test_distillation_loss_decreases(tmp_path):
    teacher = _teacher()
    torch.manual_seed(1)
    student = ParallelWaveNet(ParallelWaveNetConfig(**TINY_STUDENT))
    opt = torch.optim.Adam(student.parameters(), lr=3e-3)
    audio, mel = 0.2 * torch.randn(2, 8 * 256), torch.randn(2, 80, 8) - 5
    g = torch.Generator().manual_seed(0)
    kls = []
    for _ in range(12):
        losses = distillation_losses(student, teacher, audio, mel, generator=g)
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
        kls.append(float(losses["kl"].detach()))
    assert sum(kls[-3:]) < sum(kls[:3]), kls


def test_tiny_training_runs_lower_the_loss(tmp_path):
    data = write_corpus(tmp_path / "data")
    teacher_dir = train_vocode("wavenet", data, out=tmp_path / "wavenet", run_dir=tmp_path / "run_wn", steps=16,
                                batch_size=2, config=TINY_TEACHER, progress=False, lr=3e-3, log_every=2,
                                val_every=16, save_every=16)
    losses = read_losses(tmp_path / "run_wn")
    assert sum(losses[-2:]) < sum(losses[:2]), losses
    student_cfg = ParallelWaveNetConfig(**TINY_STUDENT, teacher=str(teacher_dir))
    out = train_vocode("parallel_wavenet", data, out=tmp_path / "pwn", run_dir=tmp_path / "run_pwn", steps=16,
                        batch_size=2, config=student_cfg, progress=False, lr=3e-3, log_every=2, val_every=16,
                        save_every=16)
    losses = read_losses(tmp_path / "run_pwn")
    assert sum(losses[-2:]) < sum(losses[:2]), losses
    student = load_vocoder("parallel_wavenet", checkpoint=out)
    assert not any(k.startswith("teacher") for k in student.state_dict()), "the shipped student holds no teacher"
    assert student.infer(torch.randn(1, 80, 3) - 5).shape == (1, 3 * 256)
