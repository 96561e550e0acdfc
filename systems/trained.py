"""What every accelerator sampled like the teacher shares: a trained network in place of the teacher.

A ``TrainedDenoiserSystem`` generates exactly like :class:`~systems.teacher.TeacherSystem`
(shared item noise, CFG wrapper, sampler over a σ grid, shared decoder) with its own EDM-form
network, which exists only after :meth:`fit`. Its ``config()`` (and so the generation cache key)
names the trained weights by the hash of their store key, so clips of two trainings never mix.
"""
from __future__ import annotations

import abc
from dataclasses import replace
from typing import Any, Mapping

from systems.api import Accelerator, GenRequest, GenResult, SystemInputError
from systems.components.dit import DiT
from systems.components.edm import EDMDenoiser, pad_tokens
from systems.components.teacher_task import encode_all, encode_captions
from systems.data import load_clips, training_captions
from systems.teacher import TeacherSystem
from systems.training.budget import Budget, TrainReport
from systems.training.checkpoint import config_hash
from systems.training.fit import FitPlan, fit_in_store, training_record


class TrainedDenoiserSystem(TeacherSystem, Accelerator):
    """Base of AudioTurbo, LAFMA, …: ``fit`` trains (or reuses) the network, then it generates."""

    #: settings the contract tests train with (small, so a micro run takes seconds)
    test_settings: Mapping[str, Any] = {}

    def _bind(self, components) -> None:
        super()._bind(components)
        self._trained: dict[str, Any] | None = None

    # -- training
    def fit(self, budget: Budget, *, settings: Mapping[str, Any] | None = None, store: Any = None,
            progress: bool = True, checkpoint_every: int | None = None) -> TrainReport:
        """See :meth:`Accelerator.fit`; ``checkpoint_every`` (updates) changes only how often the run
        is saved, never its result, so it is not part of the store key."""
        self._require_loaded()
        settings = self.train_settings(settings)
        batch = require_batch(budget, self.info.name)
        plan = self.fit_plan(settings, batch, budget)
        if checkpoint_every is not None:
            plan = replace(plan, checkpoint_every=checkpoint_every)
        weights, stored = fit_in_store(plan, budget, store, progress)
        self.denoiser = self.build_network(weights)
        self._trained = {"stored": stored, "budget": budget,
                         "hash": config_hash({**plan.key, "budget": budget.to_dict()})}
        return TrainReport.from_dict(stored["train"])

    @abc.abstractmethod
    def fit_plan(self, settings: dict[str, Any], batch: int, budget: Budget) -> FitPlan:
        """How this system trains (store key, task, trainer options)."""

    def teacher_store_key(self, settings: Mapping[str, Any], code_version: int) -> dict[str, Any]:
        """The store key of a system trained from the teacher checkpoint: everything its weights
        depend on besides the budget (``fit_in_store`` adds that)."""
        return {"system": self.info.name, "teacher": dict(self.components.hashes), "settings": dict(settings),
                "sampling": dict(self.components.preset.sampling), "code": code_version}

    def caption_items(self, n: int, seed_offset: int = 0) -> list[tuple[str, int]]:
        """``n`` (caption, seed) items: the distinct training captions in order, then again with the
        next seed (AudioTurbo's pairs; held-out seeds for a sanity check with ``seed_offset``)."""
        preset = self.components.preset
        captions = list(dict.fromkeys(training_captions(preset.data, preset.mel.sample_rate,
                                                        preset.clip_duration_s)))
        return [(captions[i % len(captions)], seed_offset + i // len(captions)) for i in range(n)]

    def training_data(self) -> dict[str, Any]:
        """The teacher's training clips as frozen-encoder inputs: latents [N, C, F], caption tokens,
        masks, the captions themselves and the null condition padded to the same length. Encoded once
        per process and components (``Components.memo``): every accelerator trains on the same set."""
        memo = self.components.memo
        if "training_data" not in memo:
            memo["training_data"] = self._encode_training_data()
        data = memo["training_data"]
        return {**data, "captions": list(data["captions"]), "null": dict(data["null"])}

    def _encode_training_data(self) -> dict[str, Any]:
        preset, comps = self.components.preset, self.components
        clips = load_clips(preset.data, preset.mel.sample_rate, preset.clip_duration_s, progress=True)
        tokens, mask = encode_captions(comps.text, clips.captions)
        null_tokens, null_mask = comps.text.null(1)
        null = dict(zip(("tokens", "mask"), pad_tokens(null_tokens, null_mask, tokens.shape[1])))
        return {"latents": encode_all(comps.ae, clips.wav.to(comps.device)), "tokens": tokens, "mask": mask,
                "captions": list(clips.captions), "null": null}

    #: the EDM-form network's inner architecture, built from the teacher's DiT config (a student
    #: with extra inputs, e.g. the guidance, names its DiT subclass here)
    network_class: type = DiT

    def build_network(self, weights: Mapping[str, Any]):
        """The EDM-form denoiser holding ``weights`` (eval mode, frozen, on the components' device):
        ``network_class`` on the teacher's config (a system with another form overrides this)."""
        preset = self.components.preset
        net = EDMDenoiser(self.network_class(preset.teacher), sigma_data=preset.ae.sigma_data)
        net.load_state_dict(weights)
        return net.to(self.components.device).eval().requires_grad_(False)

    def training_record(self) -> dict[str, Any]:
        if self._trained is None:
            return {}
        record = training_record(self._trained["stored"], self._trained["budget"])
        extra = {k: self._trained["stored"][k] for k in ("sanity",) if k in self._trained["stored"]}
        return {**record, "trained_from": self.trained_from, **extra}

    # -- generation
    def config(self) -> dict[str, Any]:
        self._require_trained()
        return {**super().config(), "trained": self._trained["hash"]}

    def generate(self, request: GenRequest) -> GenResult:
        self._require_trained()
        return super().generate(request)

    def sample_latents(self, request: GenRequest):
        self._require_trained()
        return super().sample_latents(request)

    def _require_trained(self) -> None:
        self._require_loaded()
        if self._trained is None:
            raise RuntimeError(f"{self.info.name} is not trained yet: call fit(budget) first (`bench run` "
                               f"does it, or `python -m bench train {self.info.name}`)")


def require_batch(budget: Budget, name: str) -> int:
    """The budget's batch size; an accelerator budget must fix it (one budget = same batch)."""
    if not isinstance(budget, Budget):
        raise SystemInputError(f"{name}: fit needs a systems.training.Budget, got {type(budget).__name__}")
    if budget.batch is None:
        raise SystemInputError(f"{name}: the budget names no batch size; give Budget(batch=...) so every "
                               "accelerator trains at the same batch")
    return budget.batch
