"""Training task of the shared teacher: EDM denoising of autoencoder latents with CFG dropout.

Latents of every training clip (frozen autoencoder) and the token embeddings of every caption
(frozen MiniLM) are computed once up front, so an update costs only the DiT forward/backward.
With probability ``p_uncond`` a caption is replaced by the null condition (the encoding of "",
the one convention shared with inference; :mod:`systems.components.text_encoder`).
"""
from __future__ import annotations

from typing import Any

import torch

from systems.components.autoencoder import LatentAutoencoder
from systems.components.dit import DiT
from systems.components.edm import EDMDenoiser, drop_condition, edm_loss, pad_tokens
from systems.components.presets import Preset
from systems.training.loop import seeded_order


class TeacherTask:
    kind = "teacher"
    data_parallel = True   # the loss is a mean over independent examples (systems.training.data_parallel)

    def __init__(self, preset: Preset, ae: LatentAutoencoder, text, wav: torch.Tensor, captions: list[str]):
        self.preset = preset
        self.config = preset.teacher_key(text.config())
        self.latents = encode_all(ae, wav)
        self.tokens, self.mask = encode_captions(text, captions)
        null_tokens, null_mask = text.null(1)
        self.null = dict(zip(("tokens", "mask"), pad_tokens(null_tokens, null_mask, self.tokens.shape[1])))
        with torch.random.fork_rng():  # weights depend on the preset's seed only, not on prior RNG use
            torch.manual_seed(preset.teacher_train.seed)
            self.denoiser = EDMDenoiser(DiT(preset.teacher), sigma_data=preset.ae.sigma_data)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"teacher": self.denoiser}

    def make_optimizer(self) -> torch.optim.Optimizer:
        lr = self.preset.teacher_train.lr
        return torch.optim.AdamW(self.denoiser.parameters(), lr=lr, weight_decay=0.0)

    def batch(self, update: int) -> dict[str, torch.Tensor]:
        t = self.preset.teacher_train
        idx = seeded_order(len(self.latents), t.batch, update, t.seed)
        return {"x0": self.latents[idx], "tokens": self.tokens[idx], "mask": self.mask[idx]}

    def loss(self, batch: dict[str, torch.Tensor], generator: torch.Generator,
             ) -> tuple[torch.Tensor, dict[str, Any], int]:
        b = batch["x0"].shape[0]
        drop = torch.rand(b, generator=generator) < self.preset.p_uncond
        null = {k: v.expand(b, *v.shape[1:]) for k, v in self.null.items()}
        cond = drop_condition({"tokens": batch["tokens"], "mask": batch["mask"]}, null, drop)
        loss = edm_loss(self.denoiser, batch["x0"], cond, generator, self.preset.p_mean, self.preset.p_std)
        return loss, {"dropped": float(drop.float().mean())}, 0


@torch.no_grad()
def encode_all(ae: LatentAutoencoder, wav: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """Normalised latents of every clip [N, Cz, F]."""
    return torch.cat([ae.encode(wav[i: i + batch]) for i in range(0, len(wav), batch)])


@torch.no_grad()
def encode_captions(text, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token embeddings of every caption, padded to the longest [N, L, D] and masks [N, L]."""
    unique = sorted(set(captions))
    tokens, mask = text.encode(unique)
    row = {c: i for i, c in enumerate(unique)}
    index = torch.tensor([row[c] for c in captions])
    return tokens[index], mask[index]
