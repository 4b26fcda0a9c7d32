"""The WaveNet stack and its step-by-step generation, written once for every model that uses them.

- :mod:`.layers` -- causal/dilated convolutions, the gated residual block, the stack, :class:`WaveNet`,
  the conditioning upsampler and the non-causal encoder;
- :mod:`.steps` -- the step weights (:func:`fuse_weights`, :func:`step_bias`) and the naive and cached
  steppers in plain PyTorch;
- :mod:`.generate` -- :func:`generate` and :func:`teacher_forced`, which drive a stepper chunk by chunk;
- :mod:`.fast` (with the vector kernels of :mod:`.simd`) -- the numba CPU fast path;
- :mod:`.cuda` -- the cached step captured in CUDA graphs.

Imports run one way: layers <- steps <- (fast, cuda) <- generate.
"""
