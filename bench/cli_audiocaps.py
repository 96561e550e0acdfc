"""``python -m bench audiocaps-manifest --audio DIR --out CSV``: the reference manifest of ``audiocaps``.

Lists the user's AudioCaps test clips (files named ``<youtube_id>.<ext>``, ``<audiocap_id>.<ext>``
or ``Y<youtube_id>.<ext>`` as some downloaders write them, anywhere below DIR) as ``id,path,caption``
with each clip's first caption of the captions CSV, the prompt the protocol generates for it, so KL
pairs a generation with its own clip. Clips not found (YouTube videos go offline) are counted and
their ids written to ``<out>.missing.txt``, never dropped silently; files that match no test clip
are counted too.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("audiocaps-manifest", description=__doc__,
                       help="write the AudioCaps reference manifest from a folder of clips")
    p.add_argument("--audio", required=True, help="folder of the downloaded AudioCaps test clips")
    p.add_argument("--out", required=True, help="manifest CSV to write (id,path,caption)")
    p.add_argument("--captions", help="captions CSV (default: the protocol's: $FASTAUDIO_AUDIOCAPS_CAPTIONS "
                                      "or ../shared/data/audiocaps/test.csv)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bench.entries import RunError

    try:
        found, missing, unmatched = write_manifest(Path(args.audio), Path(args.out), args.captions)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {found} clips; {missing} test clips not found (ids in {args.out}.missing.txt); "
          f"{unmatched} audio files match no test clip")
    return 0


def clip_captions(captions: str | None) -> dict[str, tuple[str, str]]:
    """youtube_id -> (audiocap_id, caption): the first caption of each clip, as the protocol's prompts."""
    from bench.captions import caption_prompts
    from bench.protocols import get_protocol

    spec = dict(get_protocol("audiocaps").prompts)
    if captions:
        spec = {**spec, "path": captions, "env": None}
    return {meta["youtube_id"]: (meta.get("audiocap_id", ""), prompt)
            for prompt, meta in caption_prompts(spec)}


def write_manifest(audio: Path, out: Path, captions: str | None) -> tuple[int, int, int]:
    """Write the manifest; (clips found, test clips missing, audio files matching no clip)."""
    from bench.entries import RunError
    from common.audio_io import AUDIO_EXTENSIONS

    if not audio.is_dir():
        raise RunError(f"--audio {audio}: not a folder of audio clips")
    clips = clip_captions(captions)
    by_name = {key: yid for yid, (cap_id, _) in clips.items() for key in (yid, f"Y{yid}", cap_id) if key}
    rows, unmatched = {}, 0
    for path in sorted(p for p in audio.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS):
        yid = by_name.get(path.stem)
        if yid is None or yid in rows:
            unmatched += 1
            continue
        rows[yid] = os.path.relpath(path.resolve(), out.parent.resolve())   # manifest paths: relative
    _write(out, rows, clips)
    return len(rows), len(clips) - len(rows), unmatched


def _write(out: Path, rows: dict[str, str], clips: dict[str, tuple[str, str]]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "path", "caption"])
        for yid in (yid for yid in clips if yid in rows):   # in the captions' order, as the prompts
            writer.writerow([yid, rows[yid], clips[yid][1]])
    missing = [yid for yid in clips if yid not in rows]
    Path(f"{out}.missing.txt").write_text("".join(f"{yid}\n" for yid in missing))
