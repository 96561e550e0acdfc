"""The media parts of the HTML page: figures, audio players and the runs' provenance.

Every piece of text from a results file goes through :func:`esc`. Audio players carry the first
``players`` clips of every row (floor and ceiling first), re-encoded as 16-bit WAV ``data:``
URIs and capped at ``max_clip_s`` seconds, so the page needs no other file.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from bench.report.anchors import anchor_label, is_anchor
from bench.report.cells import several_runs
from bench.report.load import ReportError, Run, audio_path, protocol_label, read_mono
from bench.report.plots import Plot
from bench.report.tables import ordered_rows


def esc(value) -> str:
    """Escape any value for HTML text and attribute contexts."""
    return html.escape(str(value), quote=True)


def plot_html(plot: Plot) -> str:
    """A plot in a ``<figure>``: inline SVG, a base64 PNG ``<img>``, or its note."""
    caption = f"<figcaption>{esc(plot.title)}</figcaption>"
    cls = "plot wide" if plot.wide else "plot"
    if plot.svg:
        return f"<figure class=\"{cls}\">{plot.svg}{caption}</figure>"
    if plot.png:
        src = "data:image/png;base64," + base64.b64encode(plot.png).decode("ascii")
        return f"<figure class=\"{cls}\"><img src=\"{src}\" alt=\"{esc(plot.title)}\">{caption}</figure>"
    return f"<figure class=\"plot\">{caption}<p class=\"note\">{esc(plot.note or 'no data')}</p></figure>"


def plots_html(plots: list[Plot]) -> str:
    """Several plots side by side (wrapping)."""
    if not plots:
        return "<p class=\"note\">no figures</p>"
    return "<div class=\"plots\">\n" + "\n".join(plot_html(p) for p in plots) + "\n</div>"


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
    return "\n".join(_row_players(row, players, max_s, multi) for row in ordered_rows(rows))


def _row_players(row: dict, players: int, max_s: float, multi: bool) -> str:
    title = (anchor_label(row) if is_anchor(row)
             else f"{row['system']} / {row['sampler']} / {row['steps']} steps")
    title = f"{row['run']}: {title}" if multi else title
    entries = (row.get("audio") or [])[:players]
    clips = [_clip_html(row, entry, max_s) for entry in entries] or ["<p class=\"note\">no audio listed</p>"]
    return f"<h3>{esc(title)}</h3>\n<div class=\"clips\">" + "".join(clips) + "</div>"


def _clip_html(row: dict, entry: dict, max_s: float) -> str:
    label = str(entry.get("prompt", entry.get("item_id", entry["path"])))
    label += f" (seed {entry['seed']})" if "seed" in entry else ""
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
