"""The Melodies tab answers through gradio_client with a tiny (untrained) model and the bundled examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file

from engine.models.musicvae import MusicVAE, MusicVAEConfig
from helpers.app import launched_app

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "assets" / "melodies").glob("*.mid"))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from engine.train.melody import RECIPES, export_checkpoint

    root = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    model = MusicVAE(MusicVAEConfig(embed_dim=8, encoder_hidden=16, decoder_hidden=16, z_dim=6))
    windows = np.random.default_rng(0).integers(0, 90, (16, 32)).astype(np.uint8)
    export_checkpoint(model, "mel_2bar", RECIPES["mel_2bar"], {"train": windows, "val": windows[:4]}, root / "mel_2bar", "test", {})
    with launched_app(root) as url:
        yield Client(url, verbose=False)


def test_bundled_examples_exist():
    assert len(EXAMPLES) >= 4
    from engine.core.midi import melody_from_midi

    for path in EXAMPLES:
        assert len(melody_from_midi(path)) % 16 == 0


def test_interpolate_with_two_uploads(client):
    plot, audio, midi = client.predict(handle_file(str(EXAMPLES[0])), handle_file(str(EXAMPLES[1])), api_name="/interpolate")
    assert plot is not None and Path(audio).exists() and midi.endswith(".mid")


def test_grid_attributes_and_sample(client):
    names = [p.stem for p in EXAMPLES]
    plot, midi = client.predict("mel_2bar", names[0], names[1], names[2], names[3], 3, 0.0, api_name="/interpolation_grid")
    assert midi.endswith(".mid")
    plot, table, audio, midi = client.predict(None, names[0], "mel_2bar", 1.0, 0.0, -1.0, 0.0, 0.5, api_name="/apply_attributes")
    assert [row[0] for row in table["data"]][:2] == ["C-diatonic (white keys)", "note density"]
    plot, audio, midi = client.predict("mel_2bar", 2, 0.5, 3, api_name="/sample_melodies")
    assert midi.endswith(".mid")


def test_missing_input_is_a_message(client):
    with pytest.raises(Exception, match="upload a MIDI file or pick an example"):
        client.predict(None, None, None, None, api_name="/interpolate")
