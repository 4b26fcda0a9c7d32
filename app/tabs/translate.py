"""The "Translate" tab: play a clip on other instruments with the music translation network.

The work is :func:`engine.ops.translate.translate`; this module only lays out widgets.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from engine.core.audio import save_wav
from engine.ops.translate import (
    MAX_SECONDS,
    SAMPLE_RATE,
    list_domains,
    model_available,
    read_input,
    spectrogram_figure,
    translate,
)

from ..common import AppContext, missing_model_notice, model_call, user_errors

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "clips"


def build(ctx: AppContext) -> None:
    if not model_available():
        missing_model_notice("Translate", "latentlab train translate --data data/clips")
        return
    domains = list_domains()
    gr.Markdown(
        "Play a clip on other instruments. The shared encoder keeps the music and drops the instrument; each "
        f"instrument's WaveNet decoder plays it again, sample by sample (16 kHz, up to {MAX_SECONDS:.0f} s; "
        "decoding takes a while on a CPU). Trained on FluidSynth renders of folk tunes and Bach chorales."
    )
    with gr.Row():
        with gr.Column():
            clip = gr.Audio(label=f"Clip (any format, up to {MAX_SECONDS:.0f} s)", type="filepath",
                            sources=["upload", "microphone"])
            examples = sorted(EXAMPLES.glob("*.wav")) if EXAMPLES.is_dir() else []
            if examples:
                gr.Examples([[str(p)] for p in examples], inputs=[clip], label="Example clips")
        with gr.Column():
            targets = gr.CheckboxGroup(domains, value=[d for d in domains if d != "piano"][:2], label="Play it on")
            seed = gr.Number(value=0, precision=0, label="Seed")
            go = gr.Button("Translate", variant="primary")
    before = gr.Plot(label="Input spectrogram")
    panels = []
    with gr.Row(equal_height=False):
        for name in domains:
            with gr.Column(min_width=260, visible=False) as column:
                audio = gr.Audio(label=name, type="numpy", interactive=False)
                plot = gr.Plot(label=f"{name} spectrogram")
            panels.append((column, audio, plot))
    files = gr.File(label="Download", file_count="multiple", interactive=False)

    @user_errors
    def run(path, chosen, seed_value, progress=gr.Progress()):
        if not path:
            raise gr.Error("upload a clip or pick an example first")
        if not chosen:
            raise gr.Error("choose at least one instrument")
        audio = read_input(path)
        outs = translate(audio, list(chosen), device=ctx.device, seed=int(seed_value or 0),
                         progress=lambda fraction, message: progress(fraction, desc=message))
        folder = Path(tempfile.mkdtemp(prefix="latentlab-translate-"))
        updates, written = [], []
        for name in domains:
            if name not in outs:
                updates += [gr.Column(visible=False), None, None]
                continue
            wave = outs[name]
            written.append(str(save_wav(folder / f"{Path(path).stem}-{name}.wav", wave, SAMPLE_RATE)))
            pcm = (np.clip(wave, -1, 1) * 32767).astype(np.int16)
            updates += [gr.Column(visible=True), (SAMPLE_RATE, pcm), spectrogram_figure(wave, f"on {name}")]
        return [spectrogram_figure(audio, "input"), *updates, written]

    outputs = [before] + [c for panel in panels for c in panel] + [files]
    go.click(run, [clip, targets, seed], outputs, api_name="translate", **model_call())
