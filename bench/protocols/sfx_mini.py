"""``sfx-mini``: the embedded protocol (default of ``make bench``): procedural prompts and references.

32 test prompts of the procedural SFX set × 4 generations each (128 clips a row) against 128
rendered reference clips of the same split (the first 32 are the prompts' own clips, so KL can
pair by prompt); the teacher with Euler at 1, 2, 3, 5, 10, 16 steps and Heun at 16 steps,
``audioturbo`` at 1, 2, 3, 5, 10 steps, ``lafma`` at 3, 5, 10, 25 steps, ``arc`` (ping-pong) at 1, 2,
4, 8 steps, ``cd`` (consistency distillation, ping-pong) at 1, 2, 4 steps and ``soundctm`` (γ = 0:
deterministic jumps, ν = 1, ω = 3) at 1, 2, 4, 8, 16 steps, all trained inside the run under the
shared budgets (``bench.protocols.budgets``).
Every row is read against a floor (fresh real renders of the same prompts) and a ceiling (those
renders through the shared autoencoder + Griffin-Lim), see ``bench.anchors``.

Sizes (v3), chosen so that the headline metrics resolve, measured on the tiny teacher (paired
bootstrap of Euler 1 vs 16 steps, B = 50; ``bench.resolution``):

- v2 had 16 prompts × 2 against 64 references: kad@aisfx could not tell 1 step from 16
  (11.9 [9.2, 15.7] vs 12.4 [9.5, 16.3]) and PRDC/CCDS moved by whole clips between machines.
- At 32 × 4 against 128: adherence (0.53 → 0.71), kad@aisfx[ae-ref] (5.2 → 2.0),
  coverage@aisfx[ae-ref] (0.18 → 0.65), kad@yamnet (3.9 → 1.4) and coverage@yamnet
  (0.39 → 0.57) resolve; kad@aisfx against the raw references (11.5 vs 10.4), KL and IS do not
  (they are kept, marked, and left out of the headline); CCDS separates the rows in the opposite
  direction (1-step clips are more diverse), as a diversity metric may.
- 4 generations per prompt give CCDS 6 pairs per prompt instead of 1.
- Larger sets cost time linearly (generation, embedding) while FD stays rank-deficient at any
  CPU-sized set (d = 512 / 1024 ≥ n), so 128 is the size that resolves within the ``make bench``
  time goal (≤ 30 min cold with every system; v5, with arc and cd, took ≈ 39 min on an idle
  2-core CPU, v6 adds soundctm: see the README).

The ``[ae-ref]`` metrics score the same clips against the references passed through the
autoencoder: the decoder's own artefacts then no longer dominate the distance.
"""
from bench.protocols.base import Protocol, SystemEntry
from bench.protocols.budgets import budget_for

#: the rows every accelerator paper is read against (the reproduction cards' protocols add theirs)
SYSTEMS = (
    SystemEntry("teacher", samplers=("euler",), steps=(1, 2, 3, 5, 10, 16)),
    SystemEntry("teacher", samplers=("heun",), steps=(16,)),   # the teacher's default operating point
    SystemEntry("audioturbo", samplers=("euler",), steps=(1, 2, 3, 5, 10),
                budget=budget_for("teacher", "tiny")),
    SystemEntry("lafma", samplers=("euler",), steps=(3, 5, 10, 25), budget=budget_for("scratch", "tiny")),
    SystemEntry("arc", samplers=("pingpong",), steps=(1, 2, 4, 8), budget=budget_for("teacher", "tiny")),
    SystemEntry("cd", samplers=("pingpong",), steps=(1, 2, 4), budget=budget_for("teacher", "tiny")),
    SystemEntry("soundctm", samplers=("ctm_gamma",), steps=(1, 2, 4, 8, 16),
                budget=budget_for("teacher", "tiny")),
)

PROTOCOL = Protocol(
    name="sfx-mini",
    # v3: sizes that resolve, floor/ceiling anchors, [ae-ref] metrics, headline.
    # v4: audioturbo and lafma trained inside the run; the teacher's Euler rows at the step counts
    #     the accelerators are compared at (1, 2, 3, 5, 10, 16) and Heun at its default 16 only.
    # v5: arc (ping-pong 1, 2, 4, 8) and cd (consistency distillation, 1, 2, 4) trained inside the run.
    # v6: soundctm (γ = 0, ν = 1; 1, 2, 4, 8, 16 steps) trained inside the run.
    version=6,
    description="procedural SFX prompts vs rendered references; tiny preset; CPU",
    prompts={"source": "sfx", "split": "test", "n": 32, "seed": 0},
    # The first 32 reference items are the prompts' own items (item seeds depend on the index),
    # so every generated clip has a reference partner with its prompt (KL, pair=prompt).
    reference={"source": "sfx", "split": "test", "n": 128, "seed": 0},
    systems=SYSTEMS,
    metrics=("fd@aisfx", "kad@aisfx", "prdc@aisfx", "fd@yamnet", "kad@yamnet", "prdc@yamnet",
             "kl@yamnet:pair=prompt:unpaired=exclude", "is@yamnet", "ccds@aisfx", "adherence"),
    ae_ref_metrics=("kad@aisfx", "prdc@aisfx", "kad@yamnet"),
    headline=("adherence", "kad@aisfx[ae-ref]", "coverage@aisfx[ae-ref]", "kad@yamnet", "coverage@yamnet"),
    pareto_metric="adherence",
    generations_per_prompt=4,
    bootstrap=50,
)
