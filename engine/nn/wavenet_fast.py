"""The CPU fast path of WaveNet generation: the cached recurrence compiled with numba.

At batch 1 a WaveNet step is a chain of small matrix-vector products whose cost is reading the weights, so
the layout is what matters:

- every matrix [out x in] is stored as blocks of VB = 64 outputs, ``[out / VB x in x VB]`` (zero-padded),
  and multiplied by :func:`_matvec`, a loop over the inputs that accumulates 64 outputs in vector registers
  (written as LLVM IR so it vectorises the same way on every CPU);
- residual and skip 1x1 convolutions are one matrix, accumulated straight into one state vector
  ``[residual | skip]``;
- the past taps of a dilated convolution are deferred: a layer of dilation d multiplies its last d inputs
  at once, d steps before they are needed, so those weights are read once per d samples, not every sample;
- the conditioning projections of all layers arrive precomputed for a whole chunk (one matrix product);
- all matrices live in one flat, 64-byte-aligned array in the order a step reads them, addressed by
  offsets: the hot loop makes no array views (numba would reference-count each one);
- tanh and sigmoid are a rational approximation (max error 4e-7) that vectorises;
- ``precision="float16"`` stores the matrices as half floats (converted in registers): half the memory
  traffic, the same arithmetic in float32.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from torch import Tensor

from ..errors import LatentLabError
from .wavenet_generate import FusedWeights, StepBias

VB = 64  # outputs per weight block: one vector-register accumulator of 64 floats
PRECISIONS = ("float32", "float16")

# Rational approximation of tanh (the one Eigen uses for float32), accurate to 4e-7 on the clamped range.
TANH_CLAMP = np.float32(7.90531110763549805)
A1, A3, A5 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04), np.float32(1.48572235717979e-05)
A7, A9 = np.float32(5.12229709037114e-08), np.float32(-8.60467152213735e-11)
A11, A13 = np.float32(2.00018790482477e-13), np.float32(-2.76076847742355e-16)
B0, B2 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03)
B4, B6 = np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)
HALF, ZERO, ONE = np.float32(0.5), np.float32(0.0), np.float32(1.0)
U_EPS = np.float32(1e-5)
LOG_SCALE_MIN = np.float32(-7.0)


@intrinsic
def _matvec(typingctx, w, w_off, n_blocks, n_in, x, x_off, y, y_off):
    """y[y_off + b * VB + v] += sum_j w[w_off + (b * n_in + j) * VB + v] * x[x_off + j], for b < n_blocks.

    w : flat float32 weights, or float16 bits as uint16; offsets index the arrays' flat data, so the hot
    loop never makes array views (each view would cost a reference-count update).
    """
    half = w.dtype == types.uint16

    def codegen(context, builder, sig, args):
        W, X, Y = (context.make_array(sig.args[i])(context, builder, args[i]) for i in (0, 4, 6))
        w_base, x_base = builder.gep(W.data, [args[1]]), builder.gep(X.data, [args[5]])
        y_base = builder.gep(Y.data, [args[7]])
        n_blocks, n_in = args[2], args[3]
        f32, i32 = ir.FloatType(), ir.IntType(32)
        vec = ir.VectorType(f32, VB)
        wvec = ir.VectorType(ir.HalfType() if half else f32, VB)
        fn_type = ir.FunctionType(vec, [vec] * 3)
        fmuladd = cgutils.get_or_insert_function(builder.module, fn_type, f"llvm.fmuladd.v{VB}f32")
        acc = cgutils.alloca_once(builder, vec)
        splat = ir.Constant(ir.VectorType(i32, VB), [0] * VB)
        vb = ir.Constant(n_in.type, VB)
        with cgutils.for_range(builder, n_blocks) as block:
            builder.store(ir.Constant(vec, None), acc)
            base = builder.mul(block.index, builder.mul(n_in, vb))
            with cgutils.for_range(builder, n_in) as col:
                xj = builder.load(builder.gep(x_base, [col.index]))
                xs = builder.insert_element(ir.Constant(vec, ir.Undefined), xj, ir.Constant(i32, 0))
                xs = builder.shuffle_vector(xs, ir.Constant(vec, ir.Undefined), splat)
                ptr = builder.gep(w_base, [builder.add(base, builder.mul(col.index, vb))])
                wv = builder.load(builder.bitcast(ptr, wvec.as_pointer()), align=2 if half else 4)
                if half:
                    wv = builder.fpext(wv, vec)
                builder.store(builder.call(fmuladd, [wv, xs, builder.load(acc)]), acc)
            out = builder.bitcast(builder.gep(y_base, [builder.mul(block.index, vb)]), vec.as_pointer())
            builder.store(builder.fadd(builder.load(out, align=4), builder.load(acc)), out, align=4)
        return context.get_dummy_value()

    return types.none(w, types.intp, types.intp, types.intp, x, types.intp, y, types.intp), codegen


@njit(fastmath=True, error_model="numpy", inline="always")
def _tanh(x):
    x = min(max(x, -TANH_CLAMP), TANH_CLAMP)
    x2 = x * x
    p = ((((((A13 * x2 + A11) * x2 + A9) * x2 + A7) * x2 + A5) * x2 + A3) * x2 + A1) * x
    q = ((B6 * x2 + B4) * x2 + B2) * x2 + B0
    return p / q


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
        x += np.float32(temperature) * np.exp(max(o[b, 2 * n_mix + j], LOG_SCALE_MIN)) * (np.log(v) - np.log(ONE - v))
    return min(max(x, -ONE), ONE)


@njit(fastmath=True, nogil=True, cache=True, error_model="numpy")
def _steps(t0, n, dil, k, R, G, S, n_out, n_mix, mixture, temperature,
           W, off_cur, off_past, off_rs, off_w1, off_w2, table, w_in, b_in, b_rs, b1, b2,
           bias, rows, u, forced, samples, outputs, prev, H, H_off, P, P_off, v, a, z, y1, y2, o):  # fmt: skip
    """Run n steps from global step t0 for every stream.

    State lives in prev (the last samples), H (rings of each layer's inputs) and P (the deferred past-tap
    products); samples[:, :n] and, when outputs has columns, outputs[:, :n] are written. Matrices are
    blocks in the flat W at the given offsets.
    """
    B, L, Ap, Vp, Sp, Op = prev.shape[0], dil.shape[0], a.shape[1], v.shape[1], y2.shape[1], o.shape[1]
    keep, use_forced = outputs.shape[1] > 0, forced.shape[1] > 0
    for i in range(n):
        t = t0 + i
        row = rows[i]
        for b in range(B):  # the stack's input: the previous sample
            if mixture:
                for c in range(R):
                    v[b, c] = w_in[c] * prev[b] + b_in[c]
            else:
                x = int(prev[b])
                for c in range(R):
                    v[b, c] = table[x, c]
            for c in range(R, Vp):
                v[b, c] = ZERO
        for l in range(L):
            d = dil[l]
            ring = d * (k - 1)
            slot = t % d
            for b in range(B):
                p0 = P_off[l] + slot * Ap
                for c in range(Ap):
                    a[b, c] = bias[b, row, l, c] + P[b, p0 + c]
                _matvec(W, off_cur[l], Ap // VB, R, v, b * Vp, a, b * Ap)
                h0 = H_off[l] + (t % ring) * R
                for c in range(R):
                    H[b, h0 + c] = v[b, c]
                for c in range(G):
                    z[b, c] = _tanh(a[b, c]) * (HALF + HALF * _tanh(HALF * a[b, G + c]))
                for c in range(Vp):
                    v[b, c] += b_rs[l, c]
                _matvec(W, off_rs[l], Vp // VB, G, z, b * G, v, b * Vp)
                if slot == d - 1:  # end of a block of d steps: the past taps of the next d steps at once
                    for s in range(d):
                        p0 = P_off[l] + s * Ap
                        for c in range(Ap):
                            P[b, p0 + c] = ZERO
                        for m in range(1, k):
                            src = H_off[l] + ((t + 1 + s - m * d) % ring) * R
                            _matvec(W, off_past[l, m - 1], Ap // VB, R, H, b * H.shape[1] + src, P, b * P.shape[1] + p0)
        for b in range(B):  # output head and sampling
            for c in range(S):
                y1[b, c] = max(v[b, R + c], ZERO)
            for c in range(Sp):
                y2[b, c] = b1[c]
            _matvec(W, off_w1, Sp // VB, S, y1, b * y1.shape[1], y2, b * Sp)
            for c in range(S):
                y2[b, c] = max(y2[b, c], ZERO)
            for c in range(Op):
                o[b, c] = b2[c]
            _matvec(W, off_w2, Op // VB, S, y2, b * Sp, o, b * Op)
            if keep:
                for c in range(n_out):
                    outputs[b, i, c] = o[b, c]
            if use_forced:
                x = forced[b, i]
            else:
                x = _sample(o, b, n_out, n_mix, mixture, temperature, u[b, i, 0], u[b, i, 1], y1)
            samples[b, i] = x
            prev[b] = x


def _pad_to(n: int) -> int:
    return -(-n // VB) * VB


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
        k, R, G, S = w.kernel_size, w.residual, w.gate, w.skip
        n_out = w.w2.shape[0]
        self.a_pad, v_pad = _pad_to(2 * G), _pad_to(R + S)
        self.dil = np.array(w.dilations, dtype=np.int64)
        self.mixture = w.output == "logistic_mixture"
        self.table = _vector(w.table) if w.table is not None else np.zeros((1, R), np.float32)
        self.w_in = _vector(w.w_in) if w.w_in is not None else np.zeros(R, np.float32)
        self.b_in = _vector(w.b_in) if w.b_in is not None else np.zeros(R, np.float32)
        # One flat weight array, in the order a step reads it: each layer's current tap and residual/skip
        # matrix, then the head; the deferred past taps (read once per block) after them.
        parts, offset = [], 0

        def add(matrix: Tensor) -> int:
            nonlocal offset
            parts.append(_blocks(matrix, precision))
            offset += parts[-1].size
            return offset - parts[-1].size

        L = len(w.dilations)
        self.off_cur, self.off_rs = np.zeros(L, np.int64), np.zeros(L, np.int64)
        for l in range(L):
            self.off_cur[l] = add(w.w_taps[l, k - 1])
            self.off_rs[l] = add(w.w_rs[l])
        self.off_w1, self.off_w2 = add(w.w1), add(w.w2)
        self.off_past = np.array([[add(w.w_taps[l, k - 1 - m]) for m in range(1, k)] for l in range(L)], np.int64)
        self.W = _aligned(parts)
        self.b_rs = _vector(w.b_rs, v_pad)
        self.b1, self.b2 = _vector(w.b1, _pad_to(S)), _vector(w.b2, _pad_to(n_out))
        rings = [d * (k - 1) * R for d in w.dilations]
        deferred = [d * self.a_pad for d in w.dilations]
        self.H_off = np.cumsum([0] + rings[:-1]).astype(np.int64)
        self.P_off = np.cumsum([0] + deferred[:-1]).astype(np.int64)
        self.H = np.zeros((batch, sum(rings)), np.float32)
        self.P = np.zeros((batch, sum(deferred)), np.float32)
        self.prev = np.full(batch, w.start, np.float32)
        self.v = np.zeros((batch, v_pad), np.float32)
        self.a = np.zeros((batch, self.a_pad), np.float32)
        self.z = np.zeros((batch, G), np.float32)
        self.y1 = np.zeros((batch, max(S, n_out)), np.float32)  # also the sampler's scratch
        self.y2 = np.zeros((batch, _pad_to(S)), np.float32)
        self.o = np.zeros((batch, _pad_to(n_out)), np.float32)
        self.n_out = n_out

    def run(self, t0: int, n: int, bias: StepBias, u: Tensor, forced: Tensor | None, temperature: float,
            keep: bool) -> tuple[Tensor, Tensor | None]:
        w, batch = self.w, self.prev.shape[0]
        values = bias.values.float()
        if values.shape[-1] != self.a_pad:
            values = F.pad(values, (0, self.a_pad - values.shape[-1]))
        values = np.ascontiguousarray(values.numpy())
        rows = np.ascontiguousarray(bias.rows.numpy(), np.int64)
        u = np.ascontiguousarray(u.float().numpy())
        forced_np = np.zeros((batch, 0), np.float32)
        if forced is not None:
            forced_np = np.ascontiguousarray(forced.float().cpu().numpy())
        samples = np.zeros((batch, n), np.float32)
        outputs = np.zeros((batch, n if keep else 0, self.n_out), np.float32)
        _steps(
            t0, n, self.dil, w.kernel_size, w.residual, w.gate, w.skip, self.n_out, w.n_mixtures, self.mixture,
            float(temperature), self.W, self.off_cur, self.off_past, self.off_rs, self.off_w1, self.off_w2,
            self.table, self.w_in, self.b_in, self.b_rs, self.b1, self.b2, values, rows, u, forced_np, samples, outputs,
            self.prev,
            self.H, self.H_off, self.P, self.P_off, self.v, self.a, self.z, self.y1, self.y2, self.o,
        )
        return torch.from_numpy(samples), torch.from_numpy(outputs).transpose(1, 2) if keep else None
