"""Content keys and atomic JSON writes shared by the runner's caches and run folders."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def content_key(data: Any) -> str:
    """24 hex digits of SHA-256 over canonical JSON: equal settings, equal key."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:24]


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (a kill never leaves half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
