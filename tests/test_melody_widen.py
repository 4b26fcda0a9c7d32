"""``--init`` into a wider bar decoder (issue 19): the trained units keep their places, the new ones start with no
say, so the wider model decodes exactly what the checkpoint did and training goes on from there."""

from __future__ import annotations

import pytest
import torch

from engine.core.checkpoint import save_checkpoint
from engine.models.musicvae import MusicVAE, MusicVAEConfig, vae_loss
from engine.nn.widen import unit_rows

TINY = dict(steps=64, hierarchical=True, embed_dim=8, encoder_hidden=16, decoder_hidden=16, conductor_hidden=12,
            conductor_output=10, z_dim=6)


def saved(tmp_path, cfg: MusicVAEConfig, seed: int = 0) -> MusicVAE:
    torch.manual_seed(seed)
    model = MusicVAE(cfg)
    save_checkpoint(tmp_path / "old", kind="melody", arch="musicvae", config=cfg,
                    tensors={f"model.{k}": v for k, v in model.state_dict().items()})
    return model.eval()


def test_unit_rows_pick_each_gate_blocks_trained_units():
    assert unit_rows(2, 3, 4).tolist() == [0, 1, 3, 4, 6, 7, 9, 10]


@pytest.mark.parametrize("hierarchical", [True, False])
def test_a_wider_decoder_starts_as_the_checkpoint(tmp_path, hierarchical):
    from engine.train.melody import load_matching

    cfg = MusicVAEConfig(**{**TINY, "hierarchical": hierarchical, "steps": 64 if hierarchical else 16})
    old = saved(tmp_path, cfg)
    torch.manual_seed(1)
    wide = MusicVAE(MusicVAEConfig(**{**cfg.__dict__, "decoder_hidden": 40}))
    loaded, fresh = load_matching(wide, tmp_path / "old")
    assert fresh == [], fresh
    wide.eval()
    x = torch.randint(0, cfg.num_classes, (3, cfg.steps))
    z = torch.randn(3, cfg.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(wide._logits(x, z), old._logits(x, z), rtol=1e-5, atol=1e-5)
    assert torch.equal(wide.decode(z), old.decode(z))
    lstm = wide.decoder.lstm
    assert lstm.weight_hh_l0[unit_rows(16, 40, 4), 16:].abs().sum() == 0, "old units read nothing from new ones"
    assert lstm.weight_hh_l0[unit_rows(24, 40, 4) + 16].abs().sum() > 0, "new units have random weights in"


def test_the_new_units_learn(tmp_path):
    from engine.train.melody import load_matching

    cfg = MusicVAEConfig(**TINY)
    saved(tmp_path, cfg)
    wide = MusicVAE(MusicVAEConfig(**{**TINY, "decoder_hidden": 24}))
    load_matching(wide, tmp_path / "old")
    x = torch.randint(0, cfg.num_classes, (4, cfg.steps))
    vae_loss(wide(x), x, 0, wide.cfg)["loss"].backward()
    assert wide.decoder.out.weight.grad[:, 16:].abs().sum() > 0
