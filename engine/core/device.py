"""Device selection: CUDA when present, else CPU; an explicit ``--device`` always wins."""

from __future__ import annotations

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
