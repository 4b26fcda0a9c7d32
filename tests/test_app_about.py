"""The About tab: every installed model with the figures from its card, and the device in use."""

import gradio as gr
import pytest
import torch

from app.common import AppContext
from app.tabs import about
from engine.core.checkpoint import save_checkpoint
from engine.core.device import describe_device

CARD = "# toy — a toy vocoder\n\n## Measured figures\nMR-STFT distance **1.234**\n"


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    tensors = {"w": torch.zeros(3, 4)}
    save_checkpoint(root / "toy", kind="vocoder", arch="melgan", config={}, tensors=tensors, card=CARD)
    save_checkpoint(root / "bare", kind="melody", arch="musicvae", config={}, tensors=tensors)
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(root))
    return root


def _markdown(device: torch.device) -> list[str]:
    with gr.Blocks() as demo:
        about.build(AppContext(device=device))
    return [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown)]


def test_each_model_shows_its_card_figures_and_the_device(checkpoints):
    texts = _markdown(torch.device("cpu"))
    assert describe_device(torch.device("cpu")) in texts[0] and "2 shipped model(s)" in texts[0]
    toy = next(t for t in texts if t.startswith("### toy — a toy vocoder"))
    assert "#### Measured figures\nMR-STFT distance **1.234**" in toy and "`toy` · vocoder · melgan" in toy
    bare = next(t for t in texts if t.startswith("### bare"))
    assert about.NO_FIGURES in bare
    assert CARD.strip() in [t.strip() for t in texts]  # the whole card, in its accordion


def test_model_table_lists_the_installed_models(checkpoints):
    assert [row[:3] for row in about.model_table()] == [["bare", "melody", "musicvae"], ["toy", "vocoder", "melgan"]]
