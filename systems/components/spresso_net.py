"""S-PRESSO's networks: the latent encoder g_ψ, the condition projector f_φ and the teacher's DiT
with a frame-aligned audio condition and LoRA (systems-reference §2.4, "(1) Training").

- :class:`LatentEncoder` g_ψ: ``x0 [B, C, F] → z [B, C/c, ⌈F/t⌉]``: a linear lift to the encoder
  width, pre-norm transformer blocks with rotary positions (any length), ``Linear(width → C/c)``
  and an average over each run of t frames (``AvgPool1d(kernel = stride = t)``).
- :class:`ConditionProjector` f_φ: ``Linear(C/c → C_cond)`` then nearest upsampling ×t, trimmed to
  the F latent frames of the sample being denoised.
- :class:`SPressoDiT`: the teacher's :class:`~systems.components.dit.DiT` whose token embeddings
  gain ``Lin_0(patchify(f_φ(z)))`` through a zero-initialised linear ``Lin_0``, and whose blocks'
  attention (q, kv, out) and MLP linears carry LoRA adapters with a zero-initialised B. At init it
  is therefore the teacher exactly, for every z. The teacher's weights are frozen; g_ψ, f_φ,
  ``Lin_0`` and the adapters train (Stage 1 updates "ψ, φ, LoRA").

Frames that do not fill a last run of t (F not a multiple of t) are **padded by repeating the last
latent frame** before pooling: every latent frame is then described by exactly one z frame, so the
decoder conditions every frame it generates, at the cost of one extra z frame per clip. The payload
of a clip is ``z_frames(F) = ⌈F/t⌉`` frames; ``z_rate_hz`` is the nominal rate (latent rate / t).

Injection [? in the reference: "input concatenation … or additive"]: additive. Concatenating the
condition to the input and giving ``inp`` zero-initialised extra columns is the same function
(a linear map of a concatenation is the sum of two linear maps), but the sum keeps the teacher's
``inp`` weights and key names untouched. The condition is patchified like the latents, so each
DiT token sees the conditions of the frames it covers.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from systems.api import SystemInputError
from systems.components.dit import DiT, DiTConfig
from systems.components.edm import EDMDenoiser

AUDIO_COND_KEY = "audio_cond"   # the condition key of z [B, d_z, ⌈F/t⌉] (``SPressoDiT.encode(x0)``)
LORA_MODULES = ("self_attn", "cross_attn", "mlp")   # §2.4 (5): "LoRA on qkv, attention output and MLP"
_LORA_LINEARS = {"self_attn": ("q", "kv", "out"), "cross_attn": ("q", "kv", "out"), "mlp": ("0", "2")}
_ADAPTER_PREFIXES = ("encoder.", "projector.", "inp.audio.")
_LORA_NAMES = ("lora_a", "lora_b")
_BUILD_KEYS = ("time_factor", "channel_factor", "rank", "lora_alpha", "lora_modules", "cond_channels",
               "encoder_width", "encoder_depth", "encoder_heads", "encoder_mlp_ratio", "rope_base")


# ------------------------------------------------------------------ rotary positions (RoPE)

def rope_angles(positions: torch.Tensor, dim: int, base: float = 10000.0) -> torch.Tensor:
    """Angles [N, dim/2]: position n turns pair i by ``n·base^(−2i/dim)`` (Su et al. 2021, RoFormer 3.4.2)."""
    freqs = base ** (-torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim)
    return positions.float()[:, None] * freqs[None]


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x_i, x_{i+dim/2}) of x [..., N, dim] by angles [N, dim/2].

    A rotation preserves norms, and ``R(m)q · R(n)k = q · R(n − m)k``: attention logits depend on the
    position difference only. Pairs are the two halves (GPT-NeoX layout), a permutation of RoFormer's
    interleaved pairs, so the same function.
    """
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


class RoPEAttention(nn.Module):
    """Bidirectional multi-head self-attention with rotary positions on q and k."""

    def __init__(self, width: int, heads: int, rope_base: float = 10000.0) -> None:
        super().__init__()
        self.heads, self.rope_base = heads, rope_base
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, w = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        angles = rope_angles(torch.arange(n, device=x.device), q.shape[-1], self.rope_base)
        y = F.scaled_dot_product_attention(apply_rope(q, angles), apply_rope(k, angles), v)
        return self.out(y.transpose(1, 2).reshape(b, n, w))


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))`` then ``x + MLP(LN(x))``."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, rope_base: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = RoPEAttention(width, heads, rope_base)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"),
                                 nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


# ------------------------------------------------------------------ g_ψ and f_φ

def _check_factor(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SystemInputError(f"{name} must be an integer >= 1, got {value!r}")
    return value


class LatentEncoder(nn.Module):
    """g_ψ: ``x0 [B, C, F] → z [B, C/c, ⌈F/t⌉]`` (a last partial run of t frames repeats frame F − 1)."""

    def __init__(self, latent_channels: int, time_factor: int, channel_factor: int = 2, width: int = 64,
                 depth: int = 2, heads: int = 4, mlp_ratio: float = 4.0, rope_base: float = 10000.0) -> None:
        super().__init__()
        self.time_factor = _check_factor("time_factor", time_factor)
        _check_factor("channel_factor", channel_factor)
        if latent_channels % channel_factor:
            raise SystemInputError(f"channel_factor {channel_factor} must divide the {latent_channels} "
                                   "latent channels (d_z = C/c); pick a divisor such as 1, 2 or 4")
        if width % heads or (width // heads) % 2:
            raise SystemInputError(f"encoder width {width} must split into {heads} heads of even size "
                                   "(RoPE rotates pairs of dimensions)")
        self.latent_channels, self.z_channels = latent_channels, latent_channels // channel_factor
        self.settings = {"encoder_width": width, "encoder_depth": depth, "encoder_heads": heads,
                         "encoder_mlp_ratio": float(mlp_ratio), "rope_base": float(rope_base)}
        self.lift = nn.Linear(latent_channels, width)
        self.blocks = nn.ModuleList(EncoderBlock(width, heads, mlp_ratio, rope_base) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.to_z = nn.Linear(width, self.z_channels)

    def z_frames(self, frames: int) -> int:
        """The z frames of a clip of ``frames`` latent frames: ⌈F/t⌉ (the payload per clip)."""
        return math.ceil(frames / self.time_factor)

    def z_rate_hz(self, latent_rate_hz: float) -> float:
        """The nominal frame rate of z: the latent frame rate divided by t."""
        return latent_rate_hz / self.time_factor

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        if x0.dim() != 3 or x0.shape[1] != self.latent_channels:
            raise SystemInputError(f"LatentEncoder takes latents [B, {self.latent_channels}, F], got shape "
                                   f"{tuple(x0.shape)}")
        h = self.lift(x0.transpose(1, 2))
        for block in self.blocks:
            h = block(h)
        return self.pool(self.to_z(self.norm(h)).transpose(1, 2))

    def pool(self, z: torch.Tensor) -> torch.Tensor:
        """Average each run of t frames of z [B, d_z, F], repeating the last frame to fill the last run."""
        missing = self.z_frames(z.shape[-1]) * self.time_factor - z.shape[-1]
        if missing:
            z = torch.cat([z, z[..., -1:].expand(*z.shape[:-1], missing)], dim=-1)
        return F.avg_pool1d(z, kernel_size=self.time_factor, stride=self.time_factor)


class ConditionProjector(nn.Module):
    """f_φ: ``z [B, d_z, ⌈F/t⌉] → [B, C_cond, F]``: a linear map, nearest upsampling ×t, trimmed to F."""

    def __init__(self, z_channels: int, cond_channels: int, time_factor: int) -> None:
        super().__init__()
        self.time_factor = _check_factor("time_factor", time_factor)
        self.proj = nn.Linear(z_channels, cond_channels)

    def forward(self, z: torch.Tensor, frames: int) -> torch.Tensor:
        if z.shape[-1] != math.ceil(frames / self.time_factor):
            raise SystemInputError(f"{frames} latent frames need ⌈{frames}/{self.time_factor}⌉ = "
                                   f"{math.ceil(frames / self.time_factor)} z frames, got {z.shape[-1]}")
        cond = self.proj(z.transpose(1, 2)).transpose(1, 2)
        return cond.repeat_interleave(self.time_factor, dim=-1)[..., :frames]


# ------------------------------------------------------------------ LoRA and the conditioned input

class LoRALinear(nn.Linear):
    """``W x + b + (α/r)·B A x`` (Hu et al. 2021, LoRA eq. 3); B = 0 at init, so it starts as the base.

    The base keeps nn.Linear's key names (``weight``, ``bias``), so a teacher's state loads as is.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, alpha: float) -> None:
        super().__init__(in_features, out_features)
        self.rank, self.alpha, self.scale = rank, float(alpha), float(alpha) / rank
        self.lora_a = nn.Parameter(torch.empty(rank, in_features))
        self.lora_b = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))   # as nn.Linear (and peft) initialise A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + F.linear(F.linear(x, self.lora_a), self.lora_b) * self.scale

    @torch.no_grad()
    def merge(self) -> None:
        """Fold ``(α/r)·BA`` into the base weight and zero B: same function, adapters restart from 0."""
        self.weight += self.scale * self.lora_b @ self.lora_a
        self.lora_b.zero_()


class ConditionedInput(nn.Linear):
    """The teacher's token projection ``inp`` plus ``audio``, a zero-initialised linear of the condition.

    The condition tokens are set by :meth:`SPressoDiT._conditioned` for the duration of one call, so
    the teacher's own ``forward``/``trunk`` code runs unchanged around them.
    """

    def __init__(self, in_features: int, out_features: int, cond_features: int) -> None:
        super().__init__(in_features, out_features)
        self.audio = nn.Linear(cond_features, out_features)
        nn.init.zeros_(self.audio.weight)   # at init: the teacher's embedding, whatever the condition
        nn.init.zeros_(self.audio.bias)
        self.pending: torch.Tensor | None = None

    def forward(self, tokens_in: torch.Tensor) -> torch.Tensor:
        if self.pending is None:
            raise RuntimeError("ConditionedInput runs only inside SPressoDiT.forward/trunk, which set the "
                               "audio condition; call the SPressoDiT, not its input layer")
        return super().forward(tokens_in) + self.audio(self.pending)


def _add_lora(blocks: nn.ModuleList, modules: tuple[str, ...], rank: int, alpha: float) -> None:
    """Swap each targeted nn.Linear of every block for a LoRALinear of the same shape."""
    for block in blocks:
        for module_name in modules:
            parent = getattr(block, module_name)
            for name in _LORA_LINEARS[module_name]:
                base = getattr(parent, name)
                setattr(parent, name, LoRALinear(base.in_features, base.out_features, rank, alpha))


def is_adapter(name: str) -> bool:
    """Whether parameter ``name`` of an SPressoDiT is S-PRESSO's own (trained) rather than the teacher's."""
    return name.startswith(_ADAPTER_PREFIXES) or name.rsplit(".", 1)[-1] in _LORA_NAMES


# ------------------------------------------------------------------ the conditioned DiT

class SPressoDiT(DiT):
    """``DiT`` whose ``forward``/``trunk`` require ``audio_cond=`` z [B, d_z, ⌈F/t⌉]; holds g_ψ and f_φ."""

    def __init__(self, cfg: DiTConfig, *, time_factor: int, channel_factor: int = 2, rank: int = 4,
                 lora_alpha: float = 4.0, cond_channels: int | None = None, encoder_width: int = 64,
                 encoder_depth: int = 2, encoder_heads: int = 4, encoder_mlp_ratio: float = 4.0,
                 rope_base: float = 10000.0, lora_modules: tuple[str, ...] = LORA_MODULES) -> None:
        super().__init__(cfg)
        _check_lora(rank, lora_alpha, lora_modules)
        cond_channels = cfg.in_channels if cond_channels is None else _check_factor("cond_channels",
                                                                                     cond_channels)
        self.settings = {"time_factor": time_factor, "channel_factor": channel_factor, "rank": rank,
                         "lora_alpha": float(lora_alpha), "lora_modules": list(lora_modules),
                         "cond_channels": cond_channels}
        self.encoder = LatentEncoder(cfg.in_channels, time_factor, channel_factor, encoder_width,
                                     encoder_depth, encoder_heads, encoder_mlp_ratio, rope_base)
        self.projector = ConditionProjector(self.encoder.z_channels, cond_channels, time_factor)
        self.inp = ConditionedInput(cfg.in_channels * cfg.patch, cfg.width, cond_channels * cfg.patch)
        _add_lora(self.blocks, tuple(lora_modules), rank, lora_alpha)
        self.freeze_base()

    @classmethod
    def from_config(cls, config: dict) -> SPressoDiT:
        """A fresh network of the architecture :meth:`config` describes (load a state dict into it)."""
        settings = {key: config[key] for key in _BUILD_KEYS}
        settings["lora_modules"] = tuple(settings["lora_modules"])
        return cls(DiTConfig(**config["dit"]), **settings)

    def encode(self, x0: torch.Tensor) -> torch.Tensor:
        """z = g_ψ(x0) [B, d_z, ⌈F/t⌉]: what ``audio_cond`` takes (or its quantised version)."""
        return self.encoder(x0)

    def forward(self, x, c_noise, tokens, mask, return_features: bool = False, **extra):
        with self._conditioned(extra.pop(AUDIO_COND_KEY, None), x):
            return super().forward(x, c_noise, tokens, mask, return_features, **extra)

    def trunk(self, x, c_noise, tokens, mask, depth: int, **extra) -> torch.Tensor:
        with self._conditioned(extra.pop(AUDIO_COND_KEY, None), x):
            return super().trunk(x, c_noise, tokens, mask, depth, **extra)

    @contextmanager
    def _conditioned(self, z, x: torch.Tensor):
        """Hand ``inp`` the patchified f_φ(z) [B, F/patch, C_cond·patch] for one call."""
        self._check_condition(z, x)
        b, _, frames = x.shape
        cond = self.projector(z.to(x.dtype), frames)
        self.inp.pending = cond.transpose(1, 2).reshape(b, frames // self.cfg.patch, -1)
        try:
            yield
        finally:
            self.inp.pending = None

    def _check_condition(self, z, x: torch.Tensor) -> None:
        """A SystemInputError saying what to pass unless z is [B, d_z, ⌈F/t⌉] for x [B, C, F]."""
        if x.dim() != 3 or x.shape[-1] % self.cfg.patch:
            raise SystemInputError(f"SPressoDiT takes latents [B, C, F] with F a multiple of the patch size "
                                   f"{self.cfg.patch}; got shape {tuple(x.shape)}")
        expected = (x.shape[0], self.encoder.z_channels, self.encoder.z_frames(x.shape[-1]))
        if z is None:
            raise SystemInputError(f"SPressoDiT needs the audio condition: put {AUDIO_COND_KEY!r} (z = "
                                   f"net.encode(x0), shape [B, d_z, ⌈F/t⌉] = {expected}) in the condition "
                                   "next to 'tokens' and 'mask'")
        if not isinstance(z, torch.Tensor) or tuple(z.shape) != expected:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise SystemInputError(f"{AUDIO_COND_KEY!r} must be z of shape [B, d_z, ⌈F/t⌉] = {expected} for "
                                   f"latents {tuple(x.shape)} (t = {self.encoder.time_factor}); got {got}")

    def freeze_base(self) -> SPressoDiT:
        """Teacher weights frozen, S-PRESSO's own trainable (call again after a ``requires_grad_(True)``)."""
        for name, param in self.named_parameters():
            param.requires_grad_(is_adapter(name))
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        """g_ψ, f_φ, the audio input and the LoRA adapters (by name, whatever their requires_grad)."""
        return [param for name, param in self.named_parameters() if is_adapter(name)]

    def parameter_counts(self) -> dict[str, int]:
        """Parameters per part: encoder, projector, audio_input, lora (trainable) and the frozen teacher."""
        counts = {"encoder": 0, "projector": 0, "audio_input": 0, "lora": 0, "frozen": 0}
        for name, param in self.named_parameters():
            counts[_part(name)] += param.numel()
        counts["trainable"] = sum(counts[k] for k in ("encoder", "projector", "audio_input", "lora"))
        return counts

    def merge_lora(self) -> None:
        """Fold every adapter into its base weight (same function; the adapters restart from zero)."""
        for module in self.modules():
            if isinstance(module, LoRALinear):
                module.merge()

    def config(self) -> dict:
        """Every architectural setting: the teacher's DiT config, g_ψ/f_φ/LoRA settings and d_z."""
        return {"dit": self.cfg.to_dict(), **self.settings, **self.encoder.settings,
                "latent_channels": self.cfg.in_channels, "z_channels": self.encoder.z_channels,
                "injection": "additive, zero-initialised linear on the patchified condition"}


def _part(name: str) -> str:
    if name.rsplit(".", 1)[-1] in _LORA_NAMES:
        return "lora"
    prefixes = {"encoder.": "encoder", "projector.": "projector", "inp.audio.": "audio_input"}
    return next((part for prefix, part in prefixes.items() if name.startswith(prefix)), "frozen")


def _check_lora(rank, alpha, modules) -> None:
    _check_factor("rank", rank)
    if not alpha > 0:
        raise SystemInputError(f"lora_alpha must be > 0 (adapters are scaled by alpha/rank), got {alpha!r}")
    unknown = sorted(set(modules) - set(_LORA_LINEARS))
    if unknown or not modules:
        raise SystemInputError(f"lora_modules must be a non-empty subset of {list(_LORA_LINEARS)}, got "
                               f"{list(modules)}")


def spresso_from_teacher(teacher: EDMDenoiser | DiT, *, time_factor: int, channel_factor: int = 2,
                         rank: int = 4, **settings) -> EDMDenoiser:
    """An ``EDMDenoiser(SPressoDiT)`` holding a copy of the teacher's weights (frozen) and fresh g_ψ,
    f_φ, zero audio input and zero-B LoRA; ``settings`` are SPressoDiT's other keywords.

    ``teacher`` is an EDMDenoiser around the plain DiT (its σ_data is kept) or the DiT itself
    (σ_data 0.5, EDMDenoiser's default); it is not modified. Strict: the only keys the teacher may
    lack are S-PRESSO's own.
    """
    wrapped = isinstance(teacher, EDMDenoiser)
    dit, sigma_data = (teacher.net, teacher.sigma_data) if wrapped else (teacher, 0.5)
    if not isinstance(dit, DiT):
        raise SystemInputError(f"spresso_from_teacher needs the teacher's DiT or an EDMDenoiser around it, "
                               f"got {type(dit).__name__}")
    net = SPressoDiT(dit.cfg, time_factor=time_factor, channel_factor=channel_factor, rank=rank, **settings)
    result = net.load_state_dict(dit.state_dict(), strict=False)
    own = {name for name in net.state_dict() if is_adapter(name)}
    if result.unexpected_keys or set(result.missing_keys) != own:
        raise RuntimeError(f"the teacher's weights do not fit SPressoDiT beyond its own parameters: missing "
                           f"{sorted(set(result.missing_keys) - own)}, unexpected {result.unexpected_keys}")
    return EDMDenoiser(net, sigma_data=sigma_data).to(next(dit.parameters()).device)
