"""``python -m bench reproduce``: the report of a card judged on a synthetic run folder (``--run``);
no protocol is ever run here (the run path is checked with a stand-in ``run_protocol``)."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest

from bench import reproduce as reproduce_module
from bench.__main__ import main
from bench.cards import get_card, sections
from bench.cards.base import PaperNumber, RowRef
from bench.cards.document import to_markdown
from tests.bench._card_runs import card_results, card_rows, write_run

CARD = get_card("audioturbo")


@pytest.fixture
def run_dir(tmp_path):
    return write_run(tmp_path / "run", card_results())


def reproduce_cli(*args: str) -> int:
    return main(["reproduce", *args])


def test_writes_markdown_html_and_claims_json(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert reproduce_cli("audioturbo", "--out", str(out), "--run", str(run_dir)) == 0
    printed = capsys.readouterr().out
    assert f"reproduction report: {out / 'reproduction.md'}" in printed
    assert "(c) SUPPORTED    A moderate CFG scale (1.5) beats no CFG (1.0)" in printed
    claims = json.loads((out / "claims.json").read_text())
    assert claims["card"] == "audioturbo" and claims["protocol"]["name"] == "audioturbo-card"
    assert [c["verdict"] for c in claims["claims"]] == ["supported"] * 4
    assert (out / "reproduction.html").read_text().startswith("<!DOCTYPE html>")


def test_markdown_report_sections(run_dir, tmp_path):
    out = tmp_path / "out"
    reproduce_module.reproduce(CARD, out, run_dir=run_dir)
    md = (out / "reproduction.md").read_text()
    for text in ("# Reproduction card: AudioTurbo", "arXiv:2505.22106", "Compare the claims",
                 "could not be retrieved offline", "### (a) At equal steps AudioTurbo is best",
                 "**Verdict: supported.**", "| comparison | metric | kind | difference [CI] | level |",
                 "each at level 0.99815", "δ(adherence) = 0.052 (teacher/euler/1 vs teacher/euler/16)",
                 "| teacher | 6000 | 32 | 192000 | 420 | 0 | 0 | – | max_updates |",
                 "| audioturbo | 1500 | 16 | 24000 | 300.5 | 0 | 64000 | 900 | max_updates |",
                 "- audioturbo: Budget <equal>: 1500 updates at batch 16 for every accelerator",
                 "- lafma: Budget from scratch: 1500 updates at batch 16",
                 "### Sanity check: audioturbo", "| student_1step_to_pair_x0 | 0.01 |",
                 "## Deviations from the paper", "Griffin-Lim instead of HiFi-GAN",
                 "protocol: audioturbo-card v1, hash 0123456789abcdef", "git: deadbeefcafe",
                 "created: 2026-12-02T10:00:00Z"):
        assert text in md, text
    assert not re.search(r"\bnan\b", md, re.IGNORECASE)


def test_speed_section_compares_speedup_with_the_nfe_ratio(run_dir, tmp_path):
    md = to_markdown(sections.speed_blocks(CARD, card_rows(), "teacher"))
    # teacher heun 16: NFE 62, denoiser 0.62 s, end-to-end 0.82 s; audioturbo 5 steps: 10, 0.1, 0.3
    assert "| audioturbo | audioturbo/euler/5 cfg 1.5 | 10 | 0.1 | 0.3 | 6.2 | 2.733 | 6.2 | yes |" in md
    # lafma has no denoiser timing: both sides compared end to end (0.82 / 0.7), and the report says so
    assert "| lafma | lafma/euler/25 | 50 | 0.7 | 0.7 | 1.171 | 1.171 | 1.24 | yes |" in md
    assert "No denoiser timing for lafma" in md


def test_html_escapes_text_from_the_run(run_dir, tmp_path):
    out = tmp_path / "out"
    reproduce_module.reproduce(CARD, out, run_dir=run_dir)
    page = (out / "reproduction.html").read_text()
    assert "Budget &lt;equal&gt;" in page and "<equal>" not in page
    assert "<script" not in page and "http" not in page.split("<body>")[0]


def test_unknown_paper_exits_2_listing_the_known_cards(tmp_path, capsys):
    assert reproduce_cli("audiotrubo", "--out", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err
    assert "unknown card 'audiotrubo'" in err and "Known cards: arc, audioturbo" in err
    assert not (tmp_path / "out").exists()


def test_another_cards_report_is_never_overwritten(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert reproduce_cli("audioturbo", "--out", str(out), "--run", str(run_dir)) == 0
    assert reproduce_cli("audioturbo", "--out", str(out), "--run", str(run_dir)) == 0  # same card
    claims = json.loads((out / "claims.json").read_text())
    (out / "claims.json").write_text(json.dumps({**claims, "card": "soundctm"}))
    before = (out / "reproduction.md").read_text()
    assert reproduce_cli("audioturbo", "--out", str(out), "--run", str(run_dir)) == 2
    assert "holds a reproduction report of card 'soundctm'" in capsys.readouterr().err
    assert (out / "reproduction.md").read_text() == before


@pytest.mark.parametrize("results, message", [
    (None, "results.json does not exist"),
    (card_results(protocol="sfx-mini"), "is a run of protocol 'sfx-mini', but card 'audioturbo' is judged"),
])
def test_unusable_runs_exit_2_with_the_fix(tmp_path, capsys, results, message):
    run = tmp_path / "run"
    run.mkdir()
    if results is not None:
        write_run(run, results)
    assert reproduce_cli("audioturbo", "--out", str(tmp_path / "out"), "--run", str(run)) == 2
    assert message in capsys.readouterr().err


def test_without_run_the_cards_protocol_is_run_resumably_into_out_run(tmp_path, monkeypatch):
    calls = []

    def fake_run_protocol(protocol, out, **kwargs):
        calls.append((protocol, out, kwargs))
        return card_results()

    speed = {"teacher": {"nfe": 62, "batch": 8, "rounds": 7, "wall_s": 0.8, "denoise_s": 0.62},
             "audioturbo": {"nfe": 10, "batch": 8, "rounds": 7, "wall_s": 0.3, "denoise_s": 0.1}}
    monkeypatch.setattr("bench.protocols.get_protocol", lambda name: f"<protocol {name}>")
    monkeypatch.setattr("bench.runner.run_protocol", fake_run_protocol)
    monkeypatch.setattr(reproduce_module, "measure_default_points", lambda card, device, progress: speed)
    outcome = reproduce_module.reproduce(CARD, tmp_path / "out", device="cpu", progress=False)
    assert calls == [("<protocol audioturbo-card>", tmp_path / "out" / "run",
                      {"resume": True, "device": "cpu", "progress": False})]
    assert outcome["paths"]["claims.json"] == str(tmp_path / "out" / "claims.json")
    claims = json.loads((tmp_path / "out" / "claims.json").read_text())
    assert claims["run"] == str(tmp_path / "out" / "run") and claims["speed"] == speed
    report = (tmp_path / "out" / "reproduction.md").read_text()
    # denoiser speedup 6.2 ≥ 0.9 × NFE ratio 6.2: yes; measured in interleaved rounds, not read from rows
    assert "7 interleaved rounds" in report and "| 6.2 | 2.667 | 6.2 | yes |" in report


def test_paper_numbers_are_set_beside_ours_with_the_not_comparable_warning():
    number = PaperNumber("Table 1", "AudioTurbo (5 steps)", "FD", 20.5, False, "5 steps, AudioCaps test",
                         "https://example.org/paper", ours=RowRef("audioturbo", "euler", 5, 1.5),
                         our_metric="kad@yamnet")
    missing = dataclasses.replace(number, row="LAFMA", ours=RowRef("lafma", "euler", 99))
    card = dataclasses.replace(CARD, paper_numbers=(number, missing))
    md = to_markdown(sections.paper_number_blocks(card, card_rows()))
    assert "NOT comparable in value" in md
    ours = RowRef("audioturbo", "euler", 5, 1.5).find(card_rows())[0]["metrics"]["kad@yamnet"]
    assert (f"| Table 1, https://example.org/paper | AudioTurbo (5 steps) | FD ↓ | 20.5 | 5 steps, AudioCaps "
            f"test | audioturbo/euler/5 cfg 1.5 | kad@yamnet | {ours['value']:.4g} "
            f"[{ours['ci_low']:.4g}, {ours['ci_high']:.4g}] |") in md
    assert "– (no row lafma/euler/99 in the run)" in md


def test_runs_without_training_records_say_so():
    rows = [{k: v for k, v in r.items() if k != "training"} for r in card_rows()]
    md = to_markdown(sections.training_blocks(rows))
    assert "No row of this run carries a training record." in md
