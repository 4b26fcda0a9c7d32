"""The "Melodies" tab: MusicVAE interpolation, a 4-corner grid, attribute sliders and sampling; and
"Continue / Inpaint" with the grid models (gated PixelCNN, Row LSTM, Diagonal BiLSTM, AR(p)).

Widgets only: every melody operation is a call into :mod:`engine.ops.melody` or :mod:`engine.ops.continuation`
(the same functions the CLI uses).
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from engine.core.checkpoint import list_checkpoints
from engine.core.errors import LatentLabError
from engine.core.midi import melodies_to_midi, melody_from_midi, melody_to_midi, midi_to_bytes
from engine.core.plots import piano_roll, subplots_grid
from engine.core.render import render_midi
from engine.ops import continuation
from engine.ops import melody as ops

from ..common import AppContext, model_call, user_errors

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "melodies"
SAMPLE_RATE = 22050
OUT_DIR = Path(tempfile.gettempdir()) / "latentlab_melodies"  # generated MIDI, named by content hash
ATTRIBUTE_LABELS = {
    "c_diatonic": "C-diatonic (white keys)",
    "note_density": "note density",
    "avg_interval": "average interval",
    "syncopation_16th": "16th syncopation",
    "syncopation_8th": "8th syncopation",
}


def examples() -> list[str]:
    return sorted(p.stem for p in EXAMPLES_DIR.glob("*.mid"))


def _load_melody(upload: str | None, example: str | None) -> np.ndarray:
    if upload:
        return melody_from_midi(upload)
    if example:
        return melody_from_midi(EXAMPLES_DIR / f"{example}.mid")
    raise LatentLabError("upload a MIDI file or pick an example")


def _midi_file(melodies: list[np.ndarray], stem: str) -> str:
    data = midi_to_bytes(melodies_to_midi(melodies))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{stem}_{hashlib.sha1(data).hexdigest()[:12]}.mid"
    path.write_bytes(data)
    return str(path)


def _audio(melodies: list[np.ndarray]) -> tuple[int, np.ndarray]:
    audio = render_midi(melodies_to_midi(melodies), SAMPLE_RATE)
    return SAMPLE_RATE, (np.clip(audio, -1, 1) * 32767).astype(np.int16)


def _grid_figure(rows: list[list[np.ndarray]]):
    """Small piano rolls in a size x size grid (the corners are the inputs' reconstructions)."""
    size = len(rows)
    fig, axes = subplots_grid(size, size, width=10, height=6)
    pitches = [p for row in rows for m in row for p in ops.melody_pitches(m)] or [60]
    for r, row in enumerate(rows):
        for c, m in enumerate(row):
            ax = axes[r, c]
            for n in melody_to_midi(m).instruments[0].notes:
                ax.broken_barh([(n.start, n.end - n.start)], (n.pitch - 0.4, 0.8), facecolors="tab:blue")
            ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def _continue_inpaint(ctx: AppContext, names: list[str], grid_models: list[str]) -> None:
    """The "Continue / Inpaint" tab: a grid model samples new bars, or masked bars, one step at a time."""
    if not grid_models:
        from ..common import missing_model_notice

        missing_model_notice("Continue / Inpaint", "latentlab data melody && latentlab train melody --config pixelcnn_16bar")
        return
    gr.Markdown(
        "Continue a melody by a few bars, or fill masked bars, with an autoregressive model that writes one 16th step "
        "at a time, each given every step before it (melody and result fit in 16 bars). Inpainting can draw several "
        "fills and keep one in proportion to how well it leads into the bars after the gap."
    )
    default = continuation.DEFAULT_MODEL if continuation.DEFAULT_MODEL in grid_models else grid_models[0]
    with gr.Row():
        with gr.Column():
            upload = gr.File(label="Melody to continue or inpaint (.mid)", file_types=[".mid", ".midi"], type="filepath")
            example = gr.Dropdown(names, value=names[0] if names else None, label="…or an example melody")
        with gr.Column():
            grid_model = gr.Dropdown(grid_models, value=default, label="Model")
            temperature = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Temperature (0 = most likely step)")
            seed = gr.Number(value=0, precision=0, label="Seed")
    with gr.Row():
        bars = gr.Slider(1, 12, value=4, step=1, label="Bars to continue")
        continue_go = gr.Button("Continue", variant="primary")
    with gr.Row():
        mask = gr.Textbox(value="2", label="Bars to inpaint (1-based, e.g. 2 or 2-3)")
        rescore = gr.Slider(1, 16, value=8, step=1, label="Fills scored against the bars after (1 = no rescoring)")
        inpaint_go = gr.Button("Inpaint", variant="primary")
    roll = gr.Plot(label="Input and result")
    with gr.Row():
        audio = gr.Audio(label="Continued / inpainted audio", type="numpy", interactive=False)
        midi = gr.File(label="Continued / inpainted MIDI")

    def _outputs(source: np.ndarray, result: np.ndarray, title: str, stem: str, progress):
        progress(0.7, desc="rendering audio")
        figure = piano_roll([melody_to_midi(source), melody_to_midi(result)], titles=["input", title])
        return figure, _audio([result]), _midi_file([result], stem)

    @user_errors
    def run_continue(up, ex, name, n, temp, s, progress=gr.Progress()):
        source = _load_melody(up, ex)
        progress(0.1, desc="sampling")
        gm = continuation.load_model(name, ctx.device)
        result = continuation.continue_melody(gm, source, int(n), float(temp), seed=int(s))
        return _outputs(source, result, f"continued by {int(n)} bars ({gm.name})", "continued", progress)

    @user_errors
    def run_inpaint(up, ex, name, bars_text, candidates, temp, s, progress=gr.Progress()):
        source = _load_melody(up, ex)
        masked = continuation.parse_bars(bars_text)
        progress(0.1, desc="sampling")
        gm = continuation.load_model(name, ctx.device)
        result = continuation.inpaint(gm, source, masked, float(temp), seed=int(s), candidates=int(candidates))
        return _outputs(source, result, f"bars {bars_text} inpainted ({gm.name})", "inpainted", progress)

    continue_go.click(run_continue, [upload, example, grid_model, bars, temperature, seed], [roll, audio, midi],
                      api_name="continue_melody", **model_call())
    inpaint_go.click(run_inpaint, [upload, example, grid_model, mask, rescore, temperature, seed], [roll, audio, midi],
                     api_name="inpaint_melody", **model_call())


def build(ctx: AppContext) -> None:
    checkpoints = list_checkpoints(kind="melody")
    models = [m.name for m in checkpoints if m.arch == "musicvae"]
    grid_models = [m.name for m in checkpoints if continuation.is_grid_model(m.arch)]
    if not models:
        from ..common import missing_model_notice

        missing_model_notice("Melodies", "latentlab data melody && latentlab train melody --config mel_2bar")
        return
    names = examples()
    default_model = ops.DEFAULT_MODEL if ops.DEFAULT_MODEL in models else models[0]
    gr.Markdown(
        "Morph between melodies in MusicVAE's latent space. Upload MIDI files (the top line of programs 0–31 is "
        "used, drums are skipped) or pick a bundled example; long melodies are handled window by window "
        "(2 bars for `mel_2bar`, 16 bars for `mel_16bar`)."
    )
    model = gr.Dropdown(models, value=default_model, label="Model")

    with gr.Tab("Interpolate"):
        with gr.Row():
            with gr.Column():
                file_a = gr.File(label="Melody A (.mid)", file_types=[".mid", ".midi"], type="filepath")
                example_a = gr.Dropdown(names, value=names[0] if names else None, label="…or example A")
            with gr.Column():
                file_b = gr.File(label="Melody B (.mid)", file_types=[".mid", ".midi"], type="filepath")
                example_b = gr.Dropdown(names, value=names[1] if len(names) > 1 else None, label="…or example B")
        with gr.Row():
            steps = gr.Slider(2, 16, value=5, step=1, label="Steps (A and B included)")
            temperature = gr.Slider(0.0, 2.0, value=0.0, step=0.05, label="Temperature (0 = argmax)")
            method = gr.Radio(["slerp", "lerp"], value="slerp", label="Interpolation")
        go = gr.Button("Interpolate", variant="primary")
        roll = gr.Plot(label="Every step")
        with gr.Row():
            audio = gr.Audio(label="The whole interpolation", type="numpy", interactive=False)
            midi = gr.File(label="MIDI download")

        @user_errors
        def run_interpolation(up_a, up_b, ex_a, ex_b, name, n, temp, how, progress=gr.Progress()):
            a, b = _load_melody(up_a, ex_a), _load_melody(up_b, ex_b)
            progress(0.1, desc="decoding")
            mm = ops.load_model(name, ctx.device)
            path = ops.interpolate(mm, a, b, int(n), how, float(temp), seed=0)
            progress(0.6, desc="rendering audio")
            titles = [f"step {i}" + (" (A)" if i == 0 else " (B)" if i == len(path) - 1 else "") for i in range(len(path))]
            return piano_roll([melody_to_midi(m) for m in path], titles=titles), _audio(path), _midi_file(path, "interpolation")

        go.click(run_interpolation, [file_a, file_b, example_a, example_b, model, steps, temperature, method],
                 [roll, audio, midi], api_name="interpolate", **model_call())

    with gr.Tab("4-corner grid"):
        with gr.Row():
            corners = [
                gr.Dropdown(names, value=names[i % len(names)] if names else None, label=label)
                for i, label in enumerate(["top-left", "top-right", "bottom-left", "bottom-right"])
            ]
        with gr.Row():
            size = gr.Slider(3, 7, value=5, step=1, label="Grid size")
            grid_temperature = gr.Slider(0.0, 2.0, value=0.0, step=0.05, label="Temperature (0 = argmax)")
        grid_go = gr.Button("Build grid", variant="primary")
        grid_plot = gr.Plot(label="Grid (corners are the four melodies)")
        grid_midi = gr.File(label="MIDI download (row by row)")

        @user_errors
        def run_grid(name, tl, tr, bl, br, n, temp, progress=gr.Progress()):
            corner_melodies = [_load_melody(None, e) for e in (tl, tr, bl, br)]
            progress(0.1, desc="decoding")
            mm = ops.load_model(name, ctx.device)
            rows = ops.grid(mm, corner_melodies, int(n), float(temp), seed=0)
            progress(0.7, desc="drawing")
            return _grid_figure(rows), _midi_file([m for row in rows for m in row], "grid")

        grid_go.click(run_grid, [model, *corners, size, grid_temperature], [grid_plot, grid_midi],
                      api_name="interpolation_grid", **model_call())

    with gr.Tab("Attributes"):
        with gr.Row():
            with gr.Column():
                file_m = gr.File(label="Melody (.mid)", file_types=[".mid", ".midi"], type="filepath")
                example_m = gr.Dropdown(names, value=names[0] if names else None, label="…or an example")
            with gr.Column():
                sliders = [gr.Slider(-2.0, 2.0, value=0.0, step=0.25, label=ATTRIBUTE_LABELS[a]) for a in ops.ATTRIBUTES]
        apply = gr.Button("Apply", variant="primary")
        before_after = gr.Plot(label="Before / after")
        measured = gr.Dataframe(headers=["attribute", "before", "after"], interactive=False, label="Measured attributes")
        with gr.Row():
            attr_audio = gr.Audio(label="After", type="numpy", interactive=False)
            attr_midi = gr.File(label="MIDI download")

        @user_errors
        def run_attributes(up, ex, name, c_diatonic, note_density, avg_interval, syncopation_16th, syncopation_8th,
                           progress=gr.Progress()):  # one named parameter per slider: the API's argument names
            amounts = (c_diatonic, note_density, avg_interval, syncopation_16th, syncopation_8th)
            source = _load_melody(up, ex)
            progress(0.1, desc="decoding")
            mm = ops.load_model(name, ctx.device)
            before = ops.reconstruct(mm, source)
            after = ops.apply_attributes(mm, source, dict(zip(ops.ATTRIBUTES, map(float, amounts), strict=True)))
            progress(0.6, desc="rendering audio")
            mb, ma = ops.measure_attributes(before), ops.measure_attributes(after)
            table = [[ATTRIBUTE_LABELS[a], round(mb[a], 3), round(ma[a], 3)] for a in ops.ATTRIBUTES]
            figure = piano_roll([melody_to_midi(before), melody_to_midi(after)], titles=["before (reconstruction)", "after"])
            return figure, table, _audio([after]), _midi_file([after], "attributes")

        apply.click(run_attributes, [file_m, example_m, model, *sliders], [before_after, measured, attr_audio, attr_midi],
                    api_name="apply_attributes", **model_call())

    with gr.Tab("Sample"):
        with gr.Row():
            count = gr.Slider(1, 8, value=4, step=1, label="How many")
            sample_temperature = gr.Slider(0.1, 2.0, value=0.5, step=0.05, label="Temperature")
            seed = gr.Number(value=0, precision=0, label="Seed")
        sample_go = gr.Button("Sample", variant="primary")
        sample_roll = gr.Plot(label="Samples")
        with gr.Row():
            sample_audio = gr.Audio(label="All samples", type="numpy", interactive=False)
            sample_midi = gr.File(label="MIDI download")

        @user_errors
        def run_sample(name, n, temp, s, progress=gr.Progress()):
            progress(0.1, desc="decoding")
            mm = ops.load_model(name, ctx.device)
            melodies = ops.sample(mm, int(n), float(temp), seed=int(s))
            progress(0.6, desc="rendering audio")
            figure = piano_roll([melody_to_midi(m) for m in melodies], titles=[f"sample {i + 1}" for i in range(len(melodies))])
            return figure, _audio(melodies), _midi_file(melodies, "samples")

        sample_go.click(run_sample, [model, count, sample_temperature, seed], [sample_roll, sample_audio, sample_midi],
                        api_name="sample_melodies", **model_call())

    with gr.Tab("Continue / Inpaint"):
        _continue_inpaint(ctx, names, grid_models)
