"""Device selection: CUDA when present, else CPU; an explicit ``--device`` always wins."""

from __future__ import annotations

import functools

import torch

from .errors import LatentLabError


def resolve_device(name: str | None = None) -> torch.device:
    """Return the device to run on.

    Parameters
    ----------
    name : "cpu", "cuda", "cuda:N", "mps" or None (auto: CUDA when available, else CPU)
    """
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as e:
        raise LatentLabError(f"unknown device {name!r}: use cpu, cuda, cuda:N or auto") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LatentLabError(f"device {name!r} asked for, but no CUDA GPU is available: use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise LatentLabError(f"device {name!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise LatentLabError("device 'mps' asked for, but Metal is not available: use --device cpu")
    return device


def describe_device(device: torch.device) -> str:
    """A short human description, e.g. 'cuda:0 (NVIDIA H200)' or 'cpu (2 threads)'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"{device.type} ({torch.get_num_threads()} threads)"


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU runs bfloat16 at speed (oneDNN's check: AVX-512 or AMX with bf16 support).

    Without it (an AVX2-only CPU) bf16 matmuls are emulated, some 50x slower than float32, and oneDNN has no
    bf16 LSTM at all, so every CPU bf16 choice falls back to float32 there.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def bf16_enabled(device: torch.device | str, wanted: bool) -> bool:
    """Whether bf16 autocast asked for (``wanted``) can run on ``device``: CUDA always, the CPU only where
    :func:`cpu_has_bf16`."""
    kind = torch.device(device).type
    return bool(wanted) and (kind != "cpu" or cpu_has_bf16())


def bf16_autocast(device: torch.device | str, wanted: bool = True) -> torch.autocast:
    """``torch.autocast`` to bfloat16 on ``device`` where :func:`bf16_enabled`, else a disabled one (float32)."""
    kind = torch.device(device).type
    return torch.autocast(kind, dtype=torch.bfloat16, enabled=bf16_enabled(kind, wanted))
