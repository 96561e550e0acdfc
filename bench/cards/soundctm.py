"""Reproduction card of SoundCTM (Saito et al. 2025, ICLR, "SoundCTM: Unifying Score-based and
Consistency Models for Full-band Text-to-Sound Generation", arXiv 2405.18503).

The paper's numbers: only the abstract could be read offline. The content-preservation values
(CLAP-LPAPS between the 1- and 16-step outputs: 3.34, 5.21, 6.07 and a 2.55 reconstruction bound)
are as the issue that asked for this card quotes them; which row 6.07 belongs to is not stated
there (``bench.content.PAPER_NOTE``), so they are shown beside the content table and never cited
as a ``PaperNumber``.
"""
from __future__ import annotations

from bench.cards.base import Card, MetricTable, RowRef
from bench.cards.claims import Beats
from bench.cards.content import ContentSpec, content_metric, content_ref

CONTENT = ContentSpec(prompts=16, seeds=2, backend="aisfx", few=1, many=16, bootstrap=1000)
LPAPS = (content_metric(CONTENT),)

CTM = {s: RowRef("soundctm", "ctm_gamma", s) for s in (1, 2, 4, 8, 16)}   # γ = 0, ν = 1, ω = 3
NU15 = {s: RowRef("soundctm", "ctm_gamma", s, variant="nu1.5") for s in (1, 4)}
L2 = {s: RowRef("soundctm-l2", "ctm_gamma", s) for s in (1, 4)}
CD = {s: RowRef("cd", "pingpong", s) for s in (1, 2, 4)}
TEACHER = RowRef("teacher", "heun", 16)
GAMMA = {g: content_ref(f"soundctm-gamma{g:g}", CONTENT) for g in (0.0, 0.2, 0.5, 1.0)}

CLAIMS = (
    Beats(id="s", statement="Sanity: SoundCTM's one jump is better than the teacher's own one step (Euler 1)",
          row=CTM[1], rivals=(RowRef("teacher", "euler", 1),)),
    Beats(id="a", statement="Deterministic sampling preserves content: the 1- vs 16-step LPAPS at γ = 0 is "
          "below γ = 0.5 and γ = 1", row=GAMMA[0.0], rivals=(GAMMA[0.5], GAMMA[1.0]), metrics=LPAPS),
    Beats(id="b", statement="The content change grows with γ: LPAPS at γ = 0.5 is below γ = 1",
          row=GAMMA[0.5], rivals=(GAMMA[1.0],), metrics=LPAPS),
    Beats(id="c", statement="At γ = 0 the 1- and 16-step outputs are closer than two real clips of the same "
          "prompt (below the real-pairs bound)", row=GAMMA[0.0], rivals=(content_ref("bound-real", CONTENT),),
          metrics=LPAPS),
    Beats(id="d", statement="SoundCTM's deterministic multistep keeps content better than consistency "
          "distillation's multistep (which re-noises)", row=GAMMA[0.0], rivals=(content_ref("cd", CONTENT),),
          metrics=LPAPS),
    Beats(id="e", statement="Quality improves with steps under deterministic sampling (16 steps vs 1)",
          row=CTM[16], rivals=(CTM[1],)),
    Beats(id="f", statement="1-step SoundCTM beats 1-step consistency distillation", row=CTM[1],
          rivals=(CD[1],)),
    Beats(id="g", statement="The teacher-feature distance beats plain l2 in latent space (1 step)",
          row=CTM[1], rivals=(L2[1],)),
    Beats(id="h", statement="ν-sampling (ν = 1.5) improves on the conditional student alone (ν = 1), "
          "at 1 step", row=NU15[1], rivals=(CTM[1],)),
    Beats(id="i", statement="ν-sampling (ν = 1.5) improves on ν = 1 at 4 steps", row=NU15[4],
          rivals=(CTM[4],)),
)

TABLE_ROWS = (TEACHER, RowRef("teacher", "euler", 1), RowRef("teacher", "euler", 16), *CTM.values(),
              *NU15.values(), *L2.values(), *CD.values())

TABLES = (MetricTable(
    title="Quality by steps, ν and distance",
    text=("The card's metrics and the aisfx recall and coverage against the autoencoded references, with "
          "their 95 % bootstrap intervals: SoundCTM (γ = 0) at 1 … 16 steps and with ν = 1.5, the l2 "
          "ablation, cd and the teacher."),
    rows=TABLE_ROWS,
    metrics=("adherence", "kad@yamnet", "kad@aisfx[ae-ref]", "coverage@aisfx[ae-ref]")),)

ABSTRACT = "https://arxiv.org/abs/2405.18503"

DEVIATIONS = (
    "Model: the `tiny` preset's DiT (about 1.5 M parameters, 4 blocks) in EDM form as teacher and "
    "student initialisation, instead of SoundCTM-DiT-1B (24 blocks, width 1536); text encoder MiniLM "
    "instead of CLAP; vocoder Griffin-Lim; procedural sound effects instead of AudioCaps.",
    "Budget: the shared accelerator budget (800 updates × batch 32 and its teacher-NFE cap). SoundCTM's "
    "online targets cost ≈ 4·E[k] teacher evaluations per sample (Heun × CFG), so the NFE cap stops it "
    "long before 800 updates (its training record in this report says where); the paper trained 30 k "
    "updates. Every accelerator gets the same cap: SoundCTM's early stop is the cost of its targets, "
    "reported rather than budgeted away.",
    "Grid: N = 18 (E[k] ≈ 11.7) instead of N = 40 (E[k] ≈ 26.3), the documented CPU reduction.",
    "ω ~ U[1, 5] (paper DiT: U[1, 10]), default ω = 3 (paper: 5), the teacher's and cd's default CFG, "
    "so the three are compared at one guidance.",
    "Optimiser and rates: RAdam lr 2e-4 (paper 8e-5); target EMA 0.99 and eval EMA 0.995 (paper 0.999 "
    "for both, too slow for a few hundred updates); no bf16; no TANGO mixing augmentation.",
    "The ω sinusoid and the s term pass zero-initialised linear maps (paper: added directly), so that "
    "the student equals the teacher at initialisation (systems/components/ctm_dit.py).",
    "soundctm-l2: the same system with the latent-space MSE as the distance, same budget and settings.",
    "Content preservation: LPAPS on aisfx's 4 conv blocks (`lpaps@aisfx`, the CLAP-LPAPS recipe on "
    "another network) instead of CLAP-LPAPS; 16 prompts × 2 seeds; the bounds are fresh procedural "
    "renders (two renders of one prompt; a render vs its autoencoder + Griffin-Lim reconstruction).",
    "Quality metrics: procedural prompt adherence and KAD on YAMNet and on aisfx (against the "
    "autoencoded references) instead of the paper's FD/KL/CLAP on AudioCaps.",
)

CARD = Card(
    name="soundctm",
    paper="SoundCTM: Unifying Score-based and Consistency Models for Full-band Text-to-Sound Generation",
    citation=("Koichi Saito, Dongjun Kim, Takashi Shibuya, Chieh-Hsin Lai, Zhi Zhong, Yuhta Takida, Yuki "
              "Mitsufuji. SoundCTM: Unifying Score-based and Consistency Models for Full-band Text-to-Sound "
              "Generation. ICLR 2025; arXiv:2405.18503."),
    url=ABSTRACT,
    protocol="soundctm-card",
    summary=("SoundCTM distils a text-to-sound diffusion teacher into a consistency trajectory model "
             "G(x_t, t, s, c, ω) that jumps from any noise level t to any s along the teacher's CFG "
             "probability-flow ODE. The distillation distance is measured in the teacher's own per-block "
             "features; a DSM term keeps G(x, t, t) a denoiser; conditional and unconditional students are "
             "trained together and mixed by ν at sampling. The abstract: it \"allow[s] flexible transitions "
             "between high-quality 1-step sound generation and superior sound quality through multi-step "
             "deterministic sampling\", refining a 1-step sample \"with preserving semantic content\" (" +
             ABSTRACT + "). The content-preservation, step, cd, l2-ablation and ν claims are stated as the "
             "issue that asked for this card states them; the paper's tables could not be read offline."),
    caveat=("Ours are at toy scale (a ~1.5 M-parameter model trained on a CPU for a few hundred updates) on "
            "procedural sound effects, with aisfx standing in for CLAP; the paper's are full-scale. Compare "
            "the claims (directions and orderings), never the values."),
    paper_numbers=(),
    claims=CLAIMS,
    metrics=("adherence", "kad@yamnet", "kad@aisfx[ae-ref]"),
    default_points={"teacher": ("heun", 16), "soundctm": ("ctm_gamma", 1), "cd": ("pingpong", 1)},
    deviations=DEVIATIONS,
    tables=TABLES,
    content=CONTENT,
)
