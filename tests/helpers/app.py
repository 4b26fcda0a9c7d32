"""The launched app every app test talks to (:func:`launched_app`), and checkpoints to put behind it.

:func:`install_checkpoints` links the shipped melody and vocoder checkpoints into a temporary checkpoint
folder beside tiny (untrained) timbre and translation models made here, so every tab is built and every
endpoint returns a real result (the end-to-end and browser tests); nothing is downloaded.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from engine.bench.serve import free_port
from engine.core.checkpoint import checkpoint_root, clear_cache, save_checkpoint
from engine.models.nsynth import NSynthAutoencoder, NSynthConfig
from engine.models.translator import Translator, sized_config

SHIPPED = ("mel_2bar", "melgan", "hifigan", "pixelcnn_16bar", "ar_16bar", "timbre_ddsp")  # the shipped models the tabs need
TINY_TIMBRE = NSynthConfig(encoder_channels=8, encoder_layers=2, decoder_layers=3, decoder_cycle=3, residual_channels=8,
                           gate_channels=8, skip_channels=16, pitch_channels=4)
TRANSLATE_DOMAINS = ("sine", "saw", "odd")


def install_checkpoints(root: Path) -> Path:
    """``root`` with the shipped melody/vocoder checkpoints (linked) and tiny timbre and translate models."""
    shipped = checkpoint_root()
    root.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED:
        (root / name).symlink_to(shipped / name, target_is_directory=True)
    torch.manual_seed(0)
    save_checkpoint(root / "timbre", kind="timbre", arch="nsynth_wavenet_ae", config=TINY_TIMBRE,
                    tensors=NSynthAutoencoder(TINY_TIMBRE).state_dict(), card="# tiny test model\n")
    from engine.train.translate import export

    export(Translator(sized_config("tiny", TRANSLATE_DOMAINS)), root / "translate", {"step": 0})
    return root


@contextmanager
def launched_app(checkpoints: Path | None = None) -> Iterator[str]:
    """The one way the tests launch the app: as ``latentlab serve`` does, on a free loopback port, on the CPU.

    checkpoints : the folder ``$LATENTLAB_CHECKPOINTS`` points at while it runs (None: the shipped ones);
        :func:`install_checkpoints` makes one with a model behind every tab
    Yields the app's URL and closes it afterwards.
    """
    from app.main import launch

    before = os.environ.get("LATENTLAB_CHECKPOINTS")
    if checkpoints is not None:
        os.environ["LATENTLAB_CHECKPOINTS"] = str(checkpoints)
    clear_cache()
    port = free_port()
    demo = launch(port=port, device="cpu", block=False)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        if before is None:
            os.environ.pop("LATENTLAB_CHECKPOINTS", None)
        else:
            os.environ["LATENTLAB_CHECKPOINTS"] = before
        clear_cache()
