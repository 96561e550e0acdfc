"""One codec row's coding: original clips → encode → bytes on disk → read back → decode → clips.

Layout of a row folder (``rows/<row id>/``)::

    payload/<id>.bin          each clip's payload bytes (what the bitrate is measured from)
    audio/<id>.flac           the decoded clip (first decode seed), named after its original
    seed<k>/audio/<id>.flac   further decode seeds of a stochastic codec (k = 1, 2)
    manifest.csv, seed<k>/manifest.csv   id, path, caption and the original's attributes
    coded.jsonl               one line per finished batch: ids, bits, encode and decode seconds

Resume: a batch is finished when its line is in ``coded.jsonl`` (written after its payloads and
clips); a killed row continues with the clips no line names, and a half-written last line is
ignored. Timing: one untimed warm-up encode + decode of one clip (lazy imports, allocator)
before the first timed batch; each batch's ``encode`` and each seed's ``decode`` call is timed
on its own (payload and clip writing excluded). RTF = seconds of audio per wall-clock second
(higher is faster; > 1 = faster than real time), over the summed batches.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from bench.codec_payload import (
    check_declared_bits,
    clip_payloads,
    from_payloads,
    read_payloads,
    write_payloads,
)
from bench.entries import RunError
from bench.keys import write_audio_atomic, write_manifest
from common.audio_io import resample, to_mono

BATCH = 16
LOG = "coded.jsonl"


@dataclass(frozen=True)
class OriginalClip:
    """One test clip: its id, file, caption and procedural attributes (the manifest's columns)."""

    item_id: str
    path: Path
    caption: str
    meta: dict


@dataclass
class Coding:
    """What a row's coding measured: bits per clip (in clip order) and the summed wall times."""

    bits: list[int]
    audio_s: float
    encode_s: float
    decode_s: list[float]  # per decode seed
    clip_s: float  # one clip's duration
    batch: int = BATCH
    notes: list[str] = field(default_factory=list)


def seed_folder(row_dir: Path, k: int) -> Path:
    """Where decode seed number ``k`` (0, 1, 2) writes its clips."""
    return row_dir if k == 0 else row_dir / f"seed{k}"


def read_original(clip: OriginalClip, sample_rate: int) -> np.ndarray:
    wav, rate = sf.read(clip.path, dtype="float32", always_2d=True)
    return resample(to_mono(wav.T), rate, sample_rate).astype(np.float32)


def read_log(row_dir: Path) -> list[dict]:
    """The finished batches; a half-written last line (a kill while appending) is dropped."""
    path = row_dir / LOG
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return out


def _complete(row_dir: Path, entry: dict, n_seeds: int) -> bool:
    """Whether every payload and decoded clip of a logged batch is still on disk."""
    files = []
    for item_id in entry["ids"]:
        files += [row_dir / "payload" / f"{item_id}.bin"] if entry.get("bytes", True) else []
        files += [seed_folder(row_dir, k) / "audio" / f"{item_id}.flac" for k in range(n_seeds)]
    return all(f.exists() for f in files)


def _rewrite_log(row_dir: Path, log: list[dict]) -> None:
    tmp = row_dir / (LOG + ".tmp")
    tmp.write_text("".join(json.dumps(e) + "\n" for e in log), encoding="utf-8")
    tmp.replace(row_dir / LOG)


def code_row(codec, clips: list[OriginalClip], row_dir: Path, *, steps: int | None, seeds: tuple[int, ...],
             nominal: bool, progress: bool = True, desc: str = "code") -> Coding:
    """Code every clip not finished yet (see the module docstring) and sum up the whole row."""
    log = [e for e in read_log(row_dir) if _complete(row_dir, e, len(seeds))]
    _rewrite_log(row_dir, log)   # drops a torn last line and batches whose files are gone
    done = {item_id for e in log for item_id in e["ids"]}
    todo = [c for c in clips if c.item_id not in done]
    if todo:
        _warm_up(codec, todo[0], steps, seeds[0])
    lines = []
    for start in tqdm(range(0, len(todo), BATCH), desc=desc, disable=not progress, leave=False):
        lines.append(_code_batch(codec, todo[start:start + BATCH], row_dir, steps, seeds, nominal))
        with open(row_dir / LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(lines[-1]) + "\n")
    for k in range(len(seeds)):
        folder = seed_folder(row_dir, k)
        write_manifest(folder, [{"id": c.item_id, "path": f"audio/{c.item_id}.flac", "caption": c.caption,
                                 **c.meta} for c in clips])
    return summarise(log + lines, clips, len(seeds))


def _warm_up(codec, clip: OriginalClip, steps, seed: int) -> None:
    audio = read_original(clip, codec.sample_rate)[None]
    codec.decode(codec.encode(audio), steps=steps, seed=seed)


def _code_batch(codec, chunk: list[OriginalClip], row_dir: Path, steps, seeds, nominal: bool) -> dict:
    ids = [c.item_id for c in chunk]
    audio = _stack([read_original(c, codec.sample_rate) for c in chunk], ids)
    t0 = time.perf_counter()
    encoded = codec.encode(audio)
    encode_s = time.perf_counter() - t0
    if nominal:
        bits, to_decode = [int(encoded.payload_bits)] * len(chunk), encoded
    else:
        blobs = clip_payloads(codec, encoded)
        check_declared_bits(codec, encoded, blobs)
        write_payloads(row_dir / "payload", ids, blobs)
        stored = read_payloads(row_dir / "payload", ids)
        bits, to_decode = [8 * len(b) for b in stored], from_payloads(codec, encoded, stored)
    decode_s = []
    for k, seed in enumerate(seeds):
        t0 = time.perf_counter()
        wav = codec.decode(to_decode, steps=steps, seed=seed)
        decode_s.append(time.perf_counter() - t0)
        _check_decoded(codec, wav, audio)
        for item_id, clip in zip(ids, wav):
            write_audio_atomic(seed_folder(row_dir, k) / "audio" / f"{item_id}.flac", clip, codec.sample_rate)
    return {"ids": ids, "bits": bits, "bytes": not nominal, "audio_s": audio.size / codec.sample_rate,
            "clip_s": audio.shape[1] / codec.sample_rate, "encode_s": encode_s, "decode_s": decode_s}


def _stack(waves: list[np.ndarray], ids: list[str]) -> np.ndarray:
    lengths = {len(w) for w in waves}
    if len(lengths) != 1:
        raise RunError(f"the test clips {ids} differ in length ({sorted(lengths)} samples); a codec batch "
                       "needs clips of one length")
    return np.stack(waves)


def _check_decoded(codec, wav, audio: np.ndarray) -> None:
    wav = np.asarray(wav)
    if wav.shape != audio.shape or not np.isfinite(wav).all():
        finite = bool(np.isfinite(wav).all())
        raise RunError(f"codec {codec.info.name!r} decoded {wav.shape} (finite: {finite}) "
                       f"from clips {audio.shape}; a codec must return finite audio of its input's shape")


def summarise(log: list[dict], clips: list[OriginalClip], n_seeds: int) -> Coding:
    """Bits in clip order and the wall times summed over every finished batch."""
    bits = {i: b for entry in log for i, b in zip(entry["ids"], entry["bits"])}
    missing = [c.item_id for c in clips if c.item_id not in bits]
    if missing:
        raise RunError(f"coding left clips {missing[:5]} without a payload; rerun with --resume")
    return Coding(bits=[bits[c.item_id] for c in clips], audio_s=sum(e["audio_s"] for e in log),
                  encode_s=sum(e["encode_s"] for e in log),
                  decode_s=[sum(e["decode_s"][k] for e in log) for k in range(n_seeds)],
                  clip_s=log[0]["clip_s"], batch=BATCH)
