"""The shared flow layers: exact inverses and log-determinants that match a brute-force Jacobian."""

import pytest
import torch
from torch.autograd.functional import jacobian

from engine.nn.flows import (
    ActNorm,
    AffineCoupling,
    AutoregressiveAffine,
    InvertibleConv1x1,
    gaussian_log_prob,
    gaussian_nll,
    squeeze,
    unsqueeze,
)

COND = 3  # conditioning channels of the tiny layers


def _perturb(layer: torch.nn.Module) -> None:
    """Move every parameter off its (identity) initialisation so the checks are not trivial."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _layers(channels: int):
    torch.manual_seed(0)
    return {
        "conv1x1": InvertibleConv1x1(channels),
        "actnorm": ActNorm(channels),
        "coupling": AffineCoupling(channels, COND, layers=2, residual_channels=4, gate_channels=4,
                                   skip_channels=4, kernel_size=3, dilation_cycle=2),
        "coupling_swap": AffineCoupling(channels, COND, layers=2, residual_channels=4, gate_channels=4,
                                        skip_channels=4, kernel_size=3, dilation_cycle=2, swap=True),
    }


@pytest.mark.parametrize("name", ["conv1x1", "actnorm", "coupling", "coupling_swap"])
def test_layer_inverts_exactly(name):
    layer = _layers(4)[name]
    x, cond = torch.randn(2, 4, 16), torch.randn(2, COND, 16)
    layer(x, cond)  # ActNorm's data-dependent initialisation
    _perturb(layer)
    layer.eval()
    z, logdet = layer(x, cond)
    assert z.shape == x.shape and logdet.shape == (2,)
    assert not torch.allclose(z, x, atol=1e-3), "the layer should not be the identity here"
    assert torch.allclose(layer.reverse(z, cond), x, atol=1e-4)


@pytest.mark.parametrize("name", ["conv1x1", "actnorm", "coupling", "coupling_swap"])
def test_logdet_matches_brute_force_jacobian(name):
    layer = _layers(3)[name].double()
    x, cond = torch.randn(1, 3, 5, dtype=torch.float64), torch.randn(1, COND, 5, dtype=torch.float64)
    layer(x, cond)
    _perturb(layer)
    layer.eval()
    jac = jacobian(lambda v: layer(v.view(1, 3, 5), cond)[0].flatten(), x.flatten())
    expected = torch.linalg.slogdet(jac)[1]
    assert torch.allclose(layer(x, cond)[1][0], expected, atol=1e-6), (layer(x, cond)[1], expected)


def test_autoregressive_affine_inverts_and_logdet():
    torch.manual_seed(0)
    layer = AutoregressiveAffine(COND, layers=3, residual_channels=4, gate_channels=4, skip_channels=4,
                                 dilation_cycle=3).double()
    _perturb(layer)
    layer.eval()
    z, cond = torch.randn(2, 1, 12, dtype=torch.float64), torch.randn(2, COND, 12, dtype=torch.float64)
    x = layer.reverse(z, cond)
    back, logdet = layer(x, cond)
    assert torch.allclose(back, z, atol=1e-4)
    # reverse is autoregressive: dx/dz is lower triangular, and forward's logdet is -log|det dx/dz|
    jac = jacobian(lambda v: layer.reverse(v.view(1, 1, 12), cond[:1]).flatten(), z[0].flatten())
    assert torch.allclose(jac, jac.tril(), atol=1e-12), "x_t must not depend on z after t"
    assert torch.allclose(logdet[0], -torch.linalg.slogdet(jac)[1], atol=1e-6)


def test_fresh_coupling_and_iaf_are_identity_maps():
    x, cond = torch.randn(2, 4, 16), torch.randn(2, COND, 16)
    coupling = _layers(4)["coupling"]
    z, logdet = coupling(x, cond)
    assert torch.equal(z, x) and torch.all(logdet == 0)
    iaf = AutoregressiveAffine(COND, layers=2, residual_channels=4, gate_channels=4, skip_channels=4)
    assert torch.equal(iaf.reverse(x[:, :1], cond), x[:, :1])


def test_actnorm_initialises_from_data_and_keeps_its_flag():
    norm = ActNorm(3)
    x = torch.randn(4, 3, 100) * torch.tensor([1.0, 5.0, 0.1])[:, None] + torch.tensor([2.0, -1.0, 0.0])[:, None]
    z, _ = norm(x)
    assert torch.allclose(z.mean(dim=(0, 2)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(z.std(dim=(0, 2), unbiased=False), torch.ones(3), atol=1e-3)
    assert norm.state_dict()["initialized"] == 1
    before = norm.bias.clone()
    norm(x * 3)  # a second batch does not re-initialise
    assert torch.equal(norm.bias, before)


def test_conv1x1_inverse_cache_follows_weight_updates():
    conv = InvertibleConv1x1(4)
    z = torch.randn(1, 4, 8)
    first = conv.inverse_weight()
    assert conv.inverse_weight() is first  # cached
    with torch.no_grad():
        conv.weight.add_(0.1 * torch.eye(4))
    assert conv.inverse_weight() is not first
    assert torch.allclose(conv(conv.reverse(z))[0], z, atol=1e-5)


def test_squeeze_round_trip_and_layout():
    x = torch.arange(2 * 2 * 16, dtype=torch.float32).view(2, 2, 16)
    s = squeeze(x, 8)
    assert s.shape == (2, 16, 2)
    assert torch.equal(s[0, :8, 0], x[0, 0, :8]) and torch.equal(s[0, 8:, 1], x[0, 1, 8:16])
    assert torch.equal(unsqueeze(s, 8), x)
    with pytest.raises(ValueError):
        squeeze(torch.zeros(1, 1, 10), 8)


def test_gaussian_nll_matches_torch_distributions():
    z, logdet = torch.randn(3, 2, 10), torch.randn(3)
    expected = -(torch.distributions.Normal(0.0, 0.7).log_prob(z).flatten(1).sum(1) + logdet).mean() / 20
    assert torch.allclose(gaussian_nll(z, logdet, sigma=0.7), expected, atol=1e-5)
    assert gaussian_log_prob(z).shape == (3,)
