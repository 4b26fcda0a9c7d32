"""``latentlab bench melody --diagnose``: where a MusicVAE's reconstructions go wrong, measured.

On a validation split (every window encoded to mu), :func:`diagnose_musicvae` reports

- accuracy per bar and per step within the bar, argmax-decoded and teacher-forced;
- accuracy per kind of event -- *onset* (a note starts), *note-off*, *hold* (NO_EVENT while a note sounds),
  *rest* (NO_EVENT in silence) -- and how often the truth and the argmax decodes hold each kind (a model
  that drones decodes far fewer onsets than the data has); onsets apart from their pitch (timing recall and
  precision, and the pitch of those in time);
- the KL per latent dimension: how many dimensions carry information (posterior collapse leaves most near
  0), and the share of the KL in the 10 largest, against the free bits the loss leaves unpenalised;
- how much the decoder uses z: accuracy again with each window's z swapped for another window's, and
  with z = 0 (a decoder that ignores z loses nothing);
- for a hierarchical model, whether the conductor's bar embeddings differ across the bars of a window
  (variance across bars against variance across windows) and how often a decoded bar repeats the bar
  before it, against the truth;
- optionally (:func:`latent_probe`, for a hierarchical model), which stage limits the reconstructions: on a
  few windows, the accuracy with z optimised by gradient descent for each window (the best any encoder
  could give this conductor and decoder) and with the 16 bar embeddings optimised directly (the best any
  conductor could give this decoder).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..core.midi import FIRST_PITCH_CLASS, NO_EVENT, NOTE_OFF

KINDS = ("onset", "note_off", "hold", "rest")
ACTIVE_KL_BITS = 0.1  # a latent dimension carrying less than this (mean over windows) is counted inactive
ACTIVE_UNIT_VARIANCE = 0.01  # Burda et al. 2016: active when Var_x E_q[z_d] exceeds this


def event_kinds(x: np.ndarray) -> np.ndarray:
    """Kind of every event: 0 onset, 1 note-off, 2 hold, 3 rest (KINDS order).  int[N x T] -> int8[N x T].

    A NO_EVENT is a hold when the last event before it that is not NO_EVENT is an onset (within the window).
    """
    x = np.asarray(x)
    t = np.arange(x.shape[1])
    last = np.maximum.accumulate(np.where(x != NO_EVENT, t, -1), axis=1)  # index of the last event, or -1
    prev = np.take_along_axis(x, np.maximum(last, 0), axis=1)
    sounding = (last >= 0) & (prev >= FIRST_PITCH_CLASS)
    kinds = np.where(x >= FIRST_PITCH_CLASS, 0, np.where(x == NOTE_OFF, 1, np.where(sounding, 2, 3)))
    return kinds.astype(np.int8)


def kind_frequencies(x: np.ndarray) -> dict[str, float]:
    """Fraction of events of each kind in int[N x T] (sums to 1)."""
    counts = np.bincount(event_kinds(x).ravel(), minlength=len(KINDS))
    return {k: float(c / max(counts.sum(), 1)) for k, c in zip(KINDS, counts)}


def onset_breakdown(truth: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    """Onsets apart from their pitch.  truth, pred: int[N x T].

    ``recall``: true onsets where ``pred`` also starts a note (any pitch); ``precision``: predicted onsets
    where the truth starts one; ``pitch``: of the true onsets matched in time, the share with the right pitch;
    ``within_octave``: ... whose pitch is off by less than 12 semitones.
    """
    t_on, p_on = truth >= FIRST_PITCH_CLASS, pred >= FIRST_PITCH_CLASS
    both = t_on & p_on

    def share(a, b):
        return float(a.sum() / b.sum()) if b.any() else None

    return {
        "recall": share(both, t_on),
        "precision": share(both, p_on),
        "pitch": share(both & (truth == pred), both),
        "within_octave": share(both & (np.abs(truth.astype(np.int64) - pred) < 12), both),
    }


def _per_kind(hits: np.ndarray, kinds: np.ndarray) -> dict[str, float | None]:
    return {k: (float(hits[kinds == i].mean()) if (kinds == i).any() else None) for i, k in enumerate(KINDS)}


@torch.no_grad()
def _passes(model: torch.nn.Module, x: torch.Tensor, z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Teacher-forced argmax and greedy-decoded events for targets x [B x T] given z [B x Z]."""
    tf = model._logits(x, z).argmax(-1)
    return tf.cpu().numpy(), model.decode(z).cpu().numpy()


def latent_probe(model: torch.nn.Module, windows: np.ndarray, iterations: int = 150, lr: float = 0.05) -> dict[str, Any]:
    """Reconstruction of a hierarchical MusicVAE with its inputs to each stage optimised per window.

    Parameters
    ----------
    model : a hierarchical MusicVAE (its weights are left unchanged)
    windows : int[N x T] windows to probe (a few dozen: each costs ``iterations`` forward and backward passes)
    iterations, lr : Adam on the teacher-forced cross-entropy, from the encoder's mu / the conductor's output

    Returns
    -------
    {"windows", "iterations", "encoder" / "optimised_z" / "optimised_bar_embeddings": {"teacher_forced_accuracy",
    "argmax_accuracy", "argmax_onset_accuracy"}}
    """
    import torch.nn.functional as F

    cfg = model.cfg
    if not cfg.hierarchical:
        raise ValueError("the latent probe needs a hierarchical model (a conductor)")
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(windows.astype(np.int64), device=device)
    rows = x.reshape(-1, cfg.bar_steps)  # [N*bars x bar_steps]
    prev = model.decoder.shift_right(rows)
    onsets = rows >= FIRST_PITCH_CLASS
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)

    def bars_of(z):
        return model.conductor(z).reshape(rows.shape[0], -1)

    def figures(c):
        with torch.no_grad():
            tf = model.decoder(prev, c).argmax(-1) == rows
            am = model.decoder.generate(c, cfg.bar_steps) == rows
        return {"teacher_forced_accuracy": float(tf.float().mean()), "argmax_accuracy": float(am.float().mean()),
                "argmax_onset_accuracy": float(am[onsets].float().mean()) if onsets.any() else None}

    def optimise(start, to_bars):
        param = start.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([param], lr=lr)
        for _ in range(iterations):
            logits = model.decoder(prev, to_bars(param))
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), rows.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return figures(to_bars(param.detach()))

    try:
        with torch.no_grad():
            mu = model.encode(x)
            start_bars = bars_of(mu)
        return {
            "windows": len(x),
            "iterations": iterations,
            "encoder": figures(start_bars),
            "optimised_z": optimise(mu, bars_of),
            "optimised_bar_embeddings": optimise(start_bars, lambda c: c),
        }
    finally:
        for p, g in zip(model.parameters(), frozen):
            p.requires_grad_(g)


@torch.no_grad()
def diagnose_musicvae(model: torch.nn.Module, windows: np.ndarray, train_windows: np.ndarray | None = None,
                      batch_size: int = 64, seed: int = 0, probe_windows: int = 0) -> dict[str, Any]:
    """Reconstruction figures of a MusicVAE broken down by bar, step, event kind and latent dimension.

    Parameters
    ----------
    model : a MusicVAE (flat or hierarchical)
    windows : int[N x T] validation windows (T = the model's steps)
    train_windows : int[M x T] training windows, for their event-kind frequencies (None skips them)
    batch_size : windows per forward pass
    seed : the permutation that swaps z between windows (and the windows the probe draws)
    probe_windows : run :func:`latent_probe` on this many windows (hierarchical models; 0 skips it)

    Returns
    -------
    a dict of plain numbers and lists; see the module docstring and :func:`format_diagnosis`
    """
    model.eval()
    cfg = model.cfg
    device = next(model.parameters()).device
    x_all = windows.astype(np.int64)
    n, steps = x_all.shape
    mus, sigmas = [], []
    for i in range(0, n, batch_size):
        mu, sigma = model.encoder(torch.as_tensor(x_all[i : i + batch_size], device=device))
        mus.append(mu.float())
        sigmas.append(sigma.float())
    mu, sigma = torch.cat(mus), torch.cat(sigmas)
    swapped = mu[torch.as_tensor(np.random.default_rng(seed).permutation(n), device=device)]
    runs = {"mu": mu, "swapped": swapped, "zero": torch.zeros_like(mu)}
    preds = {name: ([], []) for name in runs}
    for i in range(0, n, batch_size):
        x = torch.as_tensor(x_all[i : i + batch_size], device=device)
        for name, z in runs.items():
            tf, am = _passes(model, x, z[i : i + batch_size])
            preds[name][0].append(tf)
            preds[name][1].append(am)
    tf, am = (np.concatenate(p) for p in preds["mu"])
    kinds = event_kinds(x_all)
    tf_hits, am_hits = tf == x_all, am == x_all
    bars = steps // cfg.bar_steps

    def by_bar(hits):
        return hits.reshape(n, bars, cfg.bar_steps).mean((0, 2)).tolist()

    def by_step(hits):
        return hits.reshape(n, bars, cfg.bar_steps).mean((0, 1)).tolist()

    kl = 0.5 * (mu.pow(2) + sigma.pow(2) - 1.0 - 2.0 * torch.log(sigma))  # [N x Z] nats
    kl_dim_bits = (kl.mean(0) / math.log(2.0)).cpu().numpy()
    order = np.sort(kl_dim_bits)[::-1]
    report: dict[str, Any] = {
        "windows": n,
        "steps": steps,
        "bars": bars,
        "argmax_accuracy": float(am_hits.mean()),
        "teacher_forced_accuracy": float(tf_hits.mean()),
        "per_bar": {"argmax": by_bar(am_hits), "teacher_forced": by_bar(tf_hits)},
        "per_step_in_bar": {"argmax": by_step(am_hits), "teacher_forced": by_step(tf_hits)},
        "per_kind": {"argmax": _per_kind(am_hits, kinds), "teacher_forced": _per_kind(tf_hits, kinds)},
        "onsets": {"argmax": onset_breakdown(x_all, am), "teacher_forced": onset_breakdown(x_all, tf)},
        "kind_frequency": {
            "validation": kind_frequencies(x_all),
            "train": kind_frequencies(train_windows) if train_windows is not None else None,
            "argmax_decodes": kind_frequencies(am),
            "teacher_forced_predictions": kind_frequencies(tf),
        },
        "latent": {
            "z_dim": int(mu.shape[1]),
            "kl_bits": float(kl_dim_bits.sum()),
            "free_bits": float(cfg.free_bits),
            "max_beta": float(cfg.max_beta),
            "beta_rate": float(cfg.beta_rate),
            "kl_bits_per_dim": kl_dim_bits.tolist(),
            "dims_above_kl_threshold": int((kl_dim_bits > ACTIVE_KL_BITS).sum()),
            "active_units": int((mu.var(0) > ACTIVE_UNIT_VARIANCE).sum()),
            "top10_kl_share": float(order[:10].sum() / max(order.sum(), 1e-12)),
            "mean_sigma": float(sigma.mean()),
        },
        "z_ablation": {},
    }
    for name in ("swapped", "zero"):
        tf_z, am_z = (np.concatenate(p) for p in preds[name])
        report["z_ablation"][name] = {
            "teacher_forced_accuracy": float((tf_z == x_all).mean()),
            "argmax_accuracy": float((am_z == x_all).mean()),
            "teacher_forced_onset_accuracy": float((tf_z == x_all)[kinds == 0].mean()) if (kinds == 0).any() else None,
        }
    if cfg.hierarchical:
        emb = torch.cat([model.conductor(mu[i : i + batch_size]) for i in range(0, n, batch_size)]).float()  # [N x bars x H]
        across_bars = float(emb.var(1).mean())
        across_windows = float(emb.var(0).mean())
        cos = torch.nn.functional.cosine_similarity(emb[:, 1:], emb[:, :-1], dim=-1)  # [N x bars-1]

        def repeats(events):
            b = events.reshape(n, bars, cfg.bar_steps)
            return float((b[:, 1:] == b[:, :-1]).all(-1).mean())

        report["conductor"] = {
            "variance_across_bars": across_bars,
            "variance_across_windows": across_windows,
            "ratio": across_bars / max(across_windows, 1e-12),
            "consecutive_bar_cosine": float(cos.mean()),
            "decoded_bar_repeats_previous": repeats(am),
            "true_bar_repeats_previous": repeats(x_all),
        }
        if probe_windows:
            chosen = np.random.default_rng(seed).choice(n, size=min(probe_windows, n), replace=False)
            with torch.enable_grad():
                report["latent_probe"] = latent_probe(model, x_all[np.sort(chosen)])
    return report


def format_diagnosis(r: dict[str, Any]) -> str:
    """The diagnosis as a short text report."""
    def row(values, fmt=".3f"):
        return " ".join("   —" if v is None else format(v, fmt) for v in values)

    lines = [
        f"{r['windows']} validation windows of {r['bars']} bars: argmax accuracy {r['argmax_accuracy']:.4f}, "
        f"teacher-forced {r['teacher_forced_accuracy']:.4f}",
        f"  per bar, argmax:          {row(r['per_bar']['argmax'])}",
        f"  per bar, teacher-forced:  {row(r['per_bar']['teacher_forced'])}",
        f"  per step in bar, argmax:  {row(r['per_step_in_bar']['argmax'])}",
        f"  per step, teacher-forced: {row(r['per_step_in_bar']['teacher_forced'])}",
        f"  per kind                  {' '.join(f'{k:>8}' for k in KINDS)}",
    ]
    for label, key in (("argmax accuracy", "argmax"), ("teacher-forced accuracy", "teacher_forced")):
        lines.append(f"    {label:<24}{' '.join(f'{v:8.3f}' if v is not None else '       —' for v in r['per_kind'][key].values())}")
    for label, key in (("argmax", "argmax"), ("teacher-forced", "teacher_forced")):
        o = {k: "—" if v is None else f"{v:.3f}" for k, v in r["onsets"][key].items()}
        lines.append(f"  onsets, {label}: recall {o['recall']}, precision {o['precision']} (timing only); "
                     f"right pitch {o['pitch']} of those in time, within an octave {o['within_octave']}")
    for label, key in (("share in validation", "validation"), ("share in train", "train"),
                       ("share in argmax decodes", "argmax_decodes"), ("share, teacher-forced", "teacher_forced_predictions")):
        freq = r["kind_frequency"][key]
        if freq is not None:
            lines.append(f"    {label:<24}{' '.join(f'{v:8.3f}' for v in freq.values())}")
    lat = r["latent"]
    lines.append(
        f"  latent: KL {lat['kl_bits']:.1f} bits over {lat['z_dim']} dims (free bits {lat['free_bits']:.0f}, max beta "
        f"{lat['max_beta']}, beta rate {lat['beta_rate']}); {lat['dims_above_kl_threshold']} dims above "
        f"{ACTIVE_KL_BITS} bits, {lat['active_units']} active units (Var mu > {ACTIVE_UNIT_VARIANCE}); the 10 largest "
        f"hold {lat['top10_kl_share']:.0%} of the KL; mean sigma {lat['mean_sigma']:.3f}"
    )
    for name, label in (("swapped", "z of another window"), ("zero", "z = 0")):
        a = r["z_ablation"][name]
        onsets = "—" if a["teacher_forced_onset_accuracy"] is None else f"{a['teacher_forced_onset_accuracy']:.4f}"
        lines.append(f"  with {label}: teacher-forced {a['teacher_forced_accuracy']:.4f} (onsets {onsets}), "
                     f"argmax {a['argmax_accuracy']:.4f}")
    if "conductor" in r:
        c = r["conductor"]
        lines.append(
            f"  conductor: variance across bars {c['variance_across_bars']:.4g}, across windows {c['variance_across_windows']:.4g} "
            f"(ratio {c['ratio']:.3f}); consecutive bars' cosine {c['consecutive_bar_cosine']:.3f}; a decoded bar repeats the "
            f"one before {c['decoded_bar_repeats_previous']:.3f} of the time (the truth {c['true_bar_repeats_previous']:.3f})"
        )
    if "latent_probe" in r:
        p = r["latent_probe"]
        lines.append(f"  latent probe on {p['windows']} windows ({p['iterations']} Adam steps each):")
        for key, label in (("encoder", "the encoder's mu"), ("optimised_z", "z optimised per window"),
                           ("optimised_bar_embeddings", "bar embeddings optimised per bar")):
            f = p[key]
            onsets = "—" if f["argmax_onset_accuracy"] is None else f"{f['argmax_onset_accuracy']:.3f}"
            lines.append(f"    {label:<34} teacher-forced {f['teacher_forced_accuracy']:.3f}, argmax "
                         f"{f['argmax_accuracy']:.3f} (onsets {onsets})")
    return "\n".join(lines)
