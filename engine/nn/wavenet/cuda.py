"""The GPU path of WaveNet generation: the cached step over many streams, captured in CUDA graphs.

A step is ~10 small kernels per layer, so launching them one by one from Python leaves the GPU idle. Here
every tensor a step touches is static (ring buffers, the chunk's conditioning, uniforms, outputs) and the
positions are device tensors (the step ``t`` and the index ``i`` within the chunk), so ``STEPS_PER_GRAPH``
steps are captured once and replayed for the whole clip. Off CUDA (the tests on a CPU-only machine) the
same step runs eagerly, so its indexing is checked everywhere.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .steps import CachedSteps, FusedWeights, StepBias, sample_outputs

STEPS_PER_GRAPH = 16  # steps captured in one graph; the remainder of a chunk replays a one-step graph


class GraphSteps(CachedSteps):
    """:class:`CachedSteps` with every step's state in static tensors and positions on the device."""

    def __init__(self, weights: FusedWeights, batch: int, device: torch.device, chunk: int):
        super().__init__(weights, batch, device)
        w = weights
        G, L = w.gate, len(w.dilations)
        self.chunk, self.device = chunk, device
        n_out = w.w2.shape[0]
        self.t = torch.zeros((), dtype=torch.long, device=device)  # global step
        self.i = torch.zeros((), dtype=torch.long, device=device)  # step within the chunk
        self.bias = torch.zeros(batch, chunk, L, 2 * G, device=device)
        self.rows = torch.zeros(chunk, dtype=torch.long, device=device)
        self.u = torch.zeros(batch, chunk, 2, device=device)
        self.forced = torch.zeros(batch, chunk, device=device)
        self.use_forced = torch.zeros((), dtype=torch.bool, device=device)
        self.samples = torch.zeros(batch, chunk, device=device)
        self.outs = torch.zeros(batch, n_out, chunk, device=device)
        self.graphs: dict[tuple[float, bool, int], torch.cuda.CUDAGraph] = {}

    def feedback(self, x: Tensor) -> Tensor:
        if self.w.table is not None:
            return self.w.table.index_select(0, x.long())
        return x[:, None] * self.w.w_in + self.w.b_in

    def _taps(self, ring: Tensor, d: int) -> list[Tensor]:
        m_len = ring.shape[0]
        past = [torch.remainder(self.t - m * d, m_len).view(1) for m in range(self.w.kernel_size - 1, 0, -1)]
        return [ring.index_select(0, index)[0] for index in past]

    def _store(self, ring: Tensor, h: Tensor) -> None:
        ring.index_copy_(0, torch.remainder(self.t, ring.shape[0]).view(1), h[None])

    def _step(self, temperature: float, keep: bool) -> None:
        w = self.w
        i = self.i.view(1)
        bias = self.bias.index_select(1, self.rows.index_select(0, i))[:, 0]  # [B x L x 2G]
        out = self.outputs(self.feedback(self.prev), bias)
        u = self.u.index_select(1, i)[:, 0]
        x = sample_outputs(out, u, temperature, w.output, w.n_mixtures)
        x = torch.where(self.use_forced, self.forced.index_select(1, i)[:, 0], x)
        self.samples.index_copy_(1, i, x[:, None])
        if keep:
            self.outs.index_copy_(2, i, out[..., None])
        self.prev.copy_(x)
        self.t += 1
        self.i += 1

    def _replay(self, temperature: float, keep: bool, steps: int) -> None:
        if self.device.type != "cuda":
            for _ in range(steps):
                self._step(temperature, keep)
            return
        key = (temperature, keep, steps)
        if key not in self.graphs:
            self.graphs[key] = self._capture(temperature, keep, steps)
        self.graphs[key].replay()

    def _capture(self, temperature: float, keep: bool, steps: int) -> torch.cuda.CUDAGraph:
        state = [r.clone() for r in self.rings], self.prev.clone(), self.t.clone(), self.i.clone()
        self.i.zero_()  # the warm-up steps must index inside the chunk
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # warm-up (allocator, cuBLAS handles) off the capture
            for _ in range(2):
                self._step(temperature, keep)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            for _ in range(steps):
                self._step(temperature, keep)
        rings, prev, t, i = state  # the warm-up advanced the state: put it back
        for ring, saved in zip(self.rings, rings):
            ring.copy_(saved)
        self.prev.copy_(prev)
        self.t.copy_(t)
        self.i.copy_(i)
        return graph

    @torch.no_grad()
    def run(self, t0: int, n: int, bias: StepBias, u: Tensor, forced: Tensor | None, temperature: float,
            keep: bool) -> tuple[Tensor, Tensor | None]:
        assert n <= self.chunk, (n, self.chunk)
        self.bias[:, : bias.values.shape[1]].copy_(bias.values)
        self.rows[:n].copy_(bias.rows)
        self.u[:, :n].copy_(u)
        self.use_forced.fill_(forced is not None)
        if forced is not None:
            self.forced[:, :n].copy_(forced)
        self.t.fill_(t0)
        self.i.zero_()
        done = 0
        while n - done >= STEPS_PER_GRAPH:
            self._replay(temperature, keep, STEPS_PER_GRAPH)
            done += STEPS_PER_GRAPH
        while done < n:
            self._replay(temperature, keep, 1)
            done += 1
        return self.samples[:, :n].clone(), self.outs[..., :n].clone() if keep else None
