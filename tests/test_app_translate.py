"""The "Translate" tab answers through gradio_client with a tiny installed checkpoint."""

from __future__ import annotations


import numpy as np
import pytest
import soundfile as sf
import torch
from gradio_client import Client, handle_file

from engine.models.translator import Translator, sized_config
from engine.train.translate import export
from helpers.app import launched_app


@pytest.fixture
def client(tmp_path):
    root = tmp_path / "checkpoints"
    torch.manual_seed(0)
    export(Translator(sized_config("tiny", ("sine", "saw", "odd"))), root / "translate", {"step": 0})
    with launched_app(root) as url:
        yield Client(url, verbose=False)


def test_translate_tab_plays_the_chosen_instruments(client, tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(str(clip), 0.5 * np.sin(np.arange(6000) / 7.0), 16000)
    result = client.predict(handle_file(str(clip)), ["saw", "odd"], 1, api_name="/translate")
    # input plot, then (audio, plot) per domain (sine, saw, odd; the columns are layout only), then the files
    assert len(result) == 1 + 3 * 2 + 1
    sine_audio, saw_audio, odd_audio = result[1], result[3], result[5]
    assert sine_audio is None and saw_audio and odd_audio
    assert sorted(f.rsplit("/", 1)[-1] for f in (x if isinstance(x, str) else x["path"] for x in result[-1])) == [
        "clip-odd.wav", "clip-saw.wav"]


def test_translate_tab_refuses_no_instrument(client, tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(str(clip), 0.5 * np.sin(np.arange(6000) / 7.0), 16000)
    with pytest.raises(Exception, match="choose at least one instrument"):
        client.predict(handle_file(str(clip)), [], 0, api_name="/translate")
