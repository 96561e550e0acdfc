"""Neural audio codecs released on the Hugging Face hub, run through transformers, behind :class:`Codec`.

One base class for ``dac`` (:mod:`systems.dac`) and ``encodec`` (:mod:`systems.encodec`): a subclass
names the transformers model class, the default hub id, its operating point (the number of
residual codebooks Q it sends) and how one clip becomes codes and back. Weights: see
:mod:`systems.hf_models` (hub id, local folder, or ``tiny-random``: random weights for offline tests).

Policies both share:

- **Rates.** ``sample_rate`` is the rate of the clips the codec takes and returns: the shared
  components' rate when the runner builds it (the protocol's clips), else the model's own
  (``config.sampling_rate``, ``native_rate``). Clips at another rate are resampled to the model's
  rate and back with soxr HQ, as ``opus`` does, so that every codec is scored on the same clips;
  ``config()`` records the native rate and the resampler (None when no resampling happens).
- **One clip at a time.** Each clip is encoded and decoded alone: a batched convolution may round
  differently, and one flipped nearest-codeword choice changes the audio, so a clip's payload
  and its audio never depend on the batch it came in (the contract's batch check).
- **Payload.** One ``bytes`` per clip: the codes [Q, F] (Q codebooks × F frames) bit-packed by
  :mod:`systems.quantizers.payload`, a 19-byte header (format, hash of the operating point and
  model, Q, bits per code, F, the clip's length at the model's rate, CRC32), then ⌈Q·F·b/8⌉
  bytes, b = ⌈log2 K⌉ for codebooks of K entries. A model that normalises its input (EnCodec
  48 kHz) also sends the scale of each chunk, as float32 (the reference ``.ecdc`` format's
  precision: the decoder gets the encoder's scale exactly), in a second packed section (header +
  32 bit per scale). ``payload_bits`` = 8·len(bytes): everything counted; the codes alone are
  Q·F·b bits.
- **Nominal rate** ``bitrate_kbps()`` = Q · frame rate · log2 K / 1000 (codes only). The measured
  ``Encoded.bitrate_kbps`` adds the header (and scales), and F rounds up per clip (per chunk).
- **Decoding** takes no steps (``steps`` other than None is refused; ``seed`` is unused: the
  decoders are deterministic), trims or zero-pads to the clip's length and clips to [-1, 1].
  A payload of another operating point or model (hash), another rate, truncated or corrupted
  (length, CRC) is refused with a SystemInputError.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from common.audio_io import RESAMPLER, pad_to, resample
from systems.api import Codec, Encoded, SystemInputError, check_options
from systems.codec_input import check_codec_audio, check_decode_request
from systems.hf_models import (
    TINY_RANDOM,
    check_model,
    load_pretrained,
    package_version,
    tiny_model,
    weights_fingerprint,
)
from systems.quantizers import payload

SCALE_BITS = 32  # a chunk's scale travels as its float32 bit pattern
_SCALES = "/scales"  # the scale section's operating-point suffix (its own hash)


@dataclass(frozen=True)
class ClipCodes:
    """One clip's codes ``int64 [Q, F]`` (the frames of all its chunks in order), its chunks' scales
    (float32 [S]; empty when the model does not normalise) and its length at the model's rate."""

    codes: np.ndarray
    scales: np.ndarray
    n_native: int


def positive_int(value: Any, what: str, who: str) -> int:
    """``value`` as an int >= 1, else a SystemInputError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SystemInputError(f"{who}: {what} must be a positive integer, got {value!r}")
    return int(value)


class HFCodec(Codec):
    """A transformers codec model as a :class:`Codec` (see the module docstring)."""

    requires = ("transformers",)
    test_config = {"model": TINY_RANDOM}
    model_class: ClassVar[str]   # e.g. "DacModel"
    default_model: ClassVar[str]   # the released checkpoint's hub id
    downloads: ClassVar[str]   # what a hub id fetches (for the error message)
    tiny_builder: ClassVar[Any]   # the systems.tiny module of this architecture

    def __init__(self, model: str | None = None, sample_rate: int | None = None) -> None:
        # cheap on purpose: weights are loaded by load(device) (from_components calls it)
        self.model = check_model(self.default_model if model is None else model, self.info.name)
        self._rate = None if sample_rate is None else positive_int(sample_rate, "sample_rate", self.info.name)
        self.net: Any = None
        self.device = "cpu"

    @classmethod
    def from_components(cls, components: Any, **config: Any) -> HFCodec:
        """At the components' rate (the protocol's clips, resampled for the model) and device."""
        check_options(config, ("model", *cls.row_options), cls.info.name)
        codec = cls(sample_rate=components.ae.sample_rate, **config)
        return codec.load(str(getattr(components, "device", "cpu")))

    # ------------------------------------------------------------ loading

    def load(self, device: str = "cpu") -> HFCodec:
        if self.net is None:
            net = self._load_model()
            self._check_operating_point(net)  # before binding: a refused codec stays unloaded
            self.net = net
            self.sample_rate = self._rate or self.native_rate
        self.device = str(device)
        self.net.to(self.device)
        return self

    def _load_model(self) -> Any:
        try:
            import transformers
        except ImportError as exc:  # a core dependency: only a broken install lacks it
            raise SystemInputError(f"{self.info.name} needs transformers ({exc}); install the project with "
                                   "`pip install -e .` inside its .venv") from None
        loader = getattr(transformers, self.model_class, None)
        if loader is None:
            raise SystemInputError(f"{self.info.name}: transformers {transformers.__version__} has no "
                                   f"{self.model_class}; upgrade it (`pip install -U transformers`)")
        source = self.model
        if source == TINY_RANDOM:  # saved once, then loaded by the same from_pretrained as a download
            source = str(tiny_model(self.info.name, self.tiny_builder.build, self.tiny_builder.settings()))
        net = load_pretrained(loader.from_pretrained, source, self.info.name, self.downloads).eval()
        commit = getattr(net.config, "_commit_hash", None)   # transformers records a hub download's commit
        self.weights_id = weights_fingerprint(self.model, source, commit)   # hub revision or folder digest
        return net

    def _check_operating_point(self, net: Any) -> None:
        """Refuse an operating point ``net`` does not offer (subclasses)."""

    def _require_loaded(self) -> None:
        if self.net is None:
            raise RuntimeError(f"{self.info.name}: call .load(device) first (from_components does)")

    # ------------------------------------------------------------ what the model is

    @property
    def native_rate(self) -> int:
        """The model's own sample rate."""
        return int(self.net.config.sampling_rate)

    @property
    def hop_length(self) -> int:
        """Samples per frame at the native rate."""
        return int(self.net.config.hop_length)

    @property
    def frame_rate_hz(self) -> float:
        """Code frames per second (exact; transformers' ``config.frame_rate`` rounds it up)."""
        return self.native_rate / self.hop_length

    @property
    def codebook_size(self) -> int:
        return int(self.net.config.codebook_size)

    @property
    def bits_per_code(self) -> int:
        return max(1, math.ceil(math.log2(self.codebook_size)))

    @property
    @abc.abstractmethod
    def n_codebooks(self) -> int:
        """Q: the codebooks sent at this operating point."""

    @property
    @abc.abstractmethod
    def model_codebooks(self) -> int:
        """The codebooks the model has."""

    @property
    def op_point(self) -> str:
        """What the payload header hashes: a payload decodes only with the same model and Q."""
        return f"{self.info.name}|{self.model}|{self.native_rate}Hz|{self.n_codebooks}x{self.codebook_size}"

    def chunk_frames(self, n_native: int) -> list[int]:
        """Frames per chunk of a clip of ``n_native`` samples (one chunk: padded to whole frames)."""
        return [math.ceil(n_native / self.hop_length)]

    def n_scales(self, n_native: int) -> int:
        """Scales the payload carries for such a clip (0: the model does not normalise)."""
        return 0

    def config(self) -> dict[str, Any]:
        self._require_loaded()
        resampled = self.sample_rate != self.native_rate
        return {**super().config(), "model": self.model, "weights": self._weights(), **self.weights_id,
                "model_class": self.model_class, "sample_rate": self.sample_rate,
                "native_rate_hz": self.native_rate, "resampler": RESAMPLER if resampled else None,
                "n_codebooks": self.n_codebooks, "model_codebooks": self.model_codebooks,
                "codebook_size": self.codebook_size, "bits_per_code": self.bits_per_code,
                "frame_rate_hz": self.frame_rate_hz, "hop_length": self.hop_length,
                "payload": f"codes bit-packed, {self.bits_per_code} bit each, + {payload.HEADER_BYTES}-byte "
                           "header (systems.quantizers.payload)",
                "transformers": package_version("transformers")}

    def _weights(self) -> str:
        if self.model == TINY_RANDOM:
            return "tiny-random (random weights: tests the plumbing, not a model)"
        return "released checkpoint (hub id or local folder)"

    def bitrate_kbps(self) -> float:
        """Q · frame rate · log2 K / 1000: the codes alone (header and scales: ``Encoded.bitrate_kbps``)."""
        self._require_loaded()
        return float(self.n_codebooks * self.frame_rate_hz * math.log2(self.codebook_size) / 1000)

    # ------------------------------------------------------------ encode

    def encode(self, audio: np.ndarray) -> Encoded:
        """One payload (``bytes``) per clip of ``audio`` float32 [B, n] (mono, at ``sample_rate``).

        ``payload_bits``: 8·len(bytes), header (and scales) included; the clips of a batch share
        their length, so each clip's payload has exactly this size.
        """
        self._require_loaded()
        x = check_codec_audio(audio, self.info.name)
        data = tuple(self.pack(self._encode_clip(clip)) for clip in x)
        bits = [payload.payload_bits(d) for d in data]
        return Encoded(codes=data, latents=None, frame_rate_hz=self.frame_rate_hz,
                       payload_bits=math.ceil(sum(bits) / len(bits)), num_samples=x.shape[1],
                       sample_rate=self.sample_rate)

    def _encode_clip(self, clip: np.ndarray) -> ClipCodes:
        import torch

        native = resample(clip, self.sample_rate, self.native_rate)
        if native.shape[0] == 0:
            raise SystemInputError(f"{self.info.name}: a {clip.shape[0]}-sample clip resamples to no sample "
                                   f"at {self.native_rate} Hz; pass longer clips")
        with torch.inference_mode():
            codes, scales = self._encode_native(torch.from_numpy(native).to(self.device))
        want = (self.n_codebooks, sum(self.chunk_frames(native.shape[0])))
        if codes.shape != want or scales.shape != (self.n_scales(native.shape[0]),):
            raise RuntimeError(f"{self.info.name}: the model gave codes {codes.shape} and {scales.shape[0]} "
                               f"scales where {want} were expected: this transformers version codes "
                               "differently from what this adapter was written for")
        return ClipCodes(codes.astype(np.int64), scales.astype(np.float32), native.shape[0])

    @abc.abstractmethod
    def _encode_native(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """(codes int [Q, F], scales float32 [S]) of one clip ``x`` (a float32 tensor [n] at the
        native rate, on the model's device)."""

    def pack(self, clip: ClipCodes) -> bytes:
        """A clip's payload: the packed codes, then the packed scales if the model has any."""
        data = payload.pack(clip.codes.T, self.bits_per_code, op_point=self.op_point, n_samples=clip.n_native)
        if clip.scales.size:
            data += payload.pack(clip.scales.view(np.uint32)[:, None], SCALE_BITS,
                                 op_point=self.op_point + _SCALES, n_samples=clip.n_native)
        return data

    # ------------------------------------------------------------ decode

    def decode(self, encoded: Encoded, *, steps: int | None = None, seed: int = 0) -> np.ndarray:
        """Audio float32 [B, num_samples] in [-1, 1] from the payload's bytes (``codes``)."""
        self._require_loaded()
        self._check_encoded(encoded, steps)
        clips = [self._decode_clip(self.unpack(data, i), encoded.num_samples)
                 for i, data in enumerate(encoded.codes)]
        return np.clip(np.stack(clips), -1.0, 1.0).astype(np.float32)

    def _check_encoded(self, encoded: Encoded, steps: Any) -> None:
        who = self.info.name
        check_decode_request(encoded, steps, self.sample_rate, who)
        if not isinstance(encoded.codes, (tuple, list)) or not encoded.codes:
            raise SystemInputError(f"{who}: the payload has no per-clip bytes in codes; decode only what "
                                   f"{type(self).__name__}.encode returned")

    def _decode_clip(self, clip: ClipCodes, num_samples: int) -> np.ndarray:
        import torch

        with torch.inference_mode():
            y = self._decode_native(clip)
        y = resample(pad_to(y[:clip.n_native], clip.n_native), self.native_rate, self.sample_rate)
        return pad_to(y[:num_samples], num_samples)

    @abc.abstractmethod
    def _decode_native(self, clip: ClipCodes) -> np.ndarray:
        """One clip's audio float32 [≥ n_native] at the native rate."""

    def unpack(self, data: Any, index: int = 0) -> ClipCodes:
        """A clip's codes and scales from its payload, checked (CRC, length, operating point, frames)."""
        who = self.info.name
        if not isinstance(data, (bytes, bytearray)):
            raise SystemInputError(f"{who}: clip {index}'s code is {type(data).__name__}, expected the bytes "
                                   f"{type(self).__name__}.encode returned")
        try:
            end = payload.HEADER_BYTES + math.ceil(payload.bit_counts(data)["code_bits"] / 8)
            codes = payload.unpack(data[:end], op_point=self.op_point, steps=self.n_codebooks,
                                   bits_per_code=self.bits_per_code)
            scales = self._unpack_scales(bytes(data[end:]), codes.n_samples)
        except payload.PayloadError as exc:
            raise SystemInputError(f"{who}: clip {index}'s payload cannot be decoded: {exc}") from None
        frames = sum(self.chunk_frames(codes.n_samples))
        if codes.n_frames != frames:
            raise SystemInputError(f"{who}: clip {index}'s payload has {codes.n_frames} frames, but a "
                                   f"{codes.n_samples}-sample clip has {frames}: it is corrupted")
        return ClipCodes(codes.codes.T, scales, codes.n_samples)

    def _unpack_scales(self, rest: bytes, n_native: int) -> np.ndarray:
        want = self.n_scales(n_native)
        if not want:
            if rest:
                raise payload.PayloadError(f"{len(rest)} unexpected bytes after the codes")
            return np.zeros(0, np.float32)
        got = payload.unpack(rest, op_point=self.op_point + _SCALES, steps=1, bits_per_code=SCALE_BITS)
        if got.n_frames != want or got.n_samples != n_native:
            raise payload.PayloadError(f"{got.n_frames} scales for a clip of {n_native} samples, "
                                       f"{want} expected")
        return got.codes[:, 0].astype(np.uint32).view(np.float32)
