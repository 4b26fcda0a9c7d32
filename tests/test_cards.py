"""Model cards: the measured-figures sections the About tab shows."""

from engine.core.cards import card_title, figure_sections
from engine.core.checkpoint import list_checkpoints, read_config

CARD = """# demo — a model

## Data
- 12 clips

## Recipe
```
## not a heading: inside a code fence
latentlab train demo
```

## Measured figures
accuracy **0.731**

## Training figures (last validation)
loss 1.25

<!-- bench vocode -->
| vocoder | MR-STFT |
|---|---:|
| demo | 1.5 |
<!-- /bench vocode -->
"""


def test_sections_with_figures_in_card_order():
    sections = figure_sections(CARD)
    assert [title for title, _ in sections] == ["Measured figures", "Training figures (last validation)"]
    assert sections[0][1] == "accuracy **0.731**"
    assert "loss 1.25" in sections[1][1] and "| demo | 1.5 |" in sections[1][1]  # the block inside is kept once
    assert card_title(CARD) == "demo — a model"


def test_a_bench_block_outside_figure_sections_counts():
    card = "# v\n\n**Data.** some words.\n\n<!-- bench vocode -->\n| a | b |\n|---|---|\n| v | 2 |\n<!-- /bench vocode -->\n"
    assert figure_sections(card) == [("Measured figures", "| a | b |\n|---|---|\n| v | 2 |")]


def test_cards_without_figures():
    assert figure_sections("# tiny test model\n") == []
    assert figure_sections("") == []
    assert figure_sections("## Measured figures\n\n## Recipe\nx\n") == []  # an empty section is no figure
    assert card_title("no heading", "fallback") == "fallback"


def test_every_shipped_card_shows_its_recorded_figures():
    models = list_checkpoints()
    assert models, "no shipped checkpoints"
    for m in models:
        text = "\n".join(body for _, body in figure_sections(m.card))
        assert text, f"{m.name}: no measured figures in its card"
        figures = read_config(m.path).get("extra", {}).get("figures")
        if figures and "argmax_accuracy" in figures:  # MusicVAE cards: the accuracy the checkpoint records is the one shown
            assert f"{figures['argmax_accuracy']:.4f}" in text, m.name
        if figures and "bits_per_step" in figures:  # grid-model cards (PixelCNN, PixelRNN, AR(p)): the likelihood
            assert f"{figures['bits_per_step']:.4f} bits per 16th step" in text, m.name
        if m.kind == "vocoder":  # vocoder cards: the model's own row of the side-by-side bench
            assert f"| {m.name} |" in text, m.name


def test_replace_section_replaces_or_appends_one_section():
    from engine.core.cards import render_card, replace_section

    card = render_card("demo", "intro", [("Data", "12 clips"), ("Measured figures", "old"), ("Notes", "kept")])
    once = replace_section(card, "## Measured figures", "accuracy 0.5")
    assert replace_section(once, "## Measured figures", "accuracy 0.5") == once
    assert "old" not in once and once.count("## Measured figures") == 1 and once.rstrip().endswith("kept")
    assert figure_sections(once) == [("Measured figures", "accuracy 0.5")]
    fresh = replace_section("# v\n", "## Measured figures", "x")
    assert fresh == "# v\n\n## Measured figures\n\nx\n"
    block = replace_section(replace_section("# v\n", "<!-- bench v -->", "| a |"), "<!-- bench v -->", "| b |")
    assert block == "# v\n\n<!-- bench v -->\n| b |\n<!-- /bench v -->\n"
