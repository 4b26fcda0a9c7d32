"""The "Vocode" tab: one mel, every ticked vocoder side by side, each with its spectrogram, its distances
to the input and its speed. The work is :func:`engine.ops.vocode.compare`; this module only lays out widgets."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from engine.core.plots import mel_figure
from engine.ops.vocode import MEL, VOCODERS, analyze_file, compare, default_vocoder, is_available, load_mel

from ..common import AppContext, model_call, user_errors

LABELS = {
    "griffinlim": "Griffin-Lim", "wavenet": "WaveNet", "waveglow": "WaveGlow", "flowavenet": "FloWaveNet",
    "melgan": "MelGAN", "parallel_wavenet": "Parallel WaveNet", "hifigan": "HiFi-GAN", "vocos": "Vocos",
}
EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "vocode"  # a speech clip, a music clip, a mel
HEADERS = ["vocoder", "× real time", "MR-STFT distance ↓", "mel L1 ↓"]


def _choices() -> list[tuple[str, str]]:
    default = default_vocoder()
    return [(LABELS[n] + (" (default)" if n == default and n != "griffinlim" else "")
             + ("" if is_available(n) else " (not trained)"), n) for n in VOCODERS]


def _examples() -> list[list[str | None]]:
    """[audio, mel] rows: each audio example, then each mel .npy (with no audio, so the mel is used)."""
    if not EXAMPLES.is_dir():
        return []
    audio = sorted(EXAMPLES.glob("*.wav"), key=lambda p: (not p.name.startswith("speech"), p.name))
    return [[str(p), None] for p in audio] + [[None, str(p)] for p in sorted(EXAMPLES.glob("*.npy"))]


def build(ctx: AppContext) -> None:
    gr.Markdown(
        "Turn a mel spectrogram back into audio with each vocoder. Upload **audio** (it is analysed into the "
        "standard 80-band mel: 22,050 Hz, hop 256, fmax 8 kHz, natural log) or a **mel .npy** `[80, frames]` "
        "from another tool such as a Tacotron 2. Distances are to the input: lower is closer."
    )
    with gr.Row():
        with gr.Column():
            audio_in = gr.Audio(label="Audio (up to 60 s)", type="filepath", sources=["upload", "microphone"])
            mel_in = gr.File(label="…or a mel .npy [80, frames]", file_types=[".npy"], type="filepath")
            examples = _examples()
            if examples:
                gr.Examples(examples, inputs=[audio_in, mel_in], label="Examples (speech, music, a speech mel)")
        with gr.Column():
            ready = [n for n in VOCODERS if is_available(n)]
            chosen = gr.CheckboxGroup(_choices(), value=ready, label="Vocoders")
            iterations = gr.Slider(1, 200, value=32, step=1, label="Griffin-Lim iterations")
            sigma = gr.Slider(0.0, 1.0, value=0.6, step=0.05, label="Flow sampling temperature σ (WaveGlow, FloWaveNet)")
            run = gr.Button("Vocode", variant="primary")
    table = gr.Dataframe(headers=HEADERS, interactive=False, label="Side by side")
    panels = []
    with gr.Row(equal_height=False):
        for name in VOCODERS:
            with gr.Column(min_width=260, visible=False) as column:
                gr.Markdown(f"**{LABELS[name]}**")
                audio_out = gr.Audio(label=LABELS[name], type="numpy", interactive=False)
                plot = gr.Plot(label=f"{LABELS[name]} spectrogram")
            panels.append((column, audio_out, plot))

    @user_errors
    def vocode_all(audio_path, mel_path, names, n_iter, flow_sigma, progress=gr.Progress()):
        if not names:
            raise gr.Error("tick at least one vocoder")
        if audio_path:
            reference, mel = analyze_file(audio_path)
        elif mel_path:
            reference, mel = None, load_mel(mel_path)
        else:
            raise gr.Error("upload audio or a mel .npy first")
        options = {"griffinlim": {"n_iter": int(n_iter)}, "waveglow": {"sigma": float(flow_sigma)},
                   "flowavenet": {"sigma": float(flow_sigma)}}
        results = compare(mel, list(names), reference, ctx.device, options,
                          on_start=lambda i, n: progress((i, len(names)), desc=f"{LABELS[n]}…"))
        by_name = {r.vocoder: r for r in results}
        rows, updates = [], []
        for name in VOCODERS:
            r = by_name.get(name)
            if r is None:
                updates += [gr.Column(visible=False), None, None]
                continue
            if r.synthesis is None:
                rows.append([LABELS[name], r.error, None, None])
                updates += [gr.Column(visible=False), None, None]
                continue
            rows.append([LABELS[name], round(r.synthesis.rtf, 1),
                         None if r.mr_stft is None else round(r.mr_stft, 3), round(r.mel_l1, 3)])
            figure = mel_figure(r.synthesis.audio, MEL, title=f"{LABELS[name]} · {r.synthesis.rtf:.1f}× real time")
            pcm = (np.clip(r.synthesis.audio, -1, 1) * 32767).astype(np.int16)
            updates += [gr.Column(visible=True), (MEL.sample_rate, pcm), figure]
        return [rows, *updates]

    outputs = [table] + [c for panel in panels for c in panel]
    run.click(vocode_all, [audio_in, mel_in, chosen, iterations, sigma], outputs, api_name="vocode", **model_call())
