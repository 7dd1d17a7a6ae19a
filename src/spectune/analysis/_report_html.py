"""HTML pieces of the run report: escaped text, tables, inline figures, and the page around them.

The report is one file that opens anywhere, offline and years later: the style sheet is inline,
every figure is a base64 PNG data URI, and there is no script, font or anything else to fetch.
Every piece of text goes through :func:`html.escape` here, so no value read from a run folder
(a parameter, a failure message, a file name) can inject markup.
"""

from __future__ import annotations

import base64
import html
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Figures", "Section", "esc", "fmt", "kv_table", "note", "page", "para", "table"]

log = logging.getLogger(__name__)

#: PNGs wider than this (pixels) are shown at WIDE_SCALE in a sideways-scrolling box.
WIDE_PX = 1800
WIDE_SCALE = 0.7
#: CSS class of a note that replaces something that failed (tests look for it).
ERROR_CLASS = "note error"


def esc(value: Any) -> str:
    """``value`` as text, escaped for HTML (quotes included, for attributes)."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, digits: int = 4) -> str:
    """A value as a chemometrician reads it: ``digits`` significant figures, "–" for none."""
    if value is None:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        value = float(value)
        return "–" if math.isnan(value) else f"{value:.{digits}g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={fmt(v, digits)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v, digits) for v in value)
    return str(value)


def para(text: str, *, cls: str | None = None) -> str:
    """One escaped paragraph."""
    attr = f' class="{esc(cls)}"' if cls else ""
    return f"<p{attr}>{esc(text)}</p>"


def note(text: str, *, error: bool = False) -> str:
    """A note in place of something missing (or, with ``error``, of something that failed)."""
    return para(text, cls=ERROR_CLASS if error else "note")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str | None = None,
          digits: int = 4) -> str:
    """A table of escaped, formatted cells; numbers are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            (f'<td class="num">{esc(fmt(c, digits))}</td>'
             if isinstance(c, Real) and not isinstance(c, bool) else f"<td>{esc(fmt(c))}</td>")
            for c in row)
        body.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            "</table>")


def kv_table(mapping: Mapping[str, Any], *, caption: str | None = None) -> str:
    """A two-column table: setting and value."""
    return table(("setting", "value"), [(k, fmt(v)) for k, v in mapping.items()],
                 caption=caption)


@dataclass
class Section:
    """One part of the report: an anchor, a heading and its HTML body."""

    key: str
    title: str
    parts: list[str] = field(default_factory=list)

    def add(self, *parts: str) -> None:
        self.parts.extend(parts)

    def html(self) -> str:
        return (f'<section id="{esc(self.key)}"><h2>{esc(self.title)}</h2>'
                + "\n".join(self.parts) + "</section>")


class Figures:
    """Draws figures into ``folder`` (PNG + SVG, by the analysis drawers) and inlines the PNG.

    A drawer that fails leaves a note in the report instead of stopping it: a report with one
    figure missing is still worth having.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.written: list[Path] = []

    def draw(self, name: str, drawer: Callable[[Path], Sequence[Path]], *, caption: str) -> str:
        try:
            written = [Path(p) for p in drawer(self.folder / name)]
        except Exception as error:  # a figure must never take the report down
            log.warning("report: figure %s not drawn: %s: %s", name, type(error).__name__, error)
            log.debug("report: figure %s", name, exc_info=True)
            return note(f"Figure '{name}' could not be drawn: {type(error).__name__}: {error}",
                        error=True)
        self.written.extend(written)
        png = next(p for p in written if p.suffix == ".png")
        return image(png.read_bytes(), caption)


def image(png: bytes, caption: str) -> str:
    """A figure with the PNG inline as a data URI, and its caption.

    A figure much wider than the page (many routes side by side) is shown at
    :data:`WIDE_SCALE` of its size in a box that scrolls sideways, so its labels stay legible.
    """
    data = base64.b64encode(png).decode("ascii")
    width = int.from_bytes(png[16:20], "big") if png[12:16] == b"IHDR" else 0
    wide = width > WIDE_PX
    opening = '<figure class="wide">' if wide else "<figure>"
    style = f' style="width:{round(width * WIDE_SCALE)}px"' if wide else ""
    return (f'{opening}<img src="data:image/png;base64,{data}" alt="{esc(caption)}"{style}>'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 margin:0 auto;max-width:1150px;padding:1.5em 2em;color:#1d2125;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #d0d7de;padding-bottom:.2em;
 margin-top:2em}h3{margin-top:1.5em}
nav ol{columns:2;background:#f6f8fa;padding:.8em 2.5em;border-radius:6px}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figure.wide{overflow-x:auto}figure.wide img{max-width:none}
figcaption{font-size:.85em;color:#57606a}td{max-width:32em;overflow-wrap:anywhere}
.verdict{font-size:1.25em;font-weight:600;background:#eef6ee;border-left:5px solid #2c974b;
 padding:.6em 1em}.verdict.worse{background:#fff4e5;border-left-color:#d4a72c}
.note{color:#57606a;font-style:italic}.note.error{color:#a40e26;font-style:normal}
code,pre{background:#f6f8fa;padding:.1em .3em;border-radius:4px;font-size:.9em}
pre{padding:.6em;overflow-x:auto;white-space:pre-wrap}
footer{margin-top:3em;color:#57606a;font-size:.85em}
"""


def page(title: str, subtitle: str, sections: Sequence[Section], footer: str) -> str:
    """The whole document: head with the inline style sheet, contents, sections, footer."""
    contents = "".join(f'<li><a href="#{esc(s.key)}">{esc(s.title)}</a></li>' for s in sections)
    body = "\n".join(s.html() for s in sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>\n"
        f"<body><header><h1>{esc(title)}</h1>{para(subtitle)}</header>"
        f"<nav><ol>{contents}</ol></nav>\n{body}\n<footer>{esc(footer)}</footer></body></html>\n"
    )
