import os
import subprocess
import sys
from pathlib import Path

import torch

from helpers.train import make_trainer, read_log


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.task.model.state_dict().items()}


def test_loss_goes_down_and_is_logged(tmp_path):
    trainer = make_trainer(tmp_path / "run", steps=40)
    metrics = trainer.fit()
    log = read_log(tmp_path / "run")
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < 0.5 * losses[0], losses
    assert "val_loss" in metrics and any("val_loss" in r for r in log)


def test_killed_run_resumes_exactly(tmp_path):
    straight = make_trainer(tmp_path / "straight", steps=20)
    straight.fit()
    # "Kill" a run after its save at step 10 (it is stopped there), then resume it to step 20.
    first = make_trainer(tmp_path / "resumed", steps=10)
    first.fit()
    resumed = make_trainer(tmp_path / "resumed", steps=20)
    assert resumed.load_state() and resumed.step == 10
    resumed = make_trainer(tmp_path / "resumed", steps=20)
    resumed.fit()
    for (k, a), b in zip(_weights(straight).items(), _weights(resumed).values()):
        assert torch.allclose(a, b, atol=1e-6), k
    opt_a, opt_b = straight.optimizers["main"], resumed.optimizers["main"]
    assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"]


def test_work_past_the_last_save_is_the_only_loss(tmp_path):
    trainer = make_trainer(tmp_path / "run", steps=12, save_every=5)
    trainer.fit()  # saves at 5, 10 and (the end) 12
    again = make_trainer(tmp_path / "run", steps=30)
    assert again.load_state() and again.step == 12


def test_ddp_two_cpu_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parent.parent)}
    helper = Path(__file__).parent / "helpers" / "train.py"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         str(helper), str(tmp_path / "ddp")],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "FINAL" in result.stdout
    assert (tmp_path / "ddp" / "state.safetensors").exists()


def test_logged_seconds_adds_the_stretches_of_a_resumed_run(tmp_path):
    import json

    from engine.train.loop import logged_seconds

    lines = [{"step": 50, "time": 10.0}, {"step": 50, "val_loss": 1.0}, {"step": 100, "time": 20.0},
             {"step": 150, "time": 4.0}, {"step": 200, "time": 9.5}]  # resumed after step 100
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert logged_seconds(tmp_path) == 29.5
    assert logged_seconds(tmp_path / "none") == 0.0


def test_snapshots_keep_the_weights_and_the_runs_seconds_across_a_resume(tmp_path):
    import dataclasses
    import json

    from safetensors.torch import load_file

    trainer = make_trainer(tmp_path / "run", steps=10)
    trainer.cfg = dataclasses.replace(trainer.cfg, snapshot_every=5)
    trainer.fit()
    again = make_trainer(tmp_path / "run", steps=20)
    again.cfg = dataclasses.replace(again.cfg, snapshot_every=10)
    again.fit()
    folders = sorted((tmp_path / "run" / "snapshots").iterdir())
    assert [f.name for f in folders] == ["step_000005", "step_000010", "step_000020"]
    records = [json.loads((f / "snapshot.json").read_text()) for f in folders]
    assert [r["step"] for r in records] == [5, 10, 20]
    # the resumed process adds its seconds to the first one's (CPU and wall clock both grow)
    assert records[0]["cpu_seconds"] < records[1]["cpu_seconds"] < records[2]["cpu_seconds"]
    assert records[1]["seconds"] < records[2]["seconds"]
    last = load_file(str(folders[-1] / "model.safetensors"))
    assert all(torch.equal(last[k], v) for k, v in again.task.model.state_dict().items())
    assert any(r.get("cpu") is not None for r in read_log(tmp_path / "run"))


def test_cpu_bf16_falls_back_to_float32_where_the_cpu_cannot_run_it(tmp_path, monkeypatch):
    import dataclasses

    from engine.core import device as device_module

    trainer = make_trainer(tmp_path, steps=1)
    trainer.cfg = dataclasses.replace(trainer.cfg, cpu_bf16=True)
    for has_bf16 in (True, False):
        monkeypatch.setattr(device_module, "cpu_has_bf16", lambda: has_bf16)
        with trainer.autocast():
            y = torch.nn.Linear(4, 4)(torch.randn(2, 4))
        assert y.dtype == (torch.bfloat16 if has_bf16 else torch.float32)
    assert device_module.bf16_enabled("cuda", True) and not device_module.bf16_enabled("cuda", False)
