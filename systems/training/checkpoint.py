"""Checkpoints: one safetensors file with the tensors plus JSON metadata (kind, config, hash, meta).

The metadata makes every checkpoint self-describing: ``format`` ("fastaudio-bench/1"), ``kind``
(what it holds: "autoencoder", "teacher", ...), ``config`` (the JSON config that produced it),
``config_hash`` (16 hex chars, also the cache key) and ``meta`` (free JSON: update counter,
optimizer hyper-parameters, ...). Writes are atomic, so a killed process never leaves a
half-written file under the final name.

Full training states are flat tensor dicts with prefixes ("model/<name>/...", "ema/<name>/...",
"optim/..."), built with ``pack_module`` / ``pack_optimizer`` and read back with
``load_module`` / ``load_optimizer``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import safetensors
import torch
from safetensors.torch import save_file
from torch import nn

FORMAT = "fastaudio-bench/1"
_REQUIRED_METADATA = ("format", "kind", "config", "config_hash", "meta")


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, foreign, or does not match what was asked for."""


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: its tensors and its parsed metadata."""

    tensors: dict[str, torch.Tensor]
    kind: str
    config: dict[str, Any]
    config_hash: str
    meta: dict[str, Any]


# ---------------------------------------------------------------- config hashing

def canonical_json(value: Any, what: str = "config") -> str:
    """Deterministic JSON (sorted keys, no spaces); refuses anything JSON cannot hold exactly."""
    _check_json(value, what)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def config_hash(config: Mapping) -> str:
    """sha256 of the canonical JSON of ``config``, first 16 hex chars."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


def _check_json(value: Any, path: str) -> None:
    """Walk ``value`` and raise ValueError naming the first entry that is not plain JSON."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{path} is {value}, which JSON cannot hold; use a finite number or None")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path} has a non-string key {key!r}; JSON keys must be str")
            _check_json(item, f"{path}[{key!r}]")
        return
    raise ValueError(f"{path} is a {type(value).__name__} ({value!r}), which is not JSON; convert it "
                     "to str, int, float, bool, None, list or dict")


def _normalised(config: Mapping) -> dict[str, Any]:
    """The config as it reads back from JSON (tuples become lists), for comparisons."""
    return json.loads(canonical_json(config))


# ---------------------------------------------------------------- save / load

def save_checkpoint(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], *, kind: str,
                    config: Mapping, meta: Mapping | None = None) -> Path:
    """Write ``tensors`` (made contiguous, on CPU) plus metadata to ``path`` atomically.

    The file is written to a temporary name in the same folder, flushed to disk and then
    renamed over ``path`` (``os.replace`` is atomic on one file system), so readers only ever
    see the old or the new complete file.
    """
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind must be a non-empty str, got {kind!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": FORMAT, "kind": kind, "config": canonical_json(config),
                "config_hash": config_hash(config), "meta": canonical_json(dict(meta or {}), "meta")}
    _atomic_save(_prepared(tensors), metadata, path)
    return path


def _prepared(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU tensors; copies where storage is shared (safetensors refuses it)."""
    out, seen = {}, set()
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"checkpoint entry {name!r} is a {type(tensor).__name__}, not a Tensor")
        tensor = tensor.detach().to("cpu").contiguous()
        ptr = tensor.untyped_storage().data_ptr()
        if tensor.numel() and ptr in seen:
            tensor = tensor.clone()   # tied weights / views: give each entry its own storage
        seen.add(tensor.untyped_storage().data_ptr())
        out[name] = tensor
    return out


def _atomic_save(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: Path) -> None:
    """safetensors ``save_file`` to a temp file beside ``path``, fsync, then ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)   # mkstemp makes it 0600; a checkpoint is meant to be shared
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (best effort: not every OS can fsync a directory)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike, *, kind: str | None = None, config: Mapping | None = None,
                    device: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; check ``kind`` and ``config`` if given."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path} (file missing); train or save it first")
    metadata, tensors = _read(path, device)
    checkpoint = _parse(path, metadata, tensors)
    if kind is not None and checkpoint.kind != kind:
        raise CheckpointError(f"{path}: checkpoint holds a {checkpoint.kind!r}, expected {kind!r}")
    if config is not None:
        _check_config(path, checkpoint.config, config)
    return checkpoint


def read_metadata(path: str | os.PathLike) -> Checkpoint:
    """Like ``load_checkpoint`` without reading tensors (``tensors`` is empty): cheap polling."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path} (file missing); train or save it first")
    metadata, _ = _read(path, "cpu", tensors=False)
    return _parse(path, metadata, {})


def _read(path: Path, device: str | torch.device, tensors: bool = True
          ) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """Metadata and tensors; any safetensors-level failure becomes a 'corrupt' CheckpointError."""
    try:
        with safetensors.safe_open(str(path), framework="pt", device=str(device)) as handle:
            metadata = handle.metadata() or {}
            out = {name: handle.get_tensor(name) for name in handle.keys()} if tensors else {}
    except (safetensors.SafetensorError, OSError) as error:
        raise CheckpointError(f"{path} is corrupt (not a readable safetensors file: {error}); delete "
                              "it and retrain or save it again") from error
    return metadata, out


def _parse(path: Path, metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> Checkpoint:
    """Check the fastaudio-bench metadata and decode its JSON fields."""
    missing = [key for key in _REQUIRED_METADATA if key not in metadata]
    if missing or metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a safetensors file but not a {FORMAT} checkpoint (metadata "
                              f"missing {missing or 'the right format'}); save it with save_checkpoint")
    try:
        config, meta = json.loads(metadata["config"]), json.loads(metadata["meta"])
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is corrupt: its metadata is not valid JSON ({error})") from error
    return Checkpoint(tensors=tensors, kind=metadata["kind"], config=config,
                      config_hash=metadata["config_hash"], meta=meta)


def _check_config(path: Path, stored: Mapping, requested: Mapping) -> None:
    """Raise a CheckpointError listing every differing key with both values."""
    diffs = config_diff(stored, _normalised(requested))
    if diffs:
        raise CheckpointError(f"{path} was made with a different config: {'; '.join(diffs)}. Use the "
                              "checkpoint's config, or another path/folder for this config")


def config_diff(stored: Mapping, requested: Mapping, prefix: str = "") -> list[str]:
    """Lines "key: checkpoint A, requested B" for every (nested, dotted) key that differs."""
    lines = []
    for key in sorted(set(stored) | set(requested)):
        a, b = stored.get(key, _ABSENT), requested.get(key, _ABSENT)
        name = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines += config_diff(a, b, f"{name}.")
        elif a != b or type(a) is not type(b):
            lines.append(f"{name}: checkpoint {_show(a)}, requested {_show(b)}")
    return lines


_ABSENT = object()


def _show(value: Any) -> str:
    return "<absent>" if value is _ABSENT else json.dumps(value)


# ---------------------------------------------------------------- packing modules and optimizers

def pack_module(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` as ``{"<prefix>/<key>": tensor}``."""
    return {f"{prefix}/{key}": value for key, value in module.state_dict().items()}


def unpack_prefix(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``"<prefix>/"`` with the prefix removed."""
    head = f"{prefix}/"
    return {key[len(head):]: value for key, value in tensors.items() if key.startswith(head)}


def load_module(module: nn.Module, tensors: Mapping[str, torch.Tensor], prefix: str) -> None:
    """Load the ``prefix`` entries into ``module`` (strict: the architecture must match)."""
    state = unpack_prefix(tensors, prefix)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"checkpoint entries '{prefix}/...' do not fit the module (different "
                              f"architecture?): {error}") from error


def pack_optimizer(optimizer: torch.optim.Optimizer, prefix: str = "optim"
                   ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state as (tensors ``"<prefix>/<param index>/<name>"``, JSON meta).

    Per-parameter tensors (Adam's exp_avg, exp_avg_sq, step) go into the tensor dict; Python
    numbers in the per-parameter state and the param_groups (lr, betas, ...) go into the meta.
    """
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}/{index}/{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    groups = [_group_to_json(group, i, prefix, tensors) for i, group in enumerate(state["param_groups"])]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _group_to_json(group: dict, index: int, prefix: str, tensors: dict[str, torch.Tensor]) -> dict:
    """A param group with tensor-valued entries (e.g. a tensor lr) moved into ``tensors``."""
    out = {}
    for key, value in group.items():
        if isinstance(value, torch.Tensor):
            name = f"{prefix}/group{index}/{key}"
            tensors[name] = value
            out[key] = {"__tensor__": name}
        else:
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: Mapping[str, torch.Tensor],
                   meta: Mapping[str, Any], prefix: str = "optim") -> None:
    """Restore what ``pack_optimizer`` produced into ``optimizer``."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in unpack_prefix(tensors, prefix).items():
        index, name = key.split("/", 1)
        if not index.startswith("group"):
            state.setdefault(int(index), {})[name] = value
    for index, entries in meta["scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    current = optimizer.state_dict()["param_groups"]
    if len(current) != len(meta["param_groups"]):
        raise CheckpointError("the optimizer has a different number of param groups than the checkpoint")
    groups = [_group_from_json(saved, now, tensors) for saved, now in zip(meta["param_groups"], current)]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def _group_from_json(saved: dict, current: dict, tensors: Mapping[str, torch.Tensor]) -> dict:
    """Undo ``_group_to_json``; lists become tuples where the live optimizer uses tuples (betas)."""
    out = {}
    for key, value in saved.items():
        if isinstance(value, dict) and "__tensor__" in value:
            value = tensors[value["__tensor__"]]
        elif isinstance(value, list) and isinstance(current.get(key), tuple):
            value = tuple(value)
        out[key] = value
    return out
