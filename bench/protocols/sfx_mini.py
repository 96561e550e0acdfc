"""``sfx-mini``: the embedded protocol (default of ``make bench``): procedural prompts and references.

16 test prompts of the procedural SFX set × 2 generations each (CCDS needs ≥ 2) against 64
rendered reference clips of the same split (the first 16 are the prompts' own clips); the
teacher at 5 step counts with two samplers.
Metrics: FD, KAD and PRDC on aisfx and yamnet, KL and IS on yamnet, CCDS on aisfx, and the
signal-processing prompt adherence of the procedural set. Runs on a 2-core CPU in minutes.
"""
from bench.protocols.base import Protocol, SystemEntry

PROTOCOL = Protocol(
    name="sfx-mini",
    version=2,  # v2: references include the prompts' own clips, so KL can pair by prompt
    description="procedural SFX prompts vs rendered references; tiny preset; CPU",
    prompts={"source": "sfx", "split": "test", "n": 16, "seed": 0},
    # The first 16 reference items are the prompts' own items (item seeds depend on the index),
    # so every generated clip has a reference partner with its prompt (KL, pair=prompt).
    reference={"source": "sfx", "split": "test", "n": 64, "seed": 0},
    systems=(SystemEntry("teacher", samplers=("euler", "heun"), steps=(1, 2, 4, 8, 16)),),
    metrics=("fd@aisfx", "kad@aisfx", "prdc@aisfx", "fd@yamnet", "kad@yamnet", "prdc@yamnet",
             "kl@yamnet:pair=prompt:unpaired=exclude", "is@yamnet", "ccds@aisfx", "adherence"),
    generations_per_prompt=2,
    bootstrap=20,  # FD at d = 1024 costs ~0.3 s per replicate on 2 cores; 20 keeps a row under ~20 s
)
