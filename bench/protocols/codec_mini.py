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
  nominal 112 kbps of PCM and the report marks it so.

Metrics (decoded vs original): FD, KAD and PRDC on aisfx embeddings, aisfx embedding cosine,
SI-SDR, multi-resolution mel distance, LSD, and procedural prompt adherence of the decoded clip
(the run adds ``adherence_retained`` = decoded / original adherence, the measured ``kbps`` and
encode/decode RTF). 50 bootstrap replicates, as sfx-mini.

Size: 64 clips keep a run at a few minutes on a 2-core CPU with the tiny components trained
(the aisfx embeddings and the mel distance dominate: ~5 rows × 64 clips); FD at n = 64 < d = 512
is rank-deficient (flagged n≤d) and is read across rows of this protocol only.
"""
from bench.protocols.base import CODEC, Protocol, SystemEntry

CLIPS = {"source": "sfx", "split": "test", "n": 64, "seed": 0}

SYSTEMS = (
    SystemEntry("ae-codec", samplers=(), steps=()),
    SystemEntry("opus", samplers=(), steps=(), config={"bitrate_kbps": 6}),
    SystemEntry("opus", samplers=(), steps=(), config={"bitrate_kbps": 8}),
    SystemEntry("opus", samplers=(), steps=(), config={"bitrate_kbps": 12}),
    SystemEntry("lowpass-anchor", samplers=(), steps=()),
    # S-PRESSO operating points go here (trained inside the run under their budget), e.g.
    # SystemEntry("spresso", samplers=(), steps=(...), config={...}, budget=budget_for("teacher", "tiny")),
)

PROTOCOL = Protocol(
    name="codec-mini",
    version=1,
    kind=CODEC,
    description="procedural SFX test clips through every codec at every operating point; tiny preset; CPU",
    prompts=CLIPS,  # not read by the codec runner (captions come with the clips); listed for `bench list`
    reference=CLIPS,  # the originals: the clips coded, and what every decoded clip is scored against
    systems=SYSTEMS,
    metrics=("fd@aisfx", "kad@aisfx", "prdc@aisfx", "emb_cos@aisfx", "si_sdr", "mel_distance", "lsd",
             "adherence"),
    # the rate–quality plot's panels (the report adds adherence_retained)
    headline=("fd@aisfx", "emb_cos@aisfx", "mel_distance", "si_sdr"),
    pareto_metric="mel_distance",
    generations_per_prompt=1,
    anchors=False,
    bootstrap=50,
)
