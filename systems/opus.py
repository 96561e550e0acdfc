"""``opus``: the Opus codec (RFC 6716) in an Ogg container (RFC 7845), through libsndfile.

A real codec users know, as the reference point for the neural codecs: each clip is written to
an in-memory Ogg/Opus file with ``soundfile`` (libsndfile) and read back. No other package.

Operating point: ``bitrate_kbps``, the encoder's target (default 6, the lowest libsndfile can
ask for). libsndfile 1.2.2 has one knob for Opus, ``SFC_SET_COMPRESSION_LEVEL`` q ∈ [0, 1], and
sets ``OPUS_SET_BITRATE(int((1 − q)·250 000 + 6 000) · channels)`` bit/s (``ogg_opus.c``): a
linear map of q onto 256 … 6 kbps per channel, so 6 kbps is the floor. :func:`compression_level`
inverts it exactly. ``bitrate_mode`` ('CONSTANT' / 'VARIABLE' / 'AVERAGE') is refused for Opus
by libsndfile 1.2.2 (``SFC_SET_BITRATE_MODE`` is implemented for MP3 only; soundfile raises
"Error set bitrate mode"), so the rate control is libopus's default, VBR: packets of silence
shrink to 8 bytes while noise fills the target. Packets are 20 ms (libsndfile's fixed choice).

Measured with libsndfile 1.2.2 and libopus 1.4 on 16 kHz mono 2-s clips (mean of 4 clips each):
"packets" = the Opus packets alone, "file" = the whole Ogg file (what ``payload_bits`` counts);
noise = white noise at 0.3 rms, sine = 0.5-amplitude tones of 220 Hz to 3 kHz, sfx = the
procedural sound effects of ``common.sfx`` (quiet, with silent stretches VBR spends little on).
``tests/systems/test_opus.py`` checks the noise tolerances, the orderings and the header size.

======  =====================  =====================  ====================
target  packets kbps           file kbps              SI-SDR dB
kbps    noise / sine / sfx     noise / sine / sfx     440-Hz sine / noise
======  =====================  =====================  ====================
6       5.0 / 7.0 / 3.8        9.0 / 11.0 / 7.9       16.8 / -12.7
8       6.7 / 7.9 / 4.1        10.8 / 12.0 / 8.2      17.6 / -9.0
10      11.5 / 12.3 / 6.2      15.6 / 16.4 / 10.3     23.5 / -3.5
12      11.6 / 13.7 / 6.7      15.7 / 17.8 / 10.8     24.3 / -3.4
16      15.4 / 17.1 / 8.2      19.5 / 21.2 / 12.3     20.0 / -0.6
24      22.8 / 24.2 / 10.5     26.9 / 28.2 / 14.6     28.3 / 3.1
32      31.3 / 31.8 / 12.9     35.4 / 36.0 / 17.0     27.5 / 6.2
64      64.7 / 65.1 / 36.1     68.9 / 69.3 / 40.3     28.6 / 19.4
======  =====================  =====================  ====================

On dense signals the packets land within 25 % of the target (within 6 % from 24 kbps up); the
lowest rate reachable is the 6-kbps target, 4-7 kbps of packets but 8-11 kbps of file on a 2-s
clip. SI-SDR of noise rises with the target; that of a tone is not monotone (16 kbps scores below
12, most likely where libopus changes coding mode between SILK/hybrid and CELT).
The container costs a fixed 869 bytes per file, whatever the length: the OpusHead page
(47 bytes) and the OpusTags page (822 bytes, of which 764 are zeros libsndfile reserves for
tags), i.e. 3.5 kbps on a 2-s clip, plus the Ogg page framing of the audio (155 bytes, 0.6 kbps,
on a 2-s clip at low rates). ``payload_bits`` includes all of it (the file is what one would
store or send); :meth:`OpusCodec.layouts` splits it up, for a packets-only rate.

Alignment: Opus's encoder delay (pre-skip 312 samples at 48 kHz, 6.5 ms) is written in the
header, and libsndfile drops it and trims the end from the last granule position: decoding gives
exactly the input's length, with zero lag (measured at 8, 16 and 48 kHz by cross-correlation).
``decode`` still pads or trims to ``num_samples`` and refuses a payload more than one packet
short (a damaged page is dropped by libogg's CRC check, so a corrupted file decodes short).

Sample rates: Opus codes at 8, 12, 16, 24 or 48 kHz. Other rates up to 48 kHz (the ``base``
preset's 44.1 kHz) are resampled (soxr HQ) to the next Opus rate and back, as opusenc does; the
resampler is part of the codec here and is recorded in ``config()``. The Ogg stream's serial
number, random in libsndfile, is set to 0 (CRCs recomputed), so equal input gives equal bytes.
"""
from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import soundfile as sf

from common.audio_io import RESAMPLER, pad_to, resample
from systems.api import Codec, Encoded, SystemInfo, SystemInputError, check_options
from systems.codec_input import check_codec_audio, check_decode_request

OPUS_RATES_HZ = (8000, 12000, 16000, 24000, 48000)
MIN_BITRATE_KBPS, MAX_BITRATE_KBPS = 6.0, 256.0  # libsndfile's compression-level range, per channel
PACKET_S = 0.020  # libsndfile writes 20-ms Opus packets
OGG_SERIAL = 0  # fixed stream serial number: equal input, equal bytes
_PAGE = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, sequence, CRC, segments


def compression_level(bitrate_kbps: float) -> float:
    """libsndfile's compression level q that makes it ask libopus for ``bitrate_kbps`` (mono).

    libsndfile truncates ``(1 − q)·250 000 + 6 000`` to an int: q aims half a bit/s above the
    target so that floating-point round-off never lands one bit/s below it.
    """
    bps = round(bitrate_kbps * 1000)
    return min(max((MAX_BITRATE_KBPS * 1000 - bps - 0.5) / 250_000.0, 0.0), 1.0)


def encoder_bitrate_bps(level: float) -> int:
    """The bit rate libsndfile 1.2.2 sets for compression level ``level`` (mono; ``ogg_opus.c``)."""
    return int((1.0 - level) * 250_000.0 + 6_000.0)


# ---------------------------------------------------------------- the Ogg container


@dataclass(frozen=True)
class OggOpusLayout:
    """Where an Ogg/Opus file's bytes go (all counts in bytes; they sum to the file's size)."""

    header_bytes: int  # the OpusHead and OpusTags pages, Ogg framing included: fixed per file
    framing_bytes: int  # Ogg page headers and lacing of the audio pages
    packet_bytes: int  # the Opus audio packets: what the codec itself spends
    packets: int

    @property
    def total_bytes(self) -> int:
        return self.header_bytes + self.framing_bytes + self.packet_bytes


def ogg_pages(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, header size, body size) of each page; a malformed file is a SystemInputError."""
    pages, offset = [], 0
    while offset < len(data):
        if len(data) - offset < _PAGE.size or data[offset:offset + 4] != b"OggS":
            raise SystemInputError(f"byte {offset} does not start an Ogg page: the payload is corrupted "
                                   "or not Ogg/Opus; encode the clip again with this codec")
        segments = data[offset + _PAGE.size - 1]
        header = _PAGE.size + segments
        body = sum(data[offset + _PAGE.size: offset + header])
        if offset + header + body > len(data):
            raise SystemInputError(f"the Ogg page at byte {offset} is cut short: the payload is truncated")
        pages.append((offset, header, body))
        offset += header + body
    return pages


def ogg_opus_layout(data: bytes) -> OggOpusLayout:
    """Split an Ogg/Opus file into header pages, page framing and audio packets.

    The first two pages hold the two header packets (RFC 7845 puts each alone on its page).
    """
    pages = ogg_pages(data)
    if len(pages) < 2:
        raise SystemInputError("an Ogg/Opus file needs its two header pages; the payload is truncated")
    audio = pages[2:]
    lacing = [data[o + _PAGE.size: o + h] for o, h, _ in audio]
    return OggOpusLayout(header_bytes=sum(h + b for _, h, b in pages[:2]),
                         framing_bytes=sum(h for _, h, _ in audio),
                         packet_bytes=sum(b for _, _, b in audio),
                         packets=sum(1 for lace in lacing for value in lace if value < 255))


@lru_cache(maxsize=1)
def _crc_table() -> tuple[int, ...]:
    """Ogg's CRC-32: polynomial 0x04C11DB7, not reflected, initial value 0 (RFC 3533)."""
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


def ogg_crc(page: bytes) -> int:
    table, crc = _crc_table(), 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


def with_serial(data: bytes, serial: int = OGG_SERIAL) -> bytes:
    """``data`` with every page's stream serial number set to ``serial`` and its CRC redone."""
    out = bytearray(data)
    for offset, header, body in ogg_pages(data):
        struct.pack_into("<I", out, offset + 14, serial)
        struct.pack_into("<I", out, offset + 22, 0)  # the CRC is summed with its own field zeroed
        struct.pack_into("<I", out, offset + 22, ogg_crc(out[offset: offset + header + body]))
    return bytes(out)


@lru_cache(maxsize=1)
def libopus_version() -> str:
    """The libopus libsndfile links, from the vendor string it writes into OpusTags (RFC 7845 5.2)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(160, np.float32), 8000, format="OGG", subtype="OPUS")
    data = buffer.getvalue()
    offset, header, _ = ogg_pages(data)[1]
    start = offset + header + 8  # after the "OpusTags" magic
    (length,) = struct.unpack_from("<I", data, start)
    return data[start + 4: start + 4 + length].decode("utf-8", "replace")


# ---------------------------------------------------------------- the codec


def _check_bitrate(bitrate_kbps: Any) -> float:
    number = isinstance(bitrate_kbps, (int, float, np.integer, np.floating)) and not isinstance(
        bitrate_kbps, bool)
    if not number or not MIN_BITRATE_KBPS <= bitrate_kbps <= MAX_BITRATE_KBPS:
        raise SystemInputError(f"opus: bitrate_kbps must be a number in [{MIN_BITRATE_KBPS:g}, "
                               f"{MAX_BITRATE_KBPS:g}] (libsndfile's Opus range for a mono stream), "
                               f"got {bitrate_kbps!r}")
    return float(bitrate_kbps)


def coding_rate_hz(sample_rate: Any) -> int:
    """The Opus rate a clip at ``sample_rate`` is coded at: itself, else the next one up."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise SystemInputError(f"opus: sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    rate = next((r for r in OPUS_RATES_HZ if r >= sample_rate), None)
    if rate is None:
        raise SystemInputError(f"opus: Opus codes at most 48 kHz audio, got {sample_rate} Hz; resample "
                               "the clips to 48000 Hz or lower first")
    return rate


class OpusCodec(Codec):
    """Opus at a target bitrate, through libsndfile (soundfile): see the module docstring."""

    info = SystemInfo(name="opus", paper="Opus (RFC 6716) in Ogg (RFC 7845) via libsndfile: the "
                      "classic-codec reference point")
    row_options = ("bitrate_kbps",)  # each target is its own row of a codec protocol (opus/bitrate_kbps6)

    def __init__(self, sample_rate: int = 16000, bitrate_kbps: float = MIN_BITRATE_KBPS) -> None:
        if "OPUS" not in sf.available_subtypes("OGG"):
            raise SystemInputError(f"this libsndfile ({sf.__libsndfile_version__}) cannot write Ogg/Opus; "
                                   "install soundfile >= 0.12, whose wheels bundle libsndfile >= 1.1")
        self.coding_rate_hz = coding_rate_hz(sample_rate)
        self.sample_rate = int(sample_rate)
        self.target_kbps = _check_bitrate(bitrate_kbps)
        self.level = compression_level(self.target_kbps)

    @classmethod
    def from_components(cls, components: Any, **config: Any) -> OpusCodec:
        check_options(config, ("bitrate_kbps",), cls.info.name)
        return cls(sample_rate=components.ae.sample_rate, **config)

    def load(self, device: str = "cpu") -> OpusCodec:
        return self  # nothing to load: libopus runs on the CPU whatever the device

    def config(self) -> dict[str, Any]:
        resampled = self.coding_rate_hz != self.sample_rate
        return {**super().config(), "bitrate_kbps": self.target_kbps, "sample_rate": self.sample_rate,
                "coding_rate_hz": self.coding_rate_hz, "resampler": RESAMPLER if resampled else None,
                "compression_level": self.level, "encoder_bitrate_bps": encoder_bitrate_bps(self.level),
                "rate_control": "libopus default (VBR)", "packet_ms": PACKET_S * 1000,
                "libsndfile": sf.__libsndfile_version__, "libopus": libopus_version()}

    def bitrate_kbps(self) -> float:
        """The encoder's target; the measured rate (container included) is ``Encoded.bitrate_kbps``."""
        return self.target_kbps

    def encode(self, audio: np.ndarray) -> Encoded:
        """One Ogg/Opus file per clip of ``audio`` float32 [B, n] (mono, at ``sample_rate``).

        ``codes``: a tuple of the files' bytes. ``payload_bits``: their size in bits, Ogg container
        included (headers ~869 bytes per file, page framing): exactly ``8·len(codes[0])`` for one
        clip, the mean over clips rounded up for a batch (VBR files differ in size; per clip:
        :meth:`clip_bits`).
        """
        x = check_codec_audio(audio, "opus")
        codes = tuple(self._encode_clip(clip) for clip in x)
        bits = [8 * len(c) for c in codes]
        return Encoded(codes=codes, latents=None, frame_rate_hz=1.0 / PACKET_S,
                       payload_bits=math.ceil(sum(bits) / len(bits)), num_samples=x.shape[1],
                       sample_rate=self.sample_rate)

    def _encode_clip(self, clip: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        sf.write(buffer, resample(clip, self.sample_rate, self.coding_rate_hz), self.coding_rate_hz,
                 format="OGG", subtype="OPUS", compression_level=self.level)
        return with_serial(buffer.getvalue())

    def decode(self, encoded: Encoded, *, steps: int | None = None, seed: int = 0) -> np.ndarray:
        """Audio float32 [B, num_samples] in [-1, 1] (Opus may overshoot full scale: clipped)."""
        check_decode_request(encoded, steps, self.sample_rate, "opus")
        if not isinstance(encoded.codes, (tuple, list)) or not encoded.codes:
            raise SystemInputError("opus: the payload has no per-clip Ogg/Opus bytes in codes; decode "
                                   "only what OpusCodec.encode returned")
        clips = [self._decode_clip(data, i, encoded.num_samples) for i, data in enumerate(encoded.codes)]
        return np.clip(np.stack(clips), -1.0, 1.0).astype(np.float32)

    def _decode_clip(self, data: bytes, index: int, num_samples: int) -> np.ndarray:
        y = resample(self._read(data, index), self.coding_rate_hz, self.sample_rate)
        if y.shape[0] < num_samples - round(PACKET_S * self.sample_rate):
            raise SystemInputError(f"opus: clip {index} decodes to {y.shape[0]} samples, "
                                   f"{num_samples} expected: its payload is truncated or corrupted")
        return pad_to(y[:num_samples], num_samples)

    def _read(self, data: Any, index: int) -> np.ndarray:
        if not isinstance(data, (bytes, bytearray)):
            raise SystemInputError(f"opus: clip {index}'s code is {type(data).__name__}, expected the "
                                   "bytes of an Ogg/Opus file from OpusCodec.encode")
        try:
            with sf.SoundFile(io.BytesIO(data)) as f:
                found = (f.format, f.subtype, f.samplerate, f.channels)
                if found != ("OGG", "OPUS", self.coding_rate_hz, 1):
                    raise SystemInputError(f"opus: clip {index} is {found[0]}/{found[1]}, {found[2]} Hz, "
                                           f"{found[3]} channel(s); expected mono OGG/OPUS at "
                                           f"{self.coding_rate_hz} Hz (from this codec's encode)")
                return f.read(dtype="float32", always_2d=True)[:, 0]
        except sf.LibsndfileError as exc:
            raise SystemInputError(f"opus: clip {index}'s payload is corrupted or not Ogg/Opus "
                                   f"(libsndfile: {exc.error_string}); encode it again") from None

    def layouts(self, encoded: Encoded) -> list[OggOpusLayout]:
        """Per clip, where the payload's bytes go (headers, Ogg framing, Opus packets)."""
        return [ogg_opus_layout(data) for data in encoded.codes]

    @staticmethod
    def clip_bits(encoded: Encoded) -> list[int]:
        """The exact payload size of each clip in bits (``8·len(bytes)``)."""
        return [8 * len(data) for data in encoded.codes]
