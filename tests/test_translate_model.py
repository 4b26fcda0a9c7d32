"""The translation network: shapes, the sign of the domain confusion, training, adding a domain."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.core.checkpoint import load_checkpoint
from engine.core.errors import LatentLabError
from engine.data.translate import ClipSegments, collate_groups
from engine.models.translator import Translator, TranslatorConfig, confusion_losses, sized_config
from engine.train.loop import TrainConfig, Trainer
from engine.train.translate import TranslateTask, train_translate

from helpers.train import read_log
from helpers.translate import make_clips


def tiny(domains=("sine", "saw")) -> Translator:
    torch.manual_seed(0)
    return Translator(sized_config("tiny", domains))


def test_shapes():
    model = tiny()
    pool = model.config.pool
    audio = torch.rand(3, 4 * pool) * 1.6 - 0.8
    z = model.encode(audio)
    assert list(z.shape) == [3, model.config.latent_channels, 4], z.shape
    assert list(model.condition(z, 4 * pool + 37).shape) == [3, model.config.latent_channels, 4 * pool + 37]
    out = model(audio, torch.tensor([0, 1, 1]))
    assert out["recon"].dim() == 0 and out["recon"] > 0
    assert list(out["logits"].shape) == [3, 2] and list(out["logits_detached"].shape) == [3, 2]


def test_config_rejects_repeated_domains():
    with pytest.raises(LatentLabError, match="distinct"):
        TranslatorConfig(domains=("piano", "piano"))


def test_confusion_gradient_opposes_the_classifier():
    model = tiny()
    audio = torch.rand(4, 2 * model.config.pool) - 0.5
    domain = torch.tensor([0, 1, 0, 1])
    out = model(audio, domain)
    encoder_loss, classifier_loss = confusion_losses(out, domain, model.config.confusion_weight)
    z = out["z"]
    # what the encoder gets from the confusion term, and what the classifier's own loss says about z
    g_encoder = torch.autograd.grad(encoder_loss - out["recon"], z, retain_graph=True)[0]
    g_classifier = torch.autograd.grad(F.cross_entropy(model.classifier(z), domain), z, retain_graph=True)[0]
    assert torch.allclose(g_encoder, -model.config.confusion_weight * g_classifier, atol=1e-7)
    assert (g_encoder * g_classifier).sum() < 0
    # the classifier's loss never reaches the encoder
    grads = torch.autograd.grad(classifier_loss, list(model.encoder.parameters()), allow_unused=True)
    assert all(g is None for g in grads)


def test_training_lowers_the_reconstruction_loss(tmp_path):
    data = make_clips(tmp_path / "clips")
    model = tiny()
    val = ClipSegments(data, "validation", 800, augment=False, size=4, seed=5)
    batch = collate_groups([val[i] for i in range(4)])

    def recon() -> float:
        with torch.no_grad():
            return float(model(batch["audio"], batch["domain"])["recon"])

    before = recon()
    cfg = TrainConfig(steps=40, batch_size=2, lr=3e-3, log_every=10, val_every=1000, save_every=1000)
    train = ClipSegments(data, "train", 800, seed=0)
    Trainer(TranslateTask(model), train, None, cfg, tmp_path / "run", collate_fn=collate_groups, progress=False).fit()
    after = recon()
    assert after < before - 0.1, (before, after)


def test_add_domain_trains_only_the_new_decoder(tmp_path):
    data = make_clips(tmp_path / "clips", domains=("sine", "saw", "odd"))
    base = train_translate(data, out=tmp_path / "base", run_dir=tmp_path / "run1", size="tiny", steps=4,
                            domains="sine,saw", progress=False)
    before = load_checkpoint(base).tensors
    out = train_translate(data, out=tmp_path / "grown", run_dir=tmp_path / "run2", size="tiny", steps=25,
                           lr=3e-3, add_domain="odd", base=base, progress=False)
    grown = load_checkpoint(out)
    assert tuple(grown.config["domains"]) == ("sine", "saw", "odd")
    for key, value in before.items():
        if key.startswith(("encoder.", "decoders.")):  # encoder and old decoders are unchanged
            assert torch.equal(grown.tensors[key], value), key
    new = {k: v for k, v in grown.tensors.items() if k.startswith("decoders.odd.")}
    copied_from = {k.replace("decoders.odd.", "decoders.sine."): v for k, v in new.items()}
    assert any(not torch.equal(v, before[k]) for k, v in copied_from.items())  # the new decoder has trained
    log = read_log(tmp_path / "run2")
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < losses[0], losses


def test_add_domain_needs_the_domain_in_the_data(tmp_path):
    data = make_clips(tmp_path / "clips")
    base = train_translate(data, out=tmp_path / "base", run_dir=tmp_path / "run1", size="tiny", steps=2, progress=False)
    with pytest.raises(LatentLabError, match="no audio for 'oboe'"):
        train_translate(data, run_dir=tmp_path / "run2", add_domain="oboe", base=base, progress=False)
