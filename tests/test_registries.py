"""Registries: every file has a table line and every line resolves, lazily and helpfully."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.registry import UnknownNameError, resolve
from metrics import METRICS, get_metric
from metrics.base import Metric
from metrics.embeddings import EMBEDDINGS, get_backend
from metrics.embeddings.base import EmbeddingBackend

ROOT = Path(__file__).resolve().parent.parent
NOT_METRICS = {"__init__", "base", "intervals", "threads", "state"}


def test_every_metric_file_is_registered_and_every_entry_resolves():
    modules = {p.stem for p in (ROOT / "metrics").glob("*.py")} - NOT_METRICS
    registered = {v.split(":")[0].split(".")[-1] for v in METRICS.values()}
    assert modules == registered
    for name in METRICS:
        cls = get_metric(name)
        assert issubclass(cls, Metric) and cls.info.name == name


def test_every_backend_file_is_registered_and_named_by_its_key():
    modules = {p.stem for p in (ROOT / "metrics" / "embeddings").glob("*.py")
               if not p.stem.startswith("_")} - NOT_METRICS - {"clap_laion"}
    assert modules == {v.split(":")[0].split(".")[-1] for v in EMBEDDINGS.values()}
    for name in EMBEDDINGS:
        cls = get_backend(name)
        assert issubclass(cls, EmbeddingBackend) and cls.name == name
        assert name.replace("-", "_") == EMBEDDINGS[name].split(":")[0].split(".")[-1]


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match=r"unknown metric 'kadd'.*Did you mean 'kad'"):
        resolve(METRICS, "kadd", "metric")


def test_importing_registries_is_cheap():
    code = ("import sys, metrics, metrics.embeddings, bench.evaluate; "
            "print(any(m in sys.modules for m in ('torch', 'ai_edge_litert', 'aisfx', 'laion_clap')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_unknown_system_name_is_a_helpful_error():
    from systems import get_system

    with pytest.raises(UnknownNameError, match="unknown system 'teachr'.*Did you mean 'teacher'"):
        get_system("teachr")
