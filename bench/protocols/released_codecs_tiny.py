"""``released-codecs-tiny``: the transformers codec adapters on tiny random builds, via the codec runner.

A smoke protocol, runnable offline in well under a minute: 8 procedural test clips at the
``micro`` preset's rate, through ``dac`` (1 and all 3 of the toy's codebooks) and ``encodec``
(3 and 12 kbps, 1 and 4 codebooks of the toy) built with ``model="tiny-random"`` (random weights
made in code, saved, then loaded through ``from_pretrained(dir)``; ``systems.hf_models``), with
``opus`` at 6 kbps as the real codec beside them. The toys' audio is noise: the rows show that the
adapters encode to measured bytes, decode, are scored, timed and reported like every other
codec, nothing about DAC or EnCodec themselves. ``codec-mini`` is where real codecs are compared.
"""
from bench.protocols.base import CODEC, Protocol, SystemEntry

CLIPS = {"source": "sfx", "split": "test", "n": 8, "seed": 0}
TINY = {"model": "tiny-random"}

PROTOCOL = Protocol(
    name="released-codecs-tiny",
    version=1,
    kind=CODEC,
    description="smoke run of the dac/encodec adapters on tiny random builds (numbers test plumbing only)",
    prompts=CLIPS,
    reference=CLIPS,
    systems=(
        SystemEntry("dac", samplers=(), steps=(), config={**TINY, "n_codebooks": 1}),
        SystemEntry("dac", samplers=(), steps=(), config={**TINY, "n_codebooks": 3}),
        SystemEntry("encodec", samplers=(), steps=(), config={**TINY, "bandwidth_kbps": 3}),
        SystemEntry("encodec", samplers=(), steps=(), config={**TINY, "bandwidth_kbps": 12}),
        SystemEntry("opus", samplers=(), steps=(), config={"bitrate_kbps": 6}),
    ),
    metrics=("kad@mel", "si_sdr", "mel_distance", "lsd"),
    headline=("mel_distance", "si_sdr"),
    pareto_metric="mel_distance",
    generations_per_prompt=1,
    preset="micro",
    anchors=False,
    bootstrap=20,
)
