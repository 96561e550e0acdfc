"""A report as a list of plain blocks, rendered to Markdown and to one self-contained HTML page.

The reproduction report is built once as blocks (headings, paragraphs, tables, bullet lists)
so that ``reproduction.md`` and ``reproduction.html`` cannot say different things. Every text in
the HTML goes through :func:`html.escape`; the page has inline CSS and no scripts or external URLs
(links are plain text).
"""
from __future__ import annotations

import html
from dataclasses import dataclass


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str
    strong: str = ""  # a bold lead, e.g. the verdict
    note: bool = False  # a highlighted caveat


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


Block = Heading | Para | Table | Bullets


def to_markdown(blocks: list[Block]) -> str:
    return "\n\n".join(_md(b) for b in blocks) + "\n"


def _md(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Para):
        lead = f"**{block.strong}** " if block.strong else ""
        return f"{'> ' if block.note else ''}{lead}{block.text}".rstrip()
    if isinstance(block, Table):
        lines = [_md_row(block.header), "|" + "---|" * len(block.header)]
        return "\n".join(lines + [_md_row(r) for r in block.rows])
    return "\n".join(f"- {item}" for item in block.items)


def _md_row(cells: tuple[str, ...]) -> str:
    # a pipe would end the cell and a newline the row
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:1100px;
padding:0 1rem;color:#1d2330;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.15rem;border-bottom:1px solid #d8dce6;margin-top:2rem}
h3{font-size:1rem;margin-top:1.4rem}
.note{color:#7a4f00;background:#fff7e0;padding:.4rem .6rem;border-radius:4px}
table{border-collapse:collapse;font-size:.8rem;margin:.4rem 0}
th,td{border:1px solid #d8dce6;padding:.22rem .45rem;vertical-align:top}th{background:#eef1f7;text-align:left}
"""


def to_html(blocks: list[Block], title: str) -> str:
    body = "\n".join(_html(b) for b in blocks)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"{body}\n</body>\n</html>\n")


def _html(block: Block) -> str:
    esc = html.escape
    if isinstance(block, Heading):
        return f"<h{block.level}>{esc(block.text)}</h{block.level}>"
    if isinstance(block, Para):
        lead = f"<strong>{esc(block.strong)}</strong> " if block.strong else ""
        cls = ' class="note"' if block.note else ""
        return f"<p{cls}>{lead}{esc(block.text)}</p>"
    if isinstance(block, Table):
        head = "".join(f"<th>{esc(h)}</th>" for h in block.header)
        rows = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in r) + "</tr>\n"
                       for r in block.rows)
        return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}</tbody>\n</table>"
    return "<ul>\n" + "".join(f"<li>{esc(item)}</li>\n" for item in block.items) + "</ul>"
