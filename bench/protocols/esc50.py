"""``esc50``: real reference audio (ESC-50 CC subset manifest), prompts from its captions.

One prompt per ESC-50 category caption (50), 2 generations each, against the 382 real CC0/CC-BY
clips. The tiny teacher was trained on procedural sounds, so its numbers here measure distance
to real audio, not prompt adherence (there is no offline text-audio model to score that).
Floor: the references split in halves (a seeded half against the other half); ceiling: that half
through the shared autoencoder (bench.anchors). v2: anchors, headline metrics.
"""
from bench.protocols.base import Protocol, SystemEntry

PROTOCOL = Protocol(
    name="esc50",
    version=2,
    description="ESC-50 CC captions as prompts vs the real ESC-50 CC clips",
    prompts={"source": "manifest", "path": "{shared}/data/esc50-cc/manifest.csv", "unique_captions": True},
    reference={"source": "manifest", "path": "{shared}/data/esc50-cc/manifest.csv"},
    systems=(SystemEntry("teacher", samplers=("euler", "heun"), steps=(4, 8, 16, 32)),),
    metrics=("fd@aisfx", "kad@aisfx", "prdc@aisfx", "fd@yamnet", "kad@yamnet",
             "kl@yamnet:pair=prompt:unpaired=exclude", "is@yamnet", "ccds@aisfx"),
    generations_per_prompt=2,
    headline=("kad@aisfx", "kad@yamnet", "is@yamnet"),
    pareto_metric="kad@yamnet",
)
