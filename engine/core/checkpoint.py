"""Checkpoints: one directory per model, nothing unpickled.

A checkpoint directory holds

- ``model.safetensors`` -- the weights (and any extra tensors, e.g. attribute vectors);
- ``config.json`` -- ``{"format": 1, "kind": ..., "arch": ..., "config": {dataclass fields}, "extra": {...}}``;
- ``card.md`` -- the model card: data, recipe command, measured figures.

The shipped models live in ``checkpoints/<name>/`` at the repository root (or ``$LATENTLAB_CHECKPOINTS``).
:func:`load_cached` is how every capability loads its model: one cache for all of them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .device import resolve_device
from .errors import LatentLabError

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "card.md"
KINDS = ("melody", "timbre", "translate", "vocoder")
CACHE_SIZE = 8  # models kept loaded by load_cached, all capabilities together (least recently used goes)

T = TypeVar("T")


def checkpoint_root() -> Path:
    """The directory holding the shipped checkpoints."""
    env = os.environ.get("LATENTLAB_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "checkpoints"


@dataclass
class Checkpoint:
    """A loaded checkpoint: its metadata and its tensors (on the requested device)."""

    name: str
    path: Path
    kind: str
    arch: str
    config: dict[str, Any]
    tensors: dict[str, torch.Tensor] = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def card(self) -> str:
        card = self.path / CARD_FILE
        return card.read_text(encoding="utf-8") if card.exists() else ""

    def build_config(self, cls: type[T]) -> T:
        """The model's dataclass config from the stored JSON."""
        return config_from_dict(cls, self.config, source=self.path / CONFIG_FILE)

    def load_into(self, model: torch.nn.Module, prefix: str = "") -> torch.nn.Module:
        """Load the weights (those under ``prefix``) into ``model`` strictly; a mismatch is a clear error."""
        state = {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[0]
            raise LatentLabError(
                f"{self.path / WEIGHTS_FILE} does not match the {self.arch} model ({first}); "
                "retrain it or restore the shipped file"
            ) from e
        return model


def config_from_dict(cls: type[T], values: dict[str, Any], source: Path | str = "config") -> T:
    """Build dataclass ``cls`` from a dict, refusing unknown keys (missing ones take their defaults)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - names)
    if unknown:
        raise LatentLabError(f"{source}: unknown {cls.__name__} field(s) {', '.join(unknown)}")
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in values:
            v = values[f.name]
            kwargs[f.name] = tuple(v) if isinstance(v, list) else v
    return cls(**kwargs)


def config_from_overrides(cls: type[T], overrides: dict[str, Any] | str | None, source: str = "--config",
                          base: T | None = None) -> T:
    """Build dataclass ``cls`` from its defaults (or ``base``'s values) and ``overrides``: a dict, or JSON text of
    an object (a CLI's ``--config``); anything else is a one-line :class:`LatentLabError`."""
    if isinstance(overrides, str):
        try:
            overrides = json.loads(overrides)
        except json.JSONDecodeError as e:
            raise LatentLabError(f"{source} is not JSON: {e}") from e
    if not isinstance(overrides or {}, dict):
        raise LatentLabError(f"{source} must be a JSON object of {cls.__name__} fields, e.g. '{{\"name\": value}}'")
    values = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)} if base is not None else {}  # type: ignore[arg-type]
    return config_from_dict(cls, {**values, **(overrides or {})}, source=source)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A dataclass config as JSON-ready values (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def save_checkpoint(
    directory: str | Path,
    *,
    kind: str,
    arch: str,
    config: Any,
    tensors: dict[str, torch.Tensor],
    extra: dict[str, Any] | None = None,
    card: str | None = None,
) -> Path:
    """Write a checkpoint directory; returns its path.

    Parameters
    ----------
    kind : one of ``KINDS``
    arch : the model family, e.g. "musicvae", "hifigan"
    config : the model's dataclass config (stored as JSON)
    tensors : flat name -> tensor mapping (usually ``model.state_dict()``)
    extra : JSON-serialisable metadata (domains, attribute names, training figures...)
    card : Markdown model card text
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    flat = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    meta = {
        "format": FORMAT_VERSION,
        "kind": kind,
        "arch": arch,
        "config": config_to_dict(config) if dataclasses.is_dataclass(config) else dict(config),
        "extra": extra or {},
    }
    # Write to temporary names and rename, so a crash never leaves a half-written checkpoint.
    tmp_weights = directory / (WEIGHTS_FILE + ".tmp")
    save_file(flat, str(tmp_weights), metadata={"arch": arch, "kind": kind})
    tmp_weights.replace(directory / WEIGHTS_FILE)
    tmp_config = directory / (CONFIG_FILE + ".tmp")
    tmp_config.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp_config.replace(directory / CONFIG_FILE)
    if card is not None:
        (directory / CARD_FILE).write_text(card, encoding="utf-8")
    return directory


def resolve_checkpoint_dir(name_or_path: str | Path) -> Path:
    """A shipped model's name (``mel_2bar``) or a checkpoint directory path -> its directory."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    candidate = checkpoint_root() / str(name_or_path)
    if candidate.is_dir():
        return candidate
    known = ", ".join(info.name for info in list_checkpoints()) or "none"
    raise LatentLabError(
        f"no checkpoint named {str(name_or_path)!r} (looked in {checkpoint_root()}; shipped: {known})"
    )


def read_config(directory: str | Path) -> dict[str, Any]:
    """Read and validate ``config.json`` of a checkpoint directory."""
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise LatentLabError(f"checkpoint file missing: {path}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LatentLabError(f"checkpoint config is corrupt: {path} ({e})") from e
    if not isinstance(meta, dict) or not {"kind", "arch", "config"} <= set(meta):
        raise LatentLabError(f"checkpoint config is corrupt: {path} (needs kind, arch and config)")
    if meta.get("format", FORMAT_VERSION) > FORMAT_VERSION:
        raise LatentLabError(f"{path} was written by a newer Latent Lab (format {meta['format']}); upgrade")
    return meta


def load_checkpoint(name_or_path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint by shipped name or directory. Never unpickles."""
    directory = resolve_checkpoint_dir(name_or_path)
    meta = read_config(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        raise LatentLabError(f"checkpoint file missing: {weights}")
    try:
        tensors = load_file(str(weights), device=str(device))
    except (SafetensorError, OSError, ValueError) as e:
        raise LatentLabError(f"checkpoint weights are corrupt: {weights} ({e})") from e
    return Checkpoint(
        name=directory.name,
        path=directory,
        kind=meta["kind"],
        arch=meta["arch"],
        config=meta["config"],
        tensors=tensors,
        extra=meta.get("extra", {}),
    )


@dataclass
class CheckpointInfo:
    """A registry entry: what a checkpoint is, without loading its weights."""

    name: str
    path: Path
    kind: str
    arch: str
    size_bytes: int
    card: str


def list_checkpoints(kind: str | None = None, root: str | Path | None = None) -> list[CheckpointInfo]:
    """The registry: every checkpoint directory under ``root`` (default: the shipped ones)."""
    root = Path(root) if root else checkpoint_root()
    infos = []
    if not root.is_dir():
        return infos
    for directory in sorted(p for p in root.iterdir() if (p / CONFIG_FILE).exists()):
        try:
            meta = read_config(directory)
        except LatentLabError:
            continue
        if kind and meta["kind"] != kind:
            continue
        weights = directory / WEIGHTS_FILE
        card = directory / CARD_FILE
        infos.append(
            CheckpointInfo(
                name=directory.name,
                path=directory,
                kind=meta["kind"],
                arch=meta["arch"],
                size_bytes=weights.stat().st_size if weights.exists() else 0,
                card=card.read_text(encoding="utf-8") if card.exists() else "",
            )
        )
    return infos


_cache: OrderedDict[tuple, Any] = OrderedDict()
_cache_lock = threading.Lock()


def load_cached(name_or_path: str | Path, build: Callable[[Path, torch.device], T],
                device: str | torch.device | None = None) -> T:
    """The model ``build(directory, device)`` makes of a checkpoint, loaded once and then cached.

    Parameters
    ----------
    name_or_path : a shipped model's name or a checkpoint directory
    build : a module-level function that loads and checks the checkpoint in ``directory`` onto ``device``
    device : "cpu", "cuda", "cuda:N" or None (CUDA when present, else CPU)

    The cache key is (build, resolved directory, weights file mtime, device): a checkpoint written again
    (retrained, exported) is loaded again.
    """
    directory = resolve_checkpoint_dir(name_or_path).resolve()
    weights = directory / WEIGHTS_FILE
    stamp = weights.stat().st_mtime_ns if weights.exists() else 0
    dev = resolve_device(None if device is None else str(device))
    key = (build, str(directory), stamp, str(dev))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    model = build(directory, dev)
    with _cache_lock:
        _cache[key] = model
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return model


def clear_cache() -> None:
    """Forget every model :func:`load_cached` holds."""
    with _cache_lock:
        _cache.clear()
