"""ARC's card and what it needs from the harness: the diversity set, int8 rows, per-claim metrics.

Card verdicts are checked on synthetic runs (rows with paired, hand-made replicates, as in
``tests/bench/_card_runs.py``); the diversity set, int8 rows and the int8 timing on the micro
preset. No tiny-preset protocol is ever run here.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from bench.cards import get_card
from bench.cards.base import RowRef
from bench.cards.claims import Beats, judge
from bench.protocols import get_protocol
from bench.protocols.base import DiversitySet, SystemEntry
from tests.bench._card_runs import SHARED, card_results, metric, write_run
from tests.bench.test_runner import micro_protocol

CARD = get_card("arc")
# quality q per row (adherence = q, KADs fall with q) and diversity d (both CCDS = d)
SUPPORTING = {
    ("teacher", "euler", 1): (0.2, 0.30), ("teacher", "euler", 2): (0.4, 0.25),
    ("teacher", "euler", 4): (0.5, 0.22), ("teacher", "euler", 8): (0.6, 0.2),
    ("teacher", "euler", 16): (0.72, 0.2), ("teacher", "heun", 16): (0.73, 0.2),
    ("arc", "pingpong", 1): (0.5, 0.35), ("arc", "pingpong", 2): (0.55, 0.35),
    ("arc", "pingpong", 4): (0.6, 0.35), ("arc", "pingpong", 8): (0.7, 0.35),
    ("arc-no-contrastive", "pingpong", 8): (0.6, 0.45), ("arc-lsgan", "pingpong", 8): (0.6, 0.3),
    ("cd", "pingpong", 1): (0.6, 0.15), ("cd", "pingpong", 2): (0.62, 0.15),
    ("cd", "pingpong", 4): (0.63, 0.15),
}
LINEAR = {"adherence": (0.0, 1.0, True), "kad@yamnet": (10.0, -5.0, False),
          "kad@aisfx[ae-ref]": (5.0, -2.0, False)}


def arc_row(key, q: float, d: float, precision: str = "fp32") -> dict:
    system, sampler, steps = key
    rng = np.random.default_rng(abs(hash((key, precision))) % 2**32)
    noise = SHARED + rng.uniform(-0.002, 0.002, len(SHARED))
    metrics = {name: metric(a + b * q, a + b * q + b * noise, up) for name, (a, b, up) in LINEAR.items()}
    for name in ("ccds@aisfx[div]", "ccds@aisfx"):
        metrics[name] = metric(d, d + 0.2 * noise, True)
    row = {"row_id": "/".join(map(str, key)), "role": "system", "system": system, "sampler": sampler,
           "steps": steps, "guidance": 1.0, "nfe": steps, "metrics": metrics}
    if precision != "fp32":
        row["precision"], row["row_id"] = precision, row["row_id"] + "/" + precision
    return row


def arc_rows(table=None, int8_q: float = 0.695) -> list[dict]:
    rows = [arc_row(k, q, d) for k, (q, d) in (table or SUPPORTING).items()]
    return rows + [arc_row(("arc", "pingpong", 8), int8_q, 0.35, precision="int8")]


def verdicts(rows) -> dict[str, str]:
    results = card_results(rows, protocol="arc-card")
    return {c.id: judge(c, results, CARD.metrics)["verdict"] for c in CARD.claims}


def test_every_arc_claim_is_supported_when_the_rows_say_so():
    assert verdicts(arc_rows()) == dict.fromkeys("sabcdefg", "supported")


def test_arc_claims_are_contradicted_by_the_opposite_evidence():
    flipped = {**SUPPORTING, ("arc", "pingpong", 8): (0.5, 0.1),
               ("arc-no-contrastive", "pingpong", 8): (0.7, 0.05)}
    found = verdicts(arc_rows(flipped, int8_q=0.2))
    assert found["a"] == found["b"] == found["c"] == found["e"] == "contradicted"
    assert found["g"] == "contradicted"   # int8 far below fp32: beyond the margin


def test_a_claims_own_metrics_replace_the_cards():
    results = card_results(arc_rows(), protocol="arc-card")
    diversity = judge(CARD.claims[1], results, CARD.metrics)
    assert set(diversity["per_metric"]) == {"ccds@aisfx[div]", "ccds@aisfx"}
    quality = judge(CARD.claims[4], results, CARD.metrics)
    assert set(quality["per_metric"]) == set(CARD.metrics)


def test_rowref_tells_the_int8_row_from_the_fp32_row():
    rows = arc_rows()
    fp32, _ = RowRef("arc", "pingpong", 8).find(rows)
    int8, _ = RowRef("arc", "pingpong", 8, precision="int8").find(rows)
    assert fp32["row_id"] == "arc/pingpong/8" and int8["row_id"] == "arc/pingpong/8/int8"
    assert RowRef("arc", "pingpong", 8, precision="int8").label() == "arc/pingpong/8 int8"


def test_beats_refuses_an_unknown_kind_and_no_rivals():
    with pytest.raises(ValueError, match="kind must be"):
        Beats(id="x", statement="s", row=RowRef("a", "b", 1), rivals=(RowRef("a", "b", 2),), kind="better")
    with pytest.raises(ValueError, match="at least one rival"):
        Beats(id="x", statement="s", row=RowRef("a", "b", 1), rivals=())


def test_arc_report_prints_the_ccds_table_and_says_int8_was_not_timed_from_a_run(tmp_path):
    from bench.reproduce import reproduce

    run = write_run(tmp_path / "run", card_results(arc_rows(), protocol="arc-card"))
    reproduce(CARD, tmp_path / "out", run_dir=run)
    md = (tmp_path / "out" / "reproduction.md").read_text()
    assert "## Diversity: CCDS, recall and coverage" in md
    assert "| arc/pingpong/8 int8 | 0.35 [" in md
    assert "| cd/pingpong/1 | 0.15 [" in md and "recall@aisfx" in md
    assert "Not measured: this report was judged from an existing run" in md
    assert "arxiv.org/abs/2505.08175" in md and "75" in md


# --- the protocol --------------------------------------------------------------------------------

def test_arc_card_protocol_runs_what_the_claims_read():
    protocol = get_protocol("arc-card")
    rows = {(e.system, s, n, e.config.get("precision", "fp32")) for e in protocol.systems
            for s in e.samplers for n in e.steps}
    for claim in CARD.claims:
        for ref in (claim.row, *claim.rivals):
            assert (ref.system, ref.sampler, ref.steps, ref.precision) in rows, ref
    assert protocol.diversity == DiversitySet(16, 8, ("ccds@aisfx",))
    assert "ccds@aisfx[div]" in protocol.metric_names()
    sfx = {e.system for e in get_protocol("sfx-mini").systems}
    assert {"arc", "cd"} <= sfx and not {"arc-no-contrastive", "arc-lsgan"} & sfx  # ablations: card only


def test_diversity_set_is_validated():
    with pytest.raises(ValueError, match=">= 2 prompts and >= 2 generations"):
        DiversitySet(prompts=4, generations=1)
    with pytest.raises(ValueError, match="at least one metric"):
        DiversitySet(prompts=4, generations=4, metrics=())
    with pytest.raises(ValueError, match="the protocol has 3"):
        replace(micro_protocol(), diversity=DiversitySet(prompts=5, generations=2))


def test_diversity_option_leaves_other_protocols_hashes_alone():
    base = micro_protocol()
    assert "diversity" not in base.definition()
    assert replace(base, diversity=DiversitySet(2, 3)).hash() != base.hash()


def test_diversity_items_are_the_first_prompts_times_more_seeds():
    from bench.diversity import diversity_items
    from bench.runner import prompt_items

    protocol = replace(micro_protocol(), diversity=DiversitySet(prompts=2, generations=5))
    items, main = diversity_items(protocol), prompt_items(protocol)
    assert len(items) == 10 and [it.seed for it in items[:5]] == [0, 1, 2, 3, 4]
    per_prompt = protocol.generations_per_prompt
    assert {it.prompt for it in items} == {main[0].prompt, main[per_prompt].prompt}
    shared = {(it.prompt, it.seed) for it in main} & {(it.prompt, it.seed) for it in items}
    assert len(shared) == 2 * per_prompt   # the main set's clips of those prompts: cache hits


@pytest.fixture
def shared_cache(tmp_path_factory, monkeypatch):
    path = tmp_path_factory.getbasetemp() / "runner-cache"
    monkeypatch.setenv("FASTAUDIO_CACHE", str(path))
    return path


def test_a_run_scores_the_diversity_set_and_the_int8_row(shared_cache, tmp_path):
    from bench.runner import run_protocol

    systems = (SystemEntry("teacher", ("euler",), (2,)),
               SystemEntry("teacher", ("euler",), (2,), config={"precision": "int8"}))
    protocol = replace(micro_protocol(), systems=systems, diversity=DiversitySet(2, 3, ("ccds@mel",)))
    results = run_protocol(protocol, tmp_path / "run", progress=False, speed=False)
    fp32, int8 = results["rows"]
    assert fp32["row_id"] == "teacher/euler/2" and int8["row_id"] == "teacher/euler/2/int8"
    assert int8["precision"] == "int8" and "precision" not in fp32
    for row in (fp32, int8):
        div = row["metrics"]["ccds@mel[div]"]
        assert div["status"] == "ok" and 0 < div["value"] < 2
        assert div["ci_low"] <= div["value"] <= div["ci_high"]
        audio = tmp_path / "run" / "rows" / row["row_id"] / "diversity" / "audio"
        assert len(list(audio.glob("*.flac"))) == 6
    assert fp32["system_key"] != int8["system_key"]
    results_file = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results_file["protocol"]["diversity"]["prompts"] == 2


def test_int8_precision_is_in_the_config_and_quantises_the_sampled_network(shared_cache):
    from bench.int8_compare import model_mb
    from systems.api import SystemInputError
    from systems.components.shared import load_components
    from systems.teacher import TeacherSystem

    components = load_components("micro", progress=False)
    fp32 = TeacherSystem.from_components(components)
    int8 = TeacherSystem.from_components(components, precision="int8")
    assert "precision" not in fp32.config() and int8.config()["precision"] == "int8"
    assert int8.sampling_network() is int8.sampling_network()        # quantised once
    assert model_mb(int8.sampling_network()) < 0.5 * model_mb(fp32.sampling_network())
    assert fp32.quantized_int8().config() == int8.config()
    with pytest.raises(SystemInputError, match="precision must be one of"):
        TeacherSystem(precision="int4")


def test_int8_comparison_times_both_and_measures_memory(shared_cache):
    from bench.cards.document import to_markdown
    from bench.cards.tables import int8_blocks
    from bench.int8_compare import measure_int8
    from systems.components.shared import load_components

    protocol = replace(micro_protocol(), systems=(SystemEntry("teacher", ("euler",), (2,)),))
    components = load_components("micro", progress=False)
    measured = measure_int8(RowRef("teacher", "euler", 2), protocol, components, progress=False)
    assert measured["fp32"]["nfe"] == measured["int8"]["nfe"]
    assert measured["int8"]["model_mb"] < measured["fp32"]["model_mb"]
    assert all(measured[k]["peak_ram_mb"] > 0 for k in ("fp32", "int8"))
    card = replace(CARD, int8_point=RowRef("teacher", "euler", 2))
    text = to_markdown(int8_blocks(card, measured))
    assert "| int8 |" in text and "network size fp32/int8 =" in text
    missing = measure_int8(RowRef("teacher", "heun", 9), protocol, components, progress=False)
    assert "no fp32 entry" in missing["missing"]
