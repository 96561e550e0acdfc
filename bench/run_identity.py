"""What a run is of besides its protocol, checked when it resumes.

User files (``$FASTAUDIO_AUDIOCAPS_CAPTIONS``, ``$FASTAUDIO_AUDIOCAPS_AUDIO``) change the prompts
and reference clips without changing the protocol hash, and ``--systems`` changes which rows a
run holds; both are recorded in the run's config.json and results.json, and a resume that would
mix two data sets or selections in one folder is refused.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bench.entries import RunError
from common.sources import load_source


def run_identity(items: list, ref_manifest: Path, systems: list[str] | None) -> dict:
    """What a run is of besides its protocol: digests of the prompts (item id, text, seed) and of
    the reference set (the manifest's text and each clip's size: content, not where it lies, so
    two runs on the same data compare equal on any machine), the manifest's path (informative,
    not compared) and the ``--systems`` selection. A resume must match the digests and selection,
    so a row never mixes two data sets."""
    prompts = json.dumps([(it.item_id, it.prompt, it.seed) for it in items]).encode()
    data = {"prompts": {"n": len(items), "sha256": hashlib.sha256(prompts).hexdigest()[:16]},
            "reference": reference_digest(ref_manifest)}
    return {"data": data, "systems_selected": list(systems) if systems else None,
            "reference_manifest": str(ref_manifest)}


def reference_digest(manifest: Path) -> dict:
    """The reference set's size and a digest of its manifest text and clip sizes."""
    source = load_source(manifest)
    parts = [manifest.read_text(encoding="utf-8"), *(str(item.path.stat().st_size) for item in source.items)]
    return {"n": len(source.items), "sha256": hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]}


def check_same_identity(out: Path, stored: dict, identity: dict) -> None:
    """A resume continues the same data and system selection (runs older than the record pass)."""
    if "data" in stored and stored["data"] != identity.get("data"):
        raise RunError(f"{out} was run on other prompts or reference clips ({stored['data']}, now "
                       f"{identity.get('data')}): a changed captions file or reference manifest; start a "
                       "new run folder")
    if "systems_selected" in stored and stored["systems_selected"] != identity.get("systems_selected"):
        raise RunError(f"{out} was run with --systems {stored['systems_selected']} (None: all); resume it "
                       "with the same selection, or run the others into a new --out and combine the runs "
                       "with `bench report RUN_A RUN_B`")
