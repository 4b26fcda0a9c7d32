"""What every tab shares: the app context, the model-call queue and error translation."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable

import gradio as gr
import torch

from engine.core.errors import LatentLabError

# Every model call goes through one queue with this id, so heavy work never runs more than
# MODEL_CONCURRENCY at a time while the page itself stays responsive.
MODEL_QUEUE = "models"
MODEL_CONCURRENCY = 1
MAX_UPLOAD = "20mb"  # gradio's max_file_size for every upload


@dataclass
class AppContext:
    """Passed to every tab's ``build``."""

    device: torch.device


def model_call(**event_kwargs: Any) -> dict[str, Any]:
    """Keyword arguments for an event listener that runs a model (shared queue, progress shown)."""
    return {"concurrency_limit": MODEL_CONCURRENCY, "concurrency_id": MODEL_QUEUE, **event_kwargs}


_ABSOLUTE_PATH = re.compile(r"(?<![^\s'\"(])(?:/[^/\s'\"]+)+/([^/\s'\"]+)")


def without_server_paths(message: str) -> str:
    """``message`` with every absolute path cut to its file name: the page never shows server folders
    (an upload's temporary folder, say). '/tmp/gradio/ab12/song.mid is not MIDI' -> 'song.mid is not MIDI'."""
    return _ABSOLUTE_PATH.sub(r"\1", message)


def user_errors(fn: Callable) -> Callable:
    """Turn the engine's user-facing errors into ``gr.Error`` (a message in the page, no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LatentLabError as e:
            raise gr.Error(without_server_paths(str(e)), print_exception=False) from e

    return wrapper


def missing_model_notice(what: str, command: str) -> None:
    """Shown instead of a tab's controls when its model has not been trained or shipped yet."""
    gr.Markdown(f"**{what} is not available yet** — no trained checkpoint is installed. Train one with `{command}`.")
