"""What the released-model adapters cost before they generate anything: installing their extra,
importing their library, and building, saving and loading a tiny random build.

    .venv/bin/python -m pytest tests/benchmarks/test_released_cost.py --benchmark-enable -m slow

Each import is timed in a fresh interpreter (what a user's first ``load`` pays); ``torch`` alone
is the baseline every line includes. The install is ``pip install --no-deps --target`` of the
``diffusers`` extra's packages at their installed versions (transformers is a core dependency, so
the codec adapters add nothing to install). Marked slow: ``make test`` skips them.
"""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

pytest.importorskip("diffusers", reason="diffusers extra not installed (pip install -e '.[diffusers]')")

pytestmark = pytest.mark.slow

IMPORTS = {
    "torch (baseline)": "import torch",
    "diffusers pipelines": "import diffusers; from diffusers import StableAudioPipeline, AudioLDM2Pipeline, "
                           "AudioLDMPipeline",
    "transformers codecs": "import transformers; from transformers import DacModel, EncodecModel",
}
EXTRA_PACKAGES = ("diffusers", "torchsde", "accelerate", "trampoline")


@pytest.mark.parametrize("what", sorted(IMPORTS))
def test_import_cost(benchmark, what):
    run = lambda: subprocess.run([sys.executable, "-c", IMPORTS[what]], check=True)  # noqa: E731
    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["what"] = what


def test_install_cost_of_the_diffusers_extra(benchmark, tmp_path_factory):
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in EXTRA_PACKAGES]

    def install():
        target = tmp_path_factory.mktemp("extra")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                        *pins], check=True, capture_output=True)
        return target
    target = benchmark.pedantic(install, rounds=1, iterations=1)
    size_mb = sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) / 1e6
    benchmark.extra_info.update(packages=pins, installed_mb=round(size_mb, 1))
    assert size_mb > 1


@pytest.mark.parametrize("name", ["stable-audio-open", "audioldm2", "audioldm", "dac", "encodec"])
def test_tiny_build_save_and_load(benchmark, name, tmp_path_factory, monkeypatch):
    from systems import get_system

    def cold_load():
        monkeypatch.setenv("FASTAUDIO_CACHE", str(tmp_path_factory.mktemp("cold")))   # nothing saved yet
        return get_system(name)(model="tiny-random").load("cpu")
    system = benchmark.pedantic(cold_load, rounds=3, iterations=1, warmup_rounds=1)
    assert system.config()["weights"].startswith("tiny-random")
