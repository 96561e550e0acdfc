"""The training section of the report: table, budget rules, early-stop warnings, training.csv, validation."""
from __future__ import annotations

import csv
import io

import pytest

from bench.__main__ import main
from bench.report import load_runs, merge_rows
from bench.report.training import budget_rules, table, warnings

from .fakes import EVIL, RULES, make_run, training_record

HEADER = ("| system | trained from | updates | batch | examples seen | train wall time (s) | "
          "online teacher NFE | offline teacher NFE | peak training RAM (MB) | stopped by |")
ALIGN = "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
STUDENT_LINE = "| student | teacher | 1000 | 32 | 32000 | 151.2 | 0 | 63488 | 1450 | max_updates |"
TEACHER_LINE = "| teacher | data | 4000 | 64 | 256000 | 1210 | 0 | 0 | – | max_updates |"
BOTH = {"teacher": training_record("teacher"), "student": training_record("student")}


def _report(tmp_path, name: str = "run-a", **kwargs):
    """(leaderboard.md, leaderboard.html, output folder) of one run made with ``kwargs``."""
    run_dir = make_run(tmp_path, name, **kwargs)
    out = tmp_path / f"out-{name}"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    return (out / "leaderboard.md").read_text(), (out / "leaderboard.html").read_text(), out


def _rows(*run_dirs):
    runs = load_runs(list(run_dirs))
    return runs, merge_rows(runs)


def _section(md: str) -> list[str]:
    """The lines of the Markdown training section (after its heading)."""
    return md.split("## Training\n", 1)[1].splitlines()


def test_two_trained_systems_give_one_line_each_after_the_full_table(tmp_path):
    md, _, _ = _report(tmp_path, training=BOTH, rules=RULES)
    assert md.index("## All metrics") < md.index("## Training")
    lines = _section(md)
    start = lines.index(HEADER)
    assert lines[start:start + 4] == [HEADER, ALIGN, STUDENT_LINE, TEACHER_LINE]


def test_a_system_without_training_gets_no_line_and_missing_values_read_dash(tmp_path):
    student = training_record("student", peak_train_ram_mb=None, train_wall_s=None)
    del student["stopped_by"]  # a key the record lacks reads like a null one
    _, rows = _rows(make_run(tmp_path, training={"student": student}))
    got = table(rows)
    assert got.cells == [["student", "teacher", "1000", "32", "32000", "–", "0", "63488", "–", "–"]]
    assert got.numeric == {2, 3, 4, 5, 6, 7, 8}


def test_several_runs_add_a_run_column(tmp_path):
    _, rows = _rows(make_run(tmp_path, "a", training=BOTH), make_run(tmp_path, "b", training=BOTH))
    got = table(rows)
    assert got.header[:2] == ["run", "system"]
    assert [c[:2] for c in got.cells] == [["a", "student"], ["b", "student"],
                                          ["a", "teacher"], ["b", "teacher"]]


def test_rules_come_verbatim_from_training_rules_once_per_text(tmp_path):
    runs, rows = _rows(make_run(tmp_path, "a", training=BOTH, rules=RULES),
                       make_run(tmp_path, "b", training=BOTH, rules=RULES))
    assert budget_rules(runs, rows) == list(RULES.values())  # the rows' own rules are not repeated
    md, page, _ = _report(tmp_path, training=BOTH, rules=RULES)
    section = "\n".join(_section(md))
    assert "### One budget\n\n- distilled accelerators: the same 1000 updates at batch 32\n" in section
    assert "- from scratch: the teacher's own budget" in section
    assert "<h3>One budget</h3>" in page and f"<li>{RULES['teacher']}</li>" in page


def test_rules_fall_back_to_the_rows_rule_texts_of_older_runs(tmp_path):
    evil = training_record("student", rule=EVIL)
    teacher = training_record("teacher")
    runs, rows = _rows(make_run(tmp_path, training={"teacher": teacher, "student": evil}))
    assert runs[0].training_rules == {}
    assert budget_rules(runs, rows) == [EVIL, "the shared teacher: trained once per preset"]
    _, page, _ = _report(tmp_path, "escaped", training={"student": evil})
    assert "<li>&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;</li>" in page
    assert "<script" not in page.lower()


def test_a_system_stopped_before_its_updates_is_warned_about(tmp_path):
    early = {**BOTH, "student": training_record("student", stopped_by="max_wall_s", updates=612)}
    md, page, _ = _report(tmp_path, training=early, rules=RULES)
    warning = "⚠ student stopped by max_wall_s: its weights differ from a full run's."
    assert f"> {warning}" in _section(md)
    assert sum("stopped by" in line for line in md.splitlines()) == 2  # the table's header and the warning
    assert f'<p class="note">{warning.replace(chr(39), "&#x27;")}</p>' in page
    _, rows = _rows(make_run(tmp_path, "a", training=early), make_run(tmp_path, "b", training=BOTH))
    assert warnings(rows) == [f"⚠ student (run a) stopped by max_wall_s: {warning.split(': ', 1)[1]}"]


def test_no_warning_when_the_stop_reason_was_not_recorded(tmp_path):
    _, rows = _rows(make_run(tmp_path, training={"student": training_record("student", stopped_by=None)}))
    assert warnings(rows) == [] and table(rows).cells[0][-1] == "–"


def test_html_section_sits_after_the_full_table_in_the_table_style(tmp_path):
    _, page, _ = _report(tmp_path, training=BOTH, rules=RULES)
    headings = ("All metrics", "Training", "Metrics vs steps")
    order = [page.index(f"<h2>{h}</h2>") for h in headings]
    assert order == sorted(order)
    section = page[order[1]:order[2]]
    assert section.count('<table class="lb train">') == 1 and section.count('<tr class="system">') == 2
    assert '<td class="num">63488</td>' in section and '<td class="na num">–</td>' in section
    assert "<th scope=\"col\">peak training RAM (MB)</th>" in section


def test_training_csv_has_unit_named_columns_and_raw_values(tmp_path):
    _, _, out = _report(tmp_path, training=BOTH, rules=RULES)
    text = (out / "training.csv").read_text()
    assert text.splitlines()[0] == ("system,trained_from,updates,batch,examples_seen,train_wall_s,"
                                    "online_teacher_nfe,offline_teacher_nfe,peak_train_ram_mb,stopped_by,run")
    student, teacher = csv.DictReader(io.StringIO(text))
    assert (student["system"], student["trained_from"], student["run"]) == ("student", "teacher", "run-a")
    assert float(student["peak_train_ram_mb"]) == pytest.approx(1450.3)
    assert student["offline_teacher_nfe"] == "63488" and student["stopped_by"] == "max_updates"
    assert (teacher["trained_from"], teacher["peak_train_ram_mb"]) == ("data", "")


def test_the_cli_lists_training_csv_only_for_runs_with_training(tmp_path, capsys):
    run_dir = make_run(tmp_path, training=BOTH)
    assert main(["report", str(run_dir), "--out", str(tmp_path / "o")]) == 0
    assert f"wrote {tmp_path / 'o' / 'training.csv'}" in capsys.readouterr().out


@pytest.mark.parametrize("modern", [True, False])
def test_runs_without_training_have_no_section_and_no_training_csv(tmp_path, capsys, modern):
    md, page, out = _report(tmp_path, modern=modern)
    assert "## Training" not in md and "<h2>Training</h2>" not in page and "One budget" not in md
    assert not (out / "training.csv").exists() and "training.csv" not in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.csv", "leaderboard.html", "leaderboard.md",
                                                     "resolution.csv"]


def _set_training(index: int, key: str, value):
    def edit(data):
        data["rows"][index]["training"][key] = value
    return edit


def _set_top(key: str, value):
    def edit(data):
        data[key] = value
    return edit


def _set_budget(data):
    data["rows"][3]["training"]["budget"]["max_wall_s"] = "900 s"  # rows 3-5: the student's


@pytest.mark.parametrize(("edit", "words"), [
    (lambda data: data["rows"][0].update(training=[1000, 32]),
     "rows[0].training must be a JSON object (the system's training record), got list"),
    (_set_training(1, "updates", "1000"),
     "rows[1].training.updates must be a finite number or null, got \"1000\""),
    (_set_training(0, "peak_train_ram_mb", True),
     "rows[0].training.peak_train_ram_mb must be a finite number or null, got true"),
    (_set_training(0, "stopped_by", 3), "rows[0].training.stopped_by must be a string or null, got 3"),
    (_set_budget, "rows[3].training.budget.max_wall_s must be a finite number or null, got \"900 s\""),
    (_set_training(0, "budget", [1000]), "rows[0].training.budget must be a JSON object"),
    (_set_top("training_rules", ["same updates"]), "'training_rules' must be a JSON object"),
    (_set_top("training_rules", {"teacher": 1}), "training_rules['teacher'] must be a string, got 1"),
])
def test_a_malformed_training_record_names_the_file_and_key(tmp_path, capsys, edit, words):
    run_dir = make_run(tmp_path, training=BOTH, edit=edit)
    assert main(["report", str(run_dir), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(run_dir / "results.json") in err and words in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing written on an input error
