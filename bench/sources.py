"""Audio sources: a folder of audio files or a CSV manifest (id, path[, caption, ...]).

Folder policy: files with an audio extension (``AUDIO_EXTENSIONS``) are used, recursively; the
id is the relative path without extension. Other files are listed in the result's
``ignored_files`` and printed, never dropped silently. Two files with one id (a.wav, a.flac)
are an error. Manifest paths are relative to the manifest's folder.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from bench.audio_io import AUDIO_EXTENSIONS, AudioInputError

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
    elif path.is_file() and path.suffix.lower() == ".csv":
        source = _from_manifest(path, where or {})
    else:
        raise AudioInputError(f"{path}: not a folder or a .csv manifest (id, path[, caption])")
    if not source.items:
        raise AudioInputError(f"{path}: no audio items found"
                              f"{' after filtering ' + str(where) if where else ''}; "
                              f"expected files ending in {', '.join(AUDIO_EXTENSIONS)}")
    return source


def _from_folder(root: Path) -> Source:
    items, ignored, seen = [], [], {}
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        if p.suffix.lower() not in AUDIO_EXTENSIONS:
            ignored.append(str(p.relative_to(root)))
            continue
        item_id = p.relative_to(root).with_suffix("").as_posix()
        if item_id in seen:
            raise AudioInputError(f"{p} and {seen[item_id]} share the id {item_id!r}; "
                                  "rename one or use a manifest")
        seen[item_id] = p
        items.append(Item(item_id, p))
    return Source(str(root), items, ignored)


def _from_manifest(path: Path, where: dict[str, list[str]]) -> Source:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows, columns = list(reader), list(reader.fieldnames or [])
    if not {"id", "path"} <= set(columns):
        raise AudioInputError(f"{path}: manifest needs columns 'id' and 'path', has {columns}")
    for column in where:
        if column not in columns:
            raise AudioInputError(f"{path}: filter column {column!r} not in {columns}")
    rows = [r for r in rows if all(r[c] in vals for c, vals in where.items())]
    ids = [r["id"] for r in rows]
    dupes = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    if dupes:
        raise AudioInputError(f"{path}: duplicate ids {dupes[:5]}; ids must be unique")
    items = [Item(r["id"], (path.parent / r["path"]).resolve(), _caption(r), dict(r)) for r in rows]
    return Source(str(path), items)


def _caption(row: dict[str, str]) -> str | None:
    return next((row[c] for c in CAPTION_COLUMNS if row.get(c)), None)


def apply_prompts(items: list[Item], prompts_csv: Path) -> None:
    """Set each item's prompt from a CSV with columns id and caption/prompt/text."""
    with open(prompts_csv, newline="", encoding="utf-8") as f:
        table = {r["id"]: _caption(r) for r in csv.DictReader(f)}
    missing = [it.id for it in items if it.id not in table]
    if missing:
        raise AudioInputError(f"{prompts_csv}: no prompt for ids {missing[:5]}"
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
        out[column.strip()] = [v.strip() for v in values.split(",")]
    return out
