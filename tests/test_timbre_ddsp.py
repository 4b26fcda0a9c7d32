"""The DDSP timbre autoencoder (engine.models.ddsp) and its training recipe (engine.train.ddsp), tiny sizes."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.core.checkpoint import load_checkpoint
from engine.models.ddsp import DDSPAutoencoder, DDSPConfig
from engine.nn.synth import midi_to_hz
from engine.train.timbre_ddsp import NoteCrops, train_ddsp

from helpers.train import read_losses

TINY = DDSPConfig(n_mels=16, encoder_channels=8, encoder_layers=2, hidden=16, gru=16, n_harmonics=8,
                  noise_bands=9, reverb_seconds=0.05)
SR = 16_000


def write_tone_notes(root, pitches=(48, 55, 60, 67, 72), velocities=(100,)):
    """A tiny NSynth-layout dataset of harmonic tones: every other pitch in train, the rest in valid."""
    t = np.arange(4 * SR) / SR
    for split, own in (("train", pitches[::2]), ("valid", pitches[1::2])):
        folder = root / f"nsynth-{split}"
        (folder / "audio").mkdir(parents=True)
        examples = {}
        for pitch in own:
            for velocity in velocities:
                name = f"keyboard_synthetic_000-{pitch:03d}-{velocity:03d}"
                f = float(midi_to_hz(pitch))
                audio = (0.3 * np.sin(2 * np.pi * f * t) + 0.1 * np.sin(4 * np.pi * f * t)) * np.exp(-t)
                sf.write(folder / "audio" / f"{name}.wav", audio, SR, subtype="PCM_16")
                examples[name] = {"note_str": name, "instrument_str": "keyboard_synthetic_000", "pitch": pitch,
                                  "velocity": velocity, "sample_rate": SR, "instrument_family_str": "keyboard"}
        (folder / "examples.json").write_text(json.dumps(examples))
    return root


def test_shapes_follow_the_frame_rates():
    model = DDSPAutoencoder(TINY)
    audio = torch.randn(2, 4 * SR) * 0.1
    z = model.encode(audio)
    assert list(z.shape) == [2, 16, 125], z.shape  # NSynth's [16 x 125] for a 4 s note
    f0 = torch.full((2, 4 * SR // TINY.hop), 220.0)
    out, controls = model(audio, f0)
    assert list(out.shape) == [2, 4 * SR], out.shape
    assert list(controls["distribution"].shape) == [2, 8, 500]
    assert list(model.decode(z, f0, model.loudness(audio)).shape) == [2, 4 * SR]


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = DDSPAutoencoder(TINY)
    audio = torch.randn(2, 8192) * 0.1
    out, _ = model(audio, torch.full((2, 64), 330.0))
    (out - audio).pow(2).mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or float(p.grad.abs().sum()) == 0]
    assert not missing, missing


def test_the_harmonic_part_keeps_the_pitch_it_is_given():
    torch.manual_seed(0)
    model = DDSPAutoencoder(TINY).eval()
    audio = torch.randn(1, SR) * 0.1
    f0 = torch.full((1, SR // TINY.hop), 440.0)
    with torch.no_grad():
        controls = model.controls(f0, model.loudness(audio), model.encode(audio))
        controls["noise"] = torch.zeros_like(controls["noise"])
        model.reverb = None
        out = model.synthesize(controls)[0].numpy()
    power = np.abs(np.fft.rfft(out * np.hanning(len(out)))) ** 2
    freqs = np.fft.rfftfreq(len(out), 1 / SR)
    harmonic = np.zeros_like(freqs, dtype=bool)
    for k in range(1, 9):
        harmonic |= np.abs(freqs - 440.0 * k) < 20
    assert power[harmonic].sum() / power.sum() > 0.99


def test_note_crops_hold_every_note_in_memory(tmp_path):
    write_tone_notes(tmp_path)
    crops = NoteCrops(tmp_path, "train", crop=4096, hop=128, stride=8192)
    assert len(crops.notes) == 3 and len(crops) == 3 * ((4 * SR - 4096) // 8192 + 1)
    item = crops[4]  # note 1 (pitch 60), second crop
    assert item["audio"].shape == (4096,) and item["f0"].shape == (32,)
    assert abs(float(item["f0"][0]) - float(midi_to_hz(60))) < 1e-3
    audio, _ = sf.read(tmp_path / "nsynth-train" / "audio" / f"{crops.notes[1]}.wav", dtype="float32")
    assert np.allclose(item["audio"].numpy(), audio[8192 : 8192 + 4096], atol=1e-4)


def test_training_lowers_the_loss_resumes_and_starts_from_a_checkpoint(tmp_path):
    data = write_tone_notes(tmp_path / "notes")
    run, out = tmp_path / "run", tmp_path / "ck"
    config = json.dumps({k: v for k, v in TINY.__dict__.items()})
    train_ddsp(data, out=out, run_dir=run, steps=100, batch_size=4, lr=3e-3, config=config, progress=False)
    losses = read_losses(run)
    assert losses[-1] < losses[0], losses
    checkpoint = load_checkpoint(out)
    assert checkpoint.kind == "timbre" and checkpoint.arch == "ddsp_timbre_ae"
    assert checkpoint.build_config(DDSPConfig) == TINY
    assert "Recipe" in checkpoint.card and "latentlab train timbre --arch ddsp" in checkpoint.card
    # a longer --steps resumes the same run
    train_ddsp(data, out=out, run_dir=run, steps=105, batch_size=4, progress=False)
    assert json.loads((run / "state.json").read_text())["step"] == 105
    # a new run directory starts from the checkpoint's weights, not from scratch
    fresh = tmp_path / "fresh"
    train_ddsp(data, out=tmp_path / "ck2", run_dir=fresh, steps=0, batch_size=4, init=out, progress=False)
    a, b = load_checkpoint(out).tensors, load_checkpoint(tmp_path / "ck2").tensors
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("bad", ["nope", "[1, 2]"])
def test_bad_config_is_a_one_line_error(tmp_path, bad):
    from engine.core.errors import LatentLabError

    data = write_tone_notes(tmp_path / "notes")
    with pytest.raises(LatentLabError):
        train_ddsp(data, out=tmp_path / "ck", run_dir=tmp_path / "run", steps=1, config=bad, progress=False)
