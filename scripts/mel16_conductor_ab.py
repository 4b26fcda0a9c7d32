"""A/B of the 16-bar MusicVAE's conductor (issue 19): the same start (a checkpoint's encoder and bar decoder,
via engine.train.melody.load_matching), the same batches, the recipe's optimiser, N steps per variant;
validation teacher-forced cross-entropy and argmax accuracy on a fixed subset, every N/2 steps.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python scripts/mel16_conductor_ab.py --steps 120 --val 128
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time

import numpy as np
import torch

from engine.data.melody import load_windows
from engine.models.musicvae import MusicVAE
from engine.train.loop import Trainer
from engine.train.melody import RECIPES, MusicVAETask, WindowDataset, load_matching

# name: (model overrides, keep the checkpoint's conductor)
VARIANTS = {
    "zeros_continued": (dict(conductor_input="zeros", conductor_hidden=128, conductor_output=0), True),
    "zeros_fresh": (dict(conductor_input="zeros", conductor_hidden=128, conductor_output=0), False),
    "z_and_position": (dict(conductor_input="z_and_position"), False),
    "position": (dict(conductor_input="position"), False),
    "z": (dict(conductor_input="z"), False),
}


@torch.no_grad()
def score(model: MusicVAE, val: torch.Tensor) -> dict[str, float]:
    model.eval()
    out = model(val, sample_z=False)
    ce = torch.nn.functional.cross_entropy(out["logits"].flatten(0, 1), val.flatten()).item() * val.shape[1]
    am = (model.decode(out["mu"]) == val)
    onsets = val >= 2
    emb = model.conductor(out["mu"]).float()  # [N x bars x E]
    model.train()
    return {"bar_variance_ratio": round(float(emb.var(1).mean() / emb.var(0).mean()), 3),"tf_ce_per_window": round(ce, 2), "tf_acc": round(float((out["logits"].argmax(-1) == val).float().mean()), 4),
            "argmax": round(float(am.float().mean()), 4), "onsets": round(float(am[onsets].float().mean()), 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", default="checkpoints/mel_16bar")
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--val", type=int, default=128, help="validation windows scored (the first N)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = ap.parse_args()
    torch.set_flush_denormal(True)
    recipe = RECIPES["mel_16bar"]
    data = load_windows(recipe.data)
    val = torch.from_numpy(data["val"][: args.val].astype(np.int64))
    order = np.random.default_rng(0).choice(len(data["train"]), size=args.steps * recipe.train.batch_size, replace=False)
    batches = torch.from_numpy(data["train"][order].astype(np.int64)).view(args.steps, recipe.train.batch_size, -1)
    for name in args.variants:
        overrides, keep = VARIANTS[name]
        torch.manual_seed(0)
        model = MusicVAE(dataclasses.replace(recipe.model, **overrides))
        initial = {k: v.clone() for k, v in model.conductor.state_dict().items()}
        _, fresh = load_matching(model, args.init)
        if not keep:  # the conductor starts fresh in every variant but the continued one
            model.conductor.load_state_dict(initial)
        with tempfile.TemporaryDirectory() as run:
            trainer = Trainer(MusicVAETask(model), WindowDataset(data["train"][:1]), None, recipe.train, run, progress=False)
            row = {"variant": name, "0": score(model, val)}
            train_seconds = 0.0
            for i, batch in enumerate(batches, 1):
                started = time.time()
                trainer.train_step(batch)
                train_seconds += time.time() - started
                if i % max(args.steps // 2, 1) == 0:
                    row[str(i)] = score(model, val)
            row["step_s"] = round(train_seconds / args.steps, 3)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
