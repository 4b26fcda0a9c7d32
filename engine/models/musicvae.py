"""MusicVAE (Roberts et al. 2018): a recurrent VAE over 90-class melody events.

Encoder: a bidirectional LSTM reads the melody; its last states give ``mu`` and ``sigma`` of q(z|x).
Optionally (``hierarchical_encoder``, Magenta's ``HierarchicalLstmEncoder``) it reads each bar on its own, and
a second bidirectional LSTM reads the 16 bars' codes: no event is more than one bar from a final state, where a
flat LSTM must carry bar 8 through 128 steps in either direction (and 32 steps run in sequence, not 256).
Decoder, flat (2-bar): an LSTM initialised from z emits one event per 16th step, reading the previous
event and z. Decoder, hierarchical (16-bar): a *conductor* LSTM initialised from z emits one embedding per
bar; a bottom LSTM, re-initialised from that embedding at each bar, decodes the bar reading the previous
event of the *same* bar and the embedding (no autoregression across bars, so the bars decode in parallel).
The conductor reads zeros (``conductor_input="zeros"``, Magenta's hierdec and our first 16-bar model), or
z and the bar's index as a one-hot at every step (``"z_and_position"``), so that each bar's embedding can
differ from its neighbours' without the LSTM's state having to count the bars; ``conductor_output``
projects its output (dense + tanh) to the bar decoder's conditioning size; ``conductor_bar_maps`` adds to that
projection a linear map of z of each bar's own, so any part of z reaches any bar without passing the LSTM.

Training: beta-VAE loss ``sum_t CE + beta(step) * max(KL - free_bits * ln 2, 0)`` with
``beta = (1 - beta_rate ** step) * max_beta``, and scheduled sampling with the inverse-sigmoid schedule
``p_teacher = k / (k + exp((step - start) / k))`` (pure teacher forcing before ``start``). Scheduled sampling is done *in parallel* (Duckworth et al.
2019): a first teacher-forced pass without gradients samples the model's own events, which replace the
true previous events with probability ``1 - p_teacher`` in the second (trained) pass -- one extra
forward pass instead of a step-by-step loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class MusicVAEConfig:
    """The shape of a MusicVAE and its loss settings; stored next to its weights."""

    num_classes: int = 90  # Magenta's melody encoding (engine.core.midi)
    steps: int = 32  # 16th steps per sequence: 32 = 2 bars, 256 = 16 bars
    bar_steps: int = 16  # steps per bar (the hierarchical decoder's unit)
    hierarchical: bool = False  # conductor + per-bar decoder instead of one flat LSTM
    embed_dim: int = 64  # event embedding (Magenta feeds one-hots; an embedding is the same linear map)
    encoder_hidden: int = 256  # per direction
    encoder_layers: int = 1
    hierarchical_encoder: bool = False  # read each bar, then the bars' codes (two BiLSTMs; see the docstring)
    encoder_top_hidden: int = 0  # per direction, the bar level of a hierarchical encoder (0 = encoder_hidden)
    z_dim: int = 128
    conductor_hidden: int = 256
    conductor_layers: int = 2
    conductor_input: str = "zeros"  # what the conductor reads at each bar: one of CONDUCTOR_INPUTS
    conductor_output: int = 0  # bar embedding size (dense + tanh on the conductor); 0 = its output as is
    conductor_bar_maps: bool = False  # + a linear map of z per bar inside that tanh (needs conductor_output)
    decoder_hidden: int = 256
    decoder_layers: int = 2
    dropout: float = 0.0  # between stacked LSTM layers
    free_bits: float = 48.0  # KL below this many bits is free
    max_beta: float = 0.2
    beta_rate: float = 0.99999  # beta = (1 - beta_rate ** step) * max_beta
    sampling_rate: float = 0.0  # inverse-sigmoid scheduled-sampling k; 0 = always teacher forcing
    sampling_start: int = 0  # pure teacher forcing before this step, then the inverse-sigmoid schedule

    @property
    def bars(self) -> int:
        return self.steps // self.bar_steps

    @property
    def bar_embedding(self) -> int:
        """The size of the conductor's per-bar embedding: the bar decoder's conditioning."""
        return self.conductor_output or self.conductor_hidden


# What the conductor reads at each of its steps (the bar index enters as a one-hot of cfg.bars, which the
# LSTM's input weights turn into a learned per-bar embedding of each gate).
CONDUCTOR_INPUTS = {
    "zeros": lambda cfg: 1,  # a constant: the bars differ only through the LSTM's state
    "z": lambda cfg: cfg.z_dim,
    "position": lambda cfg: cfg.bars,
    "z_and_position": lambda cfg: cfg.z_dim + cfg.bars,
}


def kl_divergence(mu: Tensor, sigma: Tensor) -> Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) in nats, summed over z.  mu, sigma: [B x Z] -> [B]."""
    return 0.5 * (mu.pow(2) + sigma.pow(2) - 1.0 - 2.0 * torch.log(sigma)).sum(-1)


def kl_cost(kl: Tensor, free_bits: float) -> Tensor:
    """Free bits: KL (nats) beyond ``free_bits`` bits, never negative.  kl: [B] -> [B]."""
    return torch.clamp(kl - free_bits * math.log(2.0), min=0.0)


def beta_at(step: int, cfg: MusicVAEConfig) -> float:
    """The annealed KL weight at training step ``step``."""
    return (1.0 - cfg.beta_rate ** max(step, 0)) * cfg.max_beta


def teacher_forcing_probability(step: int, cfg: MusicVAEConfig) -> float:
    """Inverse-sigmoid schedule: probability of feeding the true previous event at ``step``.

    ``k / (k + exp((step - sampling_start) / k))`` from ``sampling_start`` on; 1 before it and for validation.
    """
    if cfg.sampling_rate <= 0 or step < cfg.sampling_start or step < 0:
        return 1.0
    k = cfg.sampling_rate
    return k / (k + math.exp(min((step - cfg.sampling_start) / k, 700.0)))


class _InitState(nn.Module):
    """Vector -> (h0, c0) of a stacked LSTM, through a dense layer and tanh (as Magenta does)."""

    def __init__(self, dim: int, hidden: int, layers: int):
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.proj = nn.Linear(dim, 2 * hidden * layers)

    def forward(self, v: Tensor) -> tuple[Tensor, Tensor]:
        s = torch.tanh(self.proj(v)).view(v.shape[0], 2, self.layers, self.hidden)
        return s[:, 0].transpose(0, 1).contiguous(), s[:, 1].transpose(0, 1).contiguous()


class Encoder(nn.Module):
    """Bidirectional LSTM (or one per bar, then one over the bars) -> (mu, sigma).
    x: LongTensor[B x T] -> [B x Z], [B x Z]."""

    def __init__(self, cfg: MusicVAEConfig):
        super().__init__()
        self.embed = nn.Embedding(cfg.num_classes, cfg.embed_dim)
        self.lstm = nn.LSTM(
            cfg.embed_dim,
            cfg.encoder_hidden,
            num_layers=cfg.encoder_layers,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.dropout if cfg.encoder_layers > 1 else 0.0,
        )
        # The bar level of a hierarchical encoder reads the bar LSTM's codes; its final states, like the flat
        # encoder's, give mu and sigma (the same names, and shapes at the same width, so a run can start from
        # a flat encoder: --init). Its width bounds what reaches z: 2 x 128 numbers for 16 bars is 16 a bar.
        top = (cfg.encoder_top_hidden or cfg.encoder_hidden) if cfg.hierarchical_encoder else cfg.encoder_hidden
        self.mu = nn.Linear(2 * top, cfg.z_dim)
        self.sigma = nn.Linear(2 * top, cfg.z_dim)
        self.bar_steps = cfg.bar_steps
        self.bars = nn.LSTM(
            2 * cfg.encoder_hidden,
            top,
            num_layers=cfg.encoder_layers,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.dropout if cfg.encoder_layers > 1 else 0.0,
        ) if cfg.hierarchical_encoder else None

    @staticmethod
    def _last(lstm: nn.LSTM, x: Tensor) -> Tensor:
        """Final forward and backward states of a BiLSTM's top layer.  [N x T x D] -> [N x 2H]."""
        _, (h, _) = lstm(x)
        return torch.cat([h[-2], h[-1]], dim=-1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.bars is None:
            last = self._last(self.lstm, self.embed(x))
        else:
            b = x.shape[0]
            codes = self._last(self.lstm, self.embed(x.reshape(-1, self.bar_steps)))  # [B*bars x 2H]
            last = self._last(self.bars, codes.reshape(b, -1, codes.shape[-1]))
        return self.mu(last), F.softplus(self.sigma(last)) + 1e-5


class LstmDecoder(nn.Module):
    """An LSTM emitting events, initialised from and conditioned on a vector ``c`` at every step.

    Used as the flat decoder (``c`` = z, one sequence) and as the bottom decoder of the hierarchical
    one (``c`` = a bar's conductor embedding, one bar per row).
    """

    def __init__(self, cfg: MusicVAEConfig, cond_dim: int):
        super().__init__()
        self.num_classes = cfg.num_classes
        self.embed = nn.Embedding(cfg.num_classes + 1, cfg.embed_dim)  # last index = start token
        self.init = _InitState(cond_dim, cfg.decoder_hidden, cfg.decoder_layers)
        self.lstm = nn.LSTM(
            cfg.embed_dim + cond_dim,
            cfg.decoder_hidden,
            num_layers=cfg.decoder_layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.decoder_layers > 1 else 0.0,
        )
        self.out = nn.Linear(cfg.decoder_hidden, cfg.num_classes)

    def shift_right(self, x: Tensor) -> Tensor:
        """Previous events: the start token, then x[:, :-1].  [B x T] -> [B x T]."""
        start = torch.full_like(x[:, :1], self.num_classes)
        return torch.cat([start, x[:, :-1]], dim=1)

    def forward(self, prev: Tensor, c: Tensor) -> Tensor:
        """Teacher-forced logits.  prev: [B x T] previous events (start token first), c: [B x C] -> [B x T x K]."""
        inputs = torch.cat([self.embed(prev), c.unsqueeze(1).expand(-1, prev.shape[1], -1)], dim=-1)
        out, _ = self.lstm(inputs, self.init(c))
        return self.out(out)

    @torch.no_grad()
    def generate(self, c: Tensor, steps: int, temperature: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
        """Decode step by step: argmax (``temperature`` 0) or sampling.  c: [B x C] -> LongTensor[B x steps]."""
        # The same LSTM as forward(), unrolled by hand: the embedding's and c's share of the first layer's
        # input projection are computed once, so each step costs one gather and a few small matmuls.
        h, cell = (list(s.unbind(0)) for s in self.init(c))
        lstm, e = self.lstm, self.embed.weight.shape[1]
        w0 = lstm.weight_ih_l0
        token_gates = self.embed.weight @ w0[:, :e].T  # [K+1 x 4H]
        const_gates = c @ w0[:, e:].T + lstm.bias_ih_l0 + lstm.bias_hh_l0  # [B x 4H]
        w_ih = [None] + [getattr(lstm, f"weight_ih_l{k}").T for k in range(1, lstm.num_layers)]
        w_hh = [getattr(lstm, f"weight_hh_l{k}").T for k in range(lstm.num_layers)]
        bias = [None] + [getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}") for k in range(1, lstm.num_layers)]
        token = torch.full((c.shape[0],), self.num_classes, dtype=torch.long, device=c.device)
        events = []
        for _ in range(steps):
            x = None
            for k in range(lstm.num_layers):
                gates = token_gates[token] + const_gates if k == 0 else torch.addmm(bias[k], x, w_ih[k])
                gates = gates.addmm_(h[k], w_hh[k])
                sig, tanh = torch.sigmoid(gates), torch.tanh(gates)  # gate order i, f, g, o
                hid = h[k].shape[1]
                cell[k] = torch.addcmul(sig[:, hid : 2 * hid] * cell[k], sig[:, :hid], tanh[:, 2 * hid : 3 * hid])
                h[k] = x = sig[:, 3 * hid :] * torch.tanh(cell[k])
            logits = self.out(x)
            if temperature <= 0:
                token = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            events.append(token)
        return torch.stack(events, dim=1)


class Conductor(nn.Module):
    """z -> one embedding per bar: an LSTM initialised from z (dense + tanh), reading ``cfg.conductor_input``
    at each bar, its output optionally projected (dense + tanh) to ``cfg.conductor_output``, with, inside the
    tanh, each bar's own linear map of z (``cfg.conductor_bar_maps``; zeros at first, so a run that starts from
    a conductor without them starts from the same model).  [B x Z] -> [B x bars x cfg.bar_embedding]."""

    def __init__(self, cfg: MusicVAEConfig):
        super().__init__()
        self.bars, self.reads = cfg.bars, cfg.conductor_input
        self.init = _InitState(cfg.z_dim, cfg.conductor_hidden, cfg.conductor_layers)
        self.lstm = nn.LSTM(CONDUCTOR_INPUTS[self.reads](cfg), cfg.conductor_hidden, num_layers=cfg.conductor_layers,
                            batch_first=True)
        self.proj = nn.Linear(cfg.conductor_hidden, cfg.conductor_output) if cfg.conductor_output else None
        if cfg.conductor_bar_maps and not cfg.conductor_output:
            raise ValueError("conductor_bar_maps needs conductor_output (the projection they add to)")
        self.bar_maps = nn.Parameter(torch.zeros(cfg.bars, cfg.z_dim, cfg.conductor_output)) if cfg.conductor_bar_maps else None

    def inputs(self, z: Tensor) -> Tensor:
        """What the LSTM reads, one row per bar.  z: [B x Z] -> [B x bars x input size]."""
        b = z.shape[0]
        if self.reads == "zeros":
            return z.new_zeros(b, self.bars, 1)
        parts = []
        if self.reads in ("z", "z_and_position"):
            parts.append(z.unsqueeze(1).expand(-1, self.bars, -1))
        if self.reads in ("position", "z_and_position"):
            parts.append(torch.eye(self.bars, dtype=z.dtype, device=z.device).expand(b, -1, -1))
        return torch.cat(parts, dim=-1)

    def forward(self, z: Tensor) -> Tensor:
        out, _ = self.lstm(self.inputs(z), self.init(z))
        if self.proj is None:
            return out
        pre = self.proj(out)
        if self.bar_maps is not None:
            pre = pre + torch.einsum("bz,nze->bne", z, self.bar_maps.to(pre.dtype))
        return torch.tanh(pre)


class MusicVAE(nn.Module):
    """Encoder + flat or hierarchical decoder.

    ``forward`` is the teacher-forced (or scheduled-sampling) training pass; ``encode`` gives mu;
    ``decode`` turns latents into events.
    """

    def __init__(self, cfg: MusicVAEConfig):
        super().__init__()
        if cfg.steps % cfg.bar_steps:
            raise ValueError(f"steps ({cfg.steps}) must be a whole number of bars of {cfg.bar_steps}")
        if cfg.conductor_input not in CONDUCTOR_INPUTS:
            raise ValueError(f"conductor_input must be one of {', '.join(CONDUCTOR_INPUTS)}, got {cfg.conductor_input!r}")
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        if cfg.hierarchical:
            self.conductor = Conductor(cfg)
            self.decoder = LstmDecoder(cfg, cfg.bar_embedding)
        else:
            self.decoder = LstmDecoder(cfg, cfg.z_dim)

    # -- helpers ------------------------------------------------------------------------------------
    def _rows(self, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """Decoder rows: (events, conditioning).  Flat: [B x T], [B x Z]; hierarchical: [B*bars x bar_steps], [B*bars x H]."""
        if not self.cfg.hierarchical:
            return x, z
        b = x.shape[0]
        return x.reshape(b * self.cfg.bars, self.cfg.bar_steps), self.conductor(z).reshape(b * self.cfg.bars, -1)

    def _logits(self, x: Tensor, z: Tensor, teacher_probability: float = 1.0) -> Tensor:
        """Logits [B x T x K] for targets x [B x T] given z [B x Z], mixing in sampled inputs if asked."""
        rows, c = self._rows(x, z)
        prev = self.decoder.shift_right(rows)
        if teacher_probability < 1.0:
            with torch.no_grad():
                first = self.decoder(prev, c)
                sampled = torch.distributions.Categorical(logits=first.float()).sample()
                sampled_prev = self.decoder.shift_right(sampled)
                use_sample = torch.rand(prev.shape, device=prev.device) >= teacher_probability
                use_sample[:, 0] = False  # the start token stays
                prev = torch.where(use_sample, sampled_prev, prev)
        return self.decoder(prev, c).reshape(x.shape[0], x.shape[1], -1)

    # -- public API ---------------------------------------------------------------------------------
    def forward(self, x: Tensor, teacher_probability: float = 1.0, sample_z: bool = True) -> dict[str, Tensor]:
        """Training pass.

        Parameters
        ----------
        x : LongTensor[B x T] melody events, T = cfg.steps
        teacher_probability : probability of feeding the true previous event (scheduled sampling)
        sample_z : z = mu + sigma * eps (training) or z = mu

        Returns
        -------
        {"logits": [B x T x K], "mu": [B x Z], "sigma": [B x Z], "z": [B x Z]}
        """
        assert x.dim() == 2 and x.shape[1] == self.cfg.steps, (tuple(x.shape), self.cfg.steps)
        mu, sigma = self.encoder(x)
        z = mu + sigma * torch.randn_like(sigma) if sample_z else mu
        return {"logits": self._logits(x, z, teacher_probability), "mu": mu, "sigma": sigma, "z": z}

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Melodies -> mu.  x: LongTensor[B x T] -> [B x Z]."""
        return self.encoder(x)[0]

    @torch.no_grad()
    def decode(self, z: Tensor, temperature: float = 0.0, generator: torch.Generator | None = None) -> Tensor:
        """Latents -> melody events, argmax (``temperature`` 0) or sampled.  z: [B x Z] -> LongTensor[B x T]."""
        b = z.shape[0]
        if not self.cfg.hierarchical:
            return self.decoder.generate(z, self.cfg.steps, temperature, generator)
        c = self.conductor(z).reshape(b * self.cfg.bars, -1)
        bars = self.decoder.generate(c, self.cfg.bar_steps, temperature, generator)
        return bars.reshape(b, self.cfg.steps)


def vae_loss(out: dict[str, Tensor], x: Tensor, step: int, cfg: MusicVAEConfig) -> dict[str, Tensor]:
    """The beta-VAE loss and its parts.

    Parameters
    ----------
    out : what ``MusicVAE.forward`` returned
    x : LongTensor[B x T] targets
    step : training step (beta annealing); -1 for validation (beta = max_beta)

    Returns
    -------
    {"loss", "r_loss" (CE summed over steps, mean over batch), "kl_bits" (mean KL in bits),
    "beta", "accuracy" (teacher-forced, per step)} -- all scalar tensors
    """
    logits = out["logits"].float()
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1), reduction="none").view_as(x)
    r_loss = ce.sum(1).mean()
    kl = kl_divergence(out["mu"].float(), out["sigma"].float())
    beta = cfg.max_beta if step < 0 else beta_at(step, cfg)
    loss = r_loss + beta * kl_cost(kl, cfg.free_bits).mean()
    accuracy = (logits.argmax(-1) == x).float().mean()
    return {
        "loss": loss,
        "r_loss": r_loss.detach(),
        "kl_bits": (kl.mean() / math.log(2.0)).detach(),
        "beta": torch.tensor(beta),
        "accuracy": accuracy.detach(),
    }
