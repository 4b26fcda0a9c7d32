"""WaveNet generation speed: the naive loop, the cached PyTorch path and the fast path, in one run.

The decoder is randomly initialised (speed does not depend on the weights). The naive loop is timed in its
steady state, with a full receptive field of history, since that is what every sample past the first
receptive field costs. Speeds are aggregate samples per second over all streams, by the wall clock; the
``cpu_samples_per_s`` entries divide by this process's CPU time instead, which tells what a core would do
when other work shares the machine (with one torch thread the process keeps at most one core busy).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import torch

from ..core.errors import LatentLabError
from ..nn.wavenet.generate import generate
from ..nn.wavenet.layers import WaveNet, WaveNetConfig
from ..nn.wavenet.steps import NaiveSteps

NAIVE_STEPS = 24  # the naive loop is slow and constant per step: a few steps measure it
CACHED_STEPS = 1500  # the cached PyTorch path: enough to average Python overhead


def _best_rate(fn, n: int, repeats: int) -> tuple[float, float]:
    """Best samples per wall-clock second and per CPU second of ``repeats`` calls of fn(), each making n samples."""
    wall = cpu = 0.0
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = max(wall, n / (time.perf_counter() - start))
        cpu = max(cpu, n / max(time.process_time() - start_cpu, 1e-9))
    return wall, cpu


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_wavenet(
    layers: int = 20,
    channels: int = 64,
    skip_channels: int = 128,
    gate_channels: int | None = None,
    kernel_size: int = 2,
    dilation_cycle: int = 10,
    cond_channels: int = 80,
    cond_hop: int = 1,
    global_channels: int = 0,
    batch: int = 1,
    samples: int = 16000,
    threads: int | None = 1,
    device: str = "cpu",
    repeats: int = 3,
    half: bool = True,
) -> dict[str, Any]:
    """Time the three generation paths on one randomly initialised decoder.

    Parameters
    ----------
    layers, channels, skip_channels, gate_channels, kernel_size, dilation_cycle : the decoder's shape
        (gate_channels defaults to channels); 256 mu-law classes
    cond_channels, global_channels : local conditioning at the sample rate and a global vector (0: none)
    cond_hop : samples per conditioning frame: 1 gives every sample its own vector (as transposed-conv
        upsampling does), 256 repeats each of a mel's frames (as repetition upsampling does)
    batch : streams generated at once
    samples : samples per stream for the fast path (the naive and cached paths take fewer)
    threads : torch CPU threads (None: leave as is); the numba kernel is single-threaded
    device : "cpu" (fast path = numba) or "cuda" (fast path = CUDA graphs)
    repeats : the best of this many timed runs is reported
    half : also time the fast CPU path with float16 weights

    Returns
    -------
    dict with naive_samples_per_s, cached_samples_per_s, fast_samples_per_s, the ratios and the config
    """
    from ..core.device import resolve_device

    dev = resolve_device(device)
    if min(layers, channels, skip_channels, batch, samples, repeats, cond_hop) < 1:
        raise LatentLabError("layers, channels, skip channels, batch, samples, repeats and cond hop must be positive")
    if threads is not None:
        if threads < 1:
            raise LatentLabError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    config = WaveNetConfig(
        layers=layers, dilation_cycle=dilation_cycle, kernel_size=kernel_size, residual_channels=channels,
        gate_channels=gate_channels or channels, skip_channels=skip_channels, cond_channels=cond_channels,
        global_channels=global_channels,
    )
    torch.manual_seed(0)
    model = WaveNet(config).to(dev).eval()
    rf = config.receptive_field
    n_naive, n_cached = min(samples, NAIVE_STEPS), min(samples, CACHED_STEPS)
    cond = None
    if cond_channels:
        length = max(samples, rf + n_naive)
        frames = torch.randn(batch, cond_channels, -(-length // cond_hop), device=dev)
        cond = frames.repeat_interleave(cond_hop, -1)[..., :length]
    g = torch.randn(batch, global_channels, device=dev) if global_channels else None
    fast_backend = "cuda" if dev.type == "cuda" else "fast"

    def naive() -> None:
        stepper = NaiveSteps(model, batch, cond, g)
        stepper.inputs = torch.randint(0, config.classes, (batch, rf - 1), device=dev).float()  # steady state
        u = torch.rand(batch, n_naive, 2, device=dev)
        with torch.no_grad():
            stepper.run(rf - 1, n_naive, None, u, None, 1.0, False)
        _sync(dev)

    def run(backend: str, n: int, precision: str = "float32"):
        def go() -> None:
            generate(model, n, None if cond is None else cond[..., :n], g, batch=batch, backend=backend,
                     seed=0, precision=precision)
            _sync(dev)

        return go

    result: dict[str, Any] = {"config": asdict(config), "receptive_field": rf, "cond_hop": cond_hop, "batch": batch,
                              "threads": torch.get_num_threads(), "device": str(dev), "fast_backend": fast_backend}
    cpu: dict[str, float] = {}

    def measure(name: str, fn, n: int, times: int) -> None:
        wall, cpu[name] = (batch * rate for rate in _best_rate(fn, n, times))
        result[f"{name}_samples_per_s"] = wall

    run(fast_backend, min(samples, 256))()  # compile / capture outside the timing
    measure("fast", run(fast_backend, samples), samples, repeats)
    if half and fast_backend == "fast":
        run("fast", min(samples, 256), "float16")()
        measure("fast_f16", run("fast", samples, "float16"), samples, repeats)
    measure("cached", run("cached", n_cached), n_cached, min(repeats, 2))
    measure("naive", naive, n_naive, 1)
    if dev.type == "cpu":  # on a GPU the host's CPU time says nothing about the work
        result["cpu_samples_per_s"] = cpu
    result["fast_over_naive"] = result["fast_samples_per_s"] / result["naive_samples_per_s"]
    result["fast_over_cached"] = result["fast_samples_per_s"] / result["cached_samples_per_s"]
    result["cached_over_naive"] = result["cached_samples_per_s"] / result["naive_samples_per_s"]
    if "fast_f16_samples_per_s" in result:
        result["fast_f16_over_naive"] = result["fast_f16_samples_per_s"] / result["naive_samples_per_s"]
    return result


def format_result(result: dict[str, Any]) -> str:
    """A side-by-side table of the paths."""
    c = result["config"]
    lines = [
        f"WaveNet decoder: {c['layers']} layers (dilation cycle {c['dilation_cycle']}, kernel {c['kernel_size']}), "
        f"{c['residual_channels']} residual / {c['gate_channels']} gate / {c['skip_channels']} skip channels, "
        f"{c['classes']} classes, local cond {c['cond_channels']} (hop {result['cond_hop']}), "
        f"global cond {c['global_channels']}; "
        f"receptive field {result['receptive_field']} samples",
        f"batch {result['batch']}, device {result['device']}, torch threads {result['threads']}",
        "",
        f"{'path':<34}{'samples/s':>12}{'x naive':>10}{'x real time 16k':>17}{'per CPU-second':>16}",
    ]
    naive = result["naive_samples_per_s"]
    rows = [
        ("naive loop (full receptive field)", "naive_samples_per_s"),
        ("cached (PyTorch queues)", "cached_samples_per_s"),
    ]
    fast_name = "fast (CUDA graphs)" if result["fast_backend"] == "cuda" else "fast (numba, float32)"
    rows.append((fast_name, "fast_samples_per_s"))
    if "fast_f16_samples_per_s" in result:
        rows.append(("fast (numba, float16 weights)", "fast_f16_samples_per_s"))
    for name, key in rows:
        cpu = result.get("cpu_samples_per_s", {}).get(key.removesuffix("_samples_per_s"))
        rate, cpu_text = result[key], "-" if cpu is None else f"{cpu:,.0f}"
        lines.append(f"{name:<34}{rate:>12,.0f}{rate / naive:>10.1f}{rate / 16000:>17.2f}{cpu_text:>16}")
    return "\n".join(lines)
