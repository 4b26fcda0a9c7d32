"""MusicVAE: shapes, loss math, decoding, a tiny training run through the shared loop, the melody
operations and the CLI end to end on a tiny checkpoint."""

from __future__ import annotations

import json
import math

import numpy as np
import pretty_midi
import pytest
import torch

from engine.cli.main import main
from engine.core.checkpoint import clear_cache
from engine.core.errors import LatentLabError
from engine.core.midi import NOTE_OFF, melody_to_midi, write_midi
from engine.models.musicvae import (
    MusicVAE,
    MusicVAEConfig,
    beta_at,
    kl_cost,
    kl_divergence,
    teacher_forcing_probability,
    vae_loss,
)
from helpers.train import read_log

TINY = dict(embed_dim=8, encoder_hidden=16, decoder_hidden=16, conductor_hidden=12, z_dim=6, decoder_layers=2)


def tiny(hierarchical: bool = False, **kw) -> MusicVAEConfig:
    return MusicVAEConfig(steps=64 if hierarchical else 32, hierarchical=hierarchical, **{**TINY, **kw})


def patterns(n: int, steps: int = 32, seed: int = 0) -> np.ndarray:
    """n simple melodies: 8th-note runs from random start pitches, direction and gaps."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, steps), dtype=np.int64)
    for i in range(n):
        pitch, direction = int(rng.integers(50, 70)), int(rng.choice([-2, -1, 1, 2]))
        for s in range(0, steps, 2):
            out[i, s] = pitch - 19
            pitch += direction
            if rng.random() < 0.2:
                out[i, s] = NOTE_OFF
    return out


# -- model ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hierarchical", [False, True])
def test_shapes(hierarchical):
    cfg = tiny(hierarchical)
    model = MusicVAE(cfg)
    x = torch.randint(0, 90, (3, cfg.steps))
    out = model(x)
    assert list(out["logits"].shape) == [3, cfg.steps, 90], out["logits"].shape
    assert list(out["mu"].shape) == [3, cfg.z_dim] and list(out["sigma"].shape) == [3, cfg.z_dim]
    assert (out["sigma"] > 0).all()
    assert list(model.encode(x).shape) == [3, cfg.z_dim]
    events = model.decode(torch.randn(4, cfg.z_dim))
    assert list(events.shape) == [4, cfg.steps] and events.min() >= 0 and events.max() < 90
    sampled = model.decode(torch.randn(4, cfg.z_dim), temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert list(sampled.shape) == [4, cfg.steps]


@pytest.mark.parametrize("hierarchical", [False, True])
def test_step_by_step_decoding_matches_the_teacher_forced_pass(hierarchical):
    """The hand-unrolled generator is the same LSTM: feeding its own argmax back reproduces it."""
    torch.manual_seed(0)
    model = MusicVAE(tiny(hierarchical, decoder_layers=3)).eval()
    z = torch.randn(5, model.cfg.z_dim)
    events = model.decode(z)
    rows, c = model._rows(events, z)
    again = model.decoder(model.decoder.shift_right(rows), c).argmax(-1).reshape(events.shape)
    assert torch.equal(again, events)


def test_hierarchical_decoder_does_not_see_the_previous_bar():
    torch.manual_seed(0)
    model = MusicVAE(tiny(True)).eval()
    z = torch.randn(1, model.cfg.z_dim)
    x = torch.randint(0, 90, (1, 64))
    y = x.clone()
    y[0, :16] = torch.randint(0, 90, (16,))  # change bar 1 only
    la, lb = model._logits(x, z), model._logits(y, z)
    assert torch.allclose(la[0, 16:], lb[0, 16:]), "bar 2 must not depend on bar 1's events"
    assert not torch.allclose(la[0, 1:16], lb[0, 1:16])


def test_kl_matches_torch_distributions():
    mu, sigma = torch.randn(4, 6), torch.rand(4, 6) + 0.1
    q = torch.distributions.Normal(mu, sigma)
    p = torch.distributions.Normal(torch.zeros(6), torch.ones(6))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    assert torch.allclose(kl_divergence(mu, sigma), expected, atol=1e-5)
    assert torch.allclose(kl_divergence(torch.zeros(2, 3), torch.ones(2, 3)), torch.zeros(2))


def test_free_bits():
    kl = torch.tensor([0.0, 10 * math.log(2), 30 * math.log(2)])  # 0, 10 and 30 bits
    cost = kl_cost(kl, free_bits=10)
    assert torch.allclose(cost, torch.tensor([0.0, 0.0, 20 * math.log(2)]), atol=1e-5)


def test_beta_annealing_and_sampling_schedule():
    cfg = MusicVAEConfig(max_beta=0.2, beta_rate=0.99, sampling_rate=100.0)
    assert beta_at(0, cfg) == 0.0
    assert beta_at(1, cfg) == pytest.approx(0.01 * 0.2)
    assert beta_at(10_000, cfg) == pytest.approx(0.2)
    probs = [teacher_forcing_probability(s, cfg) for s in (0, 100, 500, 1000, 5000)]
    assert probs[0] == pytest.approx(100 / 101)
    assert all(a > b for a, b in zip(probs, probs[1:])) and probs[-1] < 1e-6
    assert teacher_forcing_probability(10**9, cfg) >= 0.0
    assert teacher_forcing_probability(5000, MusicVAEConfig(sampling_rate=0)) == 1.0
    late = MusicVAEConfig(sampling_rate=100.0, sampling_start=1000)
    assert teacher_forcing_probability(999, late) == 1.0
    assert teacher_forcing_probability(1000, late) == pytest.approx(100 / 101)
    assert teacher_forcing_probability(1500, late) == pytest.approx(probs[2])


@pytest.mark.parametrize("hierarchical", [False, True])
def test_scheduled_sampling_feeds_samples_after_each_start_token(hierarchical):
    """Fully sampled inputs change every step's logits except each bar's first (the hierarchical decoder
    restarts from the start token and the bar embedding in every bar; the flat one only at step 0)."""
    torch.manual_seed(0)
    cfg = tiny(hierarchical)
    model = MusicVAE(cfg).eval()
    x = torch.randint(0, cfg.num_classes, (4, cfg.steps))
    forced = model(x, teacher_probability=1.0, sample_z=False)["logits"]
    sampled = model(x, teacher_probability=0.0, sample_z=False)["logits"]
    starts = torch.arange(0, cfg.steps, cfg.bar_steps) if hierarchical else torch.tensor([0])
    rest = torch.ones(cfg.steps, dtype=torch.bool)
    rest[starts] = False
    assert torch.allclose(forced[:, starts], sampled[:, starts], atol=1e-5)
    assert (forced[:, rest] - sampled[:, rest]).abs().amax() > 1e-3


def test_loss_parts():
    cfg = tiny()
    model = MusicVAE(cfg)
    x = torch.randint(0, 90, (4, 32))
    out = model(x, teacher_probability=0.5)
    parts = vae_loss(out, x, step=-1, cfg=cfg)
    assert parts["r_loss"] > 0 and 0 <= parts["accuracy"] <= 1
    assert parts["beta"] == pytest.approx(cfg.max_beta)
    # Uniform logits would give T * ln(90); a fresh model is close to that.
    assert abs(float(parts["r_loss"]) - 32 * math.log(90)) < 32
    parts["loss"].backward()
    assert model.encoder.mu.weight.grad is not None


def test_tiny_training_run_lowers_the_loss(tmp_path):
    from engine.train.loop import TrainConfig, Trainer
    from engine.train.melody import MusicVAETask, WindowDataset

    torch.manual_seed(0)
    data = patterns(64)
    model = MusicVAE(tiny(free_bits=0.0, beta_rate=0.9))
    cfg = TrainConfig(steps=40, batch_size=16, lr=1e-2, log_every=10, val_every=40, save_every=40, val_batches=1)
    trainer = Trainer(MusicVAETask(model), WindowDataset(data), WindowDataset(data[:16]), cfg, tmp_path / "run", progress=False)
    trainer.fit()
    log = read_log(tmp_path / "run")
    losses = [r["r_loss"] for r in log if "r_loss" in r]
    assert losses[-1] < 0.7 * losses[0], losses
    assert "val_argmax_accuracy" in log[-1]


# -- operations -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    """A briefly trained tiny 2-bar model exported like a shipped one, under a temporary checkpoint root."""
    from engine.train.loop import TrainConfig, Trainer
    from engine.train.melody import RECIPES, MusicVAETask, WindowDataset, export_checkpoint

    tmp = tmp_path_factory.mktemp("melody_ckpt")
    torch.manual_seed(0)
    data = {"train": patterns(64).astype(np.uint8), "val": patterns(8, seed=1).astype(np.uint8), "transpose": np.array(0)}
    model = MusicVAE(tiny(free_bits=0.0))
    cfg = TrainConfig(steps=20, batch_size=16, lr=1e-2, log_every=10, val_every=1000, save_every=1000)
    Trainer(MusicVAETask(model), WindowDataset(data["train"]), None, cfg, tmp / "run", progress=False).fit()
    figures = export_checkpoint(model, "mel_2bar", RECIPES["mel_2bar"], data, tmp / "checkpoints" / "tiny_mel", "test", {"step": 20})
    assert 0 <= figures["argmax_accuracy"] <= 1
    return tmp / "checkpoints"


@pytest.fixture
def tiny_checkpoint(tiny_root, monkeypatch):
    """The tiny model's name, with LATENTLAB_CHECKPOINTS pointing at it."""

    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(tiny_root))
    clear_cache()
    yield "tiny_mel"
    clear_cache()


def test_checkpoint_holds_attribute_vectors(tiny_checkpoint):
    from engine.core.checkpoint import load_checkpoint
    from engine.ops.melody import ATTRIBUTES, load_model

    ckpt = load_checkpoint(tiny_checkpoint)
    assert ckpt.extra["attributes"] == list(ATTRIBUTES)
    assert "teacher-forced" in ckpt.card.lower()
    mm = load_model(tiny_checkpoint)
    assert list(mm.attributes.shape) == [5, 6]
    assert mm is load_model(tiny_checkpoint), "models are cached"


def test_operations(tiny_checkpoint):
    import engine.ops.melody as ops

    mm = ops.load_model(tiny_checkpoint)
    a, b = patterns(2, seed=3)
    one_bar = a[:16]
    assert len(ops.reconstruct(mm, one_bar)) == 32, "short input is padded to the model's window"
    assert len(ops.reconstruct(mm, np.concatenate([a, b, a[:16]]))) == 96, "long input is windowed"
    steps = ops.interpolate(mm, a, b, steps=5, method="slerp")
    assert len(steps) == 5
    assert np.array_equal(steps[0], ops.reconstruct(mm, a)) and np.array_equal(steps[-1], ops.reconstruct(mm, b))
    lerp = ops.interpolate(mm, a, b, steps=3, method="lerp")
    assert np.array_equal(lerp[0], steps[0])
    samples = ops.sample(mm, 3, temperature=1.0, seed=1)
    assert len(samples) == 3 and all(len(s) == 32 for s in samples)
    assert all(np.array_equal(x, y) for x, y in zip(samples, ops.sample(mm, 3, temperature=1.0, seed=1)))
    rows = ops.grid(mm, [a, b, b, a], size=3)
    assert len(rows) == 3 and all(len(r) == 3 for r in rows)
    assert np.array_equal(rows[0][0], steps[0]) and np.array_equal(rows[0][2], steps[-1])
    variations = ops.similar(mm, a, n=2, similarity=1.0, temperature=0.0)
    assert all(np.array_equal(v, steps[0]) for v in variations), "similarity 1 is the melody itself"
    moved = ops.apply_attribute(mm, a, "note_density", 0.0)
    assert np.array_equal(moved, steps[0]), "amount 0 changes nothing"
    assert len(ops.apply_attributes(mm, a, {"note_density": 2.0, "c_diatonic": -1.0})) == 32
    with pytest.raises(LatentLabError, match="unknown attribute"):
        ops.apply_attribute(mm, a, "loudness", 1.0)
    with pytest.raises(LatentLabError, match="slerp or lerp"):
        ops.interpolate(mm, a, b, 3, method="cubic")
    with pytest.raises(LatentLabError, match="at least 2"):
        ops.interpolate(mm, a, b, 1)


def test_slerp_endpoints_and_norm():
    from engine.ops.melody import interpolate_latents, slerp

    a, b = torch.randn(2, 8), torch.randn(2, 8)
    path = interpolate_latents(a, b, 7, "slerp")
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    unit_a, unit_b = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    mid = slerp(unit_a, unit_b, 0.5)
    assert torch.allclose(mid.norm(dim=-1), torch.ones(2), atol=1e-5), "slerp stays on the sphere"
    lerp = interpolate_latents(a, b, 3, "lerp")
    assert torch.allclose(lerp[1], (a + b) / 2)
    assert torch.allclose(slerp(a, a, 0.3), a, atol=1e-5), "parallel vectors fall back to lerp"


def test_attribute_measures():
    from engine.ops.melody import measure_attributes

    m = np.zeros(16, dtype=np.int64)
    m[0], m[3], m[6], m[10] = 60 - 19, 61 - 19, 64 - 19, 57 - 19  # C, C#, E, A
    a = measure_attributes(m)
    assert a["c_diatonic"] == pytest.approx(3 / 4)
    assert a["note_density"] == pytest.approx(4 / 16)
    assert a["avg_interval"] == pytest.approx((1 + 3 + 7) / 3)
    assert a["syncopation_16th"] == pytest.approx(1 / 4)  # step 3 (odd, nothing at 2)
    assert a["syncopation_8th"] == pytest.approx(2 / 4)  # steps 6 and 10 (nothing in the 2 steps before)
    assert measure_attributes(np.zeros(16, dtype=np.int64))["note_density"] == 0.0


def test_attribute_vectors_point_along_the_attribute():
    from engine.ops.melody import attribute_vectors

    rng = np.random.default_rng(0)
    values = rng.random((400, 2)).astype(np.float32)
    mu = rng.normal(size=(400, 3)).astype(np.float32) * 0.1
    mu[:, 0] += 4 * values[:, 0]  # attribute 0 lives on latent dimension 0
    vectors = attribute_vectors(mu, values)
    assert vectors.shape == (2, 3)
    assert vectors[0, 0] == pytest.approx(3.0, abs=0.2)  # top quartile mean 3.5 minus bottom 0.5, times 4/4
    assert abs(vectors[1, 0]) < 0.5 and np.abs(vectors[0, 1:]).max() < 0.1


# -- CLI end to end --------------------------------------------------------------------------------------


def _write_melody(path, seed):
    write_midi(melody_to_midi(patterns(1, seed=seed)[0]), path)
    return str(path)


def test_cli_melody_commands(tiny_checkpoint, tmp_path, capsys):
    a, b = _write_melody(tmp_path / "a.mid", 1), _write_melody(tmp_path / "b.mid", 2)
    model = ["--model", tiny_checkpoint, "--device", "cpu"]
    assert main(["melody", "reconstruct", a, "-o", str(tmp_path / "r.mid"), *model]) == 0
    assert pretty_midi.PrettyMIDI(str(tmp_path / "r.mid")).get_end_time() == pytest.approx(32 * 0.125)  # 2 bars at 120 qpm
    out = tmp_path / "interp"
    assert main(["melody", "interpolate", a, b, "--steps", "4", "-o", str(out), "--method", "lerp", "--temperature", "0.5", "--seed", "0", *model]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["all.mid", "step_00.mid", "step_01.mid", "step_02.mid", "step_03.mid"]
    assert pretty_midi.PrettyMIDI(str(out / "all.mid")).get_end_time() == pytest.approx(4 * 32 * 0.125)
    assert main(["melody", "sample", "--n", "2", "-o", str(tmp_path / "s"), *model]) == 0
    assert len(list((tmp_path / "s").glob("*.mid"))) == 2
    assert main(["melody", "attribute", a, "--attribute", "note_density", "--amount", "1.5", "-o", str(tmp_path / "att.mid"), *model]) == 0
    assert main(["melody", "similar", a, "--n", "2", "-o", str(tmp_path / "sim"), *model]) == 0
    assert main(["melody", "grid", a, b, b, a, "--size", "2", "-o", str(tmp_path / "g"), *model]) == 0
    assert len(list((tmp_path / "g").glob("grid_*.mid"))) == 4
    capsys.readouterr()
    assert main(["melody", "attributes", a]) == 0
    values = json.loads(capsys.readouterr().out)
    assert set(values) == {"c_diatonic", "note_density", "avg_interval", "syncopation_16th", "syncopation_8th"}
    assert main(["bench", "melody", "--model", tiny_checkpoint, "--repeats", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["interpolate_11_ms"] > 0


def test_cli_errors_are_one_line(tiny_checkpoint, tmp_path, capsys):
    drums = pretty_midi.PrettyMIDI()
    kit = pretty_midi.Instrument(0, is_drum=True)
    kit.notes = [pretty_midi.Note(100, 36, 0, 0.5)]
    drums.instruments.append(kit)
    write_midi(drums, tmp_path / "drums.mid")
    assert main(["melody", "reconstruct", str(tmp_path / "drums.mid"), "-o", str(tmp_path / "x.mid"), "--model", tiny_checkpoint]) == 1
    err = capsys.readouterr().err
    assert "only drums" in err and err.count("\n") == 1
    assert main(["melody", "sample", "-o", str(tmp_path / "x"), "--model", "no_such_model"]) == 1
    assert "no checkpoint named" in capsys.readouterr().err


def test_cli_data_and_train(tmp_path, capsys, monkeypatch):
    """`data melody` on a MIDI folder, then `train melody` for a few steps on it."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(12):
        pm = melody_to_midi(np.concatenate([patterns(1, seed=i)[0], patterns(1, seed=100 + i)[0]]))
        pm.instruments.append(pretty_midi.Instrument(0, is_drum=True))  # drums are skipped
        write_midi(pm, folder / f"song{i}.mid")
    assert main(["data", "melody", "--corpus", "none", "--midi", str(folder), "--transpose", "1", "--val-fraction", "0.3", "--out", "d"]) == 0
    counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert counts["tunes"]["total"] == 12 and counts["mel_2bar"]["train"] > 0 and counts["mel_2bar"]["val"] > 0
    with np.load(tmp_path / "d" / "mel_2bar.npz", allow_pickle=False) as z:
        assert set(z["train_tune"]).isdisjoint(set(z["val_tune"])), "split by tune"
        assert z["train"].shape[1] == 32
    assert main(["train", "melody", "--config", "mel_2bar", "--steps", "2", "--batch-size", "4", "--data", "d/mel_2bar.npz",
                 "--run-dir", "run", "--out", "ckpt", "--device", "cpu"]) == 0
    assert (tmp_path / "ckpt" / "model.safetensors").exists() and (tmp_path / "ckpt" / "card.md").exists()
    assert main(["data", "melodies", "--corpus", "none", "--out", "d2"]) == 1
    assert "nothing to build from" in capsys.readouterr().err


def test_windows_keep_the_melody_and_pad_with_rests():
    from engine.ops.melody import from_windows, to_windows

    rng = np.random.default_rng(0)
    for length in (5, 16, 32, 33, 100):
        m = rng.integers(0, 90, length)
        w = to_windows(m, 32)
        assert w.shape == (max(1, -(-length // 32)), 32)
        flat = from_windows(w)
        assert flat[:length].tolist() == m.tolist()
        assert set(flat[length + 1 :].tolist()) <= {0}, "padding is rests"
    with pytest.raises(LatentLabError, match="empty"):
        to_windows(np.zeros(0, dtype=np.int64), 32)


def test_a_run_resumed_with_another_process_count_is_recorded_stretch_by_stretch(tmp_path):
    from types import SimpleNamespace

    from engine.train.melody import _processes_text, _read_segments, _record_processes

    info = tmp_path / "musicvae_run.json"
    assert _record_processes(info, SimpleNamespace(step=0, world=2)) == [[0, 2]]
    assert _record_processes(info, SimpleNamespace(step=500, world=2)) == [[0, 2]]  # same count: one stretch
    assert _record_processes(info, SimpleNamespace(step=900, world=1)) == [[0, 2], [900, 1]]
    assert _read_segments(info) == [[0, 2], [900, 1]]
    text = _processes_text({"step": 1200, "segments": _read_segments(info)}, 32)
    assert "steps 0-900: 2 process(es), global batch 64" in text
    assert "steps 900-1200: 1 process(es), global batch 32" in text
    # A record written before stretches were kept still reads as one stretch.
    info.write_text('{"processes": 2}\n')
    assert _read_segments(info) == [[0, 2]]


def test_the_training_curve_validates_on_windows_spread_through_the_split():
    from engine.train.melody import spread_windows

    # A split stored tune by tune: 900 windows of one tune, then 100 of ten others.
    windows = np.concatenate([np.zeros((900, 4), np.uint8), np.repeat(np.arange(1, 11, dtype=np.uint8), 10)[:, None].repeat(4, 1)])
    picked = spread_windows(windows, 100)
    assert picked.shape == (100, 4)
    assert set(np.unique(picked[:, 0])) == set(range(11))  # every tune, not only the first
    assert picked[0, 0] == 0 and picked[-1, 0] == 10
    assert spread_windows(windows[:50], 100).shape == (50, 4)
