"""The app's shared pieces: errors shown in the page never carry server folders; analytics stay off."""

import os

import gradio as gr
import pytest

from app.common import user_errors, without_server_paths
from engine.core.errors import LatentLabError


@pytest.mark.parametrize(
    "message, shown",
    [
        ("/tmp/gradio/ab12cd/broken.mid is a corrupt MIDI file", "broken.mid is a corrupt MIDI file"),
        ("could not read '/tmp/gradio/9f/my song.wav': not audio", "could not read 'my song.wav': not audio"),
        ("mel must be [80 x frames], got 80/2/3 (a/b/c)", "mel must be [80 x frames], got 80/2/3 (a/b/c)"),
        ("melody needs 2 bars, got 1", "melody needs 2 bars, got 1"),
    ],
)
def test_messages_lose_server_folders(message, shown):
    assert without_server_paths(message) == shown


def test_engine_errors_become_page_errors_without_paths():
    @user_errors
    def action():
        raise LatentLabError("/tmp/gradio/x1/clip.wav is silent")

    with pytest.raises(gr.Error) as e:
        action()
    assert e.value.message == "clip.wav is silent"


def test_analytics_off_unless_asked():
    import app  # noqa: F401  (importing the app package sets the default)

    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
