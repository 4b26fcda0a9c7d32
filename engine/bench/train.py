"""What one training step of every recipe costs on this machine, against the machine's own matmul peak.

    latentlab bench train [RECIPE ...] [--baseline] [--compile] [--steps N] [--threads N] [--json]

Each recipe runs its real model config, task and batch size through the shared :class:`Trainer`
(``Trainer.train_step``: autocast as the recipe sets it, the task's losses, backward, clip, optimiser) on
tiny synthetic batches of the recipe's real shapes, so no dataset is needed. Per recipe: the median step
time after warm-up, examples and audio seconds (melody windows for the symbolic models) per second, the
FLOPs of one step counted by ``torch.utils.flop_counter.FlopCounterMode`` (forward + backward; the
optimiser's elementwise work is not counted) and the GFLOP/s they make, as a share of the float32 or
bfloat16 peak of a 2048 x 2048 matmul measured in the same run. ``--baseline`` also runs every recipe as
it was before ``cpu_bf16`` (float32 throughout), its steps interleaved with the recipe's so that both see the
same load, and the gain is a ratio from one run. ``--compile`` adds a third variant, the recipe with every
module of its model compiled by ``torch.compile`` (inductor), timed the same way after its compilation.

:func:`compare_losses` trains a recipe twice from the same seed on the same synthetic batches, float32
and bf16 autocast (float32 master weights), to check that bf16 trains as well.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..core.device import bf16_enabled, cpu_has_bf16
from ..core.metrics import torch_threads
from ..train.loop import TrainConfig, Trainer, TrainTask

PEAK_SIZE = 2048  # matmul side for the peak
MELODY_CLASSES = 90


@dataclass
class Setup:
    """One recipe ready to step: its task, optimisation settings and a batch maker."""

    task: TrainTask
    cfg: TrainConfig
    make_batch: Callable[[int], Any]  # seed -> one batch of the recipe's real shapes
    examples: int  # examples per batch (segments x domains for translate)
    seconds: float | None  # audio seconds per batch (None: symbolic)
    windows: int | None = None  # melody windows per batch
    start_step: int = 0  # the loop's step counter at the start (GANs: the adversarial phase)
    bf16_attr: Any = None  # a module whose ``bf16`` flag does its own autocast (Vocos)

    @property
    def bf16(self) -> bool:
        """Whether the step runs in bf16 on the CPU: asked for, and the CPU runs it (else float32)."""
        own = bool(getattr(self.bf16_attr, "bf16", False))
        return bf16_enabled("cpu", own or self.cfg.cpu_bf16)


# -- synthetic batches ------------------------------------------------------------------------------
def harmonic_audio(batch: int, samples: int, rate: int, seed: int) -> torch.Tensor:
    """Tones of 8 harmonics at random pitches and levels plus a little noise: Tensor[batch x samples]."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / rate
    f0 = 80 + 400 * torch.rand(batch, 1, generator=g)
    level = 0.1 + 0.4 * torch.rand(batch, 1, generator=g)
    audio = sum(torch.sin(2 * math.pi * k * f0 * t + k) / k for k in range(1, 9)) * level / 2
    return (audio + 0.005 * torch.randn(batch, samples, generator=g)).clamp(-1, 1)


def melody_windows(batch: int, steps: int, seed: int) -> torch.Tensor:
    """Random-walk melodies with held notes and rests in the 90-class encoding: LongTensor[batch x steps]."""
    g = torch.Generator().manual_seed(seed)
    pitch = 60 + torch.randint(-6, 7, (batch, 1), generator=g)
    walk = torch.randint(-3, 4, (batch, steps), generator=g).cumsum(1)
    notes = (pitch + walk).clamp(21, 108) - 21 + 2  # classes 2.. are pitches
    onset = torch.rand(batch, steps, generator=g) < 0.4
    rest = torch.rand(batch, steps, generator=g) < 0.05
    x = torch.where(onset, notes, torch.ones_like(notes))  # 1: no event (hold)
    x[rest] = 0  # 0: note off
    return x.long()


# -- recipes ----------------------------------------------------------------------------------------
def _melody(name: str) -> Setup:
    from ..models.musicvae import MusicVAE
    from ..train.melody import RECIPES, MusicVAETask

    recipe = RECIPES[name]
    torch.set_flush_denormal(True)  # as train_melody does
    b, t = recipe.train.batch_size, recipe.model.steps
    return Setup(MusicVAETask(MusicVAE(recipe.model)), recipe.train, lambda s: melody_windows(b, t, s), b, None, b)


def _pixel(name: str) -> Setup:
    from ..core.midi import STEPS_PER_BAR
    from ..models.autoregressive import ARCHS
    from ..train.pixel import RECIPES, GridTask

    recipe = RECIPES[name]
    torch.set_flush_denormal(True)
    b = recipe.train.batch_size
    model = ARCHS[recipe.arch][0](recipe.model)
    return Setup(GridTask(model), recipe.train,
                 lambda s: melody_windows(b, 256, s).view(b, -1, STEPS_PER_BAR), b, None, b)


def _timbre(name: str) -> Setup:
    from ..models.nsynth import NSynthAutoencoder, NSynthConfig
    from ..core.audio import mulaw_encode
    from ..train.timbre import RECIPES, WINDOW, TimbreTask

    cfg = RECIPES["timbre"]
    b = cfg.batch_size

    def batch(seed: int) -> dict[str, torch.Tensor]:
        audio = mulaw_encode(harmonic_audio(b, WINDOW, 16_000, seed))
        return {"audio": audio, "pitch": torch.randint(40, 90, (b,), generator=torch.Generator().manual_seed(seed))}

    return Setup(TimbreTask(NSynthAutoencoder(NSynthConfig())), cfg, batch, b, b * WINDOW / 16_000)


def _timbre_ddsp(name: str) -> Setup:
    from ..models.ddsp import DDSPAutoencoder, DDSPConfig
    from ..train.timbre_ddsp import CROP, RECIPES, DDSPTask

    cfg, model_cfg = RECIPES["timbre_ddsp"], DDSPConfig()
    b = cfg.batch_size

    def batch(seed: int) -> dict[str, torch.Tensor]:
        f0 = 80 + 400 * torch.rand(b, 1, generator=torch.Generator().manual_seed(seed))
        return {"audio": harmonic_audio(b, CROP, 16_000, seed), "f0": f0.expand(b, CROP // model_cfg.hop).clone()}

    return Setup(DDSPTask(DDSPAutoencoder(model_cfg)), cfg, batch, b, b * CROP / 16_000)


def _translate(name: str) -> Setup:
    from ..data.translate import DEFAULT_DOMAINS
    from ..models.translator import Translator, sized_config
    from ..train.translate import RECIPES, SEGMENT, TranslateTask

    cfg = RECIPES["translate"]
    d = len(DEFAULT_DOMAINS)
    n = cfg.batch_size * d

    def batch(seed: int) -> dict[str, torch.Tensor]:
        return {"audio": harmonic_audio(n, SEGMENT, 16_000, seed), "domain": torch.arange(d).repeat(cfg.batch_size)}

    return Setup(TranslateTask(Translator(sized_config("default", DEFAULT_DOMAINS))), cfg, batch, n,
                 n * SEGMENT / 16_000)


def _vocoder(name: str) -> Setup:
    from ..core.mel import mel_spectrogram
    from ..train.vocode import train_recipe, train_task_class

    vocoder, _, phase = name.partition(":")
    cls = train_task_class(vocoder)
    task, cfg = cls.create(None), train_recipe(vocoder)
    b, seg = cfg.batch_size, cls.segment

    def batch(seed: int) -> dict[str, torch.Tensor]:
        audio = harmonic_audio(b, seg, 22_050, seed)
        return {"audio": audio, "mel": mel_spectrogram(audio)}

    start = task.weights.adv_start if phase == "adv" else 0
    bf16_attr = task.vocoder if hasattr(task.vocoder, "bf16") else None
    return Setup(task, cfg, batch, b, b * seg / 22_050, start_step=start, bf16_attr=bf16_attr)


# recipe name -> builder; ":adv" rows are the GAN vocoders' adversarial phase (after adv_start)
RECIPES: dict[str, Callable[[str], Setup]] = {
    "mel_2bar": _melody, "mel_16bar": _melody, "pixelcnn_16bar": _pixel,
    "timbre": _timbre, "timbre_ddsp": _timbre_ddsp, "translate": _translate,
    "melgan": _vocoder, "melgan:adv": _vocoder, "hifigan": _vocoder, "hifigan:adv": _vocoder, "vocos": _vocoder,
    "vocos:adv": _vocoder,
    "wavenet": _vocoder, "waveglow": _vocoder, "flowavenet": _vocoder,
}


def setup(name: str, bf16: bool | None = None, batch_scale: int = 1) -> Setup:
    """Recipe ``name`` built with its real config; ``bf16`` None keeps the recipe's choice, True / False forces
    bf16 autocast on the CPU on / off (False is the recipe as it was before ``cpu_bf16``: float32 throughout).
    ``batch_scale`` multiplies the batch (``train all`` on a GPU)."""
    if name not in RECIPES:
        raise KeyError(name)
    torch.manual_seed(0)
    s = RECIPES[name](name)
    if batch_scale != 1:
        s = _scaled(s, batch_scale)
    if bf16 is not None:
        s.cfg = dataclasses.replace(s.cfg, cpu_bf16=bf16)
        if s.bf16_attr is not None:
            s.bf16_attr.bf16 = bf16
        if hasattr(s.task.model, "discriminator_bf16"):  # a GAN vocoder's discriminators (Vocos: on alone)
            s.task.model.discriminator_bf16 = bf16
    return s


def _scaled(s: Setup, k: int) -> Setup:
    """``s`` with every batch ``k`` times larger (the batch maker concatenates ``k`` batches)."""
    make = s.make_batch

    def batch(seed: int) -> Any:
        parts = [make(seed * k + i) for i in range(k)]
        if isinstance(parts[0], dict):
            return {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
        return torch.cat(parts)

    cfg = dataclasses.replace(s.cfg, batch_size=s.cfg.batch_size * k)
    return dataclasses.replace(s, cfg=cfg, make_batch=batch, examples=s.examples * k,
                               seconds=s.seconds * k if s.seconds else None, windows=s.windows * k if s.windows else None)


def compiled(s: Setup) -> Setup:
    """``s`` with every direct submodule of its task's model compiled in place (``nn.Module.compile``: the
    calls a task makes to its generator, discriminators, encoder ... all go through the compiled forward)."""
    for module in s.task.model.children():
        module.compile()
    return s


def make_trainer(s: Setup, device: torch.device | str = "cpu", run_dir: str | Path | None = None) -> Trainer:
    """A Trainer over ``s`` (no dataset: the bench feeds ``train_step`` itself)."""
    trainer = Trainer(s.task, [], None, s.cfg, run_dir or tempfile.gettempdir(), device=device, progress=False)
    trainer.step = s.start_step
    return trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_times(s: Setup | list[Setup], steps: int = 5, warmup: int = 2, device: torch.device | str = "cpu",
               flops: bool = True) -> dict[str, Any] | list[dict[str, Any]]:
    """Median seconds of a training step after ``warmup`` steps, and the FLOPs of one step.

    Given a list of setups (a recipe and its baseline), their steps are interleaved, one of each in turn, so
    that every setup is timed under the same load of a shared machine and their ratio holds.
    """
    from torch.utils.flop_counter import FlopCounterMode

    setups = s if isinstance(s, list) else [s]
    trainers = [make_trainer(x, device) for x in setups]
    dev = trainers[0].device
    batches = [[x.make_batch(i) for i in range(2)] for x in setups]
    times: list[list[float]] = [[] for _ in setups]
    for i in range(warmup + steps):
        for k, trainer in enumerate(trainers):
            _sync(dev)
            t = time.perf_counter()
            trainer.train_step(batches[k][i % 2])
            _sync(dev)
            if i >= warmup:
                times[k].append(time.perf_counter() - t)
    out = []
    for k, trainer in enumerate(trainers):
        total = None
        if flops:
            counter = FlopCounterMode(display=False)
            with counter:
                trainer.train_step(batches[k][0])
            total = counter.get_total_flops()
        out.append({"seconds": statistics.median(times[k]), "times": times[k], "flops": total})
    return out if isinstance(s, list) else out[0]


def matmul_peak(dtype: torch.dtype, size: int = PEAK_SIZE, repeats: int = 5) -> float:
    """GFLOP/s of a ``size`` x ``size`` matmul in ``dtype`` (the best of ``repeats``).

    On a CPU that emulates bfloat16 (no :func:`engine.core.device.cpu_has_bf16`; some 50x slower than float32,
    where no recipe uses it) bfloat16 is timed once at 512 x 512, which tells as much in a second.
    """
    if dtype == torch.bfloat16 and not cpu_has_bf16():
        size, repeats = min(size, 512), 1
    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    a @ b
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def _row(name: str, s: Setup, m: dict[str, Any], peaks: dict[str, float], variant: str) -> dict[str, Any]:
    sec = m["seconds"]
    gflops = m["flops"] / sec / 1e9 if m["flops"] else None
    peak = peaks["bfloat16" if s.bf16 else "float32"]
    return {
        "recipe": name, "variant": variant, "bf16": s.bf16, "batch": s.cfg.batch_size, "step_s": round(sec, 4),
        "examples_per_s": round(s.examples / sec, 2),
        "audio_s_per_s": round(s.seconds / sec, 3) if s.seconds else None,
        "windows_per_s": round(s.windows / sec, 1) if s.windows else None,
        "gflop_per_step": round(m["flops"] / 1e9, 2) if m["flops"] else None,
        "gflop_s": round(gflops, 1) if gflops else None,
        "peak_share": round(gflops / peak, 3) if gflops else None,
        "steps_per_cpu_hour": round(3600 / sec / torch.get_num_threads()),
    }


def bench_train(names: list[str] | None = None, steps: int = 5, warmup: int = 2, baseline: bool = False,
                threads: int | None = None, device: str = "cpu", compile_: bool = False,
                log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Rows for every recipe in ``names`` (default: all), plus the matmul peaks, measured in one run.

    Returns ``{"peaks": {"float32": GFLOP/s, "bfloat16": GFLOP/s}, "threads": n, "rows": [...]}``; with
    ``baseline`` each recipe has a second row (variant "baseline": float32) and its row a ``gain``; with
    ``compile_`` a row "compiled" (the recipe under ``torch.compile``) whose ``gain`` is against the recipe's row.
    """
    names = names or list(RECIPES)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        from ..core.errors import LatentLabError

        raise LatentLabError(f"unknown training recipe(s) {', '.join(unknown)}: choose from {', '.join(RECIPES)}")
    rows = []
    with torch_threads(threads):
        peaks = {"float32": matmul_peak(torch.float32), "bfloat16": matmul_peak(torch.bfloat16)}
        for name in names:
            variants = ([("recipe", None)] + ([("baseline", False)] if baseline else [])
                        + ([("compiled", None)] if compile_ else []))
            setups = [compiled(setup(name, bf16)) if v == "compiled" else setup(name, bf16) for v, bf16 in variants]
            measured = {}
            for (variant, _), s, m in zip(variants, setups, step_times(setups, steps, warmup, device)):
                measured[variant] = _row(name, s, m, peaks, variant)
                if log:
                    log(f"{name} ({variant}): {m['seconds']:.3f} s a step")
            if baseline:
                measured["recipe"]["gain"] = round(measured["baseline"]["step_s"] / measured["recipe"]["step_s"], 2)
            if compile_:
                measured["compiled"]["gain"] = round(measured["recipe"]["step_s"] / measured["compiled"]["step_s"], 2)
            rows += measured.values()
        peaks_after = {"float32": matmul_peak(torch.float32), "bfloat16": matmul_peak(torch.bfloat16)}
        threads_used = torch.get_num_threads()
    return {"peaks": {k: round(v, 1) for k, v in peaks.items()},
            "peaks_after": {k: round(v, 1) for k, v in peaks_after.items()}, "threads": threads_used, "rows": rows}


def format_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table."""
    p, q = report["peaks"], report["peaks_after"]
    lines = [f"matmul {PEAK_SIZE}^2 peak, {report['threads']} thread(s): float32 {p['float32']:.0f} GFLOP/s, bfloat16 "
             f"{p['bfloat16']:.0f} (at the end of the run: {q['float32']:.0f} / {q['bfloat16']:.0f})", "",
             "| recipe | variant | bf16 | batch | step s | examples/s | audio s/s | windows/s | GFLOP/step | GFLOP/s "
             "| % of peak | gain |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]

    def f(v: Any, fmt: str = "{}") -> str:
        return "-" if v is None else fmt.format(v)

    for r in report["rows"]:
        lines.append(
            f"| {r['recipe']} | {r['variant']} | {'yes' if r['bf16'] else 'no'} | {r['batch']} | {r['step_s']:.3f} | "
            f"{r['examples_per_s']:.1f} | {f(r['audio_s_per_s'], '{:.2f}')} | {f(r['windows_per_s'])} | "
            f"{f(r['gflop_per_step'])} | {f(r['gflop_s'])} | {f(r['peak_share'] and 100 * r['peak_share'], '{:.0f}')} | "
            f"{f(r.get('gain'), '{:.2f}x')} |")
    return "\n".join(lines)


def compare_losses(name: str, steps: int = 200, pool: int = 16, threads: int | None = None) -> dict[str, Any]:
    """Train recipe ``name`` for ``steps`` steps twice from the same seed over the same ``pool`` synthetic
    batches, float32 and bf16 autocast (float32 master weights): both loss curves, their means over the first
    and last 10% of the steps, and the seconds a step of each."""
    out: dict[str, Any] = {"recipe": name, "steps": steps}
    with torch_threads(threads):
        for variant, bf16 in (("float32", False), ("bf16", True)):
            s = setup(name, bf16)
            trainer = make_trainer(s)
            batches = [s.make_batch(1000 + i) for i in range(pool)]
            losses = []
            t = time.perf_counter()
            for i in range(steps):
                losses.append(float(trainer.train_step(batches[i % pool])["loss"].detach()))
            k = max(1, steps // 10)
            out[variant] = {"first": statistics.mean(losses[:k]), "last": statistics.mean(losses[-k:]),
                            "s_per_step": (time.perf_counter() - t) / steps, "losses": losses}
    return out
