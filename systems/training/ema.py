"""Exponential moving average of a model's weights (float32 shadows, safetensors-friendly state).

After ``n`` updates with constant decay ``d`` and parameter values ``p_1 … p_n`` (``p_0`` = the
weights when the EMA was created)::

    shadow_n = d**n * p_0 + (1 - d) * sum_k d**(n - k) * p_k

With ``warmup=True`` the decay of the update that follows ``n`` earlier updates is
``min(decay, (1 + n) / (10 + n))`` (0.1, 0.18, 0.25, … then ``decay``): early on the average
follows the fast-moving weights instead of staying anchored to the random initialisation.
"""
from __future__ import annotations

import torch
from torch import nn

_COUNTER_KEY = "__ema_num_updates__"


class EMA:
    """Float32 shadow copies of a module's parameters and persistent buffers.

    Floating-point entries are averaged in float32 (so a bfloat16/float16 model still gets an
    accurate average); non-floating buffers (e.g. BatchNorm's ``num_batches_tracked``) are
    copied as they are, since averaging a counter is meaningless.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, *, warmup: bool = False) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.warmup = warmup
        self.num_updates = 0
        self.shadow: dict[str, torch.Tensor] = {
            name: _shadow_copy(value) for name, value in model.state_dict().items()}

    def current_decay(self) -> float:
        """The decay the next ``update`` will use (see the module docstring for warm-up)."""
        if not self.warmup:
            return self.decay
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """shadow <- d * shadow + (1 - d) * weights, for every entry of ``model.state_dict()``."""
        weight = 1.0 - self.current_decay()
        for name, value in self._matching(model).items():
            shadow = self.shadow[name]
            if shadow.is_floating_point():
                shadow.lerp_(value.detach().to(shadow.device, torch.float32), weight)
            else:
                shadow.copy_(value)
        self.num_updates += 1

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite ``model``'s parameters and buffers with the averaged values."""
        for name, value in self._matching(model).items():
            value.copy_(self.shadow[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Shadows plus the update counter, all tensors (fits in a safetensors file)."""
        state = {name: value for name, value in self.shadow.items()}
        state[_COUNTER_KEY] = torch.tensor(self.num_updates, dtype=torch.int64)
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what ``state_dict`` returned; the set of entries must match exactly."""
        state = dict(state)
        counter = state.pop(_COUNTER_KEY, None)
        if set(state) != set(self.shadow):
            missing, extra = sorted(set(self.shadow) - set(state)), sorted(set(state) - set(self.shadow))
            raise KeyError(f"EMA state does not match the model: missing {missing}, unexpected {extra}")
        for name, value in state.items():
            self.shadow[name].copy_(value)
        self.num_updates = int(counter) if counter is not None else 0

    def _matching(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """``model.state_dict()`` (tensors sharing the model's storage), checked against the shadows."""
        state = model.state_dict()
        if set(state) != set(self.shadow):
            raise KeyError("the model's state_dict keys differ from those the EMA was created with")
        return state


def _shadow_copy(value: torch.Tensor) -> torch.Tensor:
    """A detached copy: float32 for floating tensors, the original dtype otherwise."""
    value = value.detach()
    return value.to(torch.float32, copy=True) if value.is_floating_point() else value.clone()
