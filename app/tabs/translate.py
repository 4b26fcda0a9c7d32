"""The "Translate" tab: play a clip on other instruments, with either engine.

- polyphonic translation: the universal music translation network (chords included);
- monophonic tone transfer: the clip's f0 and loudness drive the DDSP timbre model.

The work is :func:`engine.ops.translate.translate`; this module only lays out widgets.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from engine.core.audio import save_wav
from engine.ops.translate import (
    ENGINES,
    PHASES,
    engine_available,
    engine_domains,
    engine_max_seconds,
    engine_rate,
    read_input,
    spectrogram_figure,
    translate,
)

from ..common import AppContext, missing_model_notice, model_call, user_errors

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "clips"
MAX_TARGETS = 4  # output panels: at most this many instruments per run
LABELS = {"umt": "Polyphonic translation (chords)", "tone": "Monophonic tone transfer (one melody line)"}
SHORT = {"umt": "Translation", "tone": "Tone transfer"}
PHASE_LABELS = {"input": "the input's (the notes stay exactly the input's)", "vocoder": "the vocoder's own"}


def build(ctx: AppContext) -> None:
    engines = [e for e in ENGINES if engine_available(e)]
    if not engines:
        missing_model_notice("Translate", "latentlab train translate --data data/clips (or install timbre_ddsp "
                             "for tone transfer)")
        return
    domains = {e: engine_domains(e) for e in engines}
    gr.Markdown(
        "Play a clip on other instruments. **Polyphonic translation**: the shared encoder keeps the music and "
        "drops the instrument, and each instrument's decoder writes its mel frames, voiced by a vocoder. "
        "**Monophonic tone transfer**: the clip's pitch and loudness (matched to the target's range) drive the "
        "DDSP timbre model with the target instrument's embedding — for one melody line, not chords. "
        "Trained on FluidSynth renders."
    )
    first = engines[0]
    with gr.Row():
        with gr.Column():
            clip = gr.Audio(label=f"Clip (any format, up to {engine_max_seconds(first):.0f} s)", type="filepath",
                            sources=["upload", "microphone"])
            examples = sorted(EXAMPLES.glob("*.wav")) if EXAMPLES.is_dir() else []
            if examples:
                gr.Examples([[str(p)] for p in examples], inputs=[clip], label="Example clips")
        with gr.Column():
            engine = gr.Radio([(LABELS[e], e) for e in engines], value=first, label="Engine")
            pickers = {e: gr.CheckboxGroup(domains.get(e, []), value=[d for d in domains.get(e, []) if d != "piano"][:2],
                                           label=f"{SHORT[e]}: play it on (up to {MAX_TARGETS})", visible=e in domains)
                       for e in ENGINES}  # one list per engine (their instruments differ); the chosen engine's counts
            seed = gr.Number(value=0, precision=0, label="Seed")
            phase = gr.Radio([(PHASE_LABELS[p], p) for p in PHASES], value=PHASES[0], visible="umt" in domains,
                             label="Translation: phase of the output")
            go = gr.Button("Translate", variant="primary")
    before = gr.Plot(label="Input spectrogram")
    panels = []
    with gr.Row(equal_height=False):
        for i in range(MAX_TARGETS):
            with gr.Column(min_width=260, visible=False) as column:
                name = gr.Markdown()
                audio = gr.Audio(label=f"output {i + 1}", type="numpy", interactive=False)
                plot = gr.Plot(label=f"output {i + 1} spectrogram")
            panels.append((column, name, audio, plot))
    files = gr.File(label="Download", file_count="multiple", interactive=False)

    @user_errors
    def run(path, engine_name, chosen_umt, chosen_tone, seed_value, phase_from="input", progress=gr.Progress()):
        if not path:
            raise gr.Error("upload a clip or pick an example first")
        if engine_name not in domains:
            raise gr.Error(f"choose an engine: {', '.join(domains)}")
        chosen = {"umt": chosen_umt, "tone": chosen_tone}[engine_name]
        if not chosen:
            raise gr.Error("choose at least one instrument")
        if len(chosen) > MAX_TARGETS:
            raise gr.Error(f"choose at most {MAX_TARGETS} instruments")
        rate = engine_rate(engine_name)
        audio = read_input(path, rate, engine_max_seconds(engine_name))
        outs = translate(audio, list(chosen), device=ctx.device, seed=int(seed_value or 0), engine=engine_name,
                         phase=phase_from or "input", progress=lambda fraction, message: progress(fraction, desc=message))
        folder = Path(tempfile.mkdtemp(prefix="latentlab-translate-"))
        updates, written = [], []
        for name, wave in outs.items():
            written.append(str(save_wav(folder / f"{Path(path).stem}-{name}.wav", wave, outs.sample_rate)))
            pcm = (np.clip(wave, -1, 1) * 32767).astype(np.int16)
            updates += [gr.Column(visible=True), f"**{name}**", (outs.sample_rate, pcm),
                        spectrogram_figure(wave, f"on {name}", outs.sample_rate)]
        for _ in range(MAX_TARGETS - len(outs)):
            updates += [gr.Column(visible=False), "", None, None]
        return [spectrogram_figure(audio, "input", rate), *updates, written]

    outputs = [before] + [c for panel in panels for c in panel] + [files]
    go.click(run, [clip, engine, *pickers.values(), seed, phase], outputs, api_name="translate", **model_call())
