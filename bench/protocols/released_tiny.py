"""``released-tiny``: the released-model adapters on their tiny random builds, through the normal runner.

A smoke protocol, runnable offline in about a minute: the ``micro`` shared components, 4
procedural prompts × 2 generations against 8 rendered references, the teacher, and
``stable-audio-open``, ``audioldm2`` and ``audioldm`` with ``model="tiny-random"`` (random weights
made in code, saved, then loaded through ``from_pretrained(dir)``; ``systems.hf_models``). Its
numbers measure nothing about the released models; it shows that their adapters generate,
count NFE, are scored, timed and reported like every other system. ``make test`` runs it
(``tests/bench/test_released_runs.py``); the ``audiocaps`` protocol is the real benchmark.
"""
from bench.protocols.base import Protocol, SystemEntry

TINY = {"model": "tiny-random"}

PROTOCOL = Protocol(
    name="released-tiny",
    version=1,
    description="smoke run of the released-model adapters on tiny random builds (numbers test plumbing only)",
    prompts={"source": "sfx", "split": "test", "n": 4, "seed": 0},
    reference={"source": "sfx", "split": "test", "n": 8, "seed": 1},
    systems=(
        SystemEntry("teacher", samplers=("euler",), steps=(1, 4)),
        SystemEntry("stable-audio-open", samplers=("cosine-dpmsolver++",), steps=(2, 4), config=TINY),
        SystemEntry("audioldm2", samplers=("ddim",), steps=(2, 4), config=TINY),
        SystemEntry("audioldm", samplers=("ddim", "heun"), steps=(2,), config=TINY),
    ),
    metrics=("fd@mel", "kad@mel", "prdc@mel", "ccds@mel", "adherence"),
    generations_per_prompt=2,
    preset="micro",
    speed_batch=2,
    bootstrap=20,
    headline=("kad@mel", "adherence"),
    pareto_metric="kad@mel",
)
