"""The app launches on loopback and answers through gradio_client."""

import pytest
from gradio_client import Client

from helpers.app import launched_app


@pytest.fixture(scope="module")
def server():
    with launched_app() as url:
        yield url


def test_listens_on_loopback_and_answers(server):
    assert server.startswith("http://127.0.0.1:")
    client = Client(server, verbose=False)
    table = client.predict(api_name="/list_models")
    assert set(table) >= {"headers", "data"}
    assert table["headers"] == ["model", "kind", "architecture", "MB"]


def test_every_tab_is_on_the_page(server):
    import urllib.request

    config = urllib.request.urlopen(server + "config").read().decode()
    for label in ("Melodies", "Timbre", "Translate", "Vocode", "About"):
        assert f'"{label}"' in config, label
