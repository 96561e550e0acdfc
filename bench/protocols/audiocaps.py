"""``audiocaps``: released models and ours on AudioCaps test prompts, scored as the papers score them.

For users with a GPU and internet (README, "Benchmark a released model"): it downloads the
released weights of the adapters it runs and the metrics' backbones (PaSST, OpenL3, VGGish,
LAION-CLAP), and needs the AudioCaps test audio, which is not shipped (YouTube clips).

- **Prompts**: the AudioCaps test captions (``{shared}/data/audiocaps/test.csv`` or the user's
  copy named by ``$FASTAUDIO_AUDIOCAPS_CAPTIONS``), the first caption of each YouTube clip in
  file order: 975 prompts, one generation each (963 distinct captions: a caption shared by two
  clips gets new seeds for the second, so every clip has its own generation). AudioLDM evaluates
  one (random) caption per clip; SAM/ARC generate all 4875 captions: this protocol's choice is
  AudioLDM's count, made deterministic (metrics-reference A13).
- **References**: ``$FASTAUDIO_AUDIOCAPS_AUDIO``, a manifest CSV (id, path, caption) of the user's
  AudioCaps test clips; the caption column holds each clip's first test caption, so KL pairs a
  generation with its own clip (``pair=prompt``; clips the user could not download are left out of
  KL only, ``unpaired=exclude``, as SAM does; the number used is in the results).
- **Metrics**: FD on OpenL3 (env, SAM's FD_openl3), PaSST and VGGish (AudioLDM's FAD); KAD on
  PaSST and VGGish; KL (gen ‖ ref, mean logits, SAM's KL_passt) and IS on PaSST; CLAP score
  (LAION-CLAP audio); recall and coverage on PaSST (ARC); CCDS on LAION-CLAP over a diversity
  set of the first 64 prompts × 8 generations (ARC draws 24 per prompt on 203 prompts).
- **Clips** are 10 s (AudioCaps' length), mono: Stable Audio Open's stereo output is down-mixed
  (the adapters' policy), so its FD_openl3 here is not SAM's stereo (``channels=2``) figure and
  is read against this protocol's rows only. **Speed** is measured with the ``gpu`` profile.
- **Rows**: Stable Audio Open (100 steps, ARC's base setting), AudioLDM 2 and AudioLDM (200 DDIM
  steps, their papers' setting) and the tiny teacher (Euler 1 and 16 steps: the run's resolution
  check, and a point of comparison that is not a released model). Any subset runs with
  ``bench run audiocaps --systems stable-audio-open,teacher``.
"""
from bench.protocols.base import DiversitySet, Protocol, SystemEntry

REFERENCES_MISSING = (
    "Protocol audiocaps needs the AudioCaps test audio, which is not shipped (the clips are on "
    "YouTube). Download the test clips (10-s segments named in test.csv: youtube_id, start_time), "
    "write a manifest CSV with columns id,path,caption (path relative to the CSV; caption = the "
    "clip's first caption in test.csv), and set FASTAUDIO_AUDIOCAPS_AUDIO=/path/to/manifest.csv. "
    "`python -m bench audiocaps-manifest --audio DIR --out DIR/manifest.csv` writes it from a folder "
    "of clips named <youtube_id>.<ext>.")

PROTOCOL = Protocol(
    name="audiocaps",
    version=1,
    description="AudioCaps test captions (one per clip) vs the user's AudioCaps test audio; released models",
    prompts={"source": "captions", "path": "{shared}/data/audiocaps/test.csv",
             "env": "FASTAUDIO_AUDIOCAPS_CAPTIONS", "column": "caption", "one_per": "youtube_id"},
    reference={"source": "manifest", "env": "FASTAUDIO_AUDIOCAPS_AUDIO", "missing": REFERENCES_MISSING},
    systems=(
        SystemEntry("stable-audio-open", samplers=("cosine-dpmsolver++",), steps=(100,)),
        SystemEntry("audioldm2", samplers=("ddim",), steps=(200,)),
        SystemEntry("audioldm", samplers=("ddim",), steps=(200,)),
        SystemEntry("teacher", samplers=("euler",), steps=(1, 16)),
    ),
    metrics=("fd@openl3-env", "fd@passt", "fd@vggish", "kad@passt", "kad@vggish",
             "kl@passt:pair=prompt:unpaired=exclude", "is@passt", "clap@clap-laion-audio",
             "recall@passt", "coverage@passt"),
    generations_per_prompt=1,
    duration_s=10.0,
    speed_profile="gpu",
    diversity=DiversitySet(prompts=64, generations=8, metrics=("ccds@clap-laion-audio",)),
    headline=("fd@openl3-env", "kl@passt:pair=prompt:unpaired=exclude", "clap@clap-laion-audio",
              "fd@vggish"),
    pareto_metric="fd@openl3-env",
)
