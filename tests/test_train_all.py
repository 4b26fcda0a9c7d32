"""`latentlab bench train` and `latentlab train all` on tiny configs in temporary folders (no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.core.checkpoint import read_config
from engine.models.vocoders.melgan import MelGANConfig
from engine.train.all import (CANDIDATE, Job, melody_job, plan_steps, saved_step, train_all, vocoder_job,
                              is_better)
from tests.helpers.vocode import write_corpus

TINY_MELODY = dict(embed_dim=8, encoder_hidden=16, decoder_hidden=16, decoder_layers=1, z_dim=8, free_bits=0.0)


def _windows(path: Path, n_train: int = 48, n_val: int = 8, steps: int = 32) -> Path:
    rng = np.random.default_rng(0)

    def windows(n: int) -> np.ndarray:
        w = np.ones((n, steps), np.uint8)  # holds
        w[:, ::4] = rng.integers(40, 44, size=(n, steps // 4))  # an onset every quarter note
        return w

    np.savez(path, train=windows(n_train), val=windows(n_val), command=np.array("test windows"))
    return path


def test_steps_come_from_the_budget_and_the_step_time():
    assert plan_steps(60.0, 0.5, reserve=0.25) == 90
    assert plan_steps(1.0, 10.0) == 1  # at least one step
    assert is_better(0.9, 0.8, higher_is_better=True) and not is_better(0.7, 0.8, higher_is_better=True)
    assert is_better(1.2, 1.5, higher_is_better=False) and not is_better(1.6, 1.5, higher_is_better=False)
    assert is_better(1.0, None, False) and not is_better(float("nan"), None, False)


def _fake_job(tmp_path: Path, name: str, figures: list[float], higher: bool) -> Job:
    """A job whose training writes a marker checkpoint and whose score reads the figure in it."""
    run_dir = tmp_path / "runs" / name
    calls = iter(figures)

    def train(steps, batch_size, run_dir, out, device, init):
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.safetensors").write_text(json.dumps({"figure": next(calls), "steps": steps}))
        (run_dir / "state.json").write_text(json.dumps({"step": steps}))

    def score(checkpoint, device):
        return json.loads((checkpoint / "model.safetensors").read_text())["figure"]

    return Job(name, name, run_dir, tmp_path, "none", train, score, "figure", higher_is_better=higher,
               batch_size=4, probe=lambda device, scale: 0.5)


def test_a_shipped_checkpoint_is_replaced_only_by_a_better_one(tmp_path):
    shipped = tmp_path / "ckpts"
    better, worse = _fake_job(tmp_path, "a", [1.0, 0.5], higher=False), _fake_job(tmp_path, "b", [1.0, 2.0], higher=False)
    rows = train_all([better, worse], minutes=1.0, checkpoints=shipped, log=lambda _: None)
    assert [r["status"] for r in rows] == ["replaced", "replaced"]  # nothing shipped yet
    assert [r["to_step"] for r in rows] == [45, 45]  # 30 s each, 25% kept back, 0.5 s a step
    rows = train_all([better, worse], minutes=1.0, checkpoints=shipped, log=lambda _: None)
    assert [(r["status"], r["from_step"], r["to_step"]) for r in rows] == [("replaced", 45, 90), ("kept", 45, 90)]
    assert json.loads((shipped / "a" / "model.safetensors").read_text())["figure"] == 0.5
    assert json.loads((shipped / "b" / "model.safetensors").read_text())["figure"] == 1.0
    missing = Job("c", "c", tmp_path / "runs" / "c", tmp_path / "nothing", "latentlab data c", None, None, "figure")
    rows = train_all([missing], minutes=1.0, checkpoints=shipped, log=lambda _: None)
    assert "latentlab data c" in rows[0]["status"]


def test_train_all_resumes_real_recipes_and_exports(tmp_path):
    data = _windows(tmp_path / "mel_2bar.npz")
    corpus = write_corpus(tmp_path / "audio")
    jobs = [
        melody_job("mel_2bar", data=data, run_dir=tmp_path / "runs" / "mel_2bar", model_overrides=TINY_MELODY),
        vocoder_job("melgan", data=corpus, run_dir=tmp_path / "runs" / "melgan", config=MelGANConfig(channels=4),
                    clips=2),
    ]
    for job in jobs:
        job.probe = lambda device, scale: 0.05  # 6 s a job x 0.75 / 0.05 s = 90 steps
    shipped = tmp_path / "ckpts"
    rows = train_all(jobs, minutes=0.2, checkpoints=shipped, log=lambda _: None)
    assert [(r["job"], r["status"], r["to_step"]) for r in rows] == [("mel_2bar", "replaced", 90), ("melgan", "replaced", 90)]
    assert read_config(shipped / "mel_2bar")["kind"] == "melody"
    assert read_config(shipped / "melgan")["arch"] == "melgan"
    for name in ("mel_2bar", "melgan"):  # the cards state the recipe's precision and its measurement
        assert "Precision: bf16 autocast on the CPU (float32 master weights), " in (shipped / name / "card.md").read_text()
    rows = train_all(jobs, minutes=0.2, checkpoints=shipped, log=lambda _: None)
    for row, job in zip(rows, jobs):
        assert (row["from_step"], row["to_step"]) == (90, 180) and saved_step(job.run_dir) == 180
        assert row["status"] == ("replaced" if is_better(row["new"], row["shipped"], job.higher_is_better) else "kept")
        assert (job.run_dir / CANDIDATE / "model.safetensors").exists()


def test_bench_train_measures_a_recipe_and_its_baseline(capsys):
    assert main(["bench", "train", "mel_2bar", "--steps", "1", "--threads", "1", "--baseline", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    recipe, baseline = report["rows"]
    assert (recipe["variant"], baseline["variant"]) == ("recipe", "baseline") and not baseline["bf16"]
    assert recipe["gflop_per_step"] > 0 and recipe["windows_per_s"] > 0 and recipe["gain"] > 0
    assert report["peaks"]["float32"] > 0 and report["peaks"]["bfloat16"] > 0


def test_compiled_variant_compiles_every_module_the_task_calls():
    from engine.bench.train import compiled, setup

    s = setup("hifigan:adv")
    parts = list(s.task.model.children())
    assert len(parts) >= 2  # generator and discriminators
    assert all(getattr(m, "_compiled_call_impl", None) is None for m in parts)
    compiled(s)
    assert all(getattr(m, "_compiled_call_impl", None) is not None for m in parts)


def test_bench_train_names_the_recipes_it_knows(capsys):
    assert main(["bench", "train", "nope"]) == 1
    assert "mel_2bar" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["timbre_ddsp", "vocos", "hifigan:adv", "translate"])
def test_every_bench_setup_builds_a_batch_of_the_recipe(name):
    from engine.bench.train import setup

    s = setup(name, bf16=False)
    batch = s.make_batch(0)
    assert (s.cfg.cpu_bf16, s.bf16) == (False, False)
    first = next(iter(batch.values())) if isinstance(batch, dict) else batch
    assert first.shape[0] == s.examples, (first.shape, s.examples)


@pytest.mark.parametrize("amp, cpu_bf16", [(True, False), (False, True), (True, True)])
def test_cpu_bf16_alone_decides_autocast_on_the_cpu(tmp_path, monkeypatch, amp, cpu_bf16):
    import torch

    from engine.core import device as device_module
    from engine.train import TrainConfig, Trainer
    from tests.helpers.train import Regression, make_data

    monkeypatch.setattr(device_module, "cpu_has_bf16", lambda: True)  # a CPU that runs bf16 (see test_train_loop)
    cfg = TrainConfig(steps=1, batch_size=4, amp=amp, cpu_bf16=cpu_bf16)
    trainer = Trainer(Regression(torch.nn.Linear(4, 1)), make_data()[0], None, cfg, tmp_path, progress=False)
    with trainer.autocast():
        assert (trainer.model(torch.randn(2, 4)).dtype == torch.bfloat16) == cpu_bf16


def test_every_recipe_records_the_measurement_behind_its_precision():
    from engine.train import melody, pixel, timbre, translate
    from engine.train.loop import precision_text
    from engine.train.vocode import TRAIN_TASKS, train_precision

    assert all(r.precision for r in melody.RECIPES.values())
    assert pixel.RECIPES["pixelcnn_16bar"].precision and pixel.RECIPES["pixelcnn_16bar"].train.cpu_bf16
    assert all(train_precision(name) for name in TRAIN_TASKS)
    assert timbre.PRECISION["timbre"] and translate.PRECISION
    text = precision_text(melody.RECIPES["mel_2bar"].train, "measured")
    assert text == "Precision: bf16 autocast on the CPU (float32 master weights), bf16 autocast on CUDA (measured)."


def test_a_card_says_when_its_cpu_run_fell_back_to_float32(monkeypatch):
    from engine.core import device as device_module
    from engine.train import melody
    from engine.train.loop import precision_text

    cfg = melody.RECIPES["mel_2bar"].train
    monkeypatch.setattr(device_module, "cpu_has_bf16", lambda: False)
    assert "This run trained in float32" in precision_text(cfg, "measured", "cpu (2 threads)")
    assert "This run" not in precision_text(cfg, "measured", "cuda (NVIDIA H200)")
    monkeypatch.setattr(device_module, "cpu_has_bf16", lambda: True)
    assert "This run" not in precision_text(cfg, "measured", "cpu (2 threads)")
