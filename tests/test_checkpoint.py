import os
from dataclasses import dataclass

import pytest
import torch

from engine.core.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from engine.core.errors import LatentLabError


@dataclass
class TinyConfig:
    width: int = 4
    depth: tuple[int, ...] = (2, 3)


def _model(cfg: TinyConfig) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(cfg.width, cfg.depth[0]), torch.nn.Linear(cfg.depth[0], cfg.depth[1]))


def test_save_load_round_trip(tmp_path):
    cfg = TinyConfig(width=5)
    model = _model(cfg)
    save_checkpoint(tmp_path / "tiny", kind="melody", arch="tiny", config=cfg, tensors=model.state_dict(),
                    extra={"note": "x"}, card="# Tiny\nfigures")
    ckpt = load_checkpoint(tmp_path / "tiny")
    assert ckpt.kind == "melody" and ckpt.arch == "tiny" and ckpt.extra == {"note": "x"}
    restored_cfg = ckpt.build_config(TinyConfig)
    assert restored_cfg == cfg  # tuples survive the JSON round trip
    restored = ckpt.load_into(_model(restored_cfg))
    for a, b in zip(model.state_dict().values(), restored.state_dict().values()):
        assert torch.equal(a, b)
    assert "figures" in ckpt.card


def test_registry_lists_by_kind(tmp_path):
    for name, kind in [("a", "melody"), ("b", "vocoder")]:
        save_checkpoint(tmp_path / name, kind=kind, arch="tiny", config=TinyConfig(), tensors={"w": torch.ones(2)})
    (tmp_path / "not_a_checkpoint").mkdir()
    assert [i.name for i in list_checkpoints(root=tmp_path)] == ["a", "b"]
    assert [i.name for i in list_checkpoints(kind="vocoder", root=tmp_path)] == ["b"]


def test_corrupt_weights_name_the_file(tmp_path):
    save_checkpoint(tmp_path / "c", kind="melody", arch="tiny", config=TinyConfig(), tensors={"w": torch.ones(2)})
    (tmp_path / "c" / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(LatentLabError, match=r"corrupt: .*c/model\.safetensors"):
        load_checkpoint(tmp_path / "c")


def test_corrupt_config_and_missing_files(tmp_path):
    save_checkpoint(tmp_path / "c", kind="melody", arch="tiny", config=TinyConfig(), tensors={"w": torch.ones(2)})
    (tmp_path / "c" / "config.json").write_text("{not json")
    with pytest.raises(LatentLabError, match=r"config is corrupt: .*config\.json"):
        load_checkpoint(tmp_path / "c")
    save_checkpoint(tmp_path / "d", kind="melody", arch="tiny", config=TinyConfig(), tensors={"w": torch.ones(2)})
    (tmp_path / "d" / "model.safetensors").unlink()
    with pytest.raises(LatentLabError, match="missing: .*model.safetensors"):
        load_checkpoint(tmp_path / "d")


def test_unknown_name_and_mismatched_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTLAB_CHECKPOINTS", str(tmp_path))
    with pytest.raises(LatentLabError, match="no checkpoint named 'nope'"):
        load_checkpoint("nope")
    save_checkpoint(tmp_path / "m", kind="melody", arch="tiny", config=TinyConfig(), tensors={"w": torch.ones(2)})
    ckpt = load_checkpoint("m")  # by name, through $LATENTLAB_CHECKPOINTS
    with pytest.raises(LatentLabError, match="does not match"):
        ckpt.load_into(_model(TinyConfig()))
    with pytest.raises(LatentLabError, match="unknown TinyConfig field"):
        save_checkpoint(tmp_path / "u", kind="melody", arch="tiny", config={"bogus": 1}, tensors={"w": torch.ones(1)})
        load_checkpoint(tmp_path / "u").build_config(TinyConfig)


def test_weights_are_never_unpickled(tmp_path):
    save_checkpoint(tmp_path / "s", kind="melody", arch="tiny", config=TinyConfig(), tensors={"w": torch.ones(2)})
    assert (tmp_path / "s" / "model.safetensors").read_bytes()[:8] != b"\x80\x02\x8a\x0a"  # no pickle magic
    assert not list(tmp_path.glob("**/*.pt")) and not list(tmp_path.glob("**/*.pkl"))


def test_load_cached_loads_once_and_again_when_the_weights_change(tmp_path):
    from engine.core.checkpoint import clear_cache, load_cached

    calls = []

    def build(directory, device):
        calls.append((directory, device))
        return load_checkpoint(directory, device).tensors["w"].clone()

    save_checkpoint(tmp_path / "m", kind="melody", arch="toy", config={}, tensors={"w": torch.zeros(2)})
    clear_cache()
    first = load_cached(tmp_path / "m", build, "cpu")
    assert load_cached(tmp_path / "m", build, "cpu") is first and len(calls) == 1
    os.utime(tmp_path / "m" / "model.safetensors", ns=(0, 10**9))  # the weights were written again
    assert load_cached(tmp_path / "m", build, "cpu") is not first and len(calls) == 2
    clear_cache()
    load_cached(tmp_path / "m", build, "cpu")
    assert len(calls) == 3
