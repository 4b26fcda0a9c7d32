"""The WaveNet stack: receptive field, causality, shapes, conditioning, encoder and upsampler."""

import pytest
import torch

from engine.core.errors import LatentLabError
from engine.nn.wavenet.layers import (
    ConditionUpsampler,
    DilatedEncoder,
    WaveNet,
    WaveNetConfig,
    WaveNetStack,
    receptive_field,
)


def _stack(causal: bool, kernel_size: int, layers: int = 5, cycle: int = 3) -> WaveNetStack:
    torch.manual_seed(0)
    return WaveNetStack(layers, 6, 5, 7, kernel_size, cycle, causal).eval()


def _input_span(stack: WaveNetStack, t: int, length: int = 200) -> tuple[int, int]:
    """First and last input position the skip output at t depends on (impulse response by gradient)."""
    x = torch.randn(1, 6, length, requires_grad=True)
    stack(x)[0, :, t].sum().backward()
    hit = (x.grad.abs().sum(1)[0] > 0).nonzero()[:, 0]
    return int(hit.min()), int(hit.max())


@pytest.mark.parametrize("kernel_size", [2, 3])
@pytest.mark.parametrize("layers,cycle", [(5, 3), (6, 6), (4, 1)])
def test_causal_receptive_field_matches_impulse_response(kernel_size, layers, cycle):
    stack = _stack(True, kernel_size, layers, cycle)
    rf = receptive_field(layers, cycle, kernel_size)
    assert stack.receptive_field == rf == 1 + (kernel_size - 1) * sum(2 ** (i % cycle) for i in range(layers))
    first, last = _input_span(stack, t=190)
    assert last == 190, "a causal stack must not see the future"
    assert 190 - first + 1 == rf


@pytest.mark.parametrize("kernel_size", [2, 3])
def test_non_causal_stack_sees_both_sides(kernel_size):
    stack = _stack(False, kernel_size)
    first, last = _input_span(stack, t=48)
    assert first < 48 < last, "a non-causal stack sees past and future"
    assert last - first + 1 == stack.receptive_field


def test_wavenet_predicts_each_sample_from_the_past_only():
    torch.manual_seed(0)
    c = WaveNetConfig(layers=4, dilation_cycle=2, residual_channels=8, gate_channels=8, skip_channels=8)
    model = WaveNet(c).eval()
    x = torch.randint(0, 256, (1, 40))
    y = x.clone()
    y[0, 20] = (x[0, 20] + 100) % 256
    a, b = model(x), model(y)
    assert a.shape == (1, 256, 40)
    assert torch.equal(a[..., :21], b[..., :21]), "logits up to t=20 must not see x[20]"
    assert not torch.allclose(a[..., 21], b[..., 21])


def test_float_input_gradient_is_causal():
    torch.manual_seed(0)
    c = WaveNetConfig(layers=3, dilation_cycle=3, kernel_size=3, residual_channels=4, gate_channels=4,
                      skip_channels=4, input="float", output="logistic_mixture", n_mixtures=2)
    model = WaveNet(c).eval()
    x = (torch.rand(1, 50) * 2 - 1).requires_grad_()
    out = model(x)
    assert out.shape == (1, 6, 50)
    out[0, :, 30].sum().backward()
    hit = (x.grad[0] != 0).nonzero()[:, 0]
    assert int(hit.max()) == 29 and 30 - int(hit.min()) == c.receptive_field


def test_conditioning_changes_outputs_and_shapes():
    torch.manual_seed(0)
    c = WaveNetConfig(layers=3, dilation_cycle=2, residual_channels=8, gate_channels=6, skip_channels=8,
                      cond_channels=3, global_channels=2)
    model = WaveNet(c).eval()
    x = torch.randint(0, 256, (2, 30))
    cond, g = torch.randn(2, 3, 30), torch.randn(2, 2)
    out = model(x, cond, g)
    assert list(out.shape) == [2, 256, 30], out.shape
    assert not torch.allclose(out, model(x, cond, -g))
    assert not torch.allclose(out, model(x, cond * 2, g))
    bias = model.stack.condition(cond, g)
    assert list(bias.shape) == [2, 3, 12, 30], bias.shape
    with pytest.raises(ValueError):
        model(x, None, g)


def test_last_layer_has_no_unused_parameters():
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(layers=3, residual_channels=4, gate_channels=4, skip_channels=4, cond_channels=2))
    model(torch.randint(0, 256, (1, 16)), torch.randn(1, 2, 16)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_config_validation_is_a_user_error():
    with pytest.raises(LatentLabError):
        WaveNetConfig(output="gaussian")
    with pytest.raises(LatentLabError):
        WaveNetConfig(output="logistic_mixture", input="mulaw")
    with pytest.raises(LatentLabError):
        WaveNetConfig(kernel_size=1)
    assert WaveNetConfig().receptive_field == 2047  # 2 cycles of 1..512, kernel 2


def test_dilated_encoder_shapes():
    torch.manual_seed(0)
    enc = DilatedEncoder(channels=8, layers=4, dilation_cycle=2, latent_channels=5, pool=32).eval()
    assert list(enc(torch.randn(2, 1, 320)).shape) == [2, 5, 10]
    assert list(enc(torch.randn(3, 330)).shape) == [3, 5, 10]
    with pytest.raises(LatentLabError):
        enc(torch.randn(1, 1, 16))


def test_dilated_encoder_is_non_causal():
    torch.manual_seed(0)
    enc = DilatedEncoder(channels=4, layers=3, dilation_cycle=3, latent_channels=2, pool=1).eval()
    x = torch.randn(1, 1, 64, requires_grad=True)
    enc(x)[0, :, 32].sum().backward()
    hit = (x.grad[0, 0] != 0).nonzero()[:, 0]
    assert int(hit.min()) < 32 < int(hit.max())
    assert int(hit.max()) - int(hit.min()) + 1 == enc.receptive_field


@pytest.mark.parametrize("mode", ["repeat", "transposed"])
def test_condition_upsampler(mode):
    up = ConditionUpsampler(3, [4, 5], mode)
    c = torch.randn(2, 3, 7)
    out = up(c)
    assert list(out.shape) == [2, 3, 140], out.shape
    flat = up(torch.ones(1, 3, 6))  # a constant stays constant away from the edges
    assert torch.allclose(flat[..., 20:-20], torch.ones(1), atol=1e-5)
    if mode == "repeat":
        assert torch.equal(out[..., :20], c[..., :1].expand(-1, -1, 20))
