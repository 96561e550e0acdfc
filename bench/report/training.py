"""The training table: what each system's training cost, under which budget rule, and how it stopped.

Runs that train accelerators store a ``training`` record on every row of such a system (the same
record on each of its rows; the teacher's says ``trained_from: "data"``: it is the shared
starting point). The table has one line per (run, system) with a record: trained from, updates,
batch, examples seen, train wall time, online and offline teacher NFE, peak training RAM and the
budget limit that stopped it. Missing values read "–". Below it come the budget rules ("One
budget": the run's ``training_rules``, else the records' ``rule`` texts, de-duplicated) and a
warning for every system stopped by a limit other than ``max_updates``, whose weights are then not
those of a full run. Runs without training records get no training section and no training.csv.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.report.cells import fmt_number, several_runs, sort_rows

if TYPE_CHECKING:  # load.py imports this module's key lists, so Run is only needed for typing
    from bench.report.load import Run

# The same dash as the reproduction cards' training section, so the columns read alike there.
MISSING = "–"
FULL_RUN = "max_updates"
#: numeric keys of a training record (validated by bench.report.load as numbers or null)
NUMBER_KEYS = ("updates", "batch", "examples_seen", "train_wall_s", "online_teacher_nfe",
               "offline_teacher_nfe", "peak_train_ram_mb")
#: text keys of a training record (validated as strings or null)
TEXT_KEYS = ("trained_from", "stopped_by", "rule", "store")
# (key in the record, or "system"; table header; csv column)
COLUMNS = (
    ("system", "system", "system"),
    ("trained_from", "trained from", "trained_from"),
    ("updates", "updates", "updates"),
    ("batch", "batch", "batch"),
    ("examples_seen", "examples seen", "examples_seen"),
    ("train_wall_s", "train wall time (s)", "train_wall_s"),
    ("online_teacher_nfe", "online teacher NFE", "online_teacher_nfe"),
    ("offline_teacher_nfe", "offline teacher NFE", "offline_teacher_nfe"),
    ("peak_train_ram_mb", "peak training RAM (MB)", "peak_train_ram_mb"),
    ("stopped_by", "stopped by", "stopped_by"),
)
CSV_COLUMNS = tuple(col for _, _, col in COLUMNS) + ("run",)
INTRO = ("What training each system cost, one line per run and system. The teacher (trained from data) "
         "is the shared starting point of every accelerator.")
RULES_HEADING = "One budget"


@dataclass(frozen=True)
class TrainingLine:
    """One (run, system) with its training record."""

    run: str
    system: str
    training: dict


def training_lines(rows: list[dict]) -> list[TrainingLine]:
    """One line per (run, system) whose system rows carry a training record, sorted by system."""
    lines: dict[tuple[str, str], TrainingLine] = {}
    for row in sort_rows([r for r in rows if r.get("role", "system") == "system"]):
        key = (str(row.get("run", "")), str(row["system"]))
        # every row of a system holds the same record, so its first row speaks for all of them
        if isinstance(row.get("training"), dict) and key not in lines:
            lines[key] = TrainingLine(key[0], key[1], row["training"])
    return list(lines.values())


def has_training(rows: list[dict]) -> bool:
    """True when some system row carries a training record (the report then has a training section)."""
    return bool(training_lines(rows))


def fmt_value(value) -> str:
    """A cell: "–" when missing, counts in full, other numbers as in the other tables, text as is."""
    if value is None:
        return MISSING
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # exact counts: 4 significant digits would print 63488 NFE as 6.349e+04
    if isinstance(value, float):
        return fmt_number(value)
    return str(value)


def header(multi: bool) -> list[str]:
    """The table's header; a run column first when the lines come from several runs."""
    return (["run"] if multi else []) + [head for _, head, _ in COLUMNS]


def numeric_columns(multi: bool) -> set[int]:
    """Indexes of the columns that hold numbers (right-aligned)."""
    offset = 1 if multi else 0
    return {offset + j for j, (key, _, _) in enumerate(COLUMNS) if key in NUMBER_KEYS}


def cells(line: TrainingLine, multi: bool) -> list[str]:
    """The text cells of one line, in :func:`header` order."""
    values = [line.system] + [line.training.get(key) for key, _, _ in COLUMNS[1:]]
    return ([line.run] if multi else []) + [fmt_value(v) for v in values]


@dataclass(frozen=True)
class TrainingTable:
    """The training table as text: header, cells, and the indexes of its numeric columns."""

    header: list[str]
    cells: list[list[str]]
    numeric: set[int]


def table(rows: list[dict]) -> TrainingTable:
    """The training table of ``rows`` (a run column when they come from several runs)."""
    multi = several_runs(rows)
    return TrainingTable(header(multi), [cells(line, multi) for line in training_lines(rows)],
                         numeric_columns(multi))


def budget_rules(runs: list[Run], rows: list[dict]) -> list[str]:
    """The budget rules, verbatim, de-duplicated: each run's ``training_rules``, else its records' rules."""
    lines = training_lines(rows)
    rules: list = []
    for run in runs:
        own = [line.training.get("rule") for line in lines if line.run == run.name]
        rules += list(run.training_rules.values()) or own
    return list(dict.fromkeys(r for r in rules if isinstance(r, str) and r.strip()))


def warnings(rows: list[dict]) -> list[str]:
    """'lafma stopped by max_wall_s: …' for every line whose training ended before its update budget.

    A line without ``stopped_by`` gets none: an unrecorded reason is not evidence of an early stop.
    """
    multi = several_runs(rows)
    out = []
    for line in training_lines(rows):
        stopped = line.training.get("stopped_by")
        if stopped is None or stopped == FULL_RUN:
            continue
        who = f"{line.system} (run {line.run})" if multi else line.system
        out.append(f"⚠ {who} stopped by {stopped}: its weights differ from a full run's.")
    return out


def csv_records(rows: list[dict]) -> list[dict]:
    """training.csv records: the raw values of :data:`CSV_COLUMNS` (None = missing)."""
    out = []
    for line in training_lines(rows):
        rec = {col: line.training.get(key) for key, _, col in COLUMNS[1:]}
        out.append({"system": line.system, **rec, "run": line.run})
    return out
