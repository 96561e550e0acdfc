"""``python -m bench train`` and ``python -m bench adherence`` (with micro-sized components)."""
from __future__ import annotations

import json

import pytest

from bench.__main__ import main


def test_train_cli_trains_then_reuses(tmp_path, capsys):
    args = ["train", "components", "--preset", "tiny", "--ae-updates", "2", "--teacher-updates", "2",
            "--n-train", "8", "--store", str(tmp_path / "store"), "--quiet"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["trained"]["teacher"]["updates"] == 2
    assert first["peak_rss_mb"] > 0
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["hashes"] == first["hashes"]
    assert second["wall_s"] < first["wall_s"]


def test_train_cli_unknown_preset_is_an_error(capsys):
    assert main(["train", "components", "--preset", "huge"]) == 2
    assert "unknown preset 'huge'" in capsys.readouterr().err


def test_adherence_rows_and_table(micro_components):
    from bench.cli_adherence import markdown, measure, reference_rows
    from common.sfx.analysis import chance_level
    from common.sfx.dataset import make_items
    from systems.teacher import TeacherSystem

    system = TeacherSystem.from_components(micro_components)
    items = make_items("test", 4, seed=0)
    rows = reference_rows(items, micro_components)
    assert rows[0]["adherence"] > chance_level()  # the analysis reads real clips
    assert 0 <= rows[1]["logmel_l1"] and 0 <= rows[1]["spectral_convergence"]
    row = measure(system, items, "euler", 2, None, batch_size=3)
    assert row["nfe"] == 2 * 2 and row["rtf"] > 0 and 0 <= row["adherence"] <= 1
    table = markdown({"rows": rows + [row], "chance_level": chance_level(), "n": 4, "split": "test",
                      "peak_rss_mb": 1.0})
    assert "| euler | 2 | 4 |" in table and "Chance level" in table


def test_adherence_cli_refuses_a_used_folder(tmp_path, capsys):
    (tmp_path / "old.json").write_text("{}")
    assert main(["adherence", "--out", str(tmp_path)]) == 2
    assert "already holds results" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["1,x", "a"])
def test_step_lists_must_be_integers(text):
    from bench.cli_adherence import parse_ints

    with pytest.raises(SystemExit, match="comma-separated integers"):
        parse_ints(text)
