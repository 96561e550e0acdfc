"""Released models from the Hugging Face hub: the loading policy every adapter shares.

The adapters (``stable-audio-open``, ``audioldm2``, ``audioldm``: diffusers pipelines; ``dac``,
``encodec``: transformers codecs) take ``model``, one of

- a hub id (the default: the released checkpoint), downloaded into the Hugging Face cache on first
  use; users have internet, this project's machines do not;
- a local folder: a snapshot downloaded elsewhere (``hf download ID --local-dir DIR``) or a
  model saved with ``save_pretrained``; it is loaded by the very same ``from_pretrained`` call;
- ``"tiny-random"`` (:data:`TINY_RANDOM`): a tiny build of the same architecture with random
  weights, made in code by ``systems/tiny/<adapter>.py`` from a fixed seed, saved once into the
  cache (``$FASTAUDIO_CACHE/released/``, keyed by its config and the library version) and loaded
  back through ``from_pretrained(dir)`` like a download. Its audio is noise: it exercises the
  plumbing (shapes, rates, seeds, NFE, the runner) offline, and says nothing about quality.

The optional packages are pip extras (``diffusers``); a missing one, or weights that cannot be
found or downloaded, is a :class:`~systems.api.SystemInputError` naming what to install or download.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

from common.paths import cache_root
from systems.api import SystemInputError

TINY_RANDOM = "tiny-random"
TINY_VERSION = 1  # bump when a tiny builder changes, so stale cached builds are not reused


def require(module: str, extra: str, who: str) -> Any:
    """``module`` imported, or a SystemInputError saying which pip extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise SystemInputError(
            f"{who} needs the Python package {module!r}, which is not installed ({exc}); install it with "
            f"`pip install -e '.[{extra}]'` inside the project's .venv (`make test` does)") from None


def package_version(module: str) -> str:
    """The installed version of ``module`` (recorded in configs: outputs depend on it)."""
    return str(getattr(importlib.import_module(module), "__version__", "unknown"))


def check_model(model: Any, who: str) -> str:
    """``model`` as a non-empty string (hub id, folder or ``tiny-random``), else a clear error."""
    if not isinstance(model, (str, os.PathLike)) or not str(model).strip():
        raise SystemInputError(f"{who}: model must be a hub id (e.g. the default), a local folder holding a "
                               f"downloaded snapshot, or {TINY_RANDOM!r}; got {model!r}")
    return str(model)


def _settings_key(settings: dict[str, Any]) -> str:
    text = json.dumps({**settings, "tiny_version": TINY_VERSION}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tiny_model(name: str, build: Callable[[], Any], settings: dict[str, Any]) -> Path:
    """The folder of adapter ``name``'s tiny random build, made by ``build()`` and saved on first use.

    ``build()`` returns an object with ``save_pretrained(dir)``. The folder is keyed by ``settings``
    (what the build depends on: the library version, at least), written under a temporary name,
    then renamed, so a killed build never leaves a half-saved model that would be loaded later.
    """
    folder = cache_root() / "released" / f"{name}-tiny-random-{_settings_key(settings)}"
    if folder.is_dir():
        return folder
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    build().save_pretrained(tmp)
    (tmp / "fastaudio_tiny_random.json").write_text(json.dumps(
        {"adapter": name, "weights": "random (tiny test build, not a released model)", **settings},
        indent=2, default=str))
    try:
        os.replace(tmp, folder)
    except OSError:   # another process saved it first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_pretrained(loader: Callable[..., Any], model: str, who: str, downloads: str, **kwargs: Any) -> Any:
    """``loader(model, **kwargs)`` (a ``from_pretrained``), or a SystemInputError saying how to get
    the weights: a hub id needs internet (and sometimes a licence accepted on the hub); offline,
    a snapshot downloaded elsewhere is passed as a folder."""
    try:
        return loader(model, **kwargs)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if _looks_local(model):
            raise SystemInputError(
                f"{who}: could not load model {model!r} ({first[:300]}): a local model must be a folder "
                f"holding a downloaded snapshot (model_index.json or config.json and the weights); download "
                f"it with `hf download REPO_ID --local-dir {model}`, or pass the hub id (downloads "
                f"{downloads}); for a smoke test of the plumbing without weights pass model={TINY_RANDOM!r}"
            ) from None
        raise SystemInputError(
            f"{who}: could not load model {model!r} ({first[:300]}). A hub id downloads {downloads} into the "
            f"Hugging Face cache on first use and needs internet (gated models also need their licence "
            f"accepted on the hub and `hf auth login`). Offline: download it on another machine with "
            f"`hf download {model} --local-dir DIR`, copy DIR here and pass model=DIR; for a smoke test "
            f"of the plumbing without weights pass model={TINY_RANDOM!r}") from None


def _looks_local(model: str) -> bool:
    """A path rather than a hub id (``owner/name``: one slash): it exists, starts like a path, or
    has more than one slash (``models/audioldm/v2``)."""
    return os.path.exists(model) or model.startswith(("/", ".", "~")) or model.count("/") > 1 \
        or os.sep != "/" and os.sep in model


def weights_fingerprint(model: str, source: str, commit: str | None = None) -> dict[str, Any]:
    """What identifies the loaded weights, for cache keys: a hub snapshot's commit (``commit`` when
    the loaded model knows it, else the cached snapshot's folder name), or a digest of a local
    folder's file names, sizes and modification times (a copied or rewritten folder gets a new key,
    so stale clips are never reused; hashing gigabytes of weights per run is avoided). A hub
    revision that cannot be resolved gets a key of its own per load: nothing cached is reused."""
    folder = Path(source)
    if not folder.is_dir():
        folder = None if commit else _hub_snapshot(source)
        if commit or folder is not None:
            return {"revision": commit or folder.name}
        return {"revision": "unresolved", "load_id": uuid.uuid4().hex[:12]}
    if model == TINY_RANDOM:
        return {"tiny_build": folder.name}
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    listing = [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return {"folder_digest": hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]}


def _hub_snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder of ``repo_id`` (its name is the commit), if it is in the HF cache."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:   # not cached, or no huggingface_hub: the revision is then recorded as unknown
        return None
