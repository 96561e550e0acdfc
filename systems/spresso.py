"""``spresso``: S-PRESSO, a diffusion-autoencoder codec over the shared AE latents with offline QINCo2
(systems-reference §2.4 and §2.4.1).

Encode: ``x0 = AE.enc(wav)`` → ``z = g_ψ(x0)`` [d_z = C/c channels at the latent rate / t] →
``codes = Q.encode(z)`` (M codes of log2 K bits per z frame) → one self-checking payload per clip
(:mod:`systems.spresso_payload`: 19-byte header with the operating point's hash, then the codes
bit-packed exactly). Decode: payload → ``z_q = Q.decode(codes)`` → Heun on the teacher's Karras grid
of ``D_θ+LoRA`` with ``cond = f_φ(z_q)``, the null text and no CFG, from σ_max·ε → ``AE.dec`` (the
shared decoder and Griffin-Lim). ε is drawn per clip from a generator seeded by the decode ``seed``
and the sha256 of the clip's payload, so decoding is stochastic across seeds (the paper's decoding
variability), reproducible for one seed, and independent of the batch a clip is decoded in.

Operating point (constructor): ``time_factor`` t (default 8; 4, 8, 16 and 32 give z at ≈ 7.8, 3.9,
2.0 and 0.98 Hz on the 31.25-Hz latents of the tiny preset), ``channel_factor`` c (2: d_z = 8),
``quantizer`` ``"qinco2"`` (QINCo2-tiny, §2.4.1), ``"rvq"`` (plain residual k-means at equal bits:
the QINCo ablation) or ``"none"`` (continuous z, fp16 values: ``frame_rate × d_z × 16`` bit/s),
``codebook_steps`` M (4) and ``codebook_size`` K (64): nominal ``frame_rate(z) × M × log2 K`` bit/s
(t = 8: 93.75 bit/s). ``decode_steps`` (Heun intervals, 64; 16 is the recipe's other point),
``decoder``: "diffusion" (S-PRESSO) or "regression" (the ablation: the same payload decoded by
a deterministic MSE-trained upsampler into the shared AE's decoder,
:mod:`systems.components.spresso_regression`; no steps, no seed). The measured rate,
``Encoded.bitrate_kbps``, counts the whole payload, header included (19 bytes per clip = 74 bit/s
on a 2.048-s clip).

Training, ``fit(budget, settings=, store=, progress=)`` (:mod:`systems.spresso_stages`, whose
docstring gives the store layout): stage 1 under the budget (the shared accelerator budget), stage 2
fits Q offline on every z frame of the training set, stage 3 fine-tunes on z_q for a third of stage
1's updates. Stage 1 is shared by every quantiser and code size of one (t, c).

Deviations from §2.4's recipe (also listed in ``training_record()["deviations"]``): see
:data:`DEVIATIONS`. Clear errors (:class:`~systems.api.SystemInputError`): another sample rate,
stereo or other shapes, empty audio, NaN/Inf, a payload of another operating point, a corrupted or
truncated payload, encoding or decoding before ``fit``.
"""
from __future__ import annotations

import hashlib
from typing import Any, Mapping

import numpy as np
import torch

from systems.api import Accelerator, Codec, Encoded, SystemInfo, SystemInputError, check_options, check_steps
from systems.codec_input import check_codec_audio, check_decode_request
from systems.components.shared import load_components
from systems.components.spresso_net import AUDIO_COND_KEY
from systems.noise import initial_noise
from systems.quantizers import QuantizerError
from systems.quantizers.base import power_of_two_bits
from systems.samplers import get_sampler
from systems.samplers.grids import make_grid
from systems.settings_checks import finite_number, int_at_least
from systems.spresso_payload import FLOAT_BITS, CodePayload, Float16Payload, op_point_id
from systems.spresso_stages import Fitted, combined_report, new_network, run_stages, stage_records
from systems.trained import TrainedDenoiserSystem, require_batch
from systems.training.budget import Budget, TrainReport
from systems.training.store import ComponentStore

QUANTIZERS = ("qinco2", "rvq", "none")
DECODERS = ("diffusion", "regression")
CONFIG_KEYS = ("time_factor", "channel_factor", "quantizer", "codebook_steps", "codebook_size",
               "decode_steps", "decoder")
DEVIATIONS = (
    "stage 1 runs under the shared accelerator budget (tiny: 800 updates x batch 32), not the recipe's "
    "1 500 updates",
    "stage 3 runs a third of stage 1's updates (the recipe's 500 : 1 500) at the same batch, on top of the "
    "budget; stage 2 (the quantiser fit) is charged to no budget; its wall time is recorded",
    "stage 3 trains f_phi, the audio input and LoRA; g_psi and the quantiser are frozen ([?] in §2.4)",
    "p_txt = 0.9 (the reference's [?] value for 'heavy dropout'); ln sigma ~ N(-1.2, 1.2^2) and "
    "lambda(sigma) of EDM, the teacher's own loss",
    "additive condition injection through a zero-initialised linear (equal to input concatenation)",
    "Adam lr 1e-3 constant, gradient clip 1.0, no EMA (the recipe gives no rate, schedule, clip or EMA); "
    "at the tiny preset (t = 8, 800 updates) the stage-1 sanity MSE was 0.173 at lr 2e-4, 0.131 at 1e-3 and "
    "0.127 at 3e-3 (teacher unconditional 0.260, zeros 0.196): the zero-initialised input learns slowly",
    "the regression-decoder ablation (decoder='regression'): h = lift + x t upsampling + 4 RoPE blocks "
    "(width 128) trained by latent MSE on the same z_q for stage 1's + stage 3's updates, then the shared "
    "AE decoder; the paper's baseline decodes with the AE's own decoder, which cannot read z here",
    "audio is zero-padded to whole DiT patches of latent frames; a last partial run of t latent frames "
    "is padded by repeating its last frame (one more z frame)",
    "decoding: null text and no CFG, Heun on the teacher's Karras grid, noise seeded per clip by the "
    "decode seed and the payload's hash",
    "continuous variant: z as fp16 (16 bits per value); payload header of 19 bytes per clip counted",
)


def _check_int(value: Any, name: str, least: int, why: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise SystemInputError(f"spresso: {name} must be an integer >= {least} ({why}), got {value!r}")
    return int(value)


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SystemInputError(f"spresso: {name} must be one of {choices}, got {value!r}")
    return value


def check_train_settings(settings: Mapping[str, Any], owner: str, quantizer: str) -> None:
    """Refuse settings that cannot train, before any training."""
    for key in ("lr", "lora_alpha", "stage3_fraction"):
        if not finite_number(settings, key, owner) > 0:
            raise SystemInputError(f"{owner}: {key} must be > 0, got {settings[key]!r}")
    if not 0 <= finite_number(settings, "p_txt", owner) <= 1:
        raise SystemInputError(f"{owner}: p_txt is a probability (text -> null), got {settings['p_txt']!r}")
    if settings["grad_clip"] is not None and not finite_number(settings, "grad_clip", owner) > 0:
        raise SystemInputError(f"{owner}: grad_clip must be > 0 or None, got {settings['grad_clip']!r}")
    for key, least, why in (("rank", 1, "LoRA rank"), ("encoder_width", 1, "g_psi's width"),
                            ("encoder_depth", 0, "g_psi's blocks"), ("encoder_heads", 1, "g_psi's heads"),
                            ("regression_width", 1, "h's width"), ("regression_depth", 0, "h's blocks"),
                            ("seed", 0, "seeds are non-negative"), ("sanity_items", 1, "held-out clips"),
                            ("sanity_steps", 1, "Heun intervals")):
        int_at_least(settings, key, least, why, owner)
    if settings["quantizer_epochs"] is not None:
        int_at_least(settings, "quantizer_epochs", 0 if quantizer == "qinco2" else 1,
                     "None = the quantiser's default; RVQ needs a Lloyd iteration", owner)


class SPresso(Codec):
    """S-PRESSO at one operating point (see the module docstring)."""

    info = SystemInfo(name="spresso", paper="S-PRESSO (diffusion autoencoder codec over AE latents, "
                      "offline QINCo2; §2.4)", default_steps=(16, 64), test_steps=2)
    trained_from = "teacher"
    stochastic = True   # seeded Heun from noise: a codec protocol decodes every clip with 3 seeds
    #: the operating point's settings: each combination an entry sets is its own row of a codec protocol
    row_options = ("time_factor", "quantizer", "codebook_steps", "codebook_size", "decode_steps",
                   "decoder")
    train_defaults: Mapping[str, Any] = {
        "lr": 1e-3, "p_txt": 0.9, "rank": 4, "lora_alpha": 4.0, "encoder_width": 64, "encoder_depth": 2,
        "encoder_heads": 4, "regression_width": 128, "regression_depth": 4, "grad_clip": 1.0,
        "stage3_fraction": 1 / 3, "quantizer_epochs": None, "seed": 0, "sanity_items": 8, "sanity_steps": 16}
    #: what the tests train with (a micro run takes seconds)
    test_settings: Mapping[str, Any] = {"quantizer_epochs": 1, "sanity_items": 2, "sanity_steps": 2}

    # S-PRESSO is a Codec, not a TextToAudio, so it cannot subclass TrainedDenoiserSystem; it borrows the
    # methods that only read ``components``/``info``: the same training set (shared in-process memo) and
    # the same teacher store key as every accelerator.
    training_data = TrainedDenoiserSystem.training_data
    _encode_training_data = TrainedDenoiserSystem._encode_training_data
    teacher_store_key = TrainedDenoiserSystem.teacher_store_key
    train_settings = Accelerator.train_settings

    def __init__(self, preset: Any = "tiny", time_factor: int = 8, channel_factor: int = 2,
                 quantizer: str = "qinco2", codebook_steps: int = 4, codebook_size: int = 64,
                 decode_steps: int = 64, decoder: str = "diffusion", components=None,
                 train_missing: bool = True) -> None:
        self.time_factor = _check_int(time_factor, "time_factor", 1, "latent frames per z frame")
        self.channel_factor = _check_int(channel_factor, "channel_factor", 1, "d_z = C / c")
        self.quantizer_name = _check_choice(quantizer, "quantizer", QUANTIZERS)
        self.codebook_steps = _check_int(codebook_steps, "codebook_steps", 1, "M codes per z frame")
        if self.codebook_steps > 255:
            raise SystemInputError(f"spresso: a payload holds at most 255 codes per frame, got "
                                   f"{codebook_steps}")
        self.codebook_size = self._check_codebook_size(codebook_size)
        self.decode_steps = check_steps(decode_steps)
        self.decoder = _check_choice(decoder, "decoder", DECODERS)
        self.stochastic = self.decoder == "diffusion"   # the regression decoder draws no noise
        self._preset, self.train_missing = preset, train_missing
        self.components = None
        if components is not None:
            self._bind(components)

    @staticmethod
    def _check_codebook_size(codebook_size: Any) -> int:
        try:
            power_of_two_bits(codebook_size)
        except QuantizerError as error:
            raise SystemInputError(f"spresso: {error}") from None
        return codebook_size

    @classmethod
    def from_components(cls, components, **config) -> SPresso:
        check_options(config, CONFIG_KEYS, cls.info.name)
        return cls(preset=components.preset, components=components, **config)

    def load(self, device: str = "cpu") -> SPresso:
        if self.components is None:
            self._bind(load_components(self._preset, device, train_missing=self.train_missing))
        return self

    def _bind(self, components) -> None:
        channels = components.ae.latent_channels
        if channels % self.channel_factor:
            raise SystemInputError(f"spresso: channel_factor {self.channel_factor} must divide the "
                                   f"{channels} latent channels; pick a divisor such as 1, 2 or 4")
        self.components, self.sample_rate = components, components.ae.sample_rate
        self.z_channels = channels // self.channel_factor
        self._fitted: Fitted | None = None
        self.payload = None

    # ---------------------------------------------------------------- geometry and rates

    @property
    def quantised(self) -> bool:
        return self.quantizer_name != "none"

    @property
    def bits_per_frame(self) -> int:
        """M·log2 K (discrete) or d_z·16 (continuous): the body bits of one z frame."""
        if self.quantised:
            return self.codebook_steps * power_of_two_bits(self.codebook_size)
        return self.z_channels * FLOAT_BITS

    @property
    def z_rate_hz(self) -> float:
        self._require_loaded()
        return self.components.ae.latent_rate_hz / self.time_factor

    def bitrate_kbps(self) -> float:
        """Nominal: ``frame_rate(z) × bits_per_frame``; measured (header included): ``Encoded``."""
        return self.z_rate_hz * self.bits_per_frame / 1000.0

    def latent_frames(self, n_samples: int) -> int:
        """F of a clip of ``n_samples``: whole DiT patches of latent frames (the audio is zero-padded)."""
        per_patch = self.components.ae.samples_per_frame * self.components.preset.teacher.patch
        return -(-n_samples // per_patch) * self.components.preset.teacher.patch

    def z_frames(self, n_samples: int) -> int:
        """The z frames of a clip of ``n_samples``: ⌈F/t⌉."""
        return -(-self.latent_frames(n_samples) // self.time_factor)

    def latents(self, audio: np.ndarray) -> torch.Tensor:
        """x0 [B, C, F] of checked mono clips [B, n] (zero-padded to F latent frames)."""
        frames = self.latent_frames(audio.shape[1])
        padded = np.pad(audio, ((0, 0), (0, frames * self.components.ae.samples_per_frame - audio.shape[1])))
        return self.components.ae.encode(torch.from_numpy(padded).to(self.components.device)).clone()

    # ---------------------------------------------------------------- sampling

    def null_condition(self, batch: int) -> dict[str, torch.Tensor]:
        tokens, mask = self.components.text.null(batch)
        return {"tokens": tokens.to(self.components.device), "mask": mask.to(self.components.device)}

    def noise_grid(self, steps: int) -> torch.Tensor:
        """The teacher's Karras grid of ``steps`` intervals (§2.4: Heun, 64 steps)."""
        sampling = self.components.preset.sampling
        return make_grid("karras", steps, sigma_min=sampling["sigma_min"], sigma_max=sampling["sigma_max"],
                         rho=sampling["rho"])

    @torch.no_grad()
    def sample(self, model, eps: torch.Tensor, steps: int, audio_cond: torch.Tensor | None = None):
        """Heun from σ_max·ε with the null text, no CFG, and the audio condition z when given."""
        cond = self.null_condition(eps.shape[0])
        if audio_cond is not None:
            cond[AUDIO_COND_KEY] = audio_cond
        grid = self.noise_grid(steps)
        return get_sampler("heun")(lambda x, sigma: model(x, sigma, cond), float(grid[0]) * eps, grid)

    # ---------------------------------------------------------------- training

    def fit(self, budget: Budget, *, settings: Mapping[str, Any] | None = None,
            store: ComponentStore | None = None, progress: bool = True) -> TrainReport:
        """Stages 1-3 (trained or reused from ``store``); binds the codec and returns one report over
        them (:func:`~systems.spresso_stages.combined_report`; per stage: ``training_record()``)."""
        self._require_loaded()
        settings = self.train_settings(settings)
        check_train_settings(settings, self.info.name, self.quantizer_name)
        new_network(self, settings)   # an impossible architecture fails here, before any training
        batch = require_batch(budget, self.info.name)
        fitted = run_stages(self, settings, budget, batch, store or ComponentStore(), progress)
        self._fitted, self.payload = fitted, self._payload(fitted)
        return combined_report(fitted)

    def _payload(self, fitted: Fitted):
        op_point = op_point_id(self.time_factor, self.channel_factor, self.quantizer_name,
                               self.codebook_steps, self.codebook_size, fitted.encoder_hash)
        if fitted.quantizer is None:
            return Float16Payload(self.z_channels, op_point)
        return CodePayload(fitted.quantizer, op_point)

    def training_record(self) -> dict[str, Any]:
        """The leaderboard's columns over all stages, then each stage, the sanity checks and deviations."""
        if self._fitted is None:
            return {}
        report, stages = combined_report(self._fitted), stage_records(self._fitted)
        rams = [r.get("peak_train_ram_mb") for key, r in stages.items() if key != "2"]
        return {"updates": report.updates, "batch": self._fitted.budgets["1"].batch,
                "examples_seen": report.examples_seen, "train_wall_s": report.wall_s,
                "online_teacher_nfe": 0, "offline_teacher_nfe": 0,
                "peak_train_ram_mb": max((r for r in rams if r is not None), default=None),
                "stopped_by": report.stopped_by, "budget": report.budget, "store": stages["1"]["store"],
                "trained_from": self.trained_from, "stages": stages,
                "sanity": {key: r["sanity"] for key, r in stages.items() if key != "2"},
                "deviations": list(DEVIATIONS)}

    # ---------------------------------------------------------------- the codec

    def config(self) -> dict[str, Any]:
        self._require_trained()
        quantised = {"codebook_steps": self.codebook_steps, "codebook_size": self.codebook_size}
        return {**super().config(), "time_factor": self.time_factor, "channel_factor": self.channel_factor,
                "z_channels": self.z_channels, "quantizer": self.quantizer_name,
                **(quantised if self.quantised else {"bits_per_value": FLOAT_BITS}),
                "decoder": self.decoder, **self._decoder_config(), "op_point": self.payload.op_point,
                "encoder": self._fitted.encoder_hash, "trained": self._fitted.weights_hash,
                **self.components.config()}

    def _decoder_config(self) -> dict[str, Any]:
        if self.decoder == "regression":
            return {"regression": self._fitted.regression.config()}
        return {"decode_steps": self.decode_steps, "sampler": "heun", "grid": "karras", "guidance": 1.0,
                "text": "null"}

    def encode(self, audio: np.ndarray, *, sample_rate: int | None = None) -> Encoded:
        """One payload per clip of ``audio`` float32 [B, n] (mono, at ``sample_rate``); ``codes`` is a
        tuple of bytes and ``payload_bits`` their exact size (equal for equal-length clips)."""
        self._require_trained()
        if sample_rate is not None and sample_rate != self.sample_rate:
            raise SystemInputError(f"spresso codes audio at {self.sample_rate} Hz (the shared AE's rate), "
                                   f"got {sample_rate} Hz; resample the clips first")
        x = check_codec_audio(audio, "spresso")
        with torch.no_grad():
            z = self._fitted.denoiser.net.encode(self.latents(x))
        codes = self.payload.to_bytes(z, x.shape[1])
        return Encoded(codes=codes, latents=None, frame_rate_hz=self.z_rate_hz,
                       payload_bits=8 * len(codes[0]), num_samples=x.shape[1], sample_rate=self.sample_rate)

    def decode(self, encoded: Encoded, *, steps: int | None = None, seed: int = 0) -> np.ndarray:
        """Audio float32 [B, num_samples] in [-1, 1]; ``steps`` Heun intervals (None: ``decode_steps``;
        the regression decoder takes none, and ignores ``seed``: it is deterministic)."""
        self._require_trained()
        steps = self._decode_steps(steps)
        seed = _check_int(seed, "seed", 0, "decode seeds are non-negative")
        codes = self._checked_codes(encoded)
        n = encoded.num_samples
        z = self.payload.from_bytes(codes, n, self.z_frames(n)).to(self.components.device)
        frames = self.latent_frames(n)
        if self.decoder == "regression":
            with torch.no_grad():
                x0 = self._fitted.regression(z, frames)
        else:
            eps = initial_noise([hashlib.sha256(bytes(c)).hexdigest() for c in codes], [seed] * len(codes),
                                (self.components.ae.latent_channels, frames), device=self.components.device)
            x0 = self.sample(self._fitted.denoiser, eps, steps, audio_cond=z)
        audio = self.components.ae.decode(x0)[:, :n].cpu().numpy()
        return np.clip(audio, -1.0, 1.0).astype(np.float32)

    def _decode_steps(self, steps: Any) -> int | None:
        if self.decoder == "regression":
            if steps is not None:
                raise SystemInputError(f"spresso's regression decoder is one deterministic pass and takes no "
                                       f"steps; leave steps=None (got {steps!r})")
            return None
        return self.decode_steps if steps is None else check_steps(steps)

    def _checked_codes(self, encoded: Any) -> tuple:
        if not isinstance(encoded, Encoded):
            raise SystemInputError(f"spresso decodes an Encoded from SPresso.encode, got "
                                   f"{type(encoded).__name__}")
        check_decode_request(encoded, None, self.sample_rate, "spresso")   # its steps are checked apart
        codes = encoded.codes
        if not isinstance(codes, (tuple, list)) or not codes:
            raise SystemInputError("spresso: the Encoded holds no per-clip payload bytes in codes; decode "
                                   "only what SPresso.encode returned")
        if isinstance(encoded.num_samples, bool) or not isinstance(encoded.num_samples, int) \
                or encoded.num_samples < 1:
            raise SystemInputError(f"spresso: num_samples must be a positive int, got "
                                   f"{encoded.num_samples!r}")
        return tuple(codes)

    def _require_loaded(self) -> None:
        if self.components is None:
            raise RuntimeError("call .load(device) (or build with from_components) before using spresso")

    def _require_trained(self) -> None:
        self._require_loaded()
        if self._fitted is None:
            raise SystemInputError("spresso is not trained yet: call fit(budget) first (it trains stages 1-3 "
                                   "or reuses them from the component store)")
