"""``codec-mini``: procedural test clips through every codec at every operating point (a codec protocol).

Test clips: the first 64 items of the procedural SFX set's test split (seed 0), rendered at the
tiny preset (16 kHz, 2.048 s) as sfx-mini renders its references; the same clips are the
originals every decoded clip is scored against (paired metrics pair by id).

Codecs and operating points:

- ``ae-codec``: the shared autoencoder's latents as fp16 (8 kbps at the tiny preset) + its
  decoder and Griffin-Lim: the continuous upper bound of every latent codec;
- ``opus`` at its lowest targets 6, 8 and 12 kbps (measured rates are higher on 2-s clips: the
  Ogg container costs ~3.5 kbps, see ``systems.opus``);
- ``lowpass-anchor`` (ITU-R BS.1534 3.5-kHz low-pass): an anchor, not a codec; its "rate" is a
  nominal 112 kbps of PCM and the report marks it so;
- ``spresso`` (v2), trained inside the run from the shared teacher under the accelerator budget
  (stage 1; stages 2 and 3 on top, see ``systems.spresso``), decoded with 3 seeds:

  - QINCo2, M = 4 codes of K = 64 at t = 4, 8, 16, 32 (z at 7.8, 3.9, 2.0, 1.0 Hz: 188, 94, 47,
    23 bit/s of codes) and M = 8 codes of K = 256 at t = 2 (15.6 Hz: 1 000 bit/s), the rate sweep;
  - plain RVQ at equal bits at t = 8 and at t = 2 (the QINCo2 ablation);
  - the regression decoder on the same codes at t = 8 and at t = 2 (the diffusion-decoder ablation);
  - the continuous z at t = 8 (fp16: 500 bit/s), and the default point with 16 Heun steps.

  Every payload carries a 19-byte header (74 bit/s on a 2.048-s clip), which the measured kbps
  counts: at these toy rates it is most of the payload (the row's ``nominal_kbps`` is the codes alone).

Metrics (decoded vs original): FD, KAD and PRDC on aisfx embeddings, aisfx embedding cosine,
SI-SDR, multi-resolution mel distance, LSD, and procedural prompt adherence of the decoded clip
(the run adds ``adherence_retained`` = decoded / original adherence, the measured ``kbps`` and
encode/decode RTF). 50 bootstrap replicates, as sfx-mini.

A stochastic codec's row also carries ``decode_spread``: the mel distance between two decodes of
each payload (seeds 0 and 1), with a paired bootstrap CI.

Size: 64 clips. v1 (no S-PRESSO) ran in ~2 minutes on a 2-core CPU with the tiny components
trained; v2 trains five stage-1 networks, seven quantisers and stage-3 fine-tunes and decodes 11
S-PRESSO rows with 3 seeds (the README gives the measured cold time). FD at n = 64 < d = 512 is
rank-deficient (flagged n≤d) and is read across rows of this protocol only.

Versions: v1 — the baseline codecs; v2 — S-PRESSO's operating points and ablations, decode spread.
"""
from bench.protocols.base import CODEC, Protocol, SystemEntry
from bench.protocols.budgets import budget_for

CLIPS = {"source": "sfx", "split": "test", "n": 64, "seed": 0}

SYSTEMS = (
    SystemEntry("ae-codec", samplers=(), steps=()),
    SystemEntry("opus", samplers=(), steps=(), config={"bitrate_kbps": 6}),
    SystemEntry("opus", samplers=(), steps=(), config={"bitrate_kbps": 8}),
    SystemEntry("opus", samplers=(), steps=(), config={"bitrate_kbps": 12}),
    SystemEntry("lowpass-anchor", samplers=(), steps=()),
)
SPRESSO_BUDGET = budget_for("teacher", "tiny")   # stage 1 = every accelerator's budget
KBPS1 = {"time_factor": 2, "codebook_steps": 8, "codebook_size": 256}   # ≈ 1 kbps of codes


def spresso(**config) -> SystemEntry:
    """One S-PRESSO row: the config keys it sets (beyond t = 8, QINCo2, M = 4, K = 64, 64 steps)."""
    return SystemEntry("spresso", samplers=(), steps=(), config=config, budget=SPRESSO_BUDGET)


SPRESSO = (
    spresso(), spresso(time_factor=4), spresso(time_factor=16), spresso(time_factor=32), spresso(**KBPS1),
    spresso(quantizer="rvq"), spresso(**KBPS1, quantizer="rvq"),
    spresso(decoder="regression"), spresso(**KBPS1, decoder="regression"),
    spresso(quantizer="none"), spresso(decode_steps=16),
)

PROTOCOL = Protocol(
    name="codec-mini",
    version=2,
    kind=CODEC,
    description="procedural SFX test clips through every codec at every operating point; tiny preset; CPU",
    prompts=CLIPS,  # not read by the codec runner (captions come with the clips); listed for `bench list`
    reference=CLIPS,  # the originals: the clips coded, and what every decoded clip is scored against
    systems=SYSTEMS + SPRESSO,
    metrics=("fd@aisfx", "kad@aisfx", "prdc@aisfx", "emb_cos@aisfx", "si_sdr", "mel_distance", "lsd",
             "adherence"),
    # the rate–quality plot's panels (the report adds adherence_retained)
    headline=("fd@aisfx", "emb_cos@aisfx", "mel_distance", "si_sdr"),
    pareto_metric="mel_distance",
    generations_per_prompt=1,
    anchors=False,
    bootstrap=50,
)
