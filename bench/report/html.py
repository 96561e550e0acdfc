"""The leaderboard as ONE self-contained HTML page (inline CSS, inline SVG / base64 PNG, data: audio).

Every piece of text that comes from a results file (system and sampler names, prompts, reasons,
environment values) goes through :func:`html.escape`. The page holds no scripts, external URLs or
fonts. Audio players carry the first ``players`` clips of every row, re-encoded as 16-bit WAV
and capped at ``max_clip_s`` seconds.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from bench.report.load import ReportError, Run, audio_path, protocol_label, read_mono
from bench.report.plots import Plot
from bench.report.tables import (
    LEGEND,
    RTF_NOTE,
    leaderboard_cells,
    metric_column_offset,
    metric_directions,
    metric_names,
    several_runs,
    sort_rows,
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:1200px;
padding:0 1rem;color:#1d2330;background:#fff;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem}
h2{font-size:1.15rem;border-bottom:1px solid #d8dce6;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:.95rem;margin:1rem 0 .3rem}.lead{color:#4a5263;margin-top:0}
.note{color:#8a5a00;background:#fff7e0;padding:.4rem .6rem;border-radius:4px}
.scroll{overflow-x:auto}
table.leaderboard{border-collapse:collapse;font-size:.82rem;white-space:nowrap}
table.leaderboard th,table.leaderboard td{border:1px solid #d8dce6;padding:.25rem .5rem}
table.leaderboard th{background:#eef1f7;position:sticky;top:0}
table.leaderboard tr:nth-child(even){background:#f8f9fc}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.na{color:#8d94a3}
td.best{font-weight:700;background:#e4f4e7}.plots{display:flex;flex-wrap:wrap;gap:1rem}
figure.plot{margin:0;border:1px solid #e3e6ee;padding:.5rem;border-radius:6px}
figure.plot svg,figure.plot img{max-width:100%;height:auto;display:block}
figcaption{font-size:.8rem;color:#4a5263}.clips{display:flex;flex-wrap:wrap;gap:.8rem}
figure.clip{margin:0;width:320px}figure.clip audio{width:100%}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;font-size:.85rem}
dt{font-weight:600}dd{margin:0;word-break:break-word}
"""


def esc(value) -> str:
    """Escape any value for HTML text and attribute contexts."""
    return html.escape(str(value), quote=True)


def build_html(runs: list[Run], rows: list[dict], plots: list[Plot], players: int = 3,
               max_clip_s: float = 10.0) -> str:
    """The whole page as a string."""
    protocols = ", ".join(sorted({protocol_label(run.protocol) for run in runs}))
    body = [f"<h1>Leaderboard</h1>\n<p class=\"lead\">protocol {esc(protocols)} · {len(rows)} rows from "
            f"{len(runs)} run(s). {esc(RTF_NOTE)}</p>",
            "<h2>Leaderboard</h2>", table_html(rows), f"<p class=\"lead\">{esc(LEGEND)}</p>",
            "<h2>Plots</h2>", plots_html(plots),
            "<h2>Listen</h2>", players_html(rows, players, max_clip_s),
            "<h2>Runs</h2>", runs_html(runs)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>Leaderboard: {esc(protocols)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def best_cells(rows: list[dict]) -> set[tuple[int, int]]:
    """(row index, column index) of the best 'ok' value of every metric column (sorted rows)."""
    ordered, directions = sort_rows(rows), metric_directions(rows)
    offset = metric_column_offset(rows)
    best: set[tuple[int, int]] = set()
    for j, name in enumerate(metric_names(rows)):
        values = [(i, r["metrics"][name]["value"]) for i, r in enumerate(ordered)
                  if r["metrics"].get(name, {}).get("status") == "ok"]
        if values:
            pick = max if directions[name] else min
            target = pick(v for _, v in values)
            best |= {(i, offset + j) for i, v in values if v == target}
    return best


def table_html(rows: list[dict]) -> str:
    """The leaderboard ``<table>``; the best value of each metric is highlighted."""
    if not rows:
        return "<p class=\"note\">the runs hold no rows</p>"
    header, body = leaderboard_cells(rows)
    best = best_cells(rows)
    head = "".join(f"<th scope=\"col\">{esc(h)}</th>" for h in header)
    lines = ["<tr>" + "".join(_td(text, (i, j) in best) for j, text in enumerate(cells)) + "</tr>"
             for i, cells in enumerate(body)]
    return (f"<div class=\"scroll\"><table class=\"leaderboard\">\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
            + "\n".join(lines) + "\n</tbody></table></div>")


def _td(text: str, is_best: bool) -> str:
    classes = ["na"] if text.startswith("n/a") or text == "—" else []
    classes += ["num"] if text[:1].isdigit() or text[:1] == "-" else []
    classes += ["best"] if is_best else []
    attr = f" class=\"{' '.join(classes)}\"" if classes else ""
    return f"<td{attr}>{esc(text)}</td>"


def plots_html(plots: list[Plot]) -> str:
    """Each plot in a ``<figure>``: inline SVG, a base64 PNG ``<img>``, or its note."""
    return "<div class=\"plots\">\n" + "\n".join(_plot_html(p) for p in plots) + "\n</div>"


def _plot_html(plot: Plot) -> str:
    caption = f"<figcaption>{esc(plot.title)}</figcaption>"
    if plot.svg:
        return f"<figure class=\"plot\">{plot.svg}{caption}</figure>"
    if plot.png:
        src = "data:image/png;base64," + base64.b64encode(plot.png).decode("ascii")
        return f"<figure class=\"plot\"><img src=\"{src}\" alt=\"{esc(plot.title)}\">{caption}</figure>"
    return f"<figure class=\"plot\">{caption}<p class=\"note\">{esc(plot.note or 'no data')}</p></figure>"


def wav_data_uri(path: Path, max_s: float = 10.0) -> str:
    """``data:audio/wav;base64,...`` of the file as 16-bit mono WAV, at most ``max_s`` seconds."""
    import soundfile as sf

    samples, rate = read_mono(path, max_s)
    buf = io.BytesIO()
    sf.write(buf, np.clip(samples, -1.0, 1.0), rate, format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def players_html(rows: list[dict], players: int, max_s: float) -> str:
    """For every row (leaderboard order), players for its first ``players`` clips."""
    if players <= 0:
        return "<p class=\"note\">audio players disabled (--players 0)</p>"
    multi = several_runs(rows)
    return "\n".join(_row_players(row, players, max_s, multi) for row in sort_rows(rows))


def _row_players(row: dict, players: int, max_s: float, multi: bool) -> str:
    title = f"{row['system']} / {row['sampler']} / {row['steps']} steps"
    title = f"{row['run']}: {title}" if multi else title
    entries = (row.get("audio") or [])[:players]
    clips = [_clip_html(row, entry, max_s) for entry in entries] or ["<p class=\"note\">no audio listed</p>"]
    return f"<h3>{esc(title)}</h3>\n<div class=\"clips\">" + "".join(clips) + "</div>"


def _clip_html(row: dict, entry: dict, max_s: float) -> str:
    label = f"{entry.get('prompt', entry.get('item_id', entry['path']))} (seed {entry.get('seed', '?')})"
    try:
        src = wav_data_uri(audio_path(row, entry), max_s)
    except ReportError:
        return f"<figure class=\"clip\"><figcaption>{esc(label)}</figcaption>" \
               f"<p class=\"note\">audio missing or unreadable: {esc(entry['path'])}</p></figure>"
    return (f"<figure class=\"clip\"><figcaption>{esc(label)}</figcaption>"
            f"<audio controls preload=\"metadata\" src=\"{src}\"></audio></figure>")


def runs_html(runs: list[Run]) -> str:
    """Protocol, creation time, environment and timings of every run as definition lists."""
    return "\n".join(f"<h3>{esc(run.name)}</h3>\n<dl>{_run_items(run)}</dl>" for run in runs)


def _run_items(run: Run) -> str:
    items = [("folder", run.path), ("protocol", protocol_label(run.protocol)), ("created", run.created)]
    env = dict(run.environment)
    packages = env.pop("packages", None)
    items += [(f"environment.{k}", v) for k, v in env.items()]
    if isinstance(packages, dict):
        items.append(("packages", ", ".join(f"{k} {v}" for k, v in packages.items())))
    items += [(f"timings.{k}", f"{v} s" if isinstance(v, (int, float)) else v)
              for k, v in run.timings.items()]
    return "".join(f"<dt>{esc(k)}</dt><dd>{esc('—' if v is None else v)}</dd>" for k, v in items)
