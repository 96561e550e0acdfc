"""Audio I/O: decode (soundfile), validate, resample (soxr), channel policy, peak normalisation.

Policies (documented in README "Input policy"):
- unreadable/corrupt file, NaN/Inf samples, empty file: ``AudioInputError`` naming the file;
- only regular files are opened: a directory, FIFO, device or socket is refused before any
  ``open`` (a FIFO would block forever, ``/dev/zero`` would never end);
- a WAV/AIFF whose data chunk ends past the end of the file (truncated copy) or any file that
  decodes to fewer frames than its header declares is refused (libsndfile silently clamps);
- a file that disappears or changes (inode, size, mtime) while it is read is refused;
- longer than ``max_duration_s`` (default 600 s): error before decoding (checked from the header);
- silence is valid audio: peak normalisation leaves it at zero and it is reported as a warning;
- any channel count is read; ``to_mono`` averages channels; stereo conventions keep L/R.
"""
from __future__ import annotations

import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif")
RESAMPLER = "soxr-HQ"  # recorded in every result and cache key
DEFAULT_MAX_DURATION_S = 600.0
SILENCE_PEAK = 1e-8  # below this a clip counts as digital silence
MP3_FRAME_SLACK = 0.02  # MP3 headers without a Xing/LAME frame count only estimate the length


class AudioInputError(ValueError):
    """A file the evaluation cannot use; the message names the file and the fix."""


@dataclass
class AudioBatch:
    """A batch of clips at one rate. ``samples[i]``: [channels, n_i] float32."""

    ids: list[str]
    samples: list[np.ndarray]
    sample_rate: int
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


FileState = tuple[int, int, int]  # (inode, size in bytes, modification time in ns)

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def file_state(path: Path) -> FileState:
    """(inode, size, mtime) of a regular file; anything else is refused before it is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        link = " (a broken symbolic link)" if os.path.islink(path) else ""
        raise AudioInputError(f"{path}: no such file{link}; fix the path or remove the entry") from None
    except OSError as exc:
        raise AudioInputError(f"{path}: cannot access it ({exc.strerror}); check its permissions") from None
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise AudioInputError(f"{path}: is {kind}, not an audio file; list only audio files in the "
                              "folder/manifest")
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def check_unchanged(path: Path, before: FileState, during: str = "while it was read") -> None:
    """Refuse a file that vanished or was rewritten (inode, size or mtime differ) since ``before``."""
    try:
        after = file_state(path)
    except AudioInputError:
        after = None
    if after != before:
        what = "disappeared" if after is None else "changed (size, modification time or inode)"
        raise AudioInputError(f"{path}: {what} {during}; wait until whatever writes the files has "
                              "finished, then run again")


def declared_data_end(path: Path) -> int | None:
    """Byte offset where a WAV (RIFF) or AIFF (FORM) header says the samples end; None: unknown."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"FORM"):
            return None
        order, offset = ("<" if head[:4] == b"RIFF" else ">"), 12
        while len(chunk := _read_at(f, offset, 8)) == 8:
            ident, size = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
            if ident in (b"data", b"SSND"):  # 0 / 0xFFFFFFFF: streamed or RF64, length not in the header
                return None if size in (0, 0xFFFFFFFF) else offset + 8 + size
            offset += 8 + size + (size & 1)  # chunks are padded to an even length
    return None


def _read_at(f, offset: int, n: int) -> bytes:
    f.seek(offset)
    return f.read(n)


def audio_info(path: Path, max_duration_s: float = DEFAULT_MAX_DURATION_S) -> sf._SoundFileInfo:
    """Header of ``path``; raises if not a regular file, unreadable, truncated, empty or too long."""
    state = file_state(path)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for corrupt/unknown files
        check_unchanged(path, state)  # a file that vanished is reported as such, not as corrupt
        raise AudioInputError(
            f"{path}: cannot read audio ({exc}). Re-export it as WAV/FLAC/OGG, or remove it "
            "from the folder/manifest."
        ) from exc
    end = declared_data_end(path)
    if end is not None and end > state[1]:
        raise AudioInputError(f"{path}: truncated: its header says the audio data ends at byte {end}, "
                              f"the file has {state[1]} bytes; copy or export it again")
    if info.frames == 0:
        raise AudioInputError(f"{path}: file has no samples; regenerate it or remove it")
    duration_s = info.frames / info.samplerate
    if duration_s > max_duration_s:
        raise AudioInputError(
            f"{path}: {duration_s:.1f} s is longer than max_duration_s={max_duration_s:g} s. "
            "Trim it, or raise the limit with --max-duration-s if you really mean to embed it."
        )
    return info


def read_audio(path: Path, max_duration_s: float = DEFAULT_MAX_DURATION_S,
               expect: FileState | None = None) -> tuple[np.ndarray, int]:
    """Decode ``path`` to [channels, samples] float32 and its rate, validating samples.

    ``expect``: the file's state when it was hashed; a different state now means the content
    the cache key describes is not the content decoded, so the file is refused.
    """
    before = file_state(path)
    if expect is not None and before != expect:
        raise AudioInputError(f"{path}: changed after it was hashed; wait until whatever writes the "
                              "files has finished, then run again")
    info = audio_info(path, max_duration_s)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        check_unchanged(path, before)
        raise AudioInputError(f"{path}: decoding failed ({exc}); the file is corrupt") from exc
    check_unchanged(path, before)
    _check_length(path, info, len(data))
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioInputError(
            f"{path}: {bad} NaN/Inf samples. Fix the generator (e.g. clamp or nan_to_num) and "
            "re-export; metrics on such audio are meaningless."
        )
    return np.ascontiguousarray(data.T), int(rate)


def _check_length(path: Path, info, frames: int) -> None:
    """Refuse a file that decodes to fewer frames than its header declares (cut off)."""
    slack = MP3_FRAME_SLACK if info.format == "MP3" else 0.0
    if frames < info.frames * (1.0 - slack):
        raise AudioInputError(f"{path}: truncated: the header declares {info.frames} frames, only "
                              f"{frames} could be decoded; copy or export it again")


def to_mono(x: np.ndarray) -> np.ndarray:
    """[channels, n] -> [n] by averaging channels (fadtk/kadtk convention)."""
    return x.mean(axis=0) if x.ndim == 2 else x


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample [channels, n] or [n] with soxr (HQ); identity when rates match."""
    if rate_in == rate_out:
        return x.astype(np.float32, copy=False)
    import soxr

    y = soxr.resample(x.T if x.ndim == 2 else x, rate_in, rate_out, quality="HQ")
    return np.ascontiguousarray(y.T if x.ndim == 2 else y, dtype=np.float32)


def is_silent(x: np.ndarray) -> bool:
    return float(np.max(np.abs(x))) < SILENCE_PEAK if x.size else True


def peak_normalize(x: np.ndarray, peak_dbfs: float = -1.0) -> np.ndarray:
    """Scale so the absolute peak is ``peak_dbfs``; silence is returned unchanged (no 0/0)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak < SILENCE_PEAK:
        return x
    return (x * (10.0 ** (peak_dbfs / 20.0) / peak)).astype(np.float32)


def pad_to(x: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad the last axis to at least ``n`` samples."""
    if x.shape[-1] >= n:
        return x
    width = [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])]
    return np.pad(x, width)
