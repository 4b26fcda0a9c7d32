"""The "Translate" tab answers through gradio_client with tiny installed models: both engines."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from gradio_client import Client, handle_file

from engine.core.checkpoint import save_checkpoint
from engine.models.frame_translator import FrameTranslator, sized_config
from engine.ops import timbre
from engine.train.translate_frames import export

from helpers.app import launched_app
from test_tone import TINY, tiny_ddsp


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("translate") / "checkpoints"
    torch.manual_seed(0)
    export(FrameTranslator(sized_config("tiny", ("sine", "saw", "odd"))), root / "translate", {"step": 0})
    save_checkpoint(root / "timbre_ddsp", kind="timbre", arch=timbre.DDSP_ARCH, config=TINY,
                    tensors=tiny_ddsp().state_dict(), card="# tiny test model\n")
    with launched_app(root) as url:
        yield Client(url, verbose=False)


def _clip(tmp_path, rate=16000):
    clip = tmp_path / "clip.wav"
    t = np.arange(int(0.6 * rate)) / rate
    sf.write(str(clip), 0.5 * np.sin(2 * np.pi * 262 * t), rate)
    return clip


def test_polyphonic_engine_plays_the_chosen_instruments(client, tmp_path):
    result = client.predict(handle_file(str(_clip(tmp_path))), "umt", ["saw", "odd"], [], 1, api_name="/translate")
    # input plot, then (name, audio, plot) per output slot (the columns are layout only), then the files
    assert len(result) == 1 + 4 * 3 + 1
    assert [result[1], result[4], result[7]] == ["**saw**", "**odd**", ""]
    first, second, third = result[2], result[5], result[8]
    assert first and second and third is None
    audio, rate = sf.read(first)
    assert rate == 22050 and len(audio) == int(0.6 * 22050)
    names = sorted(f.rsplit("/", 1)[-1] for f in (x if isinstance(x, str) else x["path"] for x in result[-1]))
    assert names == ["clip-odd.wav", "clip-saw.wav"]


def test_polyphonic_engine_takes_the_phase_choice(client, tmp_path):
    clip = handle_file(str(_clip(tmp_path)))
    own = sf.read(client.predict(clip, "umt", ["saw"], [], 1, "vocoder", api_name="/translate")[2])[0]
    kept = sf.read(client.predict(clip, "umt", ["saw"], [], 1, "input", api_name="/translate")[2])[0]
    assert own.shape == kept.shape and not np.allclose(own, kept, atol=1e-3)
    with pytest.raises(Exception, match="not in the list of choices"):
        client.predict(clip, "umt", ["saw"], [], 1, "random", api_name="/translate")


def test_tone_engine_plays_a_melody(client, tmp_path):
    result = client.predict(handle_file(str(_clip(tmp_path))), "tone", [], ["flute"], 0, api_name="/translate")
    audio, rate = sf.read(result[2])
    assert result[1] == "**flute**" and result[5] is None
    assert rate == 16000 and len(audio) == int(0.6 * 16000) and np.abs(audio).max() > 0.1


def test_translate_tab_refuses_bad_choices(client, tmp_path):
    clip = handle_file(str(_clip(tmp_path)))
    with pytest.raises(Exception, match="choose at least one instrument"):
        client.predict(clip, "umt", [], ["flute"], 0, api_name="/translate")
    with pytest.raises(Exception, match="choose at most 4"):
        client.predict(clip, "umt", ["sine", "saw", "odd", "sine", "saw"], [], 0, api_name="/translate")
