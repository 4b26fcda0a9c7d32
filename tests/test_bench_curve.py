"""A vocoder's learning curve: snapshots while training, each scored beside Griffin-Lim, the budget extrapolated."""

import json
import math

import pytest
import torch

from engine.bench.curve import extrapolate, format_curve, snapshots
from engine.cli.main import main
from engine.models.vocoders.vocos import Vocos, VocosConfig
from helpers.vocode import make_corpus

TINY = VocosConfig(dim=16, intermediate=32, layers=2)


def test_extrapolation_solves_the_log_linear_fit():
    hours = [0.01, 0.02, 0.04, 0.08, 0.16]
    mr_stft = [2.0 - 0.5 * math.log10(h / 0.01) for h in hours]  # 0.5 lower per decade of CPU-hours
    # Griffin-Lim's 1.0 is two decades past 0.01 h: 1 CPU-hour
    assert extrapolate(hours, mr_stft, 1.0, sign=-1) == pytest.approx(1.0, rel=1e-6)
    # higher-is-better figures the same way (PESQ rising 0.3 a decade reaches 3.0 at 1 h from 2.4 at 0.01 h)
    pesq = [2.4 + 0.3 * math.log10(h / 0.01) for h in hours]
    assert extrapolate(hours, pesq, 3.0, sign=1) == pytest.approx(1.0, rel=1e-6)
    # a figure getting worse, or flat: no estimate; one already past the target: the hours it took
    assert extrapolate(hours, [1.5, 1.6, 1.7, 1.8, 1.9], 1.0, sign=-1) is None
    assert extrapolate(hours, [1.5] * 5, 1.0, sign=-1) is None
    assert extrapolate(hours, [1.5, 1.2, 1.1, 0.9, 0.8], 1.0, sign=-1) == pytest.approx(0.16)
    # noise is no trend: early snapshots that wander (a sampled WaveNet's first 0.2 CPU-hours) give no estimate
    assert extrapolate(hours, [7.2, 8.1, 9.0, 9.5, 7.1], 0.7, sign=-1) is None
    # nor do three points, however straight
    assert extrapolate(hours[:3], mr_stft[:3], 1.0, sign=-1) is None


def test_extrapolation_follows_the_recent_slope_of_a_flattening_curve():
    import numpy as np

    hours = [0.05 * 2**i for i in range(8)]
    values = [7.5, 5.7, 4.5, 3.8, 3.4, 3.2, 3.05, 2.95]  # fast at first, flattening (WaveGlow's first CPU-hour)
    later = extrapolate(hours, values, 0.9, sign=-1)
    slope, intercept = np.polyfit(np.log10(hours), values, 1)
    every_point = 10 ** ((0.9 - intercept) / slope)
    assert later is not None and later > 10 * every_point  # the recent slope is far less optimistic


def test_training_keeps_snapshots_and_the_curve_goes_into_a_card(tmp_path, monkeypatch, capsys):
    import engine.train.vocode_vocos as recipe

    monkeypatch.setattr(recipe.VocosTask, "segment", 2048)
    corpus = make_corpus(tmp_path)
    run = tmp_path / "run"
    shape = json.dumps({"dim": 16, "intermediate": 32, "layers": 2})
    assert main(["train", "vocode", "vocos", "--data", str(corpus), "--steps", "4", "--batch-size", "2",
                 "--snapshot-every", "2", "--run-dir", str(run), "--out", str(tmp_path / "out"), "--config", shape]) == 0
    found = snapshots(run)
    assert [r["step"] for r, _ in found] == [2, 4]
    assert 0 < found[0][0]["cpu_seconds"] < found[1][0]["cpu_seconds"]
    assert Vocos.from_checkpoint(found[1][1]).config == TINY
    # the last snapshot is the exported checkpoint's weights
    last, out = Vocos.from_checkpoint(found[1][1]), Vocos.from_checkpoint(tmp_path / "out")
    assert all(torch.equal(a, b) for a, b in zip(last.state_dict().values(), out.state_dict().values()))

    card_dir = tmp_path / "card"
    assert main(["bench", "curve", "vocos", "--run-dir", str(run), "--data", str(corpus), "--clips", "1",
                 "--speech-clips", "0", "--seconds", "1", "--card", str(card_dir)]) == 0
    out_text = capsys.readouterr().out
    assert "| 2 |" in out_text and "| 4 |" in out_text and "Griffin-Lim" in out_text
    card = (card_dir / "card.md").read_text()
    assert "Not shipped" in card and "latentlab bench curve vocos" in card and "| 4 |" in card
    assert not (card_dir / "model.safetensors").exists()
    # a second run replaces the block instead of adding one
    assert main(["bench", "curve", "vocos", "--run-dir", str(run), "--data", str(corpus), "--clips", "1",
                 "--speech-clips", "0", "--seconds", "1", "--card", str(card_dir)]) == 0
    assert (card_dir / "card.md").read_text().count("Learning curve") == 1


def test_a_run_without_snapshots_is_a_one_line_error(tmp_path, capsys):
    assert main(["bench", "curve", "waveglow", "--run-dir", str(tmp_path), "--data", str(tmp_path)]) != 0
    assert "--snapshot-every" in capsys.readouterr().err


def test_format_curve_says_when_a_figure_does_not_improve():
    curve = {"vocoder": "wavenet", "griffinlim": {"mr_stft_speech": 1.0, "mr_stft_music": 1.5, "pesq": 2.9, "stoi": 0.96},
             "points": [{"step": 500, "cpu_hours": 0.1, "mr_stft_speech": 3.0, "mr_stft_music": 3.1, "pesq": 1.1,
                         "stoi": 0.5}],
             "budget": {"mr_stft_speech": 12.5, "mr_stft_music": None, "pesq": 40.0}, "budget_cpu_hours": None}
    text = format_curve(curve)
    assert "speech MR-STFT 12.5 CPU-hours" in text and "music MR-STFT no clear trend" in text
    assert "unknown" in text and "| 500 | 0.100 |" in text
