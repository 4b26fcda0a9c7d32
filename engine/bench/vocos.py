"""What one Vocos training step costs on this machine: wall time, FLOPs counted by
``torch.utils.flop_counter`` and the GFLOP/s they make, float32 against bfloat16 autocast, in one run.

    python -m engine.bench.vocos --threads 2 --batch 16 --segment 16384 [--steps 10] [--json]

The step is the reconstruction phase of :class:`engine.train.vocode_vocos.VocosTask`: the generator's
forward, ``45 x mel L1 + 15 x MR-STFT`` (the training resolutions), backward and an AdamW update. The backbone alone (forward and
backward of the ConvNeXt stack) is timed too, so the share spent in the head, the inverse STFT and the
losses is visible.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch

from ..core.mel import mel_spectrogram
from ..core.metrics import torch_threads
from ..models.vocoders.vocos import Vocos, VocosConfig
from ..nn.losses import MultiResolutionSTFTLoss, mel_l1
from ..train.vocode_vocos import TRAIN_RESOLUTIONS


def _batch(batch: int, segment: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Harmonic tones plus a little noise (speech-like spectra without needing a corpus)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(segment) / 22050
    f0 = 100 + 200 * torch.rand(batch, 1, generator=g)
    audio = sum(torch.sin(2 * torch.pi * k * f0 * t) / k for k in range(1, 9)) * 0.2
    audio = audio + 0.01 * torch.randn(batch, segment, generator=g)
    return audio, mel_spectrogram(audio)


def measure(batch: int = 16, segment: int = 16384, steps: int = 10, bf16: bool = True,
            config: VocosConfig | None = None, warmup: int = 2) -> dict[str, Any]:
    """Median wall time of a training step and of the backbone's forward + backward; FLOPs of each."""
    from torch.utils.flop_counter import FlopCounterMode

    model = Vocos(config or VocosConfig())
    model.bf16 = bf16
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.8, 0.9), weight_decay=0.01)
    stft_loss = MultiResolutionSTFTLoss(TRAIN_RESOLUTIONS)
    audio, mel = _batch(batch, segment)

    def step() -> None:
        fake = model(mel)
        loss = 45 * mel_l1(fake, y_mel=mel) + 15 * stft_loss(fake, audio)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def backbone() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            h = model.head(model.backbone(mel))
        h.float().square().mean().backward()

    rows = {}
    for name, fn in (("step", step), ("backbone", backbone)):
        with FlopCounterMode(display=False) as counter:
            fn()
        times = []
        for i in range(warmup + steps):
            start = time.perf_counter()
            fn()
            if i >= warmup:
                times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        flops = counter.get_total_flops()
        rows[name] = {"seconds": round(seconds, 4), "gflop": round(flops / 1e9, 2),
                      "gflop_per_s": round(flops / 1e9 / seconds, 1)}
    audio_seconds = batch * segment / 22050
    return {"batch": batch, "segment": segment, "bf16": bf16, "threads": torch.get_num_threads(),
            "params": model.num_parameters, **{f"{k}_{m}": v for k, r in rows.items() for m, v in r.items()},
            "audio_seconds_per_s": round(audio_seconds / rows["step"]["seconds"], 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--segment", type=int, default=16384)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with torch_threads(args.threads):
        rows = [measure(args.batch, args.segment, args.steps, bf16) for bf16 in (False, True)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print("| precision | threads | step s | step GFLOP | GFLOP/s | backbone s | backbone GFLOP/s | audio s per s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {'bf16 autocast' if r['bf16'] else 'float32'} | {r['threads']} | {r['step_seconds']:.3f} | "
              f"{r['step_gflop']:.1f} | {r['step_gflop_per_s']:.0f} | {r['backbone_seconds']:.3f} | "
              f"{r['backbone_gflop_per_s']:.0f} | {r['audio_seconds_per_s']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
