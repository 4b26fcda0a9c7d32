"""The hierarchical MusicVAE's conductor (issue 19): what it reads, that it can give each bar its own
embedding, that configs written before the choice existed load as the old conductor bit for bit, and that
``--init`` starts a new conductor fresh over a checkpoint's encoder and bar decoder."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from engine.core.checkpoint import load_checkpoint, save_checkpoint
from engine.core.errors import LatentLabError
from engine.models.musicvae import CONDUCTOR_INPUTS, MusicVAE, MusicVAEConfig

TINY = dict(steps=64, hierarchical=True, embed_dim=8, encoder_hidden=16, decoder_hidden=16, conductor_hidden=12, z_dim=6)
NEW = dict(conductor_input="z_and_position", conductor_hidden=24, conductor_output=12)  # bar decoder as TINY's


def tiny(**kw) -> MusicVAEConfig:
    return MusicVAEConfig(**{**TINY, **kw})


def test_the_new_conductor_reads_z_and_the_bar_index():
    model = MusicVAE(tiny(**NEW))
    z = torch.randn(3, 6)
    inputs = model.conductor.inputs(z)
    assert list(inputs.shape) == [3, 4, 6 + 4], inputs.shape
    assert torch.equal(inputs[:, :, :6], z.unsqueeze(1).expand(-1, 4, -1))
    assert torch.equal(inputs[0, :, 6:], torch.eye(4))
    assert list(model.conductor(z).shape) == [3, 4, 12]
    assert model.conductor(z).abs().max() < 1, "the projection ends in tanh"
    assert list(MusicVAE(tiny(conductor_input="position")).conductor.inputs(z).shape) == [3, 4, 4]
    with pytest.raises(ValueError, match="conductor_input"):
        MusicVAE(tiny(conductor_input="previous_bar"))


def test_the_new_conductor_can_give_each_bar_its_own_embedding():
    """Fit only the conductor to 16 distinct bar embeddings of one z (150 Adam steps): the conductor reading
    zeros cannot (its bars differ only by its state's drift), the one reading the bar index does."""
    torch.manual_seed(0)
    target = torch.rand(1, 16, 12) * 1.6 - 0.8
    z = torch.randn(1, 6)
    errors = {}
    for reads in ("zeros", "z_and_position"):
        torch.manual_seed(0)
        model = MusicVAE(tiny(steps=256, conductor_input=reads, conductor_hidden=24, conductor_output=12))
        opt = torch.optim.Adam(model.conductor.parameters(), lr=1e-2)
        for _ in range(150):
            loss = (model.conductor(z) - target).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        errors[reads] = loss.item()
    # Measured: zeros 0.024 (the targets' own variance is 0.21), z_and_position 2e-6.
    assert errors["z_and_position"] < 0.01 * errors["zeros"], errors
    assert errors["z_and_position"] < 1e-3 < errors["zeros"], errors


def test_configs_without_the_field_load_as_the_conductor_reading_zeros(tmp_path):
    """A checkpoint written before conductor_input existed loads with the old conductor and decodes as it did."""
    torch.manual_seed(0)
    old = MusicVAE(tiny()).eval()
    config = dataclasses.asdict(old.cfg)
    for field in ("conductor_input", "conductor_output"):
        config.pop(field)
    save_checkpoint(tmp_path / "old", kind="melody", arch="musicvae", config=config,
                    tensors={f"model.{k}": v for k, v in old.state_dict().items()})
    ckpt = load_checkpoint(tmp_path / "old")
    cfg = ckpt.build_config(MusicVAEConfig)
    assert cfg.conductor_input == "zeros" and cfg.conductor_output == 0
    model = ckpt.load_into(MusicVAE(cfg), prefix="model.").eval()  # strict: the same tensors, no new ones
    z = torch.randn(5, 6)
    # The old conductor's formula, written out: an LSTM reading zeros from the state z gives.
    reference, _ = model.conductor.lstm(torch.zeros(5, 4, 1), model.conductor.init(z))
    assert torch.equal(model.conductor(z), reference)
    assert torch.equal(model.decode(z), old.decode(z))
    x = torch.randint(0, 90, (2, 64))
    assert torch.equal(model(x, sample_z=False)["logits"], old(x, sample_z=False)["logits"])


def test_a_config_written_before_the_field_loads_as_the_old_conductor(tmp_path):
    import json

    torch.manual_seed(0)
    old = MusicVAE(tiny())
    save_checkpoint(tmp_path / "old", kind="melody", arch="musicvae", config=old.cfg,
                    tensors={f"model.{k}": v for k, v in old.state_dict().items()})
    config_file = tmp_path / "old" / "config.json"
    meta = json.loads(config_file.read_text())
    for field in ("conductor_input", "conductor_output"):
        meta["config"].pop(field, None)  # as every checkpoint saved before the fields existed
    config_file.write_text(json.dumps(meta))
    ckpt = load_checkpoint(tmp_path / "old")
    model = ckpt.load_into(MusicVAE(ckpt.build_config(MusicVAEConfig)), prefix="model.")
    assert model.cfg.conductor_input == "zeros" and model.conductor.proj is None
    z = torch.randn(2, model.cfg.z_dim)
    assert torch.equal(model.decode(z), old.decode(z))


def test_init_loads_what_matches_and_names_what_starts_fresh(tmp_path):
    from engine.train.melody import load_matching

    torch.manual_seed(0)
    old = MusicVAE(tiny())
    save_checkpoint(tmp_path / "old", kind="melody", arch="musicvae", config=old.cfg,
                    tensors={f"model.{k}": v for k, v in old.state_dict().items()})
    torch.manual_seed(1)
    new = MusicVAE(tiny(**NEW))
    before = {k: v.clone() for k, v in new.state_dict().items()}
    loaded, fresh = load_matching(new, tmp_path / "old")
    state = new.state_dict()
    assert all(k.startswith(("encoder.", "decoder.")) for k in loaded)
    assert len(loaded) == len([k for k in state if k.startswith(("encoder.", "decoder."))]), "encoder and bar decoder"
    for k in loaded:
        assert torch.equal(state[k], old.state_dict()[k]), k
    names = [line.split(" ")[0] for line in fresh]
    assert sorted(names) == sorted(k for k in state if k.startswith("conductor.")), fresh
    assert "conductor.proj.weight (not in the checkpoint)" in fresh
    assert any(line.startswith("conductor.lstm.weight_ih_l0 ([96, 10]; the checkpoint's [48, 1])") for line in fresh), fresh
    for k in names:
        assert torch.equal(state[k], before[k]), f"{k} keeps its fresh initialisation"
    save_checkpoint(tmp_path / "vocoder", kind="vocoder", arch="hifigan", config={}, tensors={"x": torch.zeros(1)})
    with pytest.raises(LatentLabError, match="not a MusicVAE"):
        load_matching(new, tmp_path / "vocoder")


def test_train_melody_init_says_which_tensors_start_fresh(tmp_path, capsys):
    from engine.train.melody import train_melody

    rng = np.random.default_rng(0)
    windows = rng.integers(0, 90, (40, 64)).astype(np.uint8)
    np.savez(tmp_path / "w.npz", train=windows[:32], val=windows[32:], transpose=np.array(0))
    torch.manual_seed(0)
    old = MusicVAE(tiny())
    save_checkpoint(tmp_path / "old", kind="melody", arch="musicvae", config=old.cfg,
                    tensors={f"model.{k}": v for k, v in old.state_dict().items()})
    # The conductor's shape only (the recipe's hierarchical encoder and bar maps off: the checkpoint has neither).
    overrides = {**TINY, **NEW, "hierarchical_encoder": False, "encoder_top_hidden": 0, "conductor_bar_maps": False,
                 "dropout": 0.0}
    figures = train_melody("mel_16bar", steps=2, batch_size=4, run_dir=tmp_path / "run", out=tmp_path / "export",
                           data_path=tmp_path / "w.npz", model_overrides=overrides, progress=False, init=tmp_path / "old",
                           lr=3e-4)
    out = capsys.readouterr().out
    assert f"--init {tmp_path / 'old'}: " in out and "start fresh" in out
    assert "  fresh: conductor.proj.weight (not in the checkpoint)" in out
    assert "fresh: encoder." not in out and "fresh: decoder." not in out
    assert 0 <= figures["argmax_accuracy"] <= 1
    meta = json.loads((tmp_path / "export" / "config.json").read_text())
    assert meta["config"]["conductor_input"] == "z_and_position"
    card = (tmp_path / "export" / "card.md").read_text()
    assert "--init" in card
    assert "--lr 0.0003" in card and '"lr": 0.0003' in card  # the run's peak learning rate, named in the recipe
    # Resuming: the run's saved state wins over --init, and says so.
    train_melody("mel_16bar", steps=3, batch_size=4, run_dir=tmp_path / "run", out=tmp_path / "export",
                 data_path=tmp_path / "w.npz", model_overrides=overrides, progress=False, init=tmp_path / "old")
    assert "ignored" in capsys.readouterr().out
    # The run keeps the shape it started with: a resume without --overrides gets it, another shape is refused.
    train_melody("mel_16bar", steps=4, batch_size=4, run_dir=tmp_path / "run", out=tmp_path / "export",
                 data_path=tmp_path / "w.npz", progress=False)
    assert json.loads((tmp_path / "export" / "config.json").read_text())["config"]["z_dim"] == overrides["z_dim"]
    with pytest.raises(LatentLabError, match="another model shape"):
        train_melody("mel_16bar", steps=5, batch_size=4, run_dir=tmp_path / "run", out=tmp_path / "export",
                     data_path=tmp_path / "w.npz", progress=False, model_overrides={**overrides, "z_dim": 7})


def test_every_conductor_input_builds_and_decodes():
    for reads in CONDUCTOR_INPUTS:
        model = MusicVAE(tiny(conductor_input=reads)).eval()
        assert list(model.decode(torch.randn(2, 6)).shape) == [2, 64]


@pytest.mark.parametrize("argv, message", [
    (["--config", "mel_2bar", "--overrides", "{not json"], "--overrides is not JSON"),
    (["--config", "mel_2bar", "--overrides", "[1, 2]"], "--overrides must be a JSON object of MusicVAEConfig fields"),
    (["--config", "mel_2bar", "--overrides", '{"sampling_begin": 0}'], "unknown MusicVAEConfig field(s) sampling_begin"),
    (["--config", "pixelcnn_16bar", "--lr", "0.001"], "--lr is for the MusicVAE recipes"),
    (["--config", "pixelcnn_16bar", "--overrides", "{}"], "--overrides is for the MusicVAE recipes"),
])
def test_train_melody_refuses_bad_overrides_in_one_line(tmp_path, capsys, argv, message):
    from engine.cli.main import main

    windows = np.random.default_rng(0).integers(0, 90, (40, 32)).astype(np.uint8)
    np.savez(tmp_path / "w.npz", train=windows[:32], val=windows[32:], transpose=np.array(0))
    code = main(["train", "melody", *argv, "--data", str(tmp_path / "w.npz"), "--run-dir", str(tmp_path / "run"),
                 "--steps", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and err[0].startswith("latentlab: error: ") and message in err[0], err
    assert not (tmp_path / "run" / "log.jsonl").exists()


def test_bar_maps_start_at_zero_and_reach_each_bar_on_its_own(tmp_path):
    """conductor_bar_maps: a run from a checkpoint without them starts from the same model (the maps load
    fresh as zeros), and a bar's map moves that bar's embedding alone."""
    from engine.train.melody import load_matching

    torch.manual_seed(0)
    old = MusicVAE(tiny(**NEW)).eval()
    save_checkpoint(tmp_path / "old", kind="melody", arch="musicvae", config=old.cfg,
                    tensors={f"model.{k}": v for k, v in old.state_dict().items()})
    new = MusicVAE(tiny(**NEW, conductor_bar_maps=True)).eval()
    loaded, fresh = load_matching(new, tmp_path / "old")
    assert [line.split(" ")[0] for line in fresh] == ["conductor.bar_maps"], fresh
    assert list(new.conductor.bar_maps.shape) == [4, 6, 12]
    z = torch.randn(3, 6)
    assert torch.equal(new.conductor(z), old.conductor(z))
    with torch.no_grad():
        new.conductor.bar_maps[2].normal_()
    moved = (new.conductor(z) - old.conductor(z)).abs().amax(dim=(0, 2))
    assert moved[2] > 1e-3 and torch.equal(moved[[0, 1, 3]], torch.zeros(3)), moved
    with pytest.raises(ValueError, match="conductor_output"):
        MusicVAE(tiny(conductor_bar_maps=True))
