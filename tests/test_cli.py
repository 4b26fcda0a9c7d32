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
