"""Accelerators inside runs: trained under their entry's budget, training columns, bad protocols."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bench.__main__ import main
from bench.protocols import get_protocol
from bench.protocols.base import SystemEntry
from bench.protocols.budgets import RULES, budget_for, teacher_budget
from bench.runner import RunError, check_entries, run_protocol
from common.registry import UnknownNameError
from systems.training import Budget
from tests.bench.test_runner import micro_protocol

TURBO_SETTINGS = {"n_pairs": 16, "pair_steps": 2, "sanity_items": 4}


def turbo(steps=(1,), train=None, **kw) -> SystemEntry:
    return SystemEntry("audioturbo", samplers=("euler",), steps=steps, budget=budget_for("teacher", "micro"),
                       train=TURBO_SETTINGS if train is None else train, **kw)


def test_a_run_trains_its_accelerators_and_records_the_training(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTAUDIO_CACHE", str(tmp_path / "cache"))
    protocol = replace(micro_protocol(), systems=(SystemEntry("teacher", samplers=("euler",), steps=(1,)),
                                                  turbo(), turbo(guidance=3.0)))
    results = run_protocol(protocol, tmp_path / "run", progress=False, speed=False)
    rows = {r["row_id"]: r for r in results["rows"]}
    assert set(rows) == {"teacher/euler/1", "audioturbo/euler/1", "audioturbo/euler/1/cfg3"}
    trained = rows["audioturbo/euler/1"]["training"]
    budget = budget_for("teacher", "micro")
    assert trained["updates"] == budget.max_updates and trained["batch"] == budget.batch
    assert trained["examples_seen"] == budget.max_updates * budget.batch
    assert trained["offline_teacher_nfe"] == 16 * (2 * 2 - 1) * 2   # 16 pairs × Heun 2 steps × CFG
    assert trained["peak_train_ram_mb"] > 0 and trained["rule"] == RULES["teacher"]
    assert "held_out_student_rmse_cfg1" in trained["sanity"]
    assert rows["audioturbo/euler/1/cfg3"]["training"] == trained      # one training, reused
    assert rows["audioturbo/euler/1"]["guidance"] == 1.5
    assert rows["audioturbo/euler/1/cfg3"]["guidance"] == 3.0
    assert rows["teacher/euler/1"]["training"]["trained_from"] == "data"
    assert results["training_rules"] == RULES and results["timings"]["train_s"] > 0


def test_a_protocol_naming_an_accelerator_without_a_budget_is_refused_before_any_work(tmp_path):
    bad = replace(micro_protocol(), systems=(SystemEntry("audioturbo", samplers=("euler",), steps=(1,)),))
    with pytest.raises(RunError, match="accelerator 'audioturbo' without a training budget"):
        run_protocol(bad, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_budgets_and_training_settings_belong_to_accelerators_only():
    teacher = SystemEntry("teacher", samplers=("euler",), steps=(1,), budget=budget_for("teacher", "micro"))
    with pytest.raises(RunError, match="only accelerators are trained"):
        check_entries(replace(micro_protocol(), systems=(teacher,)))
    with pytest.raises(UnknownNameError, match="audioturbo"):
        check_entries(replace(micro_protocol(), systems=(SystemEntry("audioturb", ("euler",), (1,)),)))


def test_the_shipped_protocols_give_every_accelerator_its_rule_budget():
    for name in ("sfx-mini", "audioturbo-card"):
        protocol = get_protocol(name)
        check_entries(protocol)
        for entry in protocol.systems:
            if entry.system == "audioturbo":
                assert entry.budget == budget_for("teacher", "tiny")
            if entry.system == "lafma":   # from scratch: the teacher's own updates and batch
                assert entry.budget == teacher_budget("tiny")
                assert (entry.budget.max_updates, entry.budget.batch) == (2000, 32)


@pytest.mark.parametrize("target, words", [("audioturb", "unknown system 'audioturb'"),
                                            ("teacher", "not an accelerator")])
def test_bench_train_refuses_what_it_cannot_train(target, words, capsys):
    assert main(["train", target, "--preset", "micro"]) == 2
    assert words in capsys.readouterr().err


def test_bench_train_system_uses_the_shared_budget(tmp_path, capsys):
    args = ["train", "lafma", "--preset", "micro", "--store", str(tmp_path / "store"), "--quiet"]
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out)["lafma"]
    assert record["updates"] == teacher_budget("micro").max_updates and record["rule"] == RULES["scratch"]


@pytest.fixture(scope="module")
def micro_components(tmp_path_factory):
    from systems.components.shared import load_components
    from systems.training.store import ComponentStore

    store = ComponentStore(tmp_path_factory.mktemp("components"))
    return load_components("micro", "cpu", store=store, progress=False)


def test_default_points_are_timed_interleaved_with_their_denoiser_share(micro_components):
    from bench.cards import get_card
    from bench.cards.document import to_markdown
    from bench.cards.sections import measured_speed_blocks
    from bench.runner import GenItem
    from bench.speed_compare import build_point, compare_points, entry_for

    protocol = replace(micro_protocol(), systems=(SystemEntry("teacher", ("heun",), (4,)), turbo(steps=(2,))))
    teacher = build_point(entry_for(protocol, "teacher", "heun", 4), micro_components)
    student = build_point(entry_for(protocol, "audioturbo", "euler", 2, 1.5), micro_components)
    points = {"teacher": (teacher, "heun", 4, None), "audioturbo": (student, "euler", 2, None)}
    items = [GenItem("p0", "a loud beep", 0, {}), GenItem("p1", "soft rain", 1, {})]
    speed = compare_points(points, items, None, rounds=2, batch=2, progress=False)
    assert speed["teacher"]["nfe"] == 2 * (2 * 4 - 1) and speed["audioturbo"]["nfe"] == 2 * 2
    assert all(p["rounds"] == 2 and 0 < p["denoise_s"] < p["wall_s"] for p in speed.values())
    text = to_markdown(measured_speed_blocks(get_card("audioturbo"), speed, "teacher"))
    assert "2 interleaved rounds" in text and "| audioturbo |" in text


@pytest.mark.parametrize("entries, words", [
    ((turbo(), turbo(train={**TURBO_SETTINGS, "sigma_dist": "teacher"})),
     "runs the row(s) ['audioturbo/euler/1'] twice"),
    ((turbo(train={"n_pair": 3}),), "has no training setting(s) ['n_pair']"),
    ((SystemEntry("audioturbo", ("euler",), (1,), budget=Budget(max_updates=2)),), "names no batch size"),
])
def test_bad_accelerator_entries_are_refused_before_any_work(entries, words):
    with pytest.raises(RunError) as caught:
        check_entries(replace(micro_protocol(), systems=entries))
    assert words in str(caught.value)


def test_a_resumed_row_made_by_other_weights_is_discarded_not_mixed(tmp_path):
    from bench.runner import claim_row_dir

    class Fake:
        def __init__(self, trained):
            self.trained = trained

        def cache_config(self):
            return {"system": "fake", "trained": self.trained}

    row = tmp_path / "rows" / "fake" / "euler" / "1"
    claim_row_dir(row, Fake("a"))
    (row / "audio").mkdir()
    (row / "audio" / "p0000-g0.flac").write_bytes(b"old clip")
    claim_row_dir(row, Fake("a"))
    assert (row / "audio" / "p0000-g0.flac").exists()        # same weights: resumed as is
    claim_row_dir(row, Fake("b"))
    assert not (row / "audio").exists()                       # retrained: the old clips are gone
