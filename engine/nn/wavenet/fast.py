"""The CPU fast path of WaveNet generation: the cached recurrence compiled with numba.

At batch 1 a WaveNet step is a chain of small matrix-vector products whose cost is reading the weights, so
the layout is what matters:

- every matrix lives in one flat, 64-byte-aligned array, in the order a step reads it, as blocks of 64
  outputs multiplied by the vector kernels of :mod:`engine.nn.wavenet.simd` (operands are array + offset: the hot
  loop makes no array views, which numba would reference-count);
- a dilated convolution's current tap, its conditioning and its deferred past taps meet in registers,
  where the gate (tanh * sigmoid, a rational approximation accurate to 4e-7) is applied;
- residual and skip 1x1 convolutions are one matrix accumulated straight into one state vector
  ``[residual | skip]``;
- the past taps are deferred: a layer of dilation d multiplies its last d inputs at once, d steps before
  they are needed, so those weights are read once per d samples, not every sample;
- the conditioning projections of all layers arrive precomputed for a whole chunk (one matrix product);
- ``precision="float16"`` stores the matrices as half floats (widened in registers): half the memory
  traffic, the same float32 arithmetic;
- several streams are split into groups run on ``torch.get_num_threads()`` threads (the kernel releases
  the GIL); one stream runs on one core.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from numba import njit
from torch import Tensor

from ...core.errors import LatentLabError
from .. import distributions
from .simd import VB, copy, gated_matvec, matvec
from .steps import FusedWeights, StepBias

PRECISIONS = ("float32", "float16")
ZERO, ONE = np.float32(0.0), np.float32(1.0)
U_EPS = np.float32(1e-5)
LOG_SCALE_MIN = np.float32(distributions.LOG_SCALE_MIN)  # numba reads module globals as constants


@njit(fastmath=True, error_model="numpy", inline="always")
def _inverse_cdf(o, b, n, temperature, u):
    """Class drawn from softmax(o[b, :n] / temperature) with the uniform u (argmax at temperature 0).

    o[b] is overwritten with the unnormalised probabilities.
    """
    best = 0
    top = o[b, 0]
    for c in range(1, n):
        if o[b, c] > top:
            top = o[b, c]
            best = c
    if temperature == 0:
        return best
    inv = ONE / np.float32(temperature)
    total = ZERO
    for c in range(n):
        e = np.exp((o[b, c] - top) * inv)
        o[b, c] = e
        total += e
    target = u * total
    acc = ZERO
    for c in range(n):
        acc += o[b, c]
        if acc >= target:
            return c
    return n - 1


@njit(fastmath=True, error_model="numpy", inline="always")
def _sample(o, b, n_out, n_mix, mixture, temperature, u0, u1, scratch):
    """One sample from o[b]: a class index (softmax) or a float in [-1, 1] (logistic mixture)."""
    n = n_mix if mixture else n_out
    for c in range(n):
        scratch[b, c] = o[b, c]
    j = _inverse_cdf(scratch, b, n, temperature, u0)
    if not mixture:
        return np.float32(j)
    x = o[b, n_mix + j]
    if temperature > 0:
        v = min(max(u1, U_EPS), ONE - U_EPS)
        scale = np.exp(max(o[b, 2 * n_mix + j], LOG_SCALE_MIN))
        x += np.float32(temperature) * scale * (np.log(v) - np.log(ONE - v))
    return min(max(x, -ONE), ONE)


@njit(fastmath=True, nogil=True, cache=True, error_model="numpy")
def _steps(t0, n, dil, k, R, G, S, n_out, n_mix, mixture, temperature,
           W, off_cur, off_past, off_rs, off_w1, off_w2, table, w_in, b_in, b_rs, b1, b2, zeros,
           bias, rows, u, forced, samples, outputs, prev, H, H_off, P, P_off, v, z, y2, o, scratch):  # fmt: skip
    """Run n steps from global step t0 for every stream.

    State lives in prev (the last samples), H (rings of each layer's inputs) and P (the deferred past-tap
    products); samples[:, :n] and, when outputs has columns, outputs[:, :n] are written. Matrices are
    blocks in the flat W at the given offsets; a gate's two halves are each padded to Gp = z.shape[1].
    """
    B, L, Ap = prev.shape[0], dil.shape[0], bias.shape[3]
    Gp, Vp, Sp, Op = z.shape[1], v.shape[1], y2.shape[1], o.shape[1]
    n_rows, Hn, Pn = bias.shape[1], H.shape[1], P.shape[1]
    keep, use_forced = outputs.shape[1] > 0, forced.shape[1] > 0
    for i in range(n):
        t = t0 + i
        row = rows[i]
        for b in range(B):  # the stack's input: the previous sample
            if mixture:
                for c in range(R):
                    v[b, c] = w_in[c] * prev[b] + b_in[c]
            else:
                cls = int(prev[b])
                for c in range(R):
                    v[b, c] = table[cls, c]
            for c in range(R, Vp):
                v[b, c] = ZERO
        for l in range(L):
            d = dil[l]
            ring = d * (k - 1)
            slot = t % d
            for b in range(B):
                at, deferred = ((b * n_rows + row) * L + l) * Ap, b * Pn + P_off[l] + slot * Ap
                gated_matvec(W, off_cur[l], Gp // VB, R, v, b * Vp, bias, at, P, deferred, z, b * Gp)
                copy(v, b * Vp, H, b * Hn + H_off[l] + (t % ring) * R, R)
                matvec(W, off_rs[l], Vp // VB, G, z, b * Gp, False, v, b * Vp, b_rs, l * Vp, v, b * Vp)
                if slot == d - 1:  # end of a block of d steps: the past taps of the next d steps at once
                    for s in range(d):
                        at = b * Pn + P_off[l] + s * Ap
                        for m in range(1, k):
                            src = b * Hn + H_off[l] + ((t + 1 + s - m * d) % ring) * R
                            if m == 1:
                                matvec(W, off_past[l, 0], Ap // VB, R, H, src, False, zeros, 0, zeros, 0, P, at)
                            else:
                                matvec(W, off_past[l, m - 1], Ap // VB, R, H, src, False, P, at, zeros, 0, P, at)
        for b in range(B):  # output head and sampling
            matvec(W, off_w1, Sp // VB, S, v, b * Vp + R, True, b1, 0, zeros, 0, y2, b * Sp)
            matvec(W, off_w2, Op // VB, S, y2, b * Sp, True, b2, 0, zeros, 0, o, b * Op)
            if keep:
                for c in range(n_out):
                    outputs[b, i, c] = o[b, c]
            if use_forced:
                x = forced[b, i]
            else:
                x = _sample(o, b, n_out, n_mix, mixture, temperature, u[b, i, 0], u[b, i, 1], scratch)
            samples[b, i] = x
            prev[b] = x


def _pad_to(n: int) -> int:
    return -(-n // VB) * VB


def _pad_halves(x: Tensor, dim: int) -> Tensor:
    """A gate's [tanh half | sigmoid half] along dim, each half zero-padded to a multiple of VB."""
    g = x.shape[dim] // 2
    if g % VB == 0:
        return x
    pad = [0, 0] * (x.dim() - 1 - dim % x.dim()) + [0, _pad_to(g) - g]
    return torch.cat([F.pad(half, pad) for half in x.split(g, dim)], dim)


def _blocks(w: Tensor, precision: str) -> np.ndarray:
    """[out, in] -> flat [out_padded / VB x in x VB] blocks, float32 or float16 bits."""
    out = w.shape[-2]
    w = F.pad(w.detach().float().cpu(), (0, 0, 0, _pad_to(out) - out))
    w = w.unflatten(-2, (-1, VB)).transpose(-1, -2).contiguous().numpy().ravel()
    return w.astype(np.float16).view(np.uint16) if precision == "float16" else w.astype(np.float32)


def _aligned(parts: list[np.ndarray]) -> np.ndarray:
    """The parts concatenated into one array whose data starts on a 64-byte boundary."""
    total = sum(p.size for p in parts)
    itemsize = parts[0].itemsize
    raw = np.empty(total + 64 // itemsize, parts[0].dtype)
    skip = (-raw.ctypes.data % 64) // itemsize
    out = raw[skip : skip + total]
    np.concatenate(parts, out=out)
    return out


def _vector(x: Tensor, size: int | None = None) -> np.ndarray:
    x = x.detach().float().cpu()
    if size is not None:
        x = F.pad(x, (0, size - x.shape[-1]))
    return np.ascontiguousarray(x.numpy(), np.float32)


class FastSteps:
    """Step-by-step generation on the CPU with the numba kernel; same interface as CachedSteps."""

    needs_bias = True

    def __init__(self, weights: FusedWeights, batch: int, precision: str = "float32"):
        if precision not in PRECISIONS:
            raise LatentLabError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
        w = self.w = weights
        k, R, G, S, L = w.kernel_size, w.residual, w.gate, w.skip, len(w.dilations)
        self.n_out = n_out = w.w2.shape[0]
        g_pad, v_pad, s_pad, o_pad = _pad_to(G), _pad_to(R + S), _pad_to(S), _pad_to(n_out)
        self.a_pad = 2 * g_pad
        self.dil = np.array(w.dilations, dtype=np.int64)
        self.mixture = w.output == "logistic_mixture"
        self.table = _vector(w.table) if w.table is not None else np.zeros((1, R), np.float32)
        self.w_in = _vector(w.w_in) if w.w_in is not None else np.zeros(R, np.float32)
        self.b_in = _vector(w.b_in) if w.b_in is not None else np.zeros(R, np.float32)

        # One flat weight array in the order a step reads it: each layer's current tap and residual/skip
        # matrix, then the head; the deferred past taps (read once per block of d steps) after them.
        parts: list[np.ndarray] = []

        def add(matrix: Tensor) -> int:
            parts.append(_blocks(matrix, precision))
            return sum(p.size for p in parts[:-1])

        taps = _pad_halves(w.w_taps, dim=2)  # [L x k x 2Gp x R]
        self.off_cur, self.off_rs = np.zeros(L, np.int64), np.zeros(L, np.int64)
        for layer in range(L):
            self.off_cur[layer] = add(taps[layer, k - 1])
            self.off_rs[layer] = add(w.w_rs[layer])
        self.off_w1, self.off_w2 = add(w.w1), add(w.w2)
        self.off_past = np.array([[add(taps[layer, k - 1 - m]) for m in range(1, k)] for layer in range(L)], np.int64)
        self.W = _aligned(parts)
        self.b_rs = _vector(w.b_rs, v_pad)
        self.b1, self.b2 = _vector(w.b1, s_pad), _vector(w.b2, o_pad)
        self.zeros = np.zeros(max(self.a_pad, v_pad, s_pad, o_pad), np.float32)

        rings = [d * (k - 1) * R for d in w.dilations]  # each layer's last d * (k - 1) inputs
        deferred = [d * self.a_pad for d in w.dilations]  # each layer's past-tap products for d steps
        self.H_off = np.cumsum([0] + rings[:-1]).astype(np.int64)
        self.P_off = np.cumsum([0] + deferred[:-1]).astype(np.int64)
        self.H = np.zeros((batch, sum(rings)), np.float32)
        self.P = np.zeros((batch, sum(deferred)), np.float32)
        self.prev = np.full(batch, w.start, np.float32)
        self.v = np.zeros((batch, v_pad), np.float32)  # [residual | skip | padding]
        self.z = np.zeros((batch, g_pad), np.float32)
        self.y2 = np.zeros((batch, s_pad), np.float32)
        self.o = np.zeros((batch, o_pad), np.float32)
        self.scratch = np.zeros((batch, o_pad), np.float32)

    def run(self, t0: int, n: int, bias: StepBias, u: Tensor, forced: Tensor | None, temperature: float,
            keep: bool) -> tuple[Tensor, Tensor | None]:
        w, batch = self.w, self.prev.shape[0]
        values = np.ascontiguousarray(_pad_halves(bias.values.float(), dim=3).numpy())
        rows = np.ascontiguousarray(bias.rows.numpy(), np.int64)
        u = np.ascontiguousarray(u.float().numpy())
        forced_np = np.zeros((batch, 0), np.float32)
        if forced is not None:
            forced_np = np.ascontiguousarray(forced.float().cpu().numpy())
        samples = np.zeros((batch, n), np.float32)
        outputs = np.zeros((batch, n if keep else 0, self.n_out), np.float32)

        def streams(lo: int, hi: int) -> None:  # the kernel releases the GIL: groups of streams run in parallel
            _steps(
                t0, n, self.dil, w.kernel_size, w.residual, w.gate, w.skip, self.n_out, w.n_mixtures, self.mixture,
                float(temperature), self.W, self.off_cur, self.off_past, self.off_rs, self.off_w1, self.off_w2,
                self.table, self.w_in, self.b_in, self.b_rs, self.b1, self.b2, self.zeros, values[lo:hi], rows,
                u[lo:hi], forced_np[lo:hi], samples[lo:hi], outputs[lo:hi], self.prev[lo:hi], self.H[lo:hi],
                self.H_off, self.P[lo:hi], self.P_off, self.v[lo:hi], self.z[lo:hi], self.y2[lo:hi], self.o[lo:hi],
                self.scratch[lo:hi],
            )

        groups = min(batch, torch.get_num_threads())
        bounds = [batch * g // groups for g in range(groups + 1)]
        if groups == 1:
            streams(0, batch)
        else:
            with ThreadPoolExecutor(groups) as pool:
                list(pool.map(streams, bounds[:-1], bounds[1:]))
        return torch.from_numpy(samples), torch.from_numpy(outputs).transpose(1, 2) if keep else None
