"""Read and validate benchmark run folders (``RUN/results.json``) and merge their rows.

Every problem is a :class:`ReportError` whose message names the file and the key, e.g.
``runs/a/results.json: rows[2].metrics['fd@aisfx'].value is null but status is 'ok'``.
Merged rows are shallow copies of the stored ones (the system rows, then the floor and ceiling
rows of ``anchors``) with three keys set: ``run`` (the run's name: its folder name, made
unique), ``run_dir`` (the folder audio paths are relative to) and ``role`` ("system", "floor"
or "ceiling"; a stored row without one is a system row). The optional keys of newer runs
(``anchors``, ``resolution``, a metric's ``flags``, a row's ``training`` record, the top-level
``training_rules``) are validated when present; older runs without them load unchanged.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.report.training import NUMBER_KEYS, TEXT_KEYS

RESULTS_FILE = "results.json"
ROW_KEYS = ("system", "sampler", "steps", "metrics", "speed")
METRIC_KEYS = ("status", "higher_is_better")
ROLES = ("system", "floor", "ceiling")


class ReportError(ValueError):
    """An unusable run folder or option; the message names the file, the key and the fix."""


@dataclass
class Run:
    """One loaded run folder."""

    name: str
    path: Path
    protocol: dict
    rows: list[dict]
    created: str | None = None
    environment: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    anchors: list[dict] = field(default_factory=list)
    # metric -> verdict entry; None for runs written before resolution verdicts existed
    resolution: dict | None = None
    # rule name -> rule text of the training budgets; empty for runs written before training
    training_rules: dict = field(default_factory=dict)


def load_runs(paths: list[str | Path], allow_mixed: bool = False) -> list[Run]:
    """Load several run folders; different protocols are an error unless ``allow_mixed``."""
    if not paths:
        raise ReportError("no run folders given")
    runs = [load_run(p) for p in paths]
    _make_names_unique(runs)
    if not allow_mixed:
        check_same_protocol(runs)
    check_directions(merge_rows(runs))
    return runs


def load_run(path: str | Path) -> Run:
    """Load one run folder (or its ``results.json`` itself) and validate its schema."""
    folder, file = _locate(Path(path))
    data = _read_json(file)
    _require(data, ("protocol", "rows"), file, "")
    protocol = data["protocol"]
    _require(protocol, ("name", "version"), file, "protocol")
    rows, anchors = _row_list(data, "rows", file), _row_list(data, "anchors", file)
    for i, row in enumerate(rows):
        validate_row(row, file, f"rows[{i}]")
    for i, row in enumerate(anchors):
        validate_row(row, file, f"anchors[{i}]", anchor=True)
    check_unique_ids(rows, anchors, file)
    resolution = data.get("resolution")
    if resolution is not None:
        validate_resolution(resolution, file)
    return Run(name=folder.resolve().name or str(folder), path=folder, protocol=protocol,
               rows=rows, created=data.get("created"),
               environment=_dict_or_empty(data.get("environment")),
               timings=_dict_or_empty(data.get("timings")), anchors=anchors, resolution=resolution,
               training_rules=training_rules(data, file))


def _row_list(data: dict, key: str, file: Path) -> list:
    """``data[key]`` as a list (``anchors`` may be absent or null: older runs have none)."""
    value = data.get(key)
    if value is None and key == "anchors":
        return []
    if not isinstance(value, list):
        raise ReportError(f"{file}: '{key}' must be a list, got {type(value).__name__}")
    return value


def check_unique_ids(rows: list[dict], anchors: list[dict], file: Path) -> None:
    """Every row_id (rows and anchors together) names one row, as ``bench check`` requires."""
    labelled = [(f"rows[{i}]", r) for i, r in enumerate(rows)]
    labelled += [(f"anchors[{i}]", r) for i, r in enumerate(anchors)]
    first: dict[str, str] = {}
    for where, row in labelled:
        row_id = row.get("row_id")
        if row_id is None:  # older hand-made files; the row is then named by system/sampler/steps
            continue
        if not isinstance(row_id, str):
            raise ReportError(f"{file}: {where}.row_id must be a string, got {row_id!r}")
        if row_id in first:
            raise ReportError(f"{file}: {where}.row_id {row_id!r} is duplicated (also "
                              f"{first[row_id]}.row_id); every row needs its own row_id: the file is "
                              "damaged or was edited by hand, so rerun the protocol or remove the "
                              "duplicate row")
        first[row_id] = where


def validate_resolution(resolution, file: Path) -> None:
    """``resolution``: metric name -> an object with a string ``verdict``."""
    if not isinstance(resolution, dict):
        raise ReportError(f"{file}: 'resolution' must be a JSON object (metric name -> verdict entry)")
    for name, entry in resolution.items():
        _require(entry, ("verdict",), file, f"resolution[{name!r}]")
        if not isinstance(entry["verdict"], str):
            raise ReportError(f"{file}: resolution[{name!r}].verdict must be a string")


def training_rules(data: dict, file: Path) -> dict:
    """The top-level ``training_rules`` (rule name -> text); {} when absent (older runs)."""
    rules = data.get("training_rules")
    if rules is None:
        return {}
    if not isinstance(rules, dict):
        raise ReportError(f"{file}: 'training_rules' must be a JSON object (rule name -> rule text)")
    for name, text in rules.items():
        if not isinstance(text, str):
            raise ReportError(f"{file}: training_rules[{name!r}] must be a string, got {text!r}")
    return rules


def validate_training(training, file: Path, where: str) -> None:
    """A row's ``training`` record: numbers or null, texts or null, a budget of numbers or null."""
    if not isinstance(training, dict):
        raise ReportError(f"{file}: {where} must be a JSON object (the system's training record), "
                          f"got {type(training).__name__}")
    for key in NUMBER_KEYS:
        _number_or_null(training.get(key), file, f"{where}.{key}")
    for key in TEXT_KEYS:
        if training.get(key) is not None and not isinstance(training[key], str):
            raise ReportError(f"{file}: {where}.{key} must be a string or null, got {training[key]!r}")
    if training.get("budget") is not None:
        validate_budget(training["budget"], file, f"{where}.budget")


def validate_budget(budget, file: Path, where: str) -> None:
    """A training record's ``budget``: limit name -> number, or null for no limit."""
    if not isinstance(budget, dict):
        raise ReportError(f"{file}: {where} must be a JSON object (limit -> number or null)")
    for key, value in budget.items():
        _number_or_null(value, file, f"{where}.{key}")


def _number_or_null(value, file: Path, where: str) -> None:
    if value is not None and not _is_number(value):
        raise ReportError(f"{file}: {where} must be a finite number or null, got {json.dumps(value)}")


def _locate(path: Path) -> tuple[Path, Path]:
    """(run folder, results file) for a folder or a results file path."""
    if path.is_file():
        return path.parent, path
    if not path.exists():
        raise ReportError(f"{path}: no such run folder")
    file = path / RESULTS_FILE
    if not file.is_file():
        raise ReportError(f"{path}: no {RESULTS_FILE} in this folder; pass a run folder written by "
                          "the benchmark runner")
    return path, file


def _read_json(file: Path) -> dict:
    """Parse ``file``; a JSON object is required."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{file}: cannot read ({exc})") from exc
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ReportError(f"{file}: not valid JSON ({where}: {exc.msg})") from exc
    if not isinstance(data, dict):
        raise ReportError(f"{file}: expected a JSON object at the top level")
    return data


def _require(obj, keys: tuple[str, ...], file: Path, where: str) -> None:
    """Raise naming ``file`` and ``where.key`` when ``obj`` is not a dict holding ``keys``."""
    if not isinstance(obj, dict):
        raise ReportError(f"{file}: {where or 'top level'} must be a JSON object")
    for key in keys:
        if key not in obj:
            name = f"{where}.{key}" if where else key
            raise ReportError(f"{file}: missing key '{name}'")


def _dict_or_empty(obj) -> dict:
    return obj if isinstance(obj, dict) else {}


def validate_row(row, file: Path, where: str, anchor: bool = False) -> None:
    """Check one row: its keys, role, step count, every metric entry and the audio list."""
    _require(row, ROW_KEYS, file, where)
    check_role(row, file, where, anchor)
    steps = row["steps"]
    if not isinstance(steps, int) or isinstance(steps, bool):
        raise ReportError(f"{file}: {where}.steps must be an integer, got {steps!r}")
    _require(row["metrics"], (), file, f"{where}.metrics")
    _require(row["speed"], (), file, f"{where}.speed")
    for name, metric in row["metrics"].items():
        validate_metric(metric, file, f"{where}.metrics[{name!r}]")
    audio = row.get("audio", [])
    if not isinstance(audio, list):
        raise ReportError(f"{file}: {where}.audio must be a list")
    for j, item in enumerate(audio):
        _require(item, ("path",), file, f"{where}.audio[{j}]")
    if "training" in row:  # optional: only rows of systems trained by the run carry one
        validate_training(row["training"], file, f"{where}.training")


def check_role(row: dict, file: Path, where: str, anchor: bool) -> None:
    """A row's role is one of :data:`ROLES` (default 'system'); an anchor must say floor or ceiling."""
    allowed = ROLES[1:] if anchor else ROLES
    if anchor and "role" not in row:
        raise ReportError(f"{file}: {where}.role is missing; an anchor row needs 'floor' or 'ceiling'")
    role = row.get("role", "system")
    if role not in allowed:
        raise ReportError(f"{file}: {where}.role is {role!r}; expected one of "
                          + ", ".join(repr(r) for r in allowed))


def validate_metric(metric, file: Path, where: str) -> None:
    """A metric entry: status, direction, flags, and a finite value when status is 'ok'."""
    _require(metric, METRIC_KEYS, file, where)
    if not isinstance(metric["higher_is_better"], bool):
        raise ReportError(f"{file}: {where}.higher_is_better must be true or false")
    flags = metric.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise ReportError(f"{file}: {where}.flags must be a list of strings, e.g. [\"n<=d\"]")
    if metric["status"] != "ok":
        return
    if not _is_number(metric.get("value")):
        raise ReportError(f"{file}: {where}.value is {json.dumps(metric.get('value'))} but status is "
                          "'ok'; an 'ok' metric needs a finite number")
    for key in ("ci_low", "ci_high"):
        if metric.get(key) is not None and not _is_number(metric[key]):
            raise ReportError(f"{file}: {where}.{key} must be a finite number or null")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _make_names_unique(runs: list[Run]) -> None:
    """Runs with the same folder name get ``name#2``, ``name#3``, ..."""
    seen: dict[str, int] = {}
    for run in runs:
        count = seen.get(run.name, 0) + 1
        seen[run.name] = count
        if count > 1:
            run.name = f"{run.name}#{count}"


def protocol_label(protocol: dict) -> str:
    """``name v1 (hash ab12…)``."""
    label = f"{protocol.get('name')} v{protocol.get('version')}"
    digest = protocol.get("hash")
    return f"{label} (hash {str(digest)[:12]})" if digest else label


def _protocol_key(protocol: dict) -> tuple:
    return protocol.get("name"), protocol.get("version"), protocol.get("hash")


def check_same_protocol(runs: list[Run]) -> None:
    """Raise when the runs were made under different protocols, versions or protocol hashes."""
    first = runs[0]
    for run in runs[1:]:
        a, b = _protocol_key(first.protocol), _protocol_key(run.protocol)
        hashes_differ = a[2] is not None and b[2] is not None and a[2] != b[2]
        if a[:2] != b[:2] or hashes_differ:
            raise ReportError(
                f"{first.path / RESULTS_FILE} uses protocol {protocol_label(first.protocol)} but "
                f"{run.path / RESULTS_FILE} uses {protocol_label(run.protocol)}; their numbers are not "
                "comparable. Report them separately, or pass --allow-mixed to put them side by side.")


def merge_rows(runs: list[Run]) -> list[dict]:
    """All rows and anchors of all runs, each a copy with ``run``, ``run_dir`` and ``role`` set."""
    return [{**row, "role": row.get("role", "system"), "run": run.name, "run_dir": run.path}
            for run in runs for row in run.rows + run.anchors]


def check_directions(rows: list[dict]) -> None:
    """A metric must have the same direction (higher_is_better) in every row."""
    seen: dict[str, tuple[bool, str]] = {}
    for row in rows:
        for name, metric in row["metrics"].items():
            where = f"run {row['run']}, row {row.get('row_id', row['system'])}"
            first = seen.setdefault(name, (metric["higher_is_better"], where))
            if first[0] != metric["higher_is_better"]:
                raise ReportError(f"metric {name!r} is higher_is_better={first[0]} in {first[1]} but "
                                  f"{metric['higher_is_better']} in {where}")


def audio_path(row: dict, entry: dict) -> Path:
    """Absolute path of one audio entry of a merged row (paths are relative to the run folder)."""
    return Path(row["run_dir"]) / entry["path"]


def read_mono(path: Path, max_s: float | None = None) -> tuple[np.ndarray, int]:
    """Mono float32 samples (channel mean) and rate, at most ``max_s`` seconds; ReportError if unreadable."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        frames = -1 if max_s is None else int(max_s * info.samplerate)
        data, rate = sf.read(str(path), frames=frames, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for missing/corrupt files
        raise ReportError(f"{path}: cannot read audio ({exc})") from exc
    mono = np.nan_to_num(data.mean(axis=1), nan=0.0, posinf=0.0, neginf=0.0)
    return mono.astype(np.float32), int(rate)
