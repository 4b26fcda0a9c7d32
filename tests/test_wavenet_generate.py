"""Step-by-step WaveNet generation: every backend reproduces the parallel forward pass and each other."""

import json

import pytest
import torch

import engine.nn.wavenet.generate as wg
from engine.cli.main import main
from engine.core.errors import LatentLabError
from engine.nn.wavenet.cuda import GraphSteps
from engine.nn.wavenet.generate import generate, teacher_forced
from engine.nn.wavenet.layers import ConditionUpsampler, WaveNet, WaveNetConfig
from engine.nn.wavenet.steps import fuse_weights, step_bias

CONFIGS = {
    "k2": dict(layers=6, dilation_cycle=3, kernel_size=2, residual_channels=16, gate_channels=16, skip_channels=32),
    "k3-local-global": dict(layers=5, dilation_cycle=4, kernel_size=3, residual_channels=8, gate_channels=12,
                            skip_channels=16, cond_channels=3, global_channels=4),
    "k2-local-cycle5": dict(layers=7, dilation_cycle=5, kernel_size=2, residual_channels=8, gate_channels=40,
                            skip_channels=24, cond_channels=2),
    "k3-global-cycle1": dict(layers=3, dilation_cycle=1, kernel_size=3, residual_channels=8, gate_channels=8,
                             skip_channels=8, global_channels=3),
    "float-softmax": dict(layers=4, dilation_cycle=2, residual_channels=8, gate_channels=8, skip_channels=8,
                          input="float", cond_channels=2),
    "mixture": dict(layers=5, dilation_cycle=3, kernel_size=3, residual_channels=8, gate_channels=12,
                    skip_channels=16, input="float", output="logistic_mixture", n_mixtures=3, cond_channels=2),
}
B, T = 2, 150  # 150 steps: several deferred blocks of the dilation-16 layer, and 3 chunks when chunks are 64


def _case(name: str, seed: int = 0):
    torch.manual_seed(seed)
    c = WaveNetConfig(**CONFIGS[name])
    model = WaveNet(c).eval()
    # samples as generate returns them: classes for a softmax model (float input or not), else floats
    x = torch.randint(0, c.classes, (B, T)) if c.output == "softmax" else torch.rand(B, T) * 2 - 1
    cond = torch.randn(B, c.cond_channels, T) if c.cond_channels else None
    g = torch.randn(B, c.global_channels) if c.global_channels else None
    return model, x, cond, g


def _forward(model, x, cond, g):
    if model.config.input == "float" and model.config.output == "softmax":
        x = 2 * x.float() / (model.config.classes - 1) - 1
    with torch.no_grad():
        return model(x, cond, g)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(wg, "MAX_CHUNK", 64)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("backend", ["cached", "fast"])
def test_incremental_reproduces_the_parallel_forward(name, backend, small_chunks):
    model, x, cond, g = _case(name)
    ref = _forward(model, x, cond, g)
    out = teacher_forced(model, x, cond, g, backend=backend)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() < 1e-4


@pytest.mark.parametrize("backend", ["cached", "fast"])
def test_repeated_conditioning_is_projected_once_per_frame(backend, small_chunks):
    model, x, _, g = _case("k3-local-global")
    cond = ConditionUpsampler(3, [10])(torch.randn(B, 3, T // 10))  # repetition, as NSynth upsamples
    bias = step_bias(model, cond, g, 0, T, B)
    assert bias.values.shape[1] == T // 10 and bias.rows.tolist() == [i // 10 for i in range(T)]
    out = teacher_forced(model, x, cond, g, backend=backend)
    assert (out - _forward(model, x, cond, g)).abs().max() < 1e-4


def test_naive_reproduces_the_parallel_forward():
    model, x, cond, g = _case("k3-local-global")
    ref = _forward(model, x[:, :40], cond[..., :40], g)
    out = teacher_forced(model, x[:, :40], cond[..., :40], g, backend="naive")
    assert (out - ref).abs().max() < 1e-4


@pytest.mark.parametrize("name", ["k2", "k3-local-global", "float-softmax"])
def test_fast_samples_equal_cached_samples(name, small_chunks):
    model, _, cond, g = _case(name)
    for temperature in (0.0, 1.0, 0.7):
        cached = generate(model, T, cond, g, batch=B, temperature=temperature, backend="cached", seed=5)
        fast = generate(model, T, cond, g, batch=B, temperature=temperature, backend="fast", seed=5)
        assert cached.dtype == torch.long and list(cached.shape) == [B, T]
        assert torch.equal(cached, fast), temperature
        assert 0 <= int(fast.min()) and int(fast.max()) < 256


def test_mixture_samples_agree_and_stay_in_range():
    model, _, cond, g = _case("mixture")
    cached = generate(model, T, cond, g, backend="cached", seed=1)
    fast = generate(model, T, cond, g, backend="fast", seed=1)
    assert cached.dtype == torch.float32 and cached.abs().max() <= 1.0
    assert torch.allclose(cached, fast, atol=1e-5)


def test_same_seed_same_audio_whatever_the_chunking(monkeypatch):
    model, _, cond, g = _case("k2-local-cycle5")
    whole = generate(model, T, cond, g, backend="fast", seed=9)
    monkeypatch.setattr(wg, "MAX_CHUNK", 64)
    assert torch.equal(whole, generate(model, T, cond, g, backend="fast", seed=9))
    assert not torch.equal(whole, generate(model, T, cond, g, backend="fast", seed=10))


def test_float16_fast_path_matches_the_half_rounded_model(small_chunks):
    model, x, cond, g = _case("k3-local-global")
    rounded = WaveNet(model.config).eval()
    half = ("conv.weight", "residual.weight", "skip.weight", "head.1.weight", "head.3.weight")  # stored as float16
    rounded.load_state_dict({k: v.half().float() if k.endswith(half) else v for k, v in model.state_dict().items()})
    ref = _forward(rounded, x, cond, g)
    out = teacher_forced(model, x, cond, g, backend="fast", precision="float16")
    assert (out - ref).abs().max() < 1e-4
    with pytest.raises(LatentLabError):
        teacher_forced(model, x, cond, g, backend="fast", precision="int8")


@pytest.mark.parametrize("name", ["k3-local-global", "mixture"])
def test_graph_step_indexing_on_cpu(name):
    """The CUDA path's step (device-side positions, static buffers) runs eagerly off CUDA: check its maths."""
    model, x, cond, g = _case(name)
    ref = _forward(model, x, cond, g)
    chunk = 64
    steps = GraphSteps(fuse_weights(model), B, torch.device("cpu"), chunk)
    outs = []
    with torch.no_grad():
        for t0 in range(0, T, chunk):
            t1 = min(T, t0 + chunk)
            bias = step_bias(model, cond, g, t0, t1, B)
            _, o = steps.run(t0, t1 - t0, bias, torch.rand(B, t1 - t0, 2), x[:, t0:t1].float(), 1.0, True)
            outs.append(o)
    assert (torch.cat(outs, 2) - ref).abs().max() < 1e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graphs_match_the_forward_and_the_cpu_samples():
    model, x, cond, g = _case("k3-local-global")
    ref = _forward(model, x, cond, g)
    gpu = model.to("cuda")
    out = teacher_forced(gpu, x.cuda(), cond.cuda(), g.cuda(), backend="cuda")
    assert (out.cpu() - ref).abs().max() < 1e-3  # TF32 may be on for matmuls
    samples = generate(gpu, T, cond.cuda(), g.cuda(), temperature=0, backend="cuda")
    assert samples.device.type == "cuda" and list(samples.shape) == [B, T]


def test_progress_reports_fractions(small_chunks):
    model, _, cond, g = _case("k2-local-cycle5")
    seen = []
    generate(model, T, cond, g, backend="fast", progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 3


def test_user_errors_are_one_line_messages():
    model, _, cond, g = _case("k3-local-global")
    with pytest.raises(LatentLabError, match="backend"):
        generate(model, 10, cond, g, backend="tpu")
    with pytest.raises(LatentLabError, match="temperature"):
        generate(model, 10, cond, g, temperature=-1)
    with pytest.raises(LatentLabError, match="local conditioning"):
        generate(model, T + 1, cond, g)
    with pytest.raises(LatentLabError, match="local conditioning"):
        generate(model, 10, None, g)
    with pytest.raises(LatentLabError, match="cuda"):
        generate(model, 10, cond, g, backend="cuda")
    non_causal = WaveNet(WaveNetConfig(layers=2, residual_channels=4, gate_channels=4, skip_channels=4, causal=False))
    with pytest.raises(LatentLabError, match="non-causal"):
        generate(non_causal, 10)


def test_bench_cli_prints_a_json_line(capsys):
    code = main(["bench", "wavenet", "--layers", "3", "--channels", "8", "--skip-channels", "8", "--cond-channels", "2",
                 "--samples", "100", "--repeats", "1", "--no-half", "--json"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    for key in ("naive_samples_per_s", "cached_samples_per_s", "fast_samples_per_s", "fast_over_naive"):
        assert result[key] > 0, key
    assert result["config"]["layers"] == 3 and result["batch"] == 1
    assert any("naive loop" in line for line in lines)


def test_bench_cli_rejects_bad_input(capsys):
    assert main(["bench", "wavenet", "--layers", "0", "--samples", "10"]) == 1
    assert "error" in capsys.readouterr().err
