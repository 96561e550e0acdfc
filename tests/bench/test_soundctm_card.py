"""SoundCTM's card and what it needs from the harness: row variants (ν = 1.5 rows), the content-
preservation run as card rows, ``reproduce --content``.

Verdicts are checked on synthetic runs (rows with paired, hand-made replicates, as in
``tests/bench/_card_runs.py``) and a synthetic content result; no tiny-preset protocol is run here.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from bench.cards import get_card
from bench.cards.base import RowRef
from bench.cards.claims import judge
from bench.cards.content import ContentSpec, content_metric, content_ref, content_rows
from bench.entries import RunError, check_entries, row_name
from bench.protocols import get_protocol
from bench.protocols.base import SystemEntry
from bench.report.cells import system_label
from bench.reproduce import ReproduceError, reproduce
from tests.bench._card_runs import SHARED, card_results, metric, write_run

CARD = get_card("soundctm")
LINEAR = {"adherence": (0.0, 1.0, True), "kad@yamnet": (10.0, -5.0, False),
          "kad@aisfx[ae-ref]": (5.0, -2.0, False), "coverage@aisfx[ae-ref]": (0.0, 1.0, True)}
# quality q per row: every quality claim of the card holds
SUPPORTING = {
    ("teacher", "euler", 1): 0.2, ("teacher", "euler", 2): 0.4, ("teacher", "euler", 4): 0.5,
    ("teacher", "euler", 8): 0.6, ("teacher", "euler", 16): 0.72, ("teacher", "heun", 16): 0.73,
    ("soundctm", "ctm_gamma", 1): 0.5, ("soundctm", "ctm_gamma", 2): 0.55, ("soundctm", "ctm_gamma", 4): 0.6,
    ("soundctm", "ctm_gamma", 8): 0.62, ("soundctm", "ctm_gamma", 16): 0.65,
    ("soundctm", "ctm_gamma", 1, "nu1.5"): 0.56, ("soundctm", "ctm_gamma", 4, "nu1.5"): 0.66,
    ("soundctm-l2", "ctm_gamma", 1): 0.4, ("soundctm-l2", "ctm_gamma", 4): 0.5,
    ("cd", "pingpong", 1): 0.4, ("cd", "pingpong", 2): 0.45, ("cd", "pingpong", 4): 0.5,
}
# LPAPS (1 vs 16 steps) per content row: γ = 0 < 0.5 < 1, below the real pairs and below cd
CONTENT_SUPPORTING = {"bound-ae": 1.0, "bound-real": 2.5, "soundctm-gamma0": 1.5, "soundctm-gamma0.2": 1.8,
                      "soundctm-gamma0.5": 2.8, "soundctm-gamma1": 3.5, "cd": 3.0}


def quality_row(key, q: float) -> dict:
    system, sampler, steps, *variant = key
    rng = np.random.default_rng(abs(hash(key)) % 2**32)
    noise = SHARED + rng.uniform(-0.002, 0.002, len(SHARED))
    metrics = {name: metric(a + b * q, a + b * q + b * noise, up) for name, (a, b, up) in LINEAR.items()}
    row_id = "/".join(map(str, (system, sampler, steps, *[v for v in variant if v])))
    row = {"row_id": row_id, "role": "system", "system": system, "sampler": sampler, "steps": steps,
           "guidance": 3.0, "nfe": steps, "metrics": metrics}
    if variant and variant[0]:
        row["variant"] = variant[0]
    return row


def quality_rows(table=None) -> list[dict]:
    return [quality_row(k, q) for k, q in (table or SUPPORTING).items()]


def content_result(values=None, spec: ContentSpec = CARD.content, status: dict | None = None) -> dict:
    """A finished content run's result, with paired replicates (shared item noise) per row."""
    rows = []
    for row_id, mean in (values or CONTENT_SUPPORTING).items():
        if (status or {}).get(row_id):
            rows.append({"row_id": row_id, "label": row_id, "status": status[row_id], "reason": "no weights"})
            continue
        reps = (mean + 0.5 * SHARED).tolist()
        lpaps = {"mean": mean, "ci": [min(reps), max(reps)], "replicates": reps}
        rows.append({"row_id": row_id, "label": row_id, "status": "ok", "n": 32, "nfe": None, "paper": None,
                     "lpaps": lpaps})
    config = {"prompts": spec.prompts, "seeds": spec.seeds, "few": spec.few, "many": spec.many,
              "bootstrap": spec.bootstrap, "metric": f"lpaps@{spec.backend}", "ci_level": 0.95}
    return {"kind": "content-preservation", "config": config, "rows": rows,
            "sizes": "16 prompts × 2 seeds = 32 items"}


def verdicts(rows, content=None) -> dict[str, str]:
    results = card_results(rows + content_rows(CARD.content, content or content_result()),
                           protocol="soundctm-card")
    return {c.id: judge(c, results, CARD.metrics)["verdict"] for c in CARD.claims}


# --- the card's verdicts ---------------------------------------------------------------------------

def test_every_soundctm_claim_is_supported_when_the_rows_say_so():
    assert verdicts(quality_rows()) == dict.fromkeys("sabcdefghi", "supported")


def test_soundctm_claims_are_contradicted_by_the_opposite_evidence():
    flipped = {**SUPPORTING, ("soundctm", "ctm_gamma", 16): 0.3, ("soundctm-l2", "ctm_gamma", 1): 0.7,
               ("soundctm", "ctm_gamma", 4, "nu1.5"): 0.3}
    content = content_result({**CONTENT_SUPPORTING, "soundctm-gamma0": 3.2, "bound-real": 1.0})
    found = verdicts(quality_rows(flipped), content)
    assert found["a"] == "contradicted"   # γ0 3.2 above γ0.5's 2.8 (below γ1's 3.5): one bad pair suffices
    assert found["c"] == found["d"] == found["e"] == found["g"] == found["i"] == "contradicted"


def test_content_claims_read_only_the_content_metric_with_paired_replicates():
    results = card_results(quality_rows() + content_rows(CARD.content, content_result()),
                           protocol="soundctm-card")
    verdict = judge(CARD.claims[1], results, CARD.metrics)
    assert set(verdict["per_metric"]) == {content_metric(CARD.content)} == {"lpaps@aisfx[1vs16]"}
    first = verdict["evidence"][0]
    # shared item noise cancels in the paired difference: the interval is a point at 2.8 − 1.5
    assert first["a"] == "soundctm-gamma0/content/1" and first["difference"] == pytest.approx(1.3)
    assert first["ci"] == pytest.approx([1.3, 1.3])


def test_a_missing_content_row_is_not_computed_with_its_reason():
    content = content_result(status={"soundctm-gamma0.5": "missing"})
    results = card_results(quality_rows() + content_rows(CARD.content, content), protocol="soundctm-card")
    verdict = judge(CARD.claims[1], results, CARD.metrics)
    assert verdict["verdict"] == "inconclusive"
    reasons = [e["reason"] for e in verdict["evidence"] if e["verdict"] == "not computed"]
    assert reasons == ["soundctm-gamma0.5/content/1: lpaps@aisfx[1vs16] has status 'missing', not 'ok'"]


# --- reproduce with a content run -------------------------------------------------------------------

def test_reproduce_judges_a_given_content_run_and_prints_its_table(tmp_path):
    run = write_run(tmp_path / "run", card_results(quality_rows(), protocol="soundctm-card"))
    content = tmp_path / "content"
    content.mkdir()
    (content / "content.json").write_text(json.dumps(content_result()))
    outcome = reproduce(CARD, tmp_path / "out", run_dir=run, content_dir=content)
    assert {c["id"]: c["verdict"] for c in outcome["claims"]} == dict.fromkeys("sabcdefghi", "supported")
    md = (tmp_path / "out" / "reproduction.md").read_text()
    assert "## Content preservation: LPAPS between 1- and 16-step outputs (SoundCTM Table 7)" in md
    assert "| soundctm-gamma0 | – | 1.500 [" in md and "not CLAP-LPAPS" in md
    assert "| soundctm/ctm_gamma/4 nu1.5 | 0.66 [" in md   # the ν = 1.5 row in the quality table
    claims = json.loads((tmp_path / "out" / "claims.json").read_text())
    assert claims["content"]["where"] == str(content)
    gamma0 = claims["content"]["rows"][2]
    assert gamma0 == {"row_id": "soundctm-gamma0", "label": "soundctm-gamma0", "status": "ok", "reason": None,
                      "n": 32, "nfe": None, "paper": None, "mean": 1.5, "ci": gamma0["ci"]}


def test_reproduce_from_a_run_without_a_content_run_says_what_to_pass(tmp_path):
    run = write_run(tmp_path / "run", card_results(quality_rows(), protocol="soundctm-card"))
    outcome = reproduce(CARD, tmp_path / "out", run_dir=run)
    verdict = {c["id"]: c["verdict"] for c in outcome["claims"]}
    assert verdict["a"] == verdict["b"] == verdict["c"] == verdict["d"] == "inconclusive"
    assert verdict["e"] == "supported"
    md = (tmp_path / "out" / "reproduction.md").read_text()
    assert f"Not measured: no content run at {tmp_path / 'content'}; pass --content DIR" in md


def test_reproduce_refuses_a_content_run_with_other_settings_or_none(tmp_path):
    run = write_run(tmp_path / "run", card_results(quality_rows(), protocol="soundctm-card"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "content.json").write_text(json.dumps(content_result(spec=ContentSpec(prompts=4))))
    with pytest.raises(ReproduceError, match=r"other settings .*prompts: 4 \(card: 16\)"):
        reproduce(CARD, tmp_path / "out", run_dir=run, content_dir=other)
    with pytest.raises(ReproduceError, match="no content.json there"):
        reproduce(CARD, tmp_path / "out", run_dir=run, content_dir=tmp_path / "nowhere")


# --- row variants -------------------------------------------------------------------------------------

def test_a_row_option_in_the_config_makes_its_own_row():
    nu = SystemEntry("soundctm", ("ctm_gamma",), (4,), config={"nu": 1.5})
    both = SystemEntry("soundctm", ("ctm_gamma",), (4,), config={"gamma": 0.5, "nu": 1.5})
    assert row_name(nu, "ctm_gamma", 4) == "soundctm/ctm_gamma/4/nu1.5"
    assert row_name(both, "ctm_gamma", 4) == "soundctm/ctm_gamma/4/gamma0.5,nu1.5"
    assert row_name(SystemEntry("soundctm", ("ctm_gamma",), (4,)), "ctm_gamma", 4) == "soundctm/ctm_gamma/4"
    # a config key that is not a row option (here the teacher's precision) keeps its own rule
    assert row_name(SystemEntry("teacher", ("euler",), (4,), config={"precision": "int8"}), "euler", 4) \
        == "teacher/euler/4/int8"


def test_rowref_and_the_leaderboard_tell_a_variant_row_from_the_default_row():
    rows = quality_rows()
    default, _ = RowRef("soundctm", "ctm_gamma", 4).find(rows)
    nu, _ = RowRef("soundctm", "ctm_gamma", 4, variant="nu1.5").find(rows)
    assert default["row_id"] == "soundctm/ctm_gamma/4" and nu["row_id"] == "soundctm/ctm_gamma/4/nu1.5"
    assert RowRef("soundctm", "ctm_gamma", 4, variant="nu1.5").label() == "soundctm/ctm_gamma/4 nu1.5"
    assert system_label(nu) == "soundctm nu1.5" and system_label(default) == "soundctm"
    assert system_label({"system": "arc", "precision": "int8"}) == "arc int8"


def test_two_entries_with_the_same_variant_are_refused():
    protocol = get_protocol("soundctm-card")
    twice = protocol.systems + (SystemEntry("soundctm", ("ctm_gamma",), (4,), config={"nu": 1.5},
                                            budget=protocol.systems[2].budget),)
    with pytest.raises(RunError, match=r"soundctm/ctm_gamma/4/nu1\.5"):
        check_entries(replace(protocol, systems=twice))


def test_the_speed_point_of_a_system_is_its_default_entry_not_a_variant():
    from bench.speed_compare import entry_for

    protocol = get_protocol("soundctm-card")
    assert entry_for(protocol, "soundctm", "ctm_gamma", 1).config == {}


# --- the protocols ----------------------------------------------------------------------------------

def test_soundctm_card_protocol_runs_what_the_claims_read():
    protocol = get_protocol("soundctm-card")
    check_entries(protocol)
    rows = {row_name(e, s, n) for e in protocol.systems for s in e.samplers for n in e.steps}
    refs = [ref for claim in CARD.claims for ref in (claim.row, *claim.rivals)]
    refs += [ref for table in CARD.tables for ref in table.rows]
    for ref in refs:
        if ref.sampler == "content":
            assert ref.system in CONTENT_SUPPORTING, ref   # a row of bench.content's run
            continue
        variant = [ref.variant] if ref.variant else []
        name = "/".join(map(str, (ref.system, ref.sampler, ref.steps, *variant)))
        assert name in rows, ref
    assert content_ref("cd", CARD.content) == RowRef("cd", "content", 1)


def test_sfx_mini_v6_runs_soundctm_deterministically_and_the_ablation_only_in_the_card():
    sfx = get_protocol("sfx-mini")
    entry = next(e for e in sfx.systems if e.system == "soundctm")
    assert sfx.version == 6 and entry.config == {} and entry.steps == (1, 2, 4, 8, 16)
    assert entry.budget == next(e for e in sfx.systems if e.system == "cd").budget
    assert "soundctm-l2" not in {e.system for e in sfx.systems}
    import inspect

    from systems.soundctm import SoundCTM

    assert SoundCTM.row_options == ("gamma", "nu")   # γ = 0 is the constructor's default
    assert inspect.signature(SoundCTM.__init__).parameters["gamma"].default == 0.0


def test_without_run_the_content_run_is_made_with_the_cards_settings_into_out_content(tmp_path, monkeypatch):
    import bench.reproduce as reproduce_module

    calls = []

    def fake_run_content(out, **kwargs):
        calls.append((out, kwargs))
        out.mkdir(parents=True)
        (out / "content.json").write_text(json.dumps(content_result()))

    results = card_results(quality_rows(), protocol="soundctm-card")
    monkeypatch.setattr(reproduce_module, "run_card_protocol", lambda card, out, device, progress: results)
    monkeypatch.setattr("bench.content.run_content", fake_run_content)
    monkeypatch.setattr(reproduce_module, "measure_default_points", lambda card, device, progress: {})
    outcome = reproduce(CARD, tmp_path / "out", progress=False)
    assert calls == [(tmp_path / "out" / "content",
                      {"preset": "tiny", "prompts": 16, "seeds": 2, "backend": "aisfx", "few": 1, "many": 16,
                       "n_boot": 1000, "device": "cpu", "progress": False})]
    assert {c["id"]: c["verdict"] for c in outcome["claims"]}["a"] == "supported"
    reproduce(CARD, tmp_path / "out", progress=False)   # a rerun reads the finished content run
    assert len(calls) == 1
