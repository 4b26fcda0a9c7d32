"""The step weights and steppers of WaveNet generation, shared by every backend.

- :class:`FusedWeights` / :func:`fuse_weights` -- a WaveNet's weights rearranged for one-step evaluation;
- :class:`StepBias` / :func:`step_bias` -- each step's conditioning projections, computed once per chunk;
- :func:`sample_outputs` -- one sample per stream from the outputs, by inverse CDF;
- :class:`NaiveSteps` (the baseline) and :class:`CachedSteps` (ring buffers of past layer inputs, plain
  PyTorch), the steppers :func:`engine.nn.wavenet.generate.generate` drives. The CPU fast path
  (:mod:`engine.nn.wavenet.fast`) and the CUDA-graph path (:mod:`engine.nn.wavenet.cuda`) build on these.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..distributions import LOG_SCALE_MIN
from .layers import WaveNet


def model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@dataclass
class FusedWeights:
    """The model's weights rearranged for one-step evaluation (shapes for L layers, kernel k)."""

    dilations: list[int]
    kernel_size: int
    residual: int  # R
    gate: int  # G
    skip: int  # S
    output: str
    n_mixtures: int
    start: float  # the first step's "previous sample": a row of table, or 0.0 for a mixture
    table: Tensor | None  # [V x R]: input vector of each class (softmax output), else None
    w_in: Tensor | None  # [R]: float input projection (mixture output)
    b_in: Tensor | None  # [R]
    conv_bias: Tensor  # [L x 2G]
    w_taps: Tensor  # [L x k x 2G x R]: tap j multiplies the layer input at t - (k - 1 - j) * dilation
    w_rs: Tensor  # [L x (R + S) x G]: residual rows then skip rows (the last layer's residual rows are 0)
    b_rs: Tensor  # [L x (R + S)]
    w1: Tensor  # [S x S]
    b1: Tensor  # [S]
    w2: Tensor  # [out x S]
    b2: Tensor  # [out]


@torch.no_grad()
def fuse_weights(model: WaveNet) -> FusedWeights:
    """Rearrange a WaveNet's weights for step-by-step evaluation (shared by every cached backend)."""
    c = model.config
    R, G, S = c.residual_channels, c.gate_channels, c.skip_channels
    blocks = list(model.stack.blocks)
    table = w_in = b_in = None
    start = model.start
    if c.input == "mulaw":
        table = model.embed.weight.detach().clone()
    else:
        w_in, b_in = model.embed.weight[:, 0, 0].detach().clone(), model.embed.bias.detach().clone()
        if c.output == "softmax":  # class k enters as its companded value; one more row for the start, 0.0
            values = torch.cat([class_values(c.classes, w_in.device), torch.zeros(1, device=w_in.device)])
            table, start = values[:, None] * w_in + b_in, float(c.classes)
    w_rs, b_rs = [], []
    for block in blocks:
        if block.residual is not None:
            w_res, b_res = block.residual.weight[..., 0], block.residual.bias
        else:
            w_res, b_res = block.skip.weight.new_zeros(R, G), block.skip.bias.new_zeros(R)
        w_rs.append(torch.cat([w_res, block.skip.weight[..., 0]]))
        b_rs.append(torch.cat([b_res, block.skip.bias]))
    head1, head2 = model.head[1], model.head[3]
    return FusedWeights(
        dilations=c.dilations, kernel_size=c.kernel_size, residual=R, gate=G, skip=S,
        output=c.output, n_mixtures=c.n_mixtures, start=start, table=table, w_in=w_in, b_in=b_in,
        conv_bias=torch.stack([b.conv.bias for b in blocks]).detach().clone(),
        w_taps=torch.stack([b.conv.weight.permute(2, 0, 1) for b in blocks]).detach().contiguous(),
        w_rs=torch.stack(w_rs).detach().contiguous(),
        b_rs=torch.stack(b_rs).detach().contiguous(),
        w1=head1.weight[..., 0].detach().clone(), b1=head1.bias.detach().clone(),
        w2=head2.weight[..., 0].detach().clone(), b2=head2.bias.detach().clone(),
    )


@dataclass
class StepBias:
    """Each step's conditioning projections for all layers (plus the conv biases), computed once per chunk.

    Conditioning upsampled by repetition repeats its columns, so only the distinct columns are projected:
    step i uses ``values[:, rows[i]]``.
    """

    values: Tensor  # [B x n_rows x L x 2G]
    rows: Tensor  # [n] long, on the CPU


@torch.no_grad()
def step_bias(
    model: WaveNet, cond: Tensor | None, global_cond: Tensor | None, t0: int, t1: int, batch: int
) -> StepBias:
    """The conditioning projections of steps t0..t1 (one matrix product for all layers and steps)."""
    blocks = model.stack.blocks
    n, width = len(blocks), 2 * model.config.gate_channels
    bias = torch.cat([b.conv.bias for b in blocks]).view(1, 1, n * width)
    if global_cond is not None:
        weight = torch.cat([b.global_proj.weight for b in blocks])  # [L*2G x Cg]
        bias = bias + (global_cond @ weight.t())[:, None]
    rows = torch.zeros(t1 - t0, dtype=torch.long)
    if cond is not None:
        c = cond[..., t0:t1]
        new = torch.ones(t1 - t0, dtype=torch.bool, device=c.device)
        new[1:] = (c[..., 1:] != c[..., :-1]).any(1).any(0)  # a column differing from the one before
        rows = (new.cumsum(0) - 1).cpu()
        weight = torch.cat([b.cond.weight[..., 0] for b in blocks])  # [L*2G x C]
        bias = torch.baddbmm(bias, c[..., new].transpose(1, 2), weight.t().expand(batch, -1, -1))
    bias = bias.expand(batch, -1, -1).unflatten(2, (n, width))
    return StepBias(bias.contiguous(), rows)


def class_values(classes: int, device: torch.device | None = None) -> Tensor:
    """The float input of each class of a float-input softmax WaveNet: its companded value 2k / (V - 1) - 1."""
    return torch.linspace(-1.0, 1.0, classes, device=device)


def sample_outputs(out: Tensor, u: Tensor, temperature: float, output: str, n_mixtures: int) -> Tensor:
    """Draw one sample per stream from the model's outputs by inverse CDF.

    Parameters
    ----------
    out : Tensor[B x out], logits (softmax) or mixture parameters
    u : Tensor[B x 2], uniforms in [0, 1): the first picks the class / component, the second the logistic
    temperature : 0 takes the most likely class (or the mean of the most likely component)

    Returns
    -------
    Tensor[B] float: class indices (softmax) or samples in [-1, 1] (mixture)
    """
    if output == "softmax":
        return _inverse_cdf(out, u[:, 0], temperature).float()
    m = n_mixtures
    j = _inverse_cdf(out[:, :m], u[:, 0], temperature)[:, None]
    x = out[:, m : 2 * m].gather(1, j)[:, 0]
    if temperature > 0:
        scale = out[:, 2 * m : 3 * m].gather(1, j)[:, 0].clamp(min=LOG_SCALE_MIN).exp()
        v = u[:, 1].clamp(1e-5, 1 - 1e-5)
        x = x + temperature * scale * (torch.log(v) - torch.log(1 - v))
    return x.clamp(-1.0, 1.0)


def _inverse_cdf(logits: Tensor, u: Tensor, temperature: float) -> Tensor:
    if temperature == 0:
        return logits.argmax(-1)
    e = torch.exp((logits - logits.max(-1, keepdim=True).values) * (1.0 / temperature))
    cdf = e.cumsum(-1)
    return (cdf < u[:, None] * cdf[:, -1:]).sum(-1).clamp(max=logits.shape[-1] - 1)


class NaiveSteps:
    """Recomputes the whole receptive field for every sample: the baseline the other paths are measured against."""

    needs_bias = False

    def __init__(self, model: WaveNet, batch: int, cond: Tensor | None, global_cond: Tensor | None):
        self.model, self.cond, self.global_cond = model, cond, global_cond
        self.as_float = model.config.input == "float" and model.config.output == "softmax"
        self.inputs = torch.zeros(batch, 0, device=model_device(model))  # the last RF inputs fed
        self.prev = torch.zeros(batch, device=model_device(model))  # the last sample (unused at t = 0)

    def run(self, t0: int, n: int, bias: StepBias | None, u: Tensor, forced: Tensor | None, temperature: float,
            keep: bool) -> tuple[Tensor, Tensor | None]:
        c = self.model.config
        samples, outs = [], []
        for i in range(n):
            t = t0 + i
            fed = self.prev if not self.as_float else self.prev * (2 / (c.classes - 1)) - 1
            if t == 0:
                fed = torch.full_like(fed, self.model.start)
            self.inputs = torch.cat([self.inputs, fed[:, None]], 1)[:, -self.model.receptive_field :]
            width = self.inputs.shape[1]
            cond = None if self.cond is None else self.cond[..., t + 1 - width : t + 1]
            out = self.model.predict(self.inputs, cond, self.global_cond)[..., -1]
            x = sample_outputs(out, u[:, i], temperature, c.output, c.n_mixtures) if forced is None else forced[:, i]
            self.prev = x
            samples.append(x)
            if keep:
                outs.append(out)
        return torch.stack(samples, 1), torch.stack(outs, 2) if keep else None


class CachedSteps:
    """Fast WaveNet generation in PyTorch: a ring buffer of past layer inputs per layer, O(layers) per sample."""

    needs_bias = True

    def __init__(self, weights: FusedWeights, batch: int, device: torch.device):
        self.w = w = weights
        k = w.kernel_size
        self.rings = [torch.zeros(d * (k - 1), batch, w.residual, device=device) for d in w.dilations]
        self.taps_t = w.w_taps.permute(0, 1, 3, 2).reshape(len(w.dilations), k * w.residual, -1).contiguous()
        self.rs_t = w.w_rs.transpose(1, 2).contiguous()
        self.w1_t, self.w2_t = w.w1.t().contiguous(), w.w2.t().contiguous()
        self.prev = torch.full((batch,), w.start, device=device)
        self.t = 0

    def feedback(self, x: Tensor) -> Tensor:
        """The stack's input for the previous sample. x : Tensor[B] -> Tensor[B x R]"""
        if self.w.table is not None:
            return self.w.table[x.long()]
        return x[:, None] * self.w.w_in + self.w.b_in

    def _taps(self, ring: Tensor, d: int) -> list[Tensor]:
        """A layer's past inputs at t - (k - 1) * d, ..., t - d (oldest first), each Tensor[B x R]."""
        m_len = ring.shape[0]
        return [ring[(self.t - m * d) % m_len] for m in range(self.w.kernel_size - 1, 0, -1)]

    def _store(self, ring: Tensor, h: Tensor) -> None:
        ring[self.t % ring.shape[0]] = h

    def outputs(self, h: Tensor, bias: Tensor) -> Tensor:
        """The stack and head at step ``self.t``. h : Tensor[B x R], bias : Tensor[B x L x 2G] -> Tensor[B x out]"""
        w, R, G = self.w, self.w.residual, self.w.gate
        skip = None
        for i, (d, ring) in enumerate(zip(w.dilations, self.rings)):
            a = torch.addmm(bias[:, i], torch.cat(self._taps(ring, d) + [h], 1), self.taps_t[i])
            self._store(ring, h)
            z = torch.tanh(a[:, :G]) * torch.sigmoid(a[:, G:])
            rs = torch.addmm(w.b_rs[i], z, self.rs_t[i])
            h = h + rs[:, :R]
            skip = rs[:, R:] if skip is None else skip + rs[:, R:]
        y = torch.relu(torch.addmm(w.b1, torch.relu(skip), self.w1_t))
        return torch.addmm(w.b2, y, self.w2_t)

    def step(self, bias: Tensor) -> Tensor:
        """One sample for every stream. bias : Tensor[B x L x 2G] -> outputs : Tensor[B x out]"""
        out = self.outputs(self.feedback(self.prev), bias)
        self.t += 1
        return out

    def run(self, t0: int, n: int, bias: StepBias, u: Tensor, forced: Tensor | None, temperature: float,
            keep: bool) -> tuple[Tensor, Tensor | None]:
        samples, outs = [], []
        for i, row in enumerate(bias.rows.tolist()):
            out = self.step(bias.values[:, row])
            if forced is None:
                x = sample_outputs(out, u[:, i], temperature, self.w.output, self.w.n_mixtures)
            else:
                x = forced[:, i]
            self.prev = x
            samples.append(x)
            if keep:
                outs.append(out)
        return torch.stack(samples, 1), torch.stack(outs, 2) if keep else None

