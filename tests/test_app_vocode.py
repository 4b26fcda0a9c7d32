"""The Vocode tab answers through gradio_client: audio in, every ticked vocoder out with its figures."""

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file

from helpers.app import launched_app
from helpers.audio import harmonic_note


@pytest.fixture(scope="module")
def client():
    with launched_app() as url:
        yield Client(url, verbose=False)


def test_vocode_audio_with_griffinlim(client, tmp_path):
    wav = tmp_path / "in.wav"
    sf.write(wav, harmonic_note(262.0, 1.0, 1.0), 22050)
    result = client.predict(handle_file(str(wav)), None, ["griffinlim"], 8, 0.6, api_name="/vocode")
    table = result[0]
    assert table["data"][0][0] == "Griffin-Lim"
    rtf, distance, l1 = table["data"][0][1:]
    assert rtf > 0 and distance > 0 and l1 > 0


def test_a_bad_mel_is_a_message_not_a_crash(client, tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 3), dtype=np.float32))
    with pytest.raises(Exception, match="expected \\[80, frames\\]"):
        client.predict(None, handle_file(str(bad)), ["griffinlim"], 8, 0.6, api_name="/vocode")
