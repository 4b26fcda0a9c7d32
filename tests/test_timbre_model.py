"""The NSynth-style autoencoder: shapes, conditioning, and a tiny training run that learns."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.core.checkpoint import load_checkpoint
from engine.core.errors import LatentLabError
from engine.models.nsynth import NSynthAutoencoder, NSynthConfig
from helpers.train import read_log

TINY = dict(hop=64, encoder_channels=8, encoder_layers=2, decoder_layers=4, decoder_cycle=4, residual_channels=8,
            gate_channels=8, skip_channels=16, pitch_channels=4)


def tiny(**overrides) -> NSynthAutoencoder:
    torch.manual_seed(0)
    return NSynthAutoencoder(NSynthConfig(**{**TINY, **overrides}))


def test_shapes():
    model = tiny()
    x = torch.randint(0, 256, (2, 640))
    z = model.encode(x)
    assert list(z.shape) == [2, 16, 10], z.shape
    logits = model(x, torch.tensor([60, 72]))
    assert list(logits.shape) == [2, 256, 640], logits.shape
    assert list(model.condition(z, 700).shape) == [2, 16, 700]
    assert torch.equal(model.condition(z, 700)[..., 640:], z[..., -1:].expand(2, 16, 60))


def test_default_config_is_the_shipped_size():
    model = NSynthAutoencoder(NSynthConfig())
    assert list(model.encode(torch.randint(0, 256, (1, 64000))).shape) == [1, 16, 125]
    megabytes = sum(p.numel() for p in model.parameters()) * 4 / 2**20
    assert megabytes < 20, megabytes


def test_pitch_and_embedding_both_reach_the_output():
    model = tiny()
    x = torch.randint(0, 256, (1, 640))
    base = model(x, torch.tensor([60]))
    assert not torch.allclose(base, model(x, torch.tensor([61])))
    z = model.encode(x)
    with torch.no_grad():
        other = model.decoder(x, model.condition(z + 1.0, 640), model.global_condition(torch.tensor([60]), 1))
    assert not torch.allclose(base, other)
    with pytest.raises(LatentLabError, match="MIDI pitch"):
        model(x, torch.tensor([128]))
    with pytest.raises(LatentLabError, match="needs the note's MIDI pitch"):
        model(x, None)
    assert tiny(pitch_channels=0)(x).shape == base.shape  # a model without the pitch input


def test_decode_generates_the_requested_length():
    model = tiny().eval()
    z = torch.zeros(2, 16, 3)
    y = model.decode(z, torch.tensor([60, 64]), backend="cached")
    assert list(y.shape) == [2, 3 * 64] and y.dtype == torch.int64
    assert 0 <= int(y.min()) and int(y.max()) <= 255


def _sine_notes(root, pitches=(60, 67)):
    """A two-split NSynth-layout folder of decaying sines, one note per pitch and split."""
    for split in ("train", "valid"):
        folder = root / f"nsynth-{split}"
        (folder / "audio").mkdir(parents=True)
        examples = {}
        for pitch in pitches:
            name = f"synth_lead_synthetic_000-{pitch:03d}-100"
            t = np.arange(64000) / 16000
            audio = 0.6 * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t + (split == "valid"))
            sf.write(folder / "audio" / f"{name}.wav", audio * np.exp(-0.5 * t), 16000, subtype="PCM_16")
            examples[name] = {"note_str": name, "pitch": pitch, "instrument_str": "synth_lead_synthetic_000"}
        (folder / "examples.json").write_text(json.dumps(examples))


def test_tiny_training_lowers_the_loss_and_writes_a_checkpoint(tmp_path, monkeypatch):
    import dataclasses

    from engine.train import timbre as recipe

    monkeypatch.setitem(recipe.RECIPES, "timbre", dataclasses.replace(recipe.RECIPES["timbre"], log_every=5, val_every=40))
    _sine_notes(tmp_path / "data")
    out = recipe.train_timbre(tmp_path / "data", out=tmp_path / "ckpt", run_dir=tmp_path / "run", steps=40,
                              batch_size=8, lr=3e-2, window=256, config=json.dumps(TINY), progress=False)
    log = read_log(tmp_path / "run")
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < losses[0] - 0.5, losses
    assert [r["val_loss"] for r in log if "val_loss" in r][-1] < np.log(256) - 0.5
    checkpoint = load_checkpoint(out)
    assert checkpoint.kind == "timbre" and checkpoint.build_config(NSynthConfig).hop == TINY["hop"]
    assert "latentlab train timbre" in checkpoint.card
    # a resumed run keeps the model config it started with, whatever --config says now
    recipe.train_timbre(tmp_path / "data", out=tmp_path / "ckpt", run_dir=tmp_path / "run", steps=41, batch_size=8,
                        window=256, config='{"decoder_layers": 9}', progress=False)
    assert load_checkpoint(out).build_config(NSynthConfig).decoder_layers == TINY["decoder_layers"]
    # --export writes the run's saved state without training
    exported = recipe.train_timbre(tmp_path / "data", out=tmp_path / "exported", run_dir=tmp_path / "run",
                                   export_only=True, progress=False)
    trained = load_checkpoint(out).tensors
    assert all(torch.equal(v, trained[k]) for k, v in load_checkpoint(exported).tensors.items())
    with pytest.raises(LatentLabError, match="no saved training state"):
        recipe.train_timbre(tmp_path / "data", out=tmp_path / "x", run_dir=tmp_path / "nothing", export_only=True)
