"""A row's metrics: the evaluation engine on its clips, against the raw and autoencoded references.

Row metrics are cached across runs under a key that covers everything the numbers depend on:
each clip's content key, the reference set's fingerprint, the metric specs, **each metric's
version and each backend's ``config()``** (weights hash, preprocessing), the bootstrap size and
seed. Pointing a backend at other weights, or changing a metric's code (its version), therefore
recomputes the row. Results that depend on this machine (a metric ``unavailable`` or in
``error``) are never cached, so a later run with the weights present computes them.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bench.keys import content_key, write_json
from bench.protocols.base import AE_REF
from bench.specs import parse_specs
from common.paths import cache_root

ROW_CACHE_VERSION = 4  # v4: keyed by metric versions and backend configs; replicates; flags
KEPT_DETAILS = ("n_gen", "n_ref", "dim", "trace_method", "chance_level", "excluded_ids")


def metric_fingerprint(specs: list[str]) -> dict:
    """Per spec: the metric's version and its backend's config (None when it cannot be had here)."""
    from metrics import get_metric
    from metrics.embeddings import get_backend

    out = {}
    for spec in parse_specs(specs):
        cls = get_metric(spec.metric)
        backend = None
        if spec.backend:
            try:
                backend = get_backend(spec.backend)().config()
            except Exception as exc:  # noqa: BLE001 - an unusable backend is keyed by its reason
                backend = {"unavailable": f"{type(exc).__name__}: {exc}"}
        out[spec.text] = {"version": getattr(cls.info, "version", 1), "backend": backend}
    return out


def reference_fingerprint(manifest: Path) -> str:
    """Manifest text plus each audio file's size and modification time."""
    from common.sources import load_source

    parts = [manifest.read_text(encoding="utf-8")]
    for item in load_source(manifest).items:
        stat = item.path.stat()
        parts.append(f"{item.path}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def row_key(protocol, clip_keys: list[str], refs: dict[str, Path], fingerprint: dict) -> str:
    """The row-metric cache key (see the module docstring for what it covers)."""
    return content_key({"clips": clip_keys, "refs": {k: reference_fingerprint(p) for k, p in refs.items()},
                        "metrics": list(protocol.metrics), "ae_ref_metrics": list(protocol.ae_ref_metrics),
                        "fingerprint": fingerprint, "bootstrap": protocol.bootstrap,
                        "seed": protocol.seed, "v": ROW_CACHE_VERSION})


def cached_metrics(key: str | None, compute) -> dict:
    """``compute()`` once per key; only all-ok results are stored (see the module docstring)."""
    path = cache_root() / "rows" / f"{key}.json" if key else None
    if path is not None and path.exists():
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            pass  # a damaged entry is recomputed and rewritten below
    metrics = compute()
    if path is not None and all(m.get("status") == "ok" for m in metrics.values()):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, metrics)
    return metrics


def evaluate_sets(protocol, gen_manifest: Path, refs: dict[str, Path]) -> dict:
    """Every protocol metric against ``refs["raw"]``, plus ``ae_ref_metrics`` against ``refs["ae"]``."""
    metrics = evaluate_one(protocol, gen_manifest, refs["raw"], list(protocol.metrics), "")
    if protocol.ae_ref_metrics and "ae" in refs:
        specs = list(protocol.ae_ref_metrics)
        metrics.update(evaluate_one(protocol, gen_manifest, refs["ae"], specs, AE_REF))
    return metrics


def evaluate_one(protocol, gen_manifest: Path, ref_manifest: Path, specs: list[str], suffix: str) -> dict:
    """``specs`` on one generated set against one reference set; names get ``suffix``."""
    from bench.evaluate import evaluate

    raw = evaluate(gen_manifest, ref_manifest, specs, bootstrap=protocol.bootstrap, seed=protocol.seed,
                   progress=False)
    return {name + suffix: to_row_metric(r) for name, r in raw.items() if not name.startswith("_")}


def to_row_metric(result: dict) -> dict:
    """The evaluation engine's record in the leaderboard schema (value, CI, direction, status)."""
    ci = result.get("ci") or [None, None]
    out = {"value": result.get("value"), "ci_low": ci[0], "ci_high": ci[1],
           "higher_is_better": bool(result.get("higher_is_better")), "status": result.get("status", "ok")}
    if out["status"] != "ok":
        out["value"] = None
        out["reason"] = result.get("reason") or result.get("error") or "unknown"
        return out
    details = result.get("details") or {}
    out["details"] = {k: details[k] for k in KEPT_DETAILS if k in details}
    out["flags"] = flags_of(result.get("metric"), details)
    for key in ("metric_version", "bootstrap_bias", "ci_method", "replicates"):
        if key in result:
            out[key] = result[key]
    return out


GAUSSIAN_FIT_METRICS = ("fd", "fd_inf")  # covariance fits: rank-deficient when n <= d


def flags_of(metric: str | None, details: dict) -> list[str]:
    """Cell flags: ``n<=d`` when a Gaussian fit has no more rows than dimensions (FD is biased)."""
    n = min(details.get("n_gen", 0), details.get("n_ref", 0))
    fit = metric in GAUSSIAN_FIT_METRICS and "dim" in details
    return ["n<=d"] if fit and n <= details["dim"] else []
