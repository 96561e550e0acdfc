"""``bench content-preservation`` (SoundCTM's Table 7) on the micro preset with ``lpaps@mel``: identical
clips score 0, unequal pairs are trimmed and say so, the CI brackets the mean and is paired across
rows, every row (γ = 0 … 1, cd, both bounds) is computed or says why not, bad arguments are refused
before any work, results are never overwritten and an unfinished run resumes."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from bench.__main__ import main
from bench.content import (
    PAPER,
    ContentError,
    SystemPoint,
    build_or_reason,
    claim_out,
    content_items,
    generate_pairs,
    layered_backend,
    mean_interval,
    pair_lpaps,
    run_content,
    system_points,
)

TRAIN = {"soundctm": {"sanity_items": 4}, "cd": {"sanity_items": 4}}   # small sanity checks: seconds
RUN = {"preset": "micro", "prompts": 2, "seeds": 2, "backend": "mel", "few": 1, "many": 4, "n_boot": 20,
       "progress": False, "train": TRAIN}
ROWS = ["bound-ae", "bound-real", "soundctm-gamma0", "soundctm-gamma0.2", "soundctm-gamma0.5",
        "soundctm-gamma1", "cd"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One component store (and generation-free cache) for the module: micro trains once."""
    patch = pytest.MonkeyPatch()
    patch.setenv("FASTAUDIO_CACHE", str(tmp_path_factory.mktemp("content-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="module")
def components(cache):
    from systems.components.shared import load_components

    return load_components("micro", "cpu", progress=False)


@pytest.fixture(scope="module")
def finished(components, tmp_path_factory):
    out = tmp_path_factory.mktemp("content") / "run"
    return out, run_content(out, components=components, **RUN)


@pytest.fixture(scope="module")
def mel():
    return layered_backend("mel")


def tone(n: int, freq: float, rate: int = 16000) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / rate)).astype(np.float32)


# ---------------------------------------------------------------- LPAPS, trimming, the interval

def test_identical_clips_score_zero_with_a_zero_width_interval(mel):
    pairs = [(tone(16000, 440), tone(16000, 440)), (tone(16000, 220), tone(16000, 220))]
    values, note = pair_lpaps(mel, pairs, 16000)
    assert values.dtype == np.float64 and values.tolist() == [0.0, 0.0]
    assert note["pairs_trimmed"] == 0
    interval = mean_interval(values, 50)
    assert interval["mean"] == 0.0 and interval["ci"] == [0.0, 0.0]


def test_unequal_pairs_are_trimmed_to_the_shorter_and_the_note_says_so(mel):
    a, b = tone(16000, 440), tone(12000, 660)
    values, note = pair_lpaps(mel, [(a, b), (a, a)], 16000)
    assert note["pairs_trimmed"] == 1 and note["max_samples_dropped"] == 4000
    assert note["compared_s"] == [0.75, 1.0]
    trimmed, _ = pair_lpaps(mel, [(a[:12000], b)], 16000)
    assert values[0] == trimmed[0] > 0 and values[1] == 0.0


def test_the_interval_brackets_the_mean_and_replicates_are_paired_across_rows():
    rng = np.random.default_rng(3)
    a, b = rng.gamma(2.0, size=24), rng.gamma(3.0, size=24)
    ia, ib, diff = mean_interval(a, 200), mean_interval(b, 200), mean_interval(b - a, 200)
    for row, values in ((ia, a), (ib, b)):
        assert row["ci"][0] <= row["mean"] <= row["ci"][1] and row["mean"] == pytest.approx(values.mean())
        assert row["ci_level"] == 0.95 and len(row["replicates"]) == 200
    # the same item indices in every row: b_i − a_i are the replicates of the difference
    paired = np.subtract(ib["replicates"], ia["replicates"])
    np.testing.assert_allclose(paired, diff["replicates"], atol=1e-12)


# ---------------------------------------------------------------- a run on the micro preset

def test_a_run_computes_every_row_with_its_interval_nfe_and_gamma(finished):
    out, result = finished
    rows = {r["row_id"]: r for r in result["rows"]}
    assert list(rows) == ROWS and all(r["status"] == "ok" for r in rows.values())
    for row in rows.values():
        low, high = row["lpaps"]["ci"]
        assert row["n"] == 4 and low <= row["lpaps"]["mean"] <= high and np.isfinite(row["lpaps"]["mean"])
        assert len(row["lpaps"]["per_item"]) == 4 and len(row["lpaps"]["replicates"]) == 20
        assert row["lengths"]["rule"] == "both clips of a pair trimmed to the shorter one"
        assert row["paper"] == PAPER.get(row["row_id"])
    for gamma in (0.0, 0.2, 0.5, 1.0):   # γ as the system was built with it, in its config
        row = rows[f"soundctm-gamma{gamma:g}"]
        assert row["gamma"] == row["config"]["gamma"] == gamma and row["sampler"] == "ctm_gamma"
    for row_id in ROWS[2:]:
        assert rows[row_id]["nfe"] == {"few": 1, "many": 4} and rows[row_id]["same_initial_noise"] is True
        assert rows[row_id]["training"]["budget"]["max_updates"] == 4   # the micro accelerator budget
    for row_id in ("bound-ae", "bound-real"):   # real clips differ from their partner: above 0
        row = rows[row_id]
        assert row["kind"] == "bound" and row["nfe"] is None and row["lpaps"]["mean"] > 0
    items = result["items"]
    assert [it["item_id"] for it in items] == ["p0000-g0", "p0000-g1", "p0001-g0", "p0001-g1"]
    assert all(len(set(it["real_render_seeds"])) == 2 for it in items)
    assert result["config"]["metric"] == "lpaps@mel" and result["backend"]["name"] == "mel"
    assert "packages" in result["environment"] and "4 items" in result["sizes"]


def test_a_run_writes_its_json_table_and_examples(finished):
    out, result = finished
    assert json.loads((out / "content.json").read_text())["rows"] == json.loads(json.dumps(result["rows"]))
    text = (out / "content.md").read_text()
    assert "paper (CLAP-LPAPS), not comparable in value" in text and "| soundctm γ=0 | 4 | 1 → 4 |" in text
    assert "plumbing backend" in text and "this run compares 1 vs 4" in text
    example = result["rows"][2]["examples"][0]
    assert (out / example["a"]).exists() and (out / example["b"]).exists()


def test_a_deterministic_system_against_itself_at_equal_steps_scores_zero(components, mel, finished):
    from bench.protocols import get_protocol

    protocol = get_protocol("sfx-mini")
    point = system_points()[0]
    system, reason = build_or_reason(point, protocol, components, 2, 2, TRAIN, progress=False)
    assert reason is None and system.gamma == 0.0
    gen = generate_pairs(system, point.sampler, content_items(protocol, 2, 1), 2, 2, None)
    assert gen["same_initial_noise"] and gen["nfe"] == {"few": 2, "many": 2}
    values, _ = pair_lpaps(mel, list(zip(gen["few"], gen["many"])), gen["sample_rate"])
    assert values.tolist() == [0.0, 0.0]


def test_a_system_that_cannot_be_built_or_refuses_is_recorded_not_skipped(components, tmp_path):
    points = [SystemPoint("nope", "nope", "not-a-system", "euler"), system_points()[-1]]
    result = run_content(tmp_path / "run", components=components, points=points, **{**RUN, "many": 19})
    rows = {r["row_id"]: r for r in result["rows"]}
    assert rows["nope"]["status"] == "missing" and "unknown system 'not-a-system'" in rows["nope"]["reason"]
    assert rows["cd"]["status"] == "error" and "at most 18 steps" in rows["cd"]["reason"]
    text = (tmp_path / "run" / "content.md").read_text()
    assert "**missing**: UnknownNameError" in text and "**error**" in text


# ---------------------------------------------------------------- the output folder

def test_a_finished_run_is_never_overwritten(finished, components, capsys):
    out, _ = finished
    before = (out / "content.json").read_bytes()
    with pytest.raises(ContentError, match="never overwritten"):
        run_content(out, components=components, **RUN)
    assert main(["content-preservation", "--out", str(out), "--preset", "micro", "--backend", "mel"]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert (out / "content.json").read_bytes() == before


def test_a_folder_that_is_not_a_content_run_is_refused(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    argv = ["content-preservation", "--out", str(tmp_path), "--preset", "micro", "--backend", "mel"]
    assert main(argv) == 2
    assert "is not a content run" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_an_unfinished_run_resumes_its_rows_with_the_same_settings_only(finished, components, tmp_path):
    out, result = finished
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(out / "content-run.json", resumed)
    shutil.copytree(out / "rows", resumed / "rows")
    stored = json.loads((resumed / "rows" / "cd.json").read_text())
    stored["lpaps"]["mean"] = 123.0   # a marker: a reused row is read, not recomputed
    (resumed / "rows" / "cd.json").write_text(json.dumps(stored))
    with pytest.raises(ContentError, match="other settings"):
        run_content(resumed, components=components, **{**RUN, "many": 3})
    again = {r["row_id"]: r for r in run_content(resumed, components=components, **RUN)["rows"]}
    assert again["cd"]["lpaps"]["mean"] == 123.0
    assert again["soundctm-gamma0"]["lpaps"] == result["rows"][2]["lpaps"]


def test_claiming_a_folder(tmp_path):
    config = {"kind": "content-preservation", "few": 1}
    claim_out(tmp_path / "a", config)
    claim_out(tmp_path / "a", config)   # the same settings: resumable
    with pytest.raises(ContentError, match="other settings"):
        claim_out(tmp_path / "a", {**config, "few": 2})
    (tmp_path / "file").write_text("x")
    with pytest.raises(ContentError, match="is a file"):
        claim_out(tmp_path / "file", config)


# ---------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("args, words", [
    (["--few", "4", "--many", "4"], "--few must be below --many"),
    (["--few", "16", "--many", "4"], "--few must be below --many"),
    (["--few", "0"], "--few must be a whole number >= 1"),
    (["--prompts", "33"], "sfx-mini has 32 prompts"),
    (["--prompts", "0"], "--prompts must be a whole number >= 1"),
    (["--prompts", "1", "--seeds", "1"], "at least 2 items"),
    (["--bootstrap", "1"], "--bootstrap must be a whole number >= 2"),
    (["--backend", "yamnet"], "gives no intermediate layers"),
    (["--backend", "mle"], "unknown embedding backend 'mle'"),
    (["--preset", "base"], "shared accelerator budget"),
])
def test_bad_arguments_are_refused_before_any_work(args, words, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["content-preservation", "--out", str(out), "--preset", "micro", "--backend", "mel", *args]
    assert main(argv) == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


def test_the_cli_hands_its_arguments_to_run_content(monkeypatch, tmp_path, capsys):
    import bench.content as content

    seen = {}
    monkeypatch.setattr(content, "run_content", lambda out, **kw: seen.update(out=out, **kw) or {"fake": 1})
    monkeypatch.setattr(content, "markdown", lambda result: "TABLE")
    argv = ["content-preservation", "--out", str(tmp_path / "o"), "--preset", "micro", "--prompts", "3",
            "--seeds", "4", "--backend", "mel", "--few", "2", "--many", "8", "--bootstrap", "30", "--quiet"]
    assert main(argv) == 0
    expected = {"preset": "micro", "prompts": 3, "seeds": 4, "backend": "mel", "few": 2, "many": 8,
                "n_boot": 30, "progress": False}
    assert {k: seen[k] for k in expected} == expected and seen["out"] == str(tmp_path / "o")
    assert "TABLE" in capsys.readouterr().out
