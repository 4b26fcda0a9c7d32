"""Every action of the app is an API endpoint, and every model call shows progress and shares one queue."""

import gradio as gr
import pytest
from gradio.helpers import special_args

from app.common import MODEL_QUEUE
from app.main import build_app
from helpers.app import install_checkpoints

LIGHT = {"list_models", "timbre_morph_step", "timbre_grid_cell"}  # quick actions that run no model


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("LATENTLAB_CHECKPOINTS", str(install_checkpoints(tmp_path_factory.mktemp("app") / "checkpoints")))
    yield build_app("cpu")
    mp.undo()


def _ours(demo) -> list:
    """The app's own event handlers (not gradio's, such as loading an example)."""
    return [f for f in demo.fns.values() if getattr(f.fn, "__module__", "").startswith("app.")]


def test_every_action_has_an_api_name(demo):
    fns = _ours(demo)
    assert len(fns) >= 11
    names = [f.api_name for f in fns]
    assert all(isinstance(n, str) and n for n in names), names
    assert len(set(names)) == len(names), names
    for part in ("interpolate", "attribute", "morph", "translate", "vocode"):
        assert any(part in n for n in names), part


def test_every_button_runs_a_model_in_the_shared_queue_or_is_light(demo):
    for f in _ours(demo):
        clicked = any(isinstance(demo.blocks.get(block_id), gr.Button) for block_id, _ in f.targets)
        if f.api_name in LIGHT:
            assert f.concurrency_id != MODEL_QUEUE, f.api_name
        else:
            assert clicked and f.concurrency_id == MODEL_QUEUE, f.api_name


def test_every_model_call_reports_progress(demo):
    calls = [f for f in _ours(demo) if f.concurrency_id == MODEL_QUEUE]
    assert calls
    for f in calls:
        _, progress_index, _, _ = special_args(f.fn)  # where gradio itself will pass a gr.Progress
        assert progress_index is not None, f"{f.api_name} takes no gr.Progress"
