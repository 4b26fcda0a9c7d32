"""Vector kernels for numba, written as LLVM IR so they vectorise the same way on every CPU.

The WaveNet fast path (:mod:`engine.nn.wavenet.fast`) is a chain of small matrix-vector products at batch 1.
Each matrix ``[out x in]`` is stored as blocks of ``VB = 64`` outputs, ``[out / VB x in x VB]``, inside one
flat array; a product walks the inputs and accumulates a block's 64 outputs in vector registers. Operands
are (array, flat offset) pairs: no array views in the hot loop (numba reference-counts each view), and
every hand-off between kernels is a whole 64-float vector, so a load always matches the store before it.

Weights are float32, or float16 bits held as uint16 (widened in registers: half the memory traffic).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

VB = 64  # outputs per weight block

# Rational approximation of tanh (the one Eigen uses for float32), max error 4e-7 on the clamped range.
TANH_CLAMP = 7.90531110763549805
TANH_P = (-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
          1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)  # x^13 ... x^1
TANH_Q = (1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)  # x^6 ... x^0

F32 = ir.FloatType()
VEC = ir.VectorType(F32, VB)


def _pointer(context, builder, array_type, array, offset) -> ir.Value:
    """Address of element ``offset`` of an array's flat data."""
    return builder.gep(context.make_array(array_type)(context, builder, array).data, [offset])


def _vector_at(builder, base, offset, vec=VEC) -> ir.Value:
    return builder.bitcast(builder.gep(base, [offset]), vec.as_pointer())


def _splat(value: float) -> ir.Constant:
    return ir.Constant(VEC, [value] * VB)


def _intrinsic_fn(builder, name: str, n_args: int) -> ir.Function:
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(VEC, [VEC] * n_args), f"llvm.{name}.v{VB}f32")


def _tanh(builder, x: ir.Value) -> ir.Value:
    fma = _intrinsic_fn(builder, "fmuladd", 3)
    x = builder.call(_intrinsic_fn(builder, "maxnum", 2), [x, _splat(-TANH_CLAMP)])
    x = builder.call(_intrinsic_fn(builder, "minnum", 2), [x, _splat(TANH_CLAMP)])
    x2 = builder.fmul(x, x)
    p = _splat(TANH_P[0])
    for c in TANH_P[1:]:
        p = builder.call(fma, [p, x2, _splat(c)])
    q = _splat(TANH_Q[0])
    for c in TANH_Q[1:]:
        q = builder.call(fma, [q, x2, _splat(c)])
    return builder.fdiv(builder.fmul(p, x), q)


class _Accumulate:
    """Emits ``acc_i += W[block_i] @ x`` for a few blocks at once over the same inputs (one pass over x)."""

    def __init__(self, builder, w_base, half: bool, x_base, n_in, relu):
        self.builder, self.w_base, self.x_base, self.n_in, self.relu = builder, w_base, x_base, n_in, relu
        self.wvec = ir.VectorType(ir.HalfType() if half else F32, VB)
        self.half = half

    def __call__(self, accumulators: list[ir.Value], blocks: list[ir.Value]) -> None:
        b = self.builder
        fma = _intrinsic_fn(b, "fmuladd", 3)
        i32 = ir.IntType(32)
        splat = ir.Constant(ir.VectorType(i32, VB), [0] * VB)
        vb = ir.Constant(self.n_in.type, VB)
        bases = [b.mul(block, b.mul(self.n_in, vb)) for block in blocks]
        with cgutils.for_range(b, self.n_in) as col:
            xj = b.load(b.gep(self.x_base, [col.index]))
            zero = ir.Constant(F32, 0.0)
            xj = b.select(b.and_(self.relu, b.fcmp_ordered("<", xj, zero)), zero, xj)
            xs = b.shuffle_vector(b.insert_element(ir.Constant(VEC, ir.Undefined), xj, ir.Constant(i32, 0)),
                                  ir.Constant(VEC, ir.Undefined), splat)
            for acc, base in zip(accumulators, bases):
                ptr = b.gep(self.w_base, [b.add(base, b.mul(col.index, vb))])
                w = b.load(b.bitcast(ptr, self.wvec.as_pointer()), align=2 if self.half else 4)
                if self.half:
                    w = b.fpext(w, VEC)
                b.store(b.call(fma, [w, xs, b.load(acc)]), acc)


def _init(builder, p_base, q_base, offset, acc) -> None:
    builder.store(builder.fadd(builder.load(_vector_at(builder, p_base, offset), align=4),
                               builder.load(_vector_at(builder, q_base, offset), align=4)), acc)


@intrinsic
def matvec(typingctx, w, w_off, n_blocks, n_in, x, x_off, relu, p, p_off, q, q_off, y, y_off):
    """y[y_off + i] = p[p_off + i] + q[q_off + i] + sum_j W[i, j] * act(x[x_off + j]), i < n_blocks * VB.

    W is the n_blocks blocks at w_off of the flat weights w; act is ReLU when ``relu`` is true, else the
    identity. p or q may be y itself (accumulate) or a vector of zeros.
    """
    half = w.dtype == types.uint16

    def codegen(context, builder, sig, args):
        w_base, x_base, p_base, q_base, y_base = (
            _pointer(context, builder, sig.args[i], args[i], args[i + 1]) for i in (0, 4, 7, 9, 11)
        )
        relu = builder.icmp_signed("!=", args[6], ir.Constant(args[6].type, 0))
        acc = cgutils.alloca_once(builder, VEC)
        accumulate = _Accumulate(builder, w_base, half, x_base, args[3], relu)
        vb = ir.Constant(args[3].type, VB)
        with cgutils.for_range(builder, args[2]) as block:
            offset = builder.mul(block.index, vb)
            _init(builder, p_base, q_base, offset, acc)
            accumulate([acc], [block.index])
            builder.store(builder.load(acc), _vector_at(builder, y_base, offset), align=4)
        return context.get_dummy_value()

    i = types.intp
    return types.none(w, i, i, i, x, i, types.boolean, p, i, q, i, y, i), codegen


@intrinsic
def gated_matvec(typingctx, w, w_off, n_pairs, n_in, x, x_off, p, p_off, q, q_off, z, z_off):
    """The gated activation of a dilated convolution's current tap, in registers.

    a = p + q + W x over 2 * n_pairs blocks (the tanh half, then the sigmoid half), then
    z[z_off + i] = tanh(a[i]) * sigmoid(a[n_pairs * VB + i]) for i < n_pairs * VB.
    """
    half = w.dtype == types.uint16

    def codegen(context, builder, sig, args):
        w_base, x_base, p_base, q_base, z_base = (
            _pointer(context, builder, sig.args[i], args[i], args[i + 1]) for i in (0, 4, 6, 8, 10)
        )
        n_pairs = args[2]
        acc_t, acc_s = cgutils.alloca_once(builder, VEC), cgutils.alloca_once(builder, VEC)
        accumulate = _Accumulate(builder, w_base, half, x_base, args[3], ir.Constant(ir.IntType(1), 0))
        vb = ir.Constant(n_pairs.type, VB)
        with cgutils.for_range(builder, n_pairs) as pair:
            sigmoid_block = builder.add(pair.index, n_pairs)
            offset_t, offset_s = builder.mul(pair.index, vb), builder.mul(sigmoid_block, vb)
            # One block at a time: a 64-float accumulator fits the registers of AVX2 and NEON too.
            _init(builder, p_base, q_base, offset_t, acc_t)
            accumulate([acc_t], [pair.index])
            _init(builder, p_base, q_base, offset_s, acc_s)
            accumulate([acc_s], [sigmoid_block])
            half_vec = _splat(0.5)
            sig_ = builder.call(_intrinsic_fn(builder, "fmuladd", 3),
                                [half_vec, _tanh(builder, builder.fmul(half_vec, builder.load(acc_s))), half_vec])
            gated = builder.fmul(_tanh(builder, builder.load(acc_t)), sig_)
            builder.store(gated, _vector_at(builder, z_base, offset_t), align=4)
        return context.get_dummy_value()

    i = types.intp
    return types.none(w, i, i, i, x, i, p, i, q, i, z, i), codegen


@intrinsic
def copy(typingctx, src, src_off, dst, dst_off, n):
    """dst[dst_off : dst_off + n] = src[src_off : src_off + n], 16 floats at a time."""

    def codegen(context, builder, sig, args):
        s_base = _pointer(context, builder, sig.args[0], args[0], args[1])
        d_base = _pointer(context, builder, sig.args[2], args[2], args[3])
        n = args[4]
        v16 = ir.VectorType(F32, 16)
        sixteen = ir.Constant(n.type, 16)
        with cgutils.for_range(builder, builder.sdiv(n, sixteen)) as chunk:
            offset = builder.mul(chunk.index, sixteen)
            value = builder.load(_vector_at(builder, s_base, offset, v16), align=4)
            builder.store(value, _vector_at(builder, d_base, offset, v16), align=4)
        done = builder.mul(builder.sdiv(n, sixteen), sixteen)
        with cgutils.for_range(builder, builder.sub(n, done)) as tail:
            offset = builder.add(done, tail.index)
            builder.store(builder.load(builder.gep(s_base, [offset])), builder.gep(d_base, [offset]))
        return context.get_dummy_value()

    i = types.intp
    return types.none(src, i, dst, i, i), codegen


def zeros_for(*sizes: int) -> np.ndarray:
    """A float32 vector of zeros long enough to stand for p or q."""
    return np.zeros(max(sizes), np.float32)
