"""`latentlab bench translate` on a tiny dataset and checkpoint: the report and its reference figures."""

from __future__ import annotations

import json

import torch

from engine.cli.main import main
from engine.models.translator import Translator, sized_config
from engine.train.translate import export

from helpers.translate import make_clips


def test_bench_reports_every_target_and_writes_the_card(tmp_path, capsys):
    data = make_clips(tmp_path / "clips", domains=("sine", "saw", "odd"), pieces=4, seconds=2.5)
    torch.manual_seed(0)
    model = export(Translator(sized_config("tiny", ("sine", "saw", "odd"))), tmp_path / "model", {"step": 0})
    report_path = tmp_path / "report.json"
    rc = main(["bench", "translate", "--data", str(data), "--model", str(model), "--source", "sine",
               "--clips", "2", "--seconds", "0.5", "--json", str(report_path), "--card"])
    assert rc == 0
    report = json.loads(report_path.read_text())
    assert set(report["per_target"]) == {"saw", "odd"} and report["excerpts"] == 2
    overall = report["overall"]
    # the same notes on another timbre share the chroma; an unrelated excerpt does not
    assert overall["chroma_corr_true_render"] > overall["chroma_corr_unrelated"] + 0.2
    assert 0.0 <= overall["classified_as_target"] <= 1.0 and report["decode_samples_per_second"] > 0
    card = (model / "card.md").read_text()
    assert "## Measured figures" in card and "latentlab bench translate --data" in card and "| **all** |" in card
    assert "chroma_corr" in capsys.readouterr().out
