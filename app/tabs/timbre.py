"""The "Timbre" tab: morph two notes through a timbre autoencoder (DDSP or NSynth WaveNet; beside the plain
audio mix at the same weights), and the NSynth Super 4-corner grid. The work is :mod:`engine.ops.timbre`; this module only lays out
widgets."""

from __future__ import annotations

import gradio as gr
import numpy as np

from engine.core.plots import embedding_figure, rainbowgram, subplots_grid
from engine.ops.timbre import MODELS, SAMPLE_RATE, available_models, example_notes, grid, load_model, morph, prepare

from ..common import AppContext, missing_model_notice, model_call, user_errors

INTRO = (
    "Encode notes into the autoencoder's **temporal embedding** (16 numbers per 32 ms) and decode blends of them. "
    "Beside every morph you hear the **plain audio mix** at the same weights: the morph makes one new sound, the "
    "mix two sounds at once — the contrast of the NSynth paper. Pick bundled FluidR3 notes or upload your own "
    "(cut or padded to 4 s, 16 kHz mono).\n\n"
    "- **DDSP** (`timbre_ddsp`): the embedding, the pitch (in semitones) and the loudness (in dB) of the two notes are "
    "interpolated frame by frame and drive a harmonic-plus-noise synthesizer — the pitch is kept by construction "
    "and a morph takes about a second. A bundled note plays at its own pitch; an upload follows its pYIN f0.\n"
    "- **NSynth WaveNet** (`timbre`): the embedding and the pitch drive a WaveNet decoder, sample by sample "
    "(about half a minute for five steps)."
)


def _pcm(audio: np.ndarray) -> tuple[int, np.ndarray]:
    return SAMPLE_RATE, (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


def _model_name(name: str | None) -> str:
    """The installed model the user picked (the API may send None for the default, or a wrong name)."""
    models = available_models()
    if name is None:
        return models[0]
    if name not in models:
        raise gr.Error(f"unknown timbre model {name!r}; installed: {', '.join(models)}")
    return name


def build(ctx: AppContext) -> None:
    models = available_models()
    if not models:
        missing_model_notice("Timbre", "latentlab data timbre && latentlab train timbre --arch ddsp")
        return
    notes = example_notes()
    instruments = list(dict.fromkeys((n.label, n.instrument) for n in notes))
    pitches = sorted({n.pitch for n in notes})
    gr.Markdown(INTRO)
    model_name = gr.Dropdown([(f"{MODELS[m]} ({m})", m) for m in models], value=models[0], label="Model",
                             visible=len(models) > 1)

    def note_audio(instrument: str, upload: str | None, pitch: int) -> tuple[np.ndarray, int | None, str]:
        """(prepared audio, the decoder's pitch or None to estimate it, a label)."""
        if upload:
            return prepare(upload), None, "upload"
        match = [n for n in notes if n.instrument == instrument and n.pitch == int(pitch)]
        if not match:
            raise gr.Error("pick an instrument and a pitch, or upload a note")
        return prepare(match[0].path), match[0].pitch, match[0].label

    # -- morph ------------------------------------------------------------------------------------
    with gr.Row():
        with gr.Column():
            inst_a = gr.Dropdown(instruments, value=instruments[0][1] if instruments else None, label="Sound A")
            upload_a = gr.Audio(label="…or upload A", type="filepath", sources=["upload", "microphone"])
        with gr.Column():
            inst_b = gr.Dropdown(instruments, value=instruments[-1][1] if instruments else None, label="Sound B")
            upload_b = gr.Audio(label="…or upload B", type="filepath", sources=["upload", "microphone"])
        with gr.Column():
            pitch = gr.Dropdown(pitches, value=pitches[0] if pitches else None, label="Pitch (bundled notes)")
            steps = gr.Slider(2, 9, value=5, step=1, label="Morph steps")
            run = gr.Button("Morph", variant="primary")
    with gr.Row():
        plot_a = gr.Plot(label="Rainbowgram A")
        plot_b = gr.Plot(label="Rainbowgram B")
    plot_z = gr.Plot(label="Embeddings (16 channels over time)")
    position = gr.Slider(0, 4, value=2, step=1, label="Morph position (0 = A, last = B)")
    with gr.Row():
        with gr.Column():
            morph_audio = gr.Audio(label="Morph (interpolated embedding, decoded)", type="numpy", interactive=False)
            morph_plot = gr.Plot(label="Morph rainbowgram")
        with gr.Column():
            mix_audio = gr.Audio(label="Plain audio mix, same weights", type="numpy", interactive=False)
            mix_plot = gr.Plot(label="Mix rainbowgram")
    state = gr.State()

    def show_step(result, i):
        if not result:
            return None, None, None, None
        i = int(np.clip(i, 0, len(result["audio"]) - 1))
        w = result["weights"][i]
        title = f"{100 * w:.0f}% B"
        return (_pcm(result["audio"][i]), rainbowgram(result["audio"][i], SAMPLE_RATE, f"morph · {title}"),
                _pcm(result["mixes"][i]), rainbowgram(result["mixes"][i], SAMPLE_RATE, f"mix · {title}"))

    @user_errors
    def do_morph(a_inst, a_up, b_inst, b_up, p, n, name, progress=gr.Progress()):
        a, pa, label_a = note_audio(a_inst, a_up, p)
        b, pb, label_b = note_audio(b_inst, b_up, p)
        model = load_model(_model_name(name), device=ctx.device)
        progress(0.0, desc="decoding")
        result = morph(model, a, b, int(n), pa, pb, progress=lambda f: progress(f, desc="decoding"))
        kept = {"audio": result.audio, "mixes": result.mixes, "weights": result.weights[:, 1]}
        middle = (int(n) - 1) // 2
        figure = embedding_figure(
            [result.source_embeddings[0], result.embeddings[middle], result.source_embeddings[1]],
            [f"A: {label_a}", f"step {middle} ({100 * result.weights[middle, 1]:.0f}% B)", f"B: {label_b}"],
        )
        return (kept, rainbowgram(a, SAMPLE_RATE, f"A: {label_a}"), rainbowgram(b, SAMPLE_RATE, f"B: {label_b}"),
                figure, gr.Slider(maximum=int(n) - 1, value=middle), *show_step(kept, middle))

    run.click(do_morph, [inst_a, upload_a, inst_b, upload_b, pitch, steps, model_name],
              [state, plot_a, plot_b, plot_z, position, morph_audio, morph_plot, mix_audio, mix_plot],
              api_name="timbre_morph", **model_call())
    position.release(show_step, [state, position], [morph_audio, morph_plot, mix_audio, mix_plot],
                     api_name="timbre_morph_step")

    # -- the 4-corner grid ------------------------------------------------------------------------
    gr.Markdown("### NSynth Super grid\nFour corner sounds; every cell blends their embeddings bilinearly.")
    with gr.Row():
        corners = [gr.Dropdown(instruments, value=instruments[i % len(instruments)][1] if instruments else None,
                               label=label) for i, label in enumerate(("Top left", "Top right", "Bottom left",
                                                                       "Bottom right"))]
    with gr.Row():
        grid_pitch = gr.Dropdown(pitches, value=pitches[0] if pitches else None, label="Pitch")
        size = gr.Slider(2, 4, value=3, step=1, label="Grid size (cells per side)")
        run_grid = gr.Button("Make grid", variant="primary")
    grid_plot = gr.Plot(label="Decoded grid (rainbowgrams)")
    with gr.Row():
        cell = gr.Dropdown([], label="Cell to play (row, column)")
        cell_audio = gr.Audio(label="Cell (decoded)", type="numpy", interactive=False)
        cell_mix = gr.Audio(label="Cell (plain mix)", type="numpy", interactive=False)
    grid_state = gr.State()

    def show_cell(result, key):
        if not result or key is None:
            return None, None
        i = int(key)
        return _pcm(result["audio"][i]), _pcm(result["mixes"][i])

    @user_errors
    def do_grid(tl, tr, bl, br, p, n, name, progress=gr.Progress()):
        sources = [note_audio(inst, None, p) for inst in (tl, tr, bl, br)]
        model = load_model(_model_name(name), device=ctx.device)
        n = int(n)
        progress(0.0, desc="decoding")
        result = grid(model, [s[0] for s in sources], n, [s[1] for s in sources],
                      progress=lambda f: progress(f, desc=f"decoding {n * n} cells"))
        fig, axes = subplots_grid(n, n, width=3 * n, height=2.2 * n)
        for i, ax in enumerate(axes.flat):
            rainbowgram(result.audio[i], SAMPLE_RATE, f"row {i // n + 1}, col {i % n + 1}", ax=ax)
            ax.set_xlabel("")
            ax.set_ylabel("")
        choices = [(f"row {i // n + 1}, column {i % n + 1}", str(i)) for i in range(n * n)]
        kept = {"audio": result.audio, "mixes": result.mixes}
        return (kept, fig, gr.Dropdown(choices=choices, value="0"), *show_cell(kept, "0"))

    run_grid.click(do_grid, [*corners, grid_pitch, size, model_name], [grid_state, grid_plot, cell, cell_audio, cell_mix],
                   api_name="timbre_grid", **model_call())
    cell.change(show_cell, [grid_state, cell], [cell_audio, cell_mix], api_name="timbre_grid_cell")
