"""Audio sources: a folder of audio files or a CSV manifest (id, path[, caption, ...]).

Folder policy: files with an audio extension (``AUDIO_EXTENSIONS``) are used, recursively; the
id is the relative path without extension. Other entries (non-audio files, FIFOs, symbolic
links to folders, which are not followed) are listed in the result's ``ignored_files`` and
printed, never dropped silently; an entry with an audio extension that is not a regular file
(broken link, FIFO, device) is an error. Two files with one id (a.wav, a.flac) are an error.

Manifest policy: UTF-8 (a byte-order mark is accepted), a header with unique column names,
every row as many fields as the header (an unquoted comma in a caption is the usual cause),
non-empty ``id`` and ``path``; paths are relative to the manifest's folder and must name
regular files, checked when the manifest is loaded, before any work.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from common.audio_io import AUDIO_EXTENSIONS, AudioInputError, file_state

CAPTION_COLUMNS = ("caption", "prompt", "text")


@dataclass
class Item:
    id: str
    path: Path
    prompt: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class Source:
    origin: str
    items: list[Item]
    ignored_files: list[str] = field(default_factory=list)


def load_source(spec: str | Path, where: dict[str, list[str]] | None = None) -> Source:
    """Items of a folder or manifest, optionally filtered by manifest columns (``fold=1,2``)."""
    path = Path(spec)
    if path.is_dir():
        if where:
            raise AudioInputError(f"{path}: --*-where filters need a CSV manifest, not a folder")
        source = _from_folder(path)
    elif path.suffix.lower() == ".csv" and os.path.lexists(path):
        source = _from_manifest(path, where or {})
    elif not os.path.lexists(path):
        raise AudioInputError(f"{path}: does not exist; give a folder of audio files or a .csv "
                              "manifest (id, path[, caption])")
    else:
        raise AudioInputError(f"{path}: not a folder or a .csv manifest (id, path[, caption])")
    if not source.items:
        ignored = f" (not used: {source.ignored_files[:5]})" if source.ignored_files else ""
        raise AudioInputError(f"{path}: no audio items found"
                              f"{' after filtering ' + str(where) if where else ''}{ignored}; "
                              f"expected files ending in {', '.join(AUDIO_EXTENSIONS)}")
    return source


def _walk(root: Path) -> tuple[list[Path], list[str]]:
    """Files below ``root`` (sorted) and the linked folders that were not followed."""
    def fail(exc: OSError) -> None:
        raise AudioInputError(f"{exc.filename}: cannot list this folder ({exc.strerror}); "
                              "fix its permissions") from exc

    files, linked = [], []
    for folder, dirs, names in os.walk(root, onerror=fail):
        linked += [Path(folder, d) for d in dirs if os.path.islink(os.path.join(folder, d))]
        files += [Path(folder, n) for n in names]
    return sorted(files), [f"{p.relative_to(root).as_posix()}/" for p in sorted(linked)]


def _from_folder(root: Path) -> Source:
    items, seen = [], {}
    files, ignored = _walk(root)
    for p in files:
        if p.suffix.lower() not in AUDIO_EXTENSIONS:
            ignored.append(p.relative_to(root).as_posix())
            continue
        file_state(p)  # a FIFO, device or broken link named *.wav: an error, before anything opens it
        item_id = p.relative_to(root).with_suffix("").as_posix()
        if item_id in seen:
            raise AudioInputError(f"{p} and {seen[item_id]} share the id {item_id!r}; "
                                  "rename one or use a manifest")
        seen[item_id] = p
        items.append(Item(item_id, p))
    return Source(str(root), items, sorted(ignored))


def read_table(path: Path, what: str = "manifest") -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Columns and (line number, row) pairs of a UTF-8 CSV; refuses rows that do not fit the header."""
    file_state(path)  # refuses a FIFO (its open would block) or a device before opening it
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            lines = [(reader.line_num, row) for row in reader if row]
    except UnicodeDecodeError as exc:
        raise AudioInputError(f"{path}: {what} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
                              "re-save it as UTF-8 CSV") from None
    except (csv.Error, OSError) as exc:
        raise AudioInputError(f"{path}: cannot read the {what} as CSV ({exc})") from None
    if not lines:
        raise AudioInputError(f"{path}: {what} is empty; it needs a header line, e.g. id,path,caption")
    binary = next((n for n, row in lines if any("\0" in cell for cell in row)), None)
    if binary is not None:
        raise AudioInputError(f"{path}, line {binary}: NUL bytes; the {what} looks like a binary file, "
                              "not CSV text")
    (_, columns), body = lines[0], lines[1:]
    named = [c for c in columns if c]
    if len(set(named)) != len(named):
        raise AudioInputError(f"{path}: {what} header repeats a column name: {columns}")
    for line, row in body:
        if len(row) != len(columns):
            raise AudioInputError(
                f"{path}, line {line}: {len(row)} fields but the header has {len(columns)} "
                f"({','.join(columns)}); quote fields that contain commas")
    return columns, [(line, dict(zip(columns, row))) for line, row in body]


def _from_manifest(path: Path, where: dict[str, list[str]]) -> Source:
    columns, rows = read_table(path)
    if not {"id", "path"} <= set(columns):
        raise AudioInputError(f"{path}: manifest needs columns 'id' and 'path', has {columns}")
    for column in where:
        if column not in columns:
            raise AudioInputError(f"{path}: filter column {column!r} not in {columns}")
    rows = [(n, r) for n, r in rows if all(r[c] in vals for c, vals in where.items())]
    _check_ids(path, rows, ("id", "path"))
    items = []
    for line, r in rows:
        audio = (path.parent / r["path"]).resolve()
        try:
            file_state(audio)
        except AudioInputError as exc:
            raise AudioInputError(f"{path}, line {line} (id {r['id']!r}): {exc}") from None
        items.append(Item(r["id"], audio, _caption(r), dict(r)))
    return Source(str(path), items)


def _check_ids(path: Path, rows: list[tuple[int, dict[str, str]]], required: tuple[str, ...]) -> None:
    """Every row has the ``required`` fields filled in, and ids are unique."""
    for line, r in rows:
        empty = [c for c in required if not r[c].strip()]
        if empty:
            raise AudioInputError(f"{path}, line {line}: empty {' and '.join(empty)}; fill it in or "
                                  "delete the row")
    ids = [r["id"] for _, r in rows]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise AudioInputError(f"{path}: duplicate ids {dupes[:5]}; ids must be unique")


def _caption(row: dict[str, str]) -> str | None:
    return next((row[c] for c in CAPTION_COLUMNS if row.get(c)), None)


def apply_prompts(items: list[Item], prompts_csv: Path) -> None:
    """Set each item's prompt from a CSV with columns id and caption/prompt/text."""
    columns, rows = read_table(Path(prompts_csv), "--prompts file")
    text_columns = [c for c in CAPTION_COLUMNS if c in columns]
    if "id" not in columns or not text_columns:
        raise AudioInputError(f"{prompts_csv}: --prompts needs columns 'id' and one of "
                              f"{list(CAPTION_COLUMNS)}, has {columns}")
    _check_ids(Path(prompts_csv), rows, ("id",))
    table = {r["id"]: _caption(r) for _, r in rows}
    missing = [it.id for it in items if not table.get(it.id)]
    if missing:
        raise AudioInputError(f"{prompts_csv}: no prompt (or an empty one) for ids {missing[:5]}"
                              f"{' (+%d more)' % (len(missing) - 5) if len(missing) > 5 else ''}")
    for it in items:
        it.prompt = table[it.id]


def parse_where(pairs: list[str] | None) -> dict[str, list[str]]:
    """``["fold=1,2", "license=CC0"]`` -> ``{"fold": ["1", "2"], "license": ["CC0"]}``."""
    out: dict[str, list[str]] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise AudioInputError(f"filter {pair!r}: expected COLUMN=VALUE[,VALUE...]")
        column, values = pair.split("=", 1)
        if column.strip() in out:
            raise AudioInputError(f"filter column {column.strip()!r} given twice; list its values once, "
                                  f"comma-separated: {column.strip()}=A,B")
        out[column.strip()] = [v.strip() for v in values.split(",")]
    return out
