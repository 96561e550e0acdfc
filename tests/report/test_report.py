"""``python -m bench report`` end to end: Markdown, CSV, HTML from synthetic runs (see fakes.py)."""
from __future__ import annotations

import csv
import io
import re

import pytest

from bench.__main__ import main
from bench.report import build_view, load_runs, merge_rows
from bench.report.csv_out import csv_text
from bench.report.markdown import markdown_table
from bench.report.tables import full_table, headline_table

from .fakes import STEPS, ae_kad_value, fd_value, make_run


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """(run folder, output folder) with the report written once for the module."""
    root = tmp_path_factory.mktemp("report")
    run_dir = make_run(root)
    assert main(["report", str(run_dir), "--out", str(root / "out")]) == 0
    return run_dir, root / "out"


@pytest.fixture(scope="module")
def loaded(report):
    runs = load_runs([report[0]])
    rows = merge_rows(runs)
    return runs, rows, build_view(runs, rows)


def md_rows(md: str) -> list[list[str]]:
    """The cells of every table line of a Markdown table (header and separator dropped)."""
    lines = [line for line in md.splitlines() if line.startswith("| ")][2:]
    return [[c.strip() for c in line.strip("|").split(" | ")] for line in lines]


def test_headline_table_anchors_on_top_positions_and_speed(loaded):
    _, rows, view = loaded
    md = markdown_table(headline_table(rows, view))
    header = md.splitlines()[0]
    assert header == ("| system | sampler | steps | guidance | kad@aisfx[ae-ref] ↓ | position | fd@aisfx ↓ | "
                      "position | adherence ↑ | position | NFE | RTF ↑ | peak RAM (MB) ↓ |")
    body = md_rows(md)
    assert body[0][0] == "*real clips (floor)*"
    assert body[1][0] == "*real clips through the autoencoder (ceiling)*"
    assert [b[5] for b in body[:2]] == ["0.00", "1.00"]  # the anchors' own positions
    student8 = next(b for b in body if b[:3] == ["student", "euler", "8"])
    assert student8[7] == f"{(3.5 - 1.0) / 4.0:.2f}"  # fd position: (3.5 − floor 1) / (ceiling 5 − floor 1)
    assert student8[5] == f"{0.5 / 0.2:.2f}"  # kad[ae-ref] beyond the ceiling: 2.50
    assert student8[4] == "**0.5 [0.45, 0.55]**"  # the only CI-separated best
    assert student8[-3:] == ["15", "50", "812"]
    assert md.count("**") == 2 and "kad@aisfx ↓" not in header


def test_full_table_marks_unresolved_metrics_and_shows_flags(loaded):
    _, rows, view = loaded
    md = markdown_table(full_table(rows, view))
    header = md.splitlines()[0]
    assert "kad@aisfx ↓ ⚠ does not resolve" in header
    assert "clap@clap-laion-audio ↑ ⚠ resolution not computed" in header
    assert "fd@aisfx ↓ |" in header and "position" not in header
    fd = fd_value("teacher", 8)
    assert f"| {fd:.4g} [{fd - 1:.4g}, {fd + 1.5:.4g}] (n≤d) |" in md
    body = md_rows(md)
    assert [(b[0], b[2]) for b in body[2:]] == [(s, str(n)) for s in ("student", "teacher") for n in STEPS]
    assert sum("n/a (laion-clap not installed)" in line for line in md.splitlines()) == 8


def test_markdown_document_sections_in_reading_order(report):
    md = (report[1] / "leaderboard.md").read_text()
    sections = [md.index(h) for h in ("## Headline", "## Resolution", "## All metrics")]
    assert sections == sorted(sections)
    assert "Left out: `kad@aisfx` (does not resolve)" in md
    pair = "teacher/heun/2 → teacher/heun/8"
    assert f"| kad@aisfx | does not resolve | {pair} | 0 [-4, 4] | 3, 3 | — | no |" in md
    assert f"| fd@aisfx | resolves | {pair} | -11.25 [-13, -9.5] | 1.25, 1.25 | +1.00 | yes |" in md
    for words in ("position = (value − floor) / (ceiling − floor)", "n≤d = Fréchet distance",
                  "METRIC[ae-ref] =", "higher is faster"):
        assert words in md


def test_csv_is_machine_readable_with_roles_flags_positions(loaded, report):
    _, rows, view = loaded
    records = list(csv.DictReader(io.StringIO(csv_text(rows, view))))
    assert [r["role"] for r in records] == ["floor", "ceiling"] + ["system"] * 6
    assert records[0]["label"] == "real clips (floor)" and records[2]["label"] == ""
    first = records[2]
    assert (first["system"], first["steps"]) == ("student", "2")
    fd = fd_value("student", 2)
    assert float(first["fd@aisfx:value"]) == pytest.approx(fd)
    assert float(first["fd@aisfx:ci_low"]) == pytest.approx(fd - 1.0)
    assert first["fd@aisfx:flags"] == "n<=d" and first["adherence:flags"] == ""
    assert float(first["fd@aisfx:position"]) == pytest.approx((fd - 1.0) / 4.0)
    assert first["fd@aisfx:higher_is_better"] == "False"
    assert first["clap@clap-laion-audio:value"] == "" and first["clap@clap-laion-audio:position"] == ""
    assert first["clap@clap-laion-audio:reason"] == "laion-clap not installed"
    assert float(first["rtf_audio_s_per_wall_s"]) == pytest.approx(200.0) and first["peak_vram_mb"] == ""
    assert [r["best_in"] for r in records if r["best_in"]] == ["kad@aisfx[ae-ref]"]
    assert float(records[4]["kad@aisfx[ae-ref]:value"]) == pytest.approx(ae_kad_value("student", 8))
    res = list(csv.DictReader(io.StringIO((report[1] / "resolution.csv").read_text())))
    by_metric = {r["metric"]: r for r in res}
    kad = by_metric["kad@aisfx"]
    assert (kad["verdict"], kad["in_headline"]) == ("does not resolve", "False")
    assert float(by_metric["fd@aisfx"]["difference_ci_high"]) == pytest.approx(-9.5)
    assert float(by_metric["adherence"]["half_width_most"]) == pytest.approx(0.05)


def test_html_is_escaped_self_contained_and_structured(report):
    page = (report[1] / "leaderboard.html").read_text()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    assert "http://" not in page and "https://" not in page
    assert re.search(r"url\((?!#)", page) is None  # only in-page references (SVG clip paths)
    assert page.count('<table class="lb">') == 2 and page.count('<table class="lb res">') == 1
    assert page.count('class="anchor floor"') == 2 and page.count('class="anchor ceiling last-anchor"') == 2
    assert page.count('class="num best"') == 2  # one per table (headline, full)
    assert '<span class="warn">⚠ does not resolve</span>' in page
    assert '4.75 (n≤d)<span class="ci">[3.75, 6.25]</span></td>' in page and 'class="num flag"' in page
    sections = ("Headline", "Resolution", "All metrics", "Metrics vs steps")
    headings = [page.index(f"<h2>{h}</h2>") for h in sections]
    assert headings == sorted(headings)
    pareto = page.index("kad@aisfx[ae-ref] vs RTF (Pareto front)")
    assert headings[0] < pareto < headings[1]  # the Pareto plot sits right under the headline table
    assert page.count("<audio") == 6 * 3 + 2 * 2  # system rows: 3 players each; anchors: their 2 clips
    assert page.count("<svg") == 2 and page.count('<figure class="plot wide">') == 1


def test_cli_prints_paths_and_players_option(tmp_path, capsys):
    run_dir = make_run(tmp_path)
    assert main(["report", str(run_dir), "--out", str(tmp_path / "o"), "--players", "1",
                 "--quality", "fd@aisfx"]) == 0
    out = capsys.readouterr().out
    for name in ("leaderboard.md", "leaderboard.csv", "resolution.csv", "leaderboard.html"):
        assert str(tmp_path / "o" / name) in out
    page = (tmp_path / "o" / "leaderboard.html").read_text()
    assert page.count("<audio") == 8 and "fd@aisfx vs RTF (Pareto front)" in page


def test_old_runs_still_report_and_say_what_is_missing(tmp_path):
    run_dir = make_run(tmp_path, modern=False)
    assert main(["report", str(run_dir), "--out", str(tmp_path / "o")]) == 0
    md = (tmp_path / "o" / "leaderboard.md").read_text()
    assert "> These runs name no headline metrics" in md and "no resolution verdicts" in md
    assert "⚠" not in md.split("## All metrics")[1].splitlines()[2] and "| position |" not in md
    assert "No resolution verdicts in these runs" in md
    assert (tmp_path / "o" / "resolution.csv").read_text().startswith("metric,verdict,in_headline,")
    page = (tmp_path / "o" / "leaderboard.html").read_text()
    assert "adherence vs RTF (Pareto front)" in page and 'class="anchor' not in page


def test_several_runs_keep_their_names_and_anchors(tmp_path):
    runs = load_runs([make_run(tmp_path, "a"), make_run(tmp_path, "b")])
    merged = merge_rows(runs)
    assert sorted({r["run"] for r in merged}) == ["a", "b"] and len(merged) == 16
    md = markdown_table(full_table(merged, build_view(runs, merged)))
    assert md.startswith("| run | system |")
    assert [b[0] for b in md_rows(md)[:4]] == ["a", "a", "b", "b"]  # each run's floor and ceiling on top
