"""``latentlab melody continue`` / ``inpaint``, ``train melody`` for a grid recipe and ``bench melody --likelihood``,
end to end on tiny models and window files made here."""

from __future__ import annotations

import json

import numpy as np
import pretty_midi
import pytest
import torch

from engine.cli.main import main
from engine.core.checkpoint import clear_cache, save_checkpoint
from engine.core.midi import melody_from_midi, melody_to_midi, write_midi
from engine.models.pixelcnn import GatedPixelCNN, PixelCNNConfig


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    torch.manual_seed(0)
    model = GatedPixelCNN(PixelCNNConfig(embed_dim=4, channels=8, layers=3, kernel=3, skip_channels=8, max_bars=8))
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_checkpoint(path, kind="melody", arch="pixelcnn", config=model.cfg, tensors=model.state_dict())
    clear_cache()
    return str(path)


def _midi(path, bars: int) -> str:
    m = np.zeros(16 * bars, np.int64)
    m[::4] = 41
    write_midi(melody_to_midi(m), path)
    return str(path)


def test_continue_and_inpaint(tiny_model, tmp_path, capsys):
    source = _midi(tmp_path / "in.mid", 3)
    out = tmp_path / "out.mid"
    args = ["--model", tiny_model, "--seed", "1", "--device", "cpu"]
    assert main(["melody", "continue", source, "--bars", "2", "-o", str(out), *args]) == 0
    continued = melody_from_midi(out)
    assert len(continued) == 5 * 16 and np.array_equal(continued[:48], melody_from_midi(source))
    assert main(["melody", "inpaint", source, "--mask", "2", "--rescore", "3", "-o", str(out), *args]) == 0
    filled, original = melody_from_midi(out), melody_from_midi(source)
    assert len(filled) == 48 and np.array_equal(filled[:16], original[:16]) and np.array_equal(filled[32:], original[32:])
    assert "filled by tiny" in capsys.readouterr().out


@pytest.mark.parametrize("command, message", [
    (["continue", "{empty}", "--bars", "2"], "holds no notes"),
    (["continue", "{long}", "--bars", "3"], "holds at most 8 bars"),
    (["inpaint", "{short}", "--mask", "1-3"], "the mask covers all 3 bars"),
    (["inpaint", "{short}", "--mask", "x"], "cannot read the bars"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(tiny_model, tmp_path, capsys, command, message):
    empty = tmp_path / "empty.mid"
    pretty_midi.PrettyMIDI().write(str(empty))
    files = {"{empty}": str(empty), "{long}": _midi(tmp_path / "long.mid", 6), "{short}": _midi(tmp_path / "short.mid", 3)}
    argv = ["melody", *[files.get(a, a) for a in command], "-o", str(tmp_path / "x.mid"), "--model", tiny_model]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith("latentlab: error:") and err.count("\n") == 1, err


def test_train_a_grid_recipe_then_bench_the_likelihood_table(tmp_path, capsys):
    """`train melody --config ar_16bar` on a tiny window file, then the table over that model alone."""
    from engine.bench import melody as bench

    rng = np.random.default_rng(0)
    def windows(n):
        w = np.zeros((n, 64), np.uint8)
        w[:, ::4] = rng.integers(40, 44, size=(n, 16))
        return w
    np.savez(tmp_path / "w.npz", train=windows(30), val=windows(4))
    out = tmp_path / "ar"
    assert main(["train", "melody", "--config", "ar_16bar", "--data", str(tmp_path / "w.npz"), "--run-dir",
                 str(tmp_path / "run"), "--out", str(out), "--device", "cpu"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["bits_per_step"] < 3, figures
    table = bench.likelihood_table(tmp_path / "w.npz", None, models=(str(out),), device="cpu", repeats=1, musicvae=False)
    row = table["rows"][0]
    assert row["bits_16bar"] == pytest.approx(figures["bits_per_step"], abs=1e-4)  # the CLI prints 4 decimals
    assert row["steps_per_s"] > 0 and row["parameters"] > 0
    assert "| `ar` | AR(32), least squares |" in bench.format_likelihood(table)


def test_a_grid_model_is_not_a_musicvae(tiny_model, tmp_path, capsys):
    assert main(["melody", "sample", "-o", str(tmp_path / "s"), "--model", tiny_model]) == 1
    err = capsys.readouterr().err
    assert "not a MusicVAE" in err and "latentlab melody continue" in err and err.count("\n") == 1, err
