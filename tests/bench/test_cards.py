"""Reproduction cards: the registry, row references, and the AudioTurbo card's claims judged on
synthetic runs (``tests/bench/_card_runs.py``: every verdict follows from the rows' qualities)."""
from __future__ import annotations

import json

import pytest

from bench.__main__ import main
from bench.cards import CARDS, get_card
from bench.cards.base import Card, PaperNumber, RowRef
from bench.cards.claims import NearBestAtEqualSteps, judge
from bench.cards.verdicts import CONTRADICTED, INCONCLUSIVE, NOT_COMPUTED, SUPPORTED
from common.registry import UnknownNameError
from tests.bench._card_runs import CFG_SWEEP, STUDENT, card_results, card_rows

CARD = get_card("audioturbo")


def verdicts(results: dict) -> dict[str, dict]:
    return {claim.id: judge(claim, results, CARD.metrics) for claim in CARD.claims}


# --- registry and card data ------------------------------------------------------------------------

def test_registry_resolves_and_unknown_names_list_the_known_cards():
    assert set(CARDS) == {"audioturbo", "arc", "soundctm", "spresso"}
    assert isinstance(CARD, Card) and CARD.name == "audioturbo"
    with pytest.raises(UnknownNameError, match=r"unknown card 'audiotrubo'.*Did you mean 'audioturbo'"):
        get_card("audiotrubo")


def test_bench_list_shows_the_registered_card(capsys):
    assert main(["list", "cards"]) == 0
    assert "audioturbo     bench.cards.audioturbo:CARD" in capsys.readouterr().out


def test_audioturbo_card_holds_no_invented_paper_numbers_and_judges_the_stated_metrics():
    assert CARD.paper_numbers == ()  # nothing could be read offline: the report says so
    assert CARD.metrics == ("adherence", "kad@yamnet", "kad@aisfx[ae-ref]")
    assert [c.id for c in CARD.claims] == ["a", "b", "c", "d"] and CARD.protocol == "audioturbo-card"
    assert CARD.default_ref("audioturbo") == RowRef("audioturbo", "euler", 5, 1.5)
    assert CARD.default_ref("teacher") == RowRef("teacher", "heun", 16)
    assert any("Griffin-Lim" in d for d in CARD.deviations) and "2505.22106" in CARD.url


def test_card_and_paper_number_validation():
    with pytest.raises(ValueError, match="claim ids must be unique"):
        Card("x", "p", "c", "u", "sfx-mini", "s", "c", (), CARD.claims[:1] * 2, ("adherence",), {}, ())
    with pytest.raises(ValueError, match="must be finite"):
        PaperNumber("Table 1", "Ours", "FD", float("nan"), False, "", "https://x")
    with pytest.raises(ValueError, match="give both `ours` and `our_metric`"):
        PaperNumber("Table 1", "Ours", "FD", 1.0, False, "", "https://x", ours=RowRef("a", "euler", 1))
    with pytest.raises(ValueError, match="teacher .* must be one of the rivals"):
        NearBestAtEqualSteps(id="x", statement="s", system="a", rivals=(("lafma", "euler"),),
                             sampler="euler", steps=(1,))


# --- row references --------------------------------------------------------------------------------

def test_rowref_without_guidance_matches_only_a_unique_row():
    rows = card_rows()
    row, why = RowRef("teacher", "euler", 3).find(rows)
    assert row["guidance"] == 3.0 and why == ""
    row, why = RowRef("audioturbo", "euler", 5).find(rows)  # default 1.5 plus the CFG sweep
    assert row is None and "4 rows match" in why and "give the RowRef a guidance" in why
    assert RowRef("audioturbo", "euler", 7).find(rows) == (None, "no row audioturbo/euler/7 in the run")


def test_rowref_with_guidance_matches_within_1e_9():
    rows = card_rows()
    assert RowRef("audioturbo", "euler", 5, 1.5 + 1e-12).find(rows)[0]["guidance"] == 1.5
    assert RowRef("audioturbo", "euler", 5, 5.0).find(rows)[0]["guidance"] == 5.0
    assert RowRef("audioturbo", "euler", 5, 1.5 + 1e-6).find(rows)[0] is None


# --- the AudioTurbo claims on synthetic runs -------------------------------------------------------

def test_every_claim_is_supported_when_the_rows_say_so():
    out = verdicts(card_results())
    assert {k: v["verdict"] for k, v in out.items()} == dict.fromkeys("abcd", SUPPORTED)
    json.dumps(out, allow_nan=False)  # JSON-able and NaN-free


def test_near_best_compares_every_shared_step_and_the_low_steps_advantage():
    a = verdicts(card_results())["a"]
    per_metric = 5 + 3 + 1  # teacher at 1,2,3,5,10; lafma at 3,5,10; one difference of differences
    assert a["comparisons"] == 3 * per_metric and a["level"] == pytest.approx(1 - 0.05 / 27)
    assert {e["level"] for e in a["evidence"]} == {a["level"]}
    dod = [e for e in a["evidence"] if e["metric"] == "adherence"][-1]
    assert dod["a"] == "(audioturbo − teacher/euler) at 1 steps" and dod["kind"] == "superiority"
    assert dod["difference"] == pytest.approx((0.6 - 0.2) - (0.705 - 0.7))


def test_low_steps_advantage_that_grows_with_steps_contradicts_the_claim():
    # the student gains nothing over the teacher at 1 step but leads at 10 steps
    student = {**STUDENT, 1: 0.2, 10: 0.75}
    a = verdicts(card_results(card_rows(student=student)))["a"]
    assert a["verdict"] == CONTRADICTED
    assert all(d["verdict"] == CONTRADICTED for d in a["per_metric"].values())


def test_reaches_picks_the_rivals_best_row_per_metric():
    b = verdicts(card_results())["b"]
    assert {e["b"] for e in b["evidence"]} == {f"best lafma/euler by {m}: lafma/euler/25 cfg 3"
                                              for m in CARD.metrics}
    assert b["level"] == pytest.approx(1 - 0.05 / 3)


def test_guidance_claim_contradicted_when_a_large_scale_wins():
    c = verdicts(card_results(card_rows(cfg={**CFG_SWEEP, 5.0: 0.9})))["c"]
    assert c["verdict"] == CONTRADICTED
    lost = [e for e in c["evidence"] if e["b"].endswith("cfg 5")]
    assert {e["verdict"] for e in lost} == {CONTRADICTED} and all(e["difference"] < 0 for e in lost)


def test_missing_row_is_not_computed_and_leaves_the_claim_inconclusive():
    rows = [r for r in card_rows() if not (r["system"] == "audioturbo" and r["guidance"] == 1.0)]
    c = verdicts(card_results(rows))["c"]
    assert c["verdict"] == INCONCLUSIVE and c["comparisons"] == 6  # still counted in the level
    missing = [e for e in c["evidence"] if e["verdict"] == NOT_COMPUTED]
    assert len(missing) == 3 and all("no row audioturbo/euler/5 cfg 1 in the run" == e["reason"]
                                     for e in missing)


def test_saturation_fails_when_quality_keeps_rising():
    d = verdicts(card_results(card_rows(student={**STUDENT, 10: 0.9})))["d"]
    assert d["verdict"] == CONTRADICTED  # 10 steps far better than 5: not equivalent within ±δ
    assert {e["kind"] for e in d["evidence"]} == {"superiority", "equivalence"}


def test_one_metric_against_the_others_is_inconclusive_with_metrics_disagree():
    rows = card_rows()
    for r in rows:  # flip kad@yamnet on the CFG rows so that guidance 5 wins on it alone
        if r["system"] == "audioturbo" and r["steps"] == 5 and r["guidance"] == 5.0:
            m = r["metrics"]["kad@yamnet"]
            m["value"] -= 5.0
            m["replicates"] = [x - 5.0 for x in m["replicates"]]
    c = verdicts(card_results(rows))["c"]
    assert c["verdict"] == INCONCLUSIVE and c["reason"].startswith("metrics disagree")
    assert c["per_metric"]["kad@yamnet"]["verdict"] == CONTRADICTED


def test_margins_come_from_the_teacher_rows_of_the_run():
    margins = verdicts(card_results())["d"]["margins"]
    assert margins["adherence"]["delta"] == pytest.approx(0.1 * (0.72 - 0.2))
    assert margins["kad@yamnet"]["delta"] == pytest.approx(0.1 * 5 * (0.72 - 0.2))

