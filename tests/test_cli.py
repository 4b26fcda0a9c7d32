import subprocess
import sys

import pytest

from engine.cli.main import main

GROUPS = ["melody", "timbre", "translate", "vocode", "data", "train", "bench", "serve"]


def test_top_level_help_lists_every_group(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for group in GROUPS:
        assert f"    {group}" in out, group


@pytest.mark.parametrize("group", GROUPS)
def test_every_group_answers_help(group, capsys):
    with pytest.raises(SystemExit) as e:
        main([group, "--help"])
    assert e.value.code == 0
    assert f"latentlab {group}" in capsys.readouterr().out


def test_console_script_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "engine.cli.main", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("latentlab ")


def test_unknown_command_exits_non_zero(capsys):
    with pytest.raises(SystemExit) as e:
        main(["frobnicate"])
    assert e.value.code == 2


def test_serve_rejects_a_missing_gpu_with_one_line(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["serve", "--device", "cuda", "--port", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("latentlab: error: ") and "no CUDA GPU" in err[0]


@pytest.mark.parametrize("group", ["data", "train", "bench"])
def test_data_train_bench_name_each_capability_once(group, capsys):
    """``latentlab data|train|bench`` offer melody, timbre, translate, vocode (the older words stay as aliases)."""
    with pytest.raises(SystemExit):
        main([group, "--help"])
    out = capsys.readouterr().out
    for capability in ("melody", "timbre", "translate", "vocode"):
        assert f"    {capability}" in out, (group, capability)


@pytest.mark.parametrize("argv", [["data", "notes"], ["data", "clips"], ["data", "audio"], ["data", "melodies"],
                                  ["train", "vocoder"], ["bench", "vocoders"]])
def test_the_older_command_words_still_work(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
