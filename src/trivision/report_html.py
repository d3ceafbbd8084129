"""One HTML page of results: sections of text, pictures and tables.

The page refers to its pictures by paths relative to its own folder, and every picture must lie inside that
folder, so the folder is self-contained: it can be moved, zipped or opened from anywhere.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
figure { display: inline-block; vertical-align: top; margin: .5em 1em 1em 0; max-width: 100%; }
figure.small { width: 250px; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .9em; line-height: 1.4; }
table { border-collapse: collapse; margin: .5em 0 1em; }
td, th { border: 1px solid #ccc; padding: .2em .6em; text-align: left; }
h3 { font-size: 1em; }
.note { color: #8a5a00; }
.right { color: #176b1a; }
.wrong { color: #b00020; }
"""


@dataclass
class Section:
    key: str  # the section's element id, for links
    title: str
    blocks: list[Callable[[Path], str]] = field(default_factory=list)  # the report's folder -> HTML

    def text(self, text: str, kind: str = "") -> None:
        """A paragraph; kind 'note' marks something missing or skipped."""
        self.blocks.append(lambda folder: f"<p{_class(kind)}>{escape(text)}</p>")

    def picture(self, path: Path, caption: list[str | tuple[str, str]], small: bool = False) -> None:
        """A picture with caption lines, each plain text or (text, kind) with kind 'right' or 'wrong'."""
        lines = [line if isinstance(line, tuple) else (line, "") for line in caption]
        alt = escape(lines[0][0] if lines else Path(path).name)
        text = "<br>".join(f"<span{_class(kind)}>{escape(t)}</span>" for t, kind in lines)
        self.blocks.append(lambda folder: f'<figure{_class("small" if small else "")}>'
                                          f'<img src="{escape(_relative(path, folder))}" alt="{alt}">'
                                          f"<figcaption>{text}</figcaption></figure>")

    def markdown(self, text: str) -> None:
        """A run folder's results.md or params.md: its headings and pipe tables, other lines as paragraphs."""
        html, rows = [], []
        for line in text.splitlines() + [""]:
            if line.startswith("|"):
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if not all(c and set(c) <= set("-:") for c in cells):  # not the |---|---:| line
                    rows.append(cells)
                continue
            if rows:
                html.append(_table(rows[0], rows[1:]))
                rows = []
            if line.startswith("#"):
                html.append(f"<h3>{escape(line.lstrip('#').strip())}</h3>")
            elif line.strip():
                html.append(f"<p>{escape(line)}</p>")
        self.blocks.append(lambda folder: "\n".join(html))


def write_report(path: Path, title: str, sections: list[Section], intro: str = "") -> Path:
    """Write the page to `path`; every picture must already exist inside path's folder."""
    folder = path.parent.resolve()
    body = [f"<h1>{escape(title)}</h1>"]
    if intro:
        body.append(f"<p>{escape(intro)}</p>")
    body.append("<ul>" + "".join(f'<li><a href="#{escape(s.key)}">{escape(s.title)}</a></li>' for s in sections)
                + "</ul>")
    for s in sections:
        body.append(f'<section id="{escape(s.key)}"><h2>{escape(s.title)}</h2>')
        body.extend(render(folder) for render in s.blocks)
        body.append("</section>")
    page = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
    path.write_text(page, encoding="utf-8")
    return path


def _table(header: list, rows: list[list]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    cells = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{cells}</table>"


def _class(kind: str) -> str:
    return f' class="{kind}"' if kind else ""


def _relative(picture: Path, folder: Path) -> str:
    resolved = Path(picture).resolve()
    if not resolved.is_file():
        raise FileNotFoundError(f"{picture}: the report's picture does not exist")
    if not resolved.is_relative_to(folder):
        raise ValueError(f"{picture}: the report's pictures must lie inside {folder}")
    return Path(os.path.relpath(resolved, folder)).as_posix()
