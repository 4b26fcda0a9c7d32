"""Model cards (``card.md`` beside a checkpoint's weights): written, updated and read here only.

- :func:`render_card` -- a new card from its title, an introduction and ``## `` sections (training writes it);
- :func:`replace_section` / :func:`update_card` -- put a section into a card, replacing an earlier version
  of it (the bench commands' ``--card``): a ``## Heading`` section, or a block between
  ``<!-- name -->`` / ``<!-- /name -->`` markers (the vocoder cards' side-by-side rows);
- :func:`card_title` / :func:`figure_sections` -- the parts that hold a model's measured figures (the About tab).

Figures live in ``## Measured ...`` and ``## Training figures ...`` sections (MusicVAE, timbre, translation)
and in ``<!-- bench ... -->`` blocks (vocoders).
"""

from __future__ import annotations

import re
from pathlib import Path

from .checkpoint import CARD_FILE

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


def render_card(title: str, intro: str = "", sections: list[tuple[str, str]] | tuple = ()) -> str:
    """A card: ``# title``, an introduction, then each ``## heading`` with its Markdown body."""
    parts = [f"# {title}"] + ([intro.strip()] if intro.strip() else [])
    parts += [f"## {heading}\n\n{body.strip()}" for heading, body in sections]
    return "\n\n".join(parts) + "\n"


def _marker_end(start: str) -> str:
    return "<!-- /" + start[len("<!-- "):]


def replace_section(card: str, heading: str, body: str) -> str:
    """``card`` with section ``heading`` holding ``body``: an earlier version is replaced, else it is appended.

    heading : ``"## Title"`` -- the section runs from the first line starting with it (outside code fences)
              to the next ``## `` heading or the card's end; or ``"<!-- name -->"`` -- the block runs to
              its closing ``<!-- /name -->`` marker
    """
    if heading.startswith("<!-- "):
        end = _marker_end(heading)
        block = f"{heading}\n{body.strip()}\n{end}"
        if heading in card and end in card:
            head, rest = card.split(heading, 1)
            return head + block + rest.split(end, 1)[1]
        return (card.rstrip("\n") + "\n\n" if card.strip() else "") + block + "\n"
    lines = card.split("\n")
    start = stop = None
    fenced = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or not line.startswith("## "):
            continue
        if start is None and line.startswith(heading):
            start = i
        elif start is not None:
            stop = i
            break
    section = f"{heading}\n\n{body.strip()}\n"
    if start is None:
        before, after = card, ""
    else:
        before = "\n".join(lines[:start])
        after = "\n".join(lines[stop:]) if stop is not None else ""
    text = (before.rstrip() + "\n\n" if before.strip() else "") + section
    return text + ("\n" + after.strip() + "\n" if after.strip() else "")


def update_card(directory: str | Path, heading: str, body: str, title: str | None = None) -> Path:
    """Write section ``heading`` (see :func:`replace_section`) into ``directory``'s card.md; returns its path.

    A checkpoint without a card gets one titled ``title`` (default: the directory's name).
    """
    path = Path(directory) / CARD_FILE
    card = path.read_text(encoding="utf-8") if path.exists() else f"# {title or Path(directory).name}\n"
    path.write_text(replace_section(card, heading, body), encoding="utf-8")
    return path
