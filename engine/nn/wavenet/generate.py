"""Autoregressive WaveNet generation, one sample at a time.

Backends, all driven by :func:`generate` (and :func:`teacher_forced`, which feeds a given sequence instead
of the samples and returns the outputs, the way the tests check every path against ``model.forward``):

- ``"naive"``: runs the model over the whole receptive field for every sample (the baseline);
- ``"cached"``: per-layer queues of past layer inputs (Paine et al. 2016), O(layers) per sample, batched
  over streams, any device, plain PyTorch;
- ``"fast"``: the same recurrence compiled with numba for the CPU (:mod:`engine.nn.wavenet.fast`);
- ``"cuda"``: the cached step captured in a CUDA graph and replayed (:mod:`engine.nn.wavenet.cuda`).

``"auto"`` picks ``"cuda"`` for a model on a GPU and ``"fast"`` on the CPU.

Conditioning projections (local and global, for all layers, plus the conv biases) are computed once per
chunk of samples with one matrix product, never per step, and only for distinct conditioning columns
(conditioning upsampled by repetition costs one projection per frame). Every path draws its randomness
the same way (one seeded CPU generator, two uniforms per stream and step, inverse-CDF sampling), so one
seed gives the same audio on every backend, up to float rounding at a CDF boundary.
"""

from __future__ import annotations

import importlib.util
from typing import Callable

import torch
from torch import Tensor

from ...core.errors import LatentLabError
from .layers import WaveNet
from .steps import CachedSteps, NaiveSteps, fuse_weights, model_device, step_bias

BACKENDS = ("auto", "naive", "cached", "fast", "cuda")
U_BLOCK = 64  # uniforms are drawn in blocks of this many steps, so chunking never changes the samples
CHUNK_BYTES = 64 * 2**20  # memory for one chunk of precomputed conditioning projections
MAX_CHUNK = 1024  # steps per chunk (the projections of a chunk stay in the last-level cache)


def _check(model: WaveNet, n_samples: int, cond: Tensor | None, global_cond: Tensor | None,
           batch: int | None, temperature: float, backend: str) -> int:
    c = model.config
    if not c.causal:
        raise LatentLabError("a non-causal WaveNet cannot generate sample by sample")
    if backend not in BACKENDS:
        raise LatentLabError(f"unknown generation backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if n_samples < 1:
        raise LatentLabError(f"the number of samples to generate must be at least 1, got {n_samples}")
    if temperature < 0:
        raise LatentLabError(f"temperature must be >= 0, got {temperature}")
    if (cond is None) != (c.cond_channels == 0):
        raise LatentLabError(f"this WaveNet takes {c.cond_channels} channels of local conditioning")
    if (global_cond is None) != (c.global_channels == 0):
        raise LatentLabError(f"this WaveNet takes a global conditioning vector of {c.global_channels}")
    sizes = {x.shape[0] for x in (cond, global_cond) if x is not None} | ({batch} if batch else set())
    if len(sizes) > 1:
        raise LatentLabError(f"batch sizes disagree: {sorted(sizes)}")
    if cond is not None and (cond.dim() != 3 or cond.shape[1] != c.cond_channels or cond.shape[2] < n_samples):
        raise LatentLabError(
            f"local conditioning must be [batch x {c.cond_channels} x at least {n_samples}] at the sample rate, "
            f"got {list(cond.shape)}"
        )
    return sizes.pop() if sizes else 1


def _resolve_backend(backend: str, device: torch.device) -> str:
    if backend == "auto":
        if device.type == "cuda":
            return "cuda"
        return "fast" if device.type == "cpu" and importlib.util.find_spec("numba") else "cached"
    if backend == "cuda" and device.type != "cuda":
        raise LatentLabError("the 'cuda' backend needs the model on a CUDA GPU")
    if backend == "fast" and device.type != "cpu":
        raise LatentLabError("the 'fast' backend runs on the CPU: move the model to the CPU or use 'cuda'")
    return backend


def chunk_steps(batch: int, model: WaveNet) -> int:
    """Steps per chunk of precomputed conditioning: a multiple of U_BLOCK that fits CHUNK_BYTES."""
    per_step = batch * model.config.layers * 2 * model.config.gate_channels * 4
    return max(U_BLOCK, min(MAX_CHUNK, CHUNK_BYTES // per_step) // U_BLOCK * U_BLOCK)


@torch.no_grad()
def _run(model: WaveNet, *, n: int, cond: Tensor | None, global_cond: Tensor | None, batch: int,
         temperature: float, backend: str, seed: int | None, progress: Callable[[float], None] | None,
         forced: Tensor | None, keep: bool, precision: str) -> tuple[Tensor, Tensor | None]:
    device = model_device(model)
    backend = _resolve_backend(backend, device)
    was_training = model.training
    model.eval()
    try:
        if backend == "naive":
            stepper = NaiveSteps(model, batch, cond, global_cond)
        elif backend == "cached":
            stepper = CachedSteps(fuse_weights(model), batch, device)
        elif backend == "fast":
            from .fast import FastSteps

            stepper = FastSteps(fuse_weights(model), batch, precision)
        else:
            from .cuda import GraphSteps

            stepper = GraphSteps(fuse_weights(model), batch, device, chunk_steps(batch, model))
        gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(2**62, ()).item()))
        chunk = chunk_steps(batch, model)
        samples, outs = [], []
        for t0 in range(0, n, chunk):
            t1 = min(n, t0 + chunk)
            blocks = -(-(t1 - t0) // U_BLOCK)
            u = torch.cat([torch.rand(batch, U_BLOCK, 2, generator=gen) for _ in range(blocks)], 1)[:, : t1 - t0]
            bias = step_bias(model, cond, global_cond, t0, t1, batch) if stepper.needs_bias else None
            f = None if forced is None else forced[:, t0:t1]
            s, o = stepper.run(t0, t1 - t0, bias, u.to(device), f, temperature, keep)
            samples.append(s)
            if keep:
                outs.append(o)
            if progress is not None:
                progress(t1 / n)
        return torch.cat(samples, 1), torch.cat(outs, 2) if keep else None
    finally:
        model.train(was_training)


def generate(
    model: WaveNet,
    n_samples: int,
    cond: Tensor | None = None,
    global_cond: Tensor | None = None,
    batch: int | None = None,
    temperature: float = 1.0,
    backend: str = "auto",
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
    precision: str = "float32",
) -> Tensor:
    """Generate audio sample by sample.

    Parameters
    ----------
    model : a causal WaveNet (on the CPU or a GPU)
    n_samples : samples to generate per stream
    cond : Tensor[B x C x T >= n_samples], local conditioning at the sample rate (see ConditionUpsampler)
    global_cond : Tensor[B x Cg]
    batch : number of streams when there is no conditioning to say it (default 1)
    temperature : softmax temperature; 0 takes the most likely class every step
    backend : "auto" (cuda on a GPU, fast on the CPU), "naive", "cached", "fast" or "cuda"
    seed : seeds the sampling; the same seed gives the same samples on every backend
    progress : called with the fraction done (0..1] after each chunk, e.g. a gr.Progress
    precision : weights of the "fast" backend: "float32" (exact) or "float16" (half the memory traffic)

    Returns
    -------
    Tensor[B x n_samples] on the model's device: mu-law class indices (long) for a softmax model, float
    samples in [-1, 1] for a logistic-mixture model
    """
    batch = _check(model, n_samples, cond, global_cond, batch, temperature, backend)
    samples, _ = _run(
        model, n=n_samples, cond=cond, global_cond=global_cond, batch=batch, temperature=temperature,
        backend=backend, seed=seed, progress=progress, forced=None, keep=False, precision=precision,
    )
    return samples.long() if model.config.output == "softmax" else samples


def teacher_forced(
    model: WaveNet,
    x: Tensor,
    cond: Tensor | None = None,
    global_cond: Tensor | None = None,
    backend: str = "cached",
    precision: str = "float32",
) -> Tensor:
    """The step-by-step path's outputs when it is fed ``x`` instead of its own samples.

    Equals ``model(x, cond, global_cond)`` up to float rounding; the tests hold every backend to that.
    x : Tensor[B x T], samples as :func:`generate` returns them (class indices for a softmax model, even
    with float input) -> Tensor[B x out x T]
    """
    batch = _check(model, x.shape[1], cond, global_cond, x.shape[0], 1.0, backend)
    _, outs = _run(
        model, n=x.shape[1], cond=cond, global_cond=global_cond, batch=batch, temperature=1.0, backend=backend,
        seed=0, progress=None, forced=x.float(), keep=True, precision=precision,
    )
    return outs
