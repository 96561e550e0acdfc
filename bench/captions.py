"""Prompt and reference locations of protocols whose data the user supplies (``audiocaps``).

Prompt source ``{"source": "captions", ...}``: a CSV of captions without audio (AudioCaps'
``test.csv``: ``audiocap_id, youtube_id, start_time, caption``). Keys:

- ``path``: the CSV (``{shared}`` allowed); ``env``: an environment variable that, when set,
  names the user's own copy instead;
- ``column``: the caption column (default ``caption``);
- ``one_per``: keep the first caption of each value of this column, in file order (AudioCaps has
  5 captions per clip; ``youtube_id`` gives one prompt per clip, deterministically);
- ``n``: the first n prompts (None: all).

Each prompt's item carries its row's columns as metadata (``youtube_id`` ...). References whose
audio is not shipped (``{"source": "manifest", "env": VAR, "missing": "..."}``) are found through
``env``; when it is unset or wrong the run stops before any work with the ``missing`` text, which
says what to download and how to list it.
"""
from __future__ import annotations

import os
from pathlib import Path

from bench.entries import RunError
from common.audio_io import AudioInputError
from common.paths import shared_dir
from common.sources import read_table


def resolve_shared(text: str) -> Path:
    """Substitute ``{shared}`` (the developers' ../shared or $FASTAUDIO_SHARED)."""
    if "{shared}" in text:
        shared = shared_dir()
        if shared is None:
            raise RunError(f"{text} needs the shared data folder: put it at ../shared or set "
                           "FASTAUDIO_SHARED")
        text = text.replace("{shared}", str(shared))
    return Path(text)


def located(spec: dict, what: str) -> Path:
    """``spec``'s file: ``$env`` when set, else ``path``; a missing one stops the run with a clear error."""
    env = spec.get("env")
    if env and os.environ.get(env):
        path = Path(os.environ[env]).expanduser()
        if not path.is_file():
            raise RunError(f"{env}={path}: no such file; it should name {what}")
        return path
    if spec.get("path") is None:
        raise RunError(f"{env} is not set. {spec.get('missing', f'Set it to {what}.')}")
    path = resolve_shared(spec["path"])
    if not path.is_file():
        hint = f" or set {env} to your copy" if env else ""
        raise RunError(f"{path}: no such file ({what}){hint}")
    return path


def caption_prompts(spec: dict) -> list[tuple[str, dict[str, str]]]:
    """(prompt, metadata) pairs of a captions CSV, as the module docstring describes."""
    path = located(spec, "a CSV of captions (AudioCaps test.csv: audiocap_id,youtube_id,start_time,caption)")
    try:
        columns, rows = read_table(path, "captions file")
    except AudioInputError as exc:
        raise RunError(str(exc)) from None
    column, group = spec.get("column", "caption"), spec.get("one_per")
    for needed in filter(None, (column, group)):
        if needed not in columns:
            raise RunError(f"{path}: no column {needed!r} (columns: {columns}); give the AudioCaps "
                           "captions CSV")
    seen, out = set(), []
    for line, row in rows:
        if not row[column].strip():
            raise RunError(f"{path}, line {line}: empty caption; fill it in or delete the row")
        if group is None or row[group] not in seen:
            seen.add(row[group] if group else line)
            out.append((row[column].strip(), dict(row)))
    n = spec.get("n")
    if n is not None and len(out) < n:
        raise RunError(f"{path}: {len(out)} prompts, but the protocol takes the first {n}; use the full file")
    return out[:n]
