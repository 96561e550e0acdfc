"""The leaderboard as ONE self-contained HTML page (inline CSS, inline SVG / base64 PNG, data: audio).

Read top to bottom: the headline table (floor and ceiling on top, each system's position
between them, speed and cost), the quality-vs-speed Pareto plot, the resolution verdicts, the
full table, the training section (runs that trained systems only: :mod:`bench.report.training`),
the metric-vs-steps grid, spectrograms, audio players and the runs' provenance.
Every piece of text that comes from a results file goes through :func:`html.escape`. The page
holds no scripts, external URLs or fonts.
"""
from __future__ import annotations

from bench.report import resolution, training
from bench.report.cells import flag_text, fmt_number
from bench.report.headline import View
from bench.report.html_media import esc, players_html, plot_html, plots_html, runs_html
from bench.report.load import Run, protocol_label
from bench.report.plots import Plot
from bench.report.tables import Column, Table, full_table, headline_table, legend

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:1280px;
padding:0 1rem;color:#1d2330;background:#fff;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem}
h2{font-size:1.15rem;border-bottom:1px solid #d8dce6;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:.95rem;margin:1rem 0 .3rem}.lead{color:#4a5263;margin-top:0}
.note{color:#7a4f00;background:#fff7e0;padding:.4rem .6rem;border-radius:4px;margin:.3rem 0}
.scroll{overflow-x:auto}
table.lb{border-collapse:collapse;font-size:.8rem}
table.lb th,table.lb td{border:1px solid #d8dce6;padding:.22rem .45rem}
table.lb th{background:#eef1f7;vertical-align:bottom;text-align:left;max-width:11rem}
table.lb th.metric{min-width:5.5rem}
table.lb td{white-space:nowrap}
tr.anchor td.label{white-space:normal;min-width:9rem;max-width:14rem}
table.lb th.pos{background:#f4f5f9;color:#4a5263;font-weight:500}
table.lb th .warn{display:block;color:#a04000;font-weight:600}
table.lb th.unresolved{background:#fbeee4}
table.lb tbody tr.system:nth-child(even){background:#f8f9fc}
tr.anchor td{background:#eef4fb;color:#2d3f5c;font-style:italic}
tr.anchor.floor td:first-child{border-left:4px solid #2f7d4f}
tr.anchor.ceiling td:first-child{border-left:4px solid #b0602a}
tr.last-anchor td{border-bottom:3px double #7d8aa5}
td.num{text-align:right;font-variant-numeric:tabular-nums}td.na{color:#8d94a3}
td.best{font-weight:700;background:#dff2e3 !important}
td.pos{color:#4a5263;text-align:right;font-variant-numeric:tabular-nums}
td.pos.out{color:#a04000}td.pos.below{color:#1f5fa8}
td.flag{color:#7a5200;background:#fffaf0}
td .ci{display:block;font-size:.72rem;color:#6b7385;font-style:normal;font-weight:400}
table.res td:last-child{white-space:normal;min-width:14rem}
table.res tr.unresolved td{background:#fbeee4}
.legend{font-size:.8rem;color:#4a5263;padding-left:1.2rem}
.plots{display:flex;flex-wrap:wrap;gap:1rem}
figure.plot{margin:0;border:1px solid #e3e6ee;padding:.5rem;border-radius:6px}
figure.plot.wide{width:100%;box-sizing:border-box}
figure.plot svg,figure.plot img{max-width:100%;height:auto;display:block}
figcaption{font-size:.8rem;color:#4a5263}.clips{display:flex;flex-wrap:wrap;gap:.8rem}
figure.clip{margin:0;width:320px}figure.clip audio{width:100%}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;font-size:.85rem}
dt{font-weight:600}dd{margin:0;word-break:break-word}
"""


def build_html(runs: list[Run], rows: list[dict], view: View, plots: list[Plot], players: int = 3,
               max_clip_s: float = 10.0) -> str:
    """The whole page as a string; ``plots`` as made by :func:`bench.report.plots.report_plots`."""
    protocols = ", ".join(sorted({protocol_label(run.protocol) for run in runs}))
    pareto, grid, spectra = plots[0], plots[1:2], plots[2:]
    body = [f"<h1>Leaderboard</h1>\n<p class=\"lead\">protocol {esc(protocols)} · {len(rows)} rows from "
            f"{len(runs)} run(s)</p>", *[f"<p class=\"note\">{esc(n)}</p>" for n in view.notes],
            "<h2>Headline</h2>", f"<p>{_headline_intro(view)}</p>", table_html(headline_table(rows, view)),
            legend_html(rows, view), plot_html(pareto),
            "<h2>Resolution</h2>", resolution_html(runs, view),
            "<h2>All metrics</h2>", table_html(full_table(rows, view)),
            *training_section_html(runs, rows),
            "<h2>Metrics vs steps</h2>", plots_html(grid),
            "<h2>Spectrograms</h2>", plots_html(spectra),
            "<h2>Listen</h2>", players_html(rows, players, max_clip_s),
            "<h2>Runs</h2>", runs_html(runs)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>Leaderboard: {esc(protocols)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


def _headline_intro(view: View) -> str:
    shown = ", ".join(f"<code>{esc(m)}</code>" for m in view.headline) or "none"
    text = f"Headline metrics: {shown}; then speed and cost (NFE, RTF, peak RAM)."
    if view.left_out:
        text += " Left out: " + "; ".join(f"<code>{esc(m)}</code> ({esc(why)})"
                                           for m, why in view.left_out.items()) + "."
    return text


def legend_html(rows: list[dict], view: View) -> str:
    return "<ul class=\"legend\">" + "".join(f"<li>{esc(item)}</li>" for item in legend(rows, view)) + "</ul>"


def _th(col: Column) -> str:
    classes = {"position": ["pos"], "metric": ["metric"]}.get(col.kind, [])
    classes += ["unresolved"] if col.mark else []
    attr = f" class=\"{' '.join(classes)}\"" if classes else ""
    mark = f"<span class=\"warn\">{esc(col.mark)}</span>" if col.mark else ""
    title = (f" title=\"{esc(col.metric)}: position between floor (0) and ceiling (1)\""
             if col.kind == "position" else "")
    head = esc(col.head).replace(":", ":<wbr>")  # long option-laden names wrap at their colons
    return f"<th scope=\"col\"{attr}{title}>{head}{mark}</th>"


def _row_classes(table: Table, i: int) -> str:
    kind = table.role(i)
    if kind == "system":
        return "system"
    last = i + 1 == len(table.rows) or table.role(i + 1) == "system"
    return f"anchor {kind}" + (" last-anchor" if last else "")


def table_html(table: Table) -> str:
    """A leaderboard ``<table>``: anchors on top, separated bests highlighted, flags and positions styled."""
    if not table.rows:
        return "<p class=\"note\">the runs hold no rows</p>"
    head = "".join(_th(c) for c in table.columns)
    lines = [f"<tr class=\"{_row_classes(table, i)}\">"
             + "".join(_td(text, table.columns[j], (i, j) in table.best, table.rows[i])
                       for j, text in enumerate(cells)) + "</tr>"
             for i, cells in enumerate(table.cells)]
    return (f"<div class=\"scroll\"><table class=\"lb\">\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
            + "\n".join(lines) + "\n</tbody></table></div>")


def _td(text: str, col: Column, is_best: bool, row: dict) -> str:
    classes = ["na"] if text.startswith("n/a") or text == "—" else []
    classes += ["label"] if col.head == "system" and row.get("role", "system") != "system" else []
    classes += ["num"] if col.kind in ("metric", "speed") or col.numeric else []
    classes += _position_classes(text) if col.kind == "position" else []
    if col.kind == "metric" and (row["metrics"].get(col.metric) or {}).get("flags"):
        classes.append("flag")
    classes += ["best"] if is_best else []
    attr = f" class=\"{' '.join(classes)}\"" if classes else ""
    content = _metric_content(row["metrics"].get(col.metric)) if col.kind == "metric" else None
    return f"<td{attr}>{content or esc(text)}</td>"


def _metric_content(metric: dict | None) -> str | None:
    """Value and flags on one line, the CI smaller beneath (narrow columns); None when not 'ok'."""
    if not metric or metric.get("status") != "ok":
        return None
    lo, hi = metric.get("ci_low"), metric.get("ci_high")
    ci = "" if lo is None or hi is None else f"<span class=\"ci\">[{fmt_number(lo)}, {fmt_number(hi)}]</span>"
    return esc(fmt_number(metric["value"]) + flag_text(metric.get("flags"))) + ci


def _position_classes(text: str) -> list[str]:
    """'pos', plus 'out' beyond the ceiling (> 1) or 'below' the floor (< 0)."""
    try:
        value = float(text)
    except ValueError:
        return ["pos"]
    return ["pos"] + (["out"] if value > 1.0 else ["below"] if value < 0.0 else [])


def resolution_html(runs: list[Run], view: View) -> str:
    """The verdict table (unresolved lines tinted) and how to read it."""
    recs = resolution.records(runs, view)
    if not recs:
        return ("<p class=\"note\">No resolution verdicts in these runs (older runs): every metric is "
                "shown unmarked.</p>")
    head = "".join(f"<th scope=\"col\">{esc(h)}</th>" for h in resolution.header(recs))
    lines = ["<tr class=\"{}\">".format("system" if resolution.resolves(r) else "unresolved")
             + "".join(f"<td>{esc(c)}</td>" for c in resolution.cells(r)) + "</tr>" for r in recs]
    return (f"<div class=\"scroll\"><table class=\"lb res\">\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
            + "\n".join(lines) + f"\n</tbody></table></div>\n<p class=\"legend\">{esc(resolution.NOTE)}</p>")


def training_section_html(runs: list[Run], rows: list[dict]) -> list[str]:
    """The training heading, table, budget rules and early-stop warnings; nothing without training."""
    if not training.has_training(rows):
        return []
    rules = training.budget_rules(runs, rows)
    parts = ["<h2>Training</h2>", f"<p>{esc(training.INTRO)}</p>", training_table_html(training.table(rows))]
    if rules:
        parts += [f"<h3>{esc(training.RULES_HEADING)}</h3>",
                  "<ul class=\"legend\">" + "".join(f"<li>{esc(r)}</li>" for r in rules) + "</ul>"]
    return parts + [f"<p class=\"note\">{esc(w)}</p>" for w in training.warnings(rows)]


def training_table_html(table: training.TrainingTable) -> str:
    """The training table in the leaderboard's table style (numbers right-aligned, "–" greyed)."""
    head = "".join(f"<th scope=\"col\">{esc(h)}</th>" for h in table.header)
    lines = ["<tr class=\"system\">" + "".join(_training_td(text, j in table.numeric)
                                               for j, text in enumerate(cells)) + "</tr>"
             for cells in table.cells]
    return (f"<div class=\"scroll\"><table class=\"lb train\">\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
            + "\n".join(lines) + "\n</tbody></table></div>")


def _training_td(text: str, numeric: bool) -> str:
    classes = (["na"] if text == training.MISSING else []) + (["num"] if numeric else [])
    attr = f" class=\"{' '.join(classes)}\"" if classes else ""
    return f"<td{attr}>{esc(text)}</td>"
