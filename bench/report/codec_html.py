"""The codec report as ONE self-contained HTML page (the leaderboard page's CSS, inline SVG, data: audio).

Top to bottom: the leaderboard (anchors on top, labelled), the rate–quality plot, every metric,
the decode-seed spread (stochastic codecs), the legend, then "Listen": for the first ``players``
test clips, the original beside every row's decoded clip, and the runs' provenance. Every piece
of text from a results file goes through :func:`~bench.report.html_media.esc`; no scripts.
"""
from __future__ import annotations

from bench.report.codec import codec_table, legend, ordered_codec_rows, spread_rows
from bench.report.html import CSS, table_html
from bench.report.html_media import esc, plot_html, runs_html, wav_data_uri
from bench.report.load import ReportError, Run, protocol_label
from bench.report.plots import Plot

PAIR_CSS = """
.pair{display:flex;flex-wrap:wrap;gap:.6rem;margin-bottom:1rem}
figure.clip.original figcaption{font-weight:600}
figure.clip.anchor figcaption{font-style:italic;color:#2d3f5c}
"""


def build_codec_html(runs: list[Run], rows: list[dict], headline: list[str], every: list[str], plot: Plot,
                     players: int = 3, max_clip_s: float = 10.0) -> str:
    protocols = ", ".join(sorted({protocol_label(run.protocol) for run in runs}))
    body = [f"<h1>Codec leaderboard</h1>\n<p class=\"lead\">protocol {esc(protocols)} · {len(rows)} rows "
            f"(codec × operating point) from {len(runs)} run(s)</p>",
            "<h2>Leaderboard</h2>", table_html(codec_table(rows, headline)),
            "<ul class=\"legend\">" + "".join(f"<li>{esc(x)}</li>" for x in legend(runs, rows)) + "</ul>",
            "<h2>Rate–quality</h2>", plot_html(plot),
            "<h2>All metrics</h2>", table_html(codec_table(rows, every)),
            *spread_html(rows),
            "<h2>Listen: original and decoded</h2>", players_html(rows, players, max_clip_s),
            "<h2>Runs</h2>", runs_html(runs)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>Codec leaderboard: {esc(protocols)}</title>\n<style>{CSS}{PAIR_CSS}</style>\n"
            "</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def spread_html(rows: list[dict]) -> list[str]:
    """The decode-seed spread table; nothing when no row is stochastic."""
    header, body = spread_rows(rows)
    if not body:
        return []
    head = "".join(f"<th scope=\"col\">{esc(h)}</th>" for h in header)
    lines = ["<tr class=\"system\">" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
             for cells in body]
    return ["<h2>Decode-seed spread</h2>",
            "<p>Stochastic decoders: each metric over the decode seeds, mean ± sample std (values).</p>",
            f"<div class=\"scroll\"><table class=\"lb\">\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
            + "\n".join(lines) + "\n</tbody></table></div>"]


def players_html(rows: list[dict], players: int, max_s: float) -> str:
    """Per test clip (the first ``players`` of each run): the original, then each row's decoded clip."""
    if players <= 0:
        return "<p class=\"note\">audio players disabled (--players 0)</p>"
    ordered = ordered_codec_rows(rows)
    out = []
    for run in dict.fromkeys(str(r.get("run", "")) for r in ordered):
        run_rows = [r for r in ordered if str(r.get("run", "")) == run]
        ids = list(dict.fromkeys(e["item_id"] for r in run_rows for e in r.get("audio") or []))[:players]
        for item_id in ids:
            out.append(_clip_group(run, run_rows, item_id, max_s, len({str(r.get('run')) for r in rows}) > 1))
    return "\n".join(out) or "<p class=\"note\">no audio listed</p>"


def _clip_group(run: str, rows: list[dict], item_id: str, max_s: float, multi: bool) -> str:
    entries = [(r, next((e for e in r.get("audio") or [] if e["item_id"] == item_id), None)) for r in rows]
    entries = [(r, e) for r, e in entries if e is not None]
    first_row, first = entries[0]
    title = f"{run}: {first.get('prompt', item_id)}" if multi else str(first.get("prompt", item_id))
    figures = [_player("original", first_row, first.get("original"), max_s, "clip original")]
    figures += [_player(f"{r['row_id']} — anchor, not a codec" if r.get("anchor") else r["row_id"], r,
                        e["path"], max_s, "clip anchor" if r.get("anchor") else "clip") for r, e in entries]
    head = f"<h3>{esc(title)} <small>({esc(item_id)})</small></h3>\n"
    return head + "<div class=\"pair\">" + "".join(figures) + "</div>"


def _player(label: str, row: dict, path: str | None, max_s: float, cls: str) -> str:
    from bench.report.load import audio_path

    if not path:
        return (f"<figure class=\"{cls}\"><figcaption>{esc(label)}</figcaption>"
                "<p class=\"note\">not listed</p></figure>")
    try:
        src = wav_data_uri(audio_path(row, {"path": path}), max_s)
    except ReportError:
        return (f"<figure class=\"{cls}\"><figcaption>{esc(label)}</figcaption>"
                f"<p class=\"note\">audio missing or unreadable: {esc(path)}</p></figure>")
    return (f"<figure class=\"{cls}\"><figcaption>{esc(label)}</figcaption>"
            f"<audio controls preload=\"metadata\" src=\"{src}\"></audio></figure>")
