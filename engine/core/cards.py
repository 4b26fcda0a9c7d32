"""Reading model cards: the parts of a ``card.md`` that hold a model's measured figures.

Cards are written by the training and bench commands: ``## Measured ...`` and ``## Training figures ...``
sections (MusicVAE, timbre, translation) and blocks between ``<!-- bench ... -->`` markers (vocoders).
"""

from __future__ import annotations

import re

FIGURE_HEADINGS = ("measured", "training figures")  # a "## " heading starting with one of these holds figures
BENCH_BLOCK = re.compile(r"<!-- (bench [^>]*?) -->\n(.*?)\n<!-- /\1 -->", re.S)


def card_title(card: str, default: str = "") -> str:
    """The card's first ``# `` heading (``default`` when it has none)."""
    for line in card.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return default


def _sections(card: str) -> list[tuple[str, str]]:
    """(heading, body) of every ``## `` section; headings inside code fences do not count."""
    sections: list[tuple[str, list[str]]] = []
    fenced = False
    for line in card.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            sections.append((line[3:].strip(), []))
        elif sections:
            sections[-1][1].append(line)
    return [(heading, "\n".join(body).strip()) for heading, body in sections]


def figure_sections(card: str) -> list[tuple[str, str]]:
    """The card's measured figures as (title, Markdown body) pairs, in card order; [] when it has none.

    A ``## `` section counts when its heading starts with "Measured" or "Training figures"; a
    ``<!-- bench ... -->`` block outside those sections counts too (titled "Measured figures").
    """
    found = [(h, body) for h, body in _sections(card) if h.lower().startswith(FIGURE_HEADINGS) and body]
    for match in BENCH_BLOCK.finditer(card):
        body = match.group(2).strip()
        if body and not any(body in section for _, section in found):
            found.append(("Measured figures", body))
    return found
