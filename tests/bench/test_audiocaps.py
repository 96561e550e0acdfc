"""The ``audiocaps`` protocol: prompts from the AudioCaps captions, user-supplied references, --systems."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from bench.__main__ import main
from bench.captions import caption_prompts
from bench.protocols import get_protocol
from bench.runner import RunError, check_entries, prompt_items, run_protocol, selected_entries

CAPTIONS = [("1", "yt_a", "0", "a dog barks"), ("2", "yt_a", "0", "a dog is barking loudly"),
            ("3", "yt_b", "30", "rain falls on a roof"), ("4", "yt_c", "10", "an engine idles"),
            ("5", "yt_d", "0", "a dog barks")]


@pytest.fixture
def captions_csv(tmp_path):
    path = tmp_path / "captions.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["audiocap_id", "youtube_id", "start_time", "caption"])
        writer.writerows(CAPTIONS)
    return path


def test_every_system_of_the_protocol_is_registered_and_it_is_pinned():
    protocol = get_protocol("audiocaps")
    check_entries(protocol)
    assert protocol.speed_profile == "gpu" and protocol.duration_s == 10.0
    assert protocol.diversity.metrics == ("ccds@clap-laion-audio",)


def test_prompts_are_the_first_caption_of_each_clip_of_the_shared_captions(shared):
    rows = list(csv.DictReader(open(shared / "data" / "audiocaps" / "test.csv", encoding="utf-8")))
    first = {}
    for row in rows:
        first.setdefault(row["youtube_id"], row["caption"].strip())
    items = prompt_items(get_protocol("audiocaps"))
    assert [it.prompt for it in items] == list(first.values()) and len(items) == 975
    assert items[0].meta["youtube_id"] == rows[0]["youtube_id"]


def test_a_users_copy_of_the_captions_is_used_when_named(captions_csv, monkeypatch):
    monkeypatch.setenv("FASTAUDIO_AUDIOCAPS_CAPTIONS", str(captions_csv))
    items = prompt_items(get_protocol("audiocaps"))
    assert [it.prompt for it in items] == ["a dog barks", "rain falls on a roof", "an engine idles",
                                           "a dog barks"]
    assert [it.meta["youtube_id"] for it in items] == ["yt_a", "yt_b", "yt_c", "yt_d"]
    # two clips share a caption: the second gets the next seed, so it is its own generation
    assert [it.seed for it in items] == [0, 0, 0, 1]


def test_other_prompt_sources_keep_their_seeds():
    protocol = get_protocol("sfx-mini")
    assert {it.seed for it in prompt_items(protocol)} == set(range(protocol.generations_per_prompt))


@pytest.mark.parametrize("spec, message", [
    ({"path": "/no/such/captions.csv"}, "no such file"),
    ({"column": "text"}, "no column 'text'"),
    ({"n": 10}, "4 prompts, but the protocol takes the first 10"),
])
def test_bad_captions_files_are_clear_errors(captions_csv, spec, message):
    base = {"source": "captions", "path": str(captions_csv), "one_per": "youtube_id"}
    with pytest.raises(RunError, match=message):
        caption_prompts({**base, **spec})


def test_missing_reference_audio_stops_the_run_before_any_work(captions_csv, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTAUDIO_AUDIOCAPS_CAPTIONS", str(captions_csv))
    monkeypatch.delenv("FASTAUDIO_AUDIOCAPS_AUDIO", raising=False)
    expected = r"FASTAUDIO_AUDIOCAPS_AUDIO is not set.*not shipped.*audiocaps-manifest"
    with pytest.raises(RunError, match=expected):
        run_protocol(get_protocol("audiocaps"), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    monkeypatch.setenv("FASTAUDIO_AUDIOCAPS_AUDIO", str(tmp_path / "nowhere.csv"))
    with pytest.raises(RunError, match="nowhere.csv: no such file"):
        run_protocol(get_protocol("audiocaps"), tmp_path / "run", progress=False)


def test_systems_select_entries_and_unknown_ones_are_refused():
    protocol = get_protocol("audiocaps")
    chosen = selected_entries(protocol, ["stable-audio-open", "teacher"])
    assert [e.system for e in chosen] == ["stable-audio-open", "teacher"]
    assert selected_entries(protocol, None) == protocol.systems
    with pytest.raises(RunError, match=r"does not run \['audioturbo'\]; its systems are"):
        selected_entries(protocol, ["audioturbo"])


def test_the_manifest_command_pairs_clips_with_their_prompt(captions_csv, tmp_path, capsys):
    audio = tmp_path / "clips"
    audio.mkdir()
    for name in ("yt_a.wav", "Yyt_b.flac", "unrelated.wav"):
        sf.write(audio / name, np.zeros(1600, np.float32), 16000)
    out = tmp_path / "refs" / "manifest.csv"
    assert main(["audiocaps-manifest", "--audio", str(audio), "--out", str(out),
                 "--captions", str(captions_csv)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert [(r["id"], r["caption"]) for r in rows] == [("yt_a", "a dog barks"),
                                                        ("yt_b", "rain falls on a roof")]
    assert (out.parent / rows[0]["path"]).resolve() == (audio / "yt_a.wav").resolve()
    assert (tmp_path / "refs" / "manifest.csv.missing.txt").read_text() == "yt_c\nyt_d\n"
    assert "2 clips; 2 test clips not found" in capsys.readouterr().out


def test_a_resume_on_other_data_or_another_selection_is_refused(tmp_path):
    from bench.run_identity import check_same_identity

    stored = {"data": {"prompts": {"n": 4, "sha256": "a"}}, "systems_selected": ["teacher"]}
    check_same_identity(tmp_path, stored, dict(stored))
    check_same_identity(tmp_path, {}, dict(stored))   # a run folder from before the record resumes
    with pytest.raises(RunError, match="other prompts or reference clips"):
        check_same_identity(tmp_path, stored, {**stored, "data": {"prompts": {"n": 4, "sha256": "b"}}})
    with pytest.raises(RunError, match=r"--systems \['teacher'\].*bench report RUN_A RUN_B"):
        check_same_identity(tmp_path, stored, {**stored, "systems_selected": None})


def test_an_empty_system_selection_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["run", "audiocaps", "--systems", " , "])
    assert "name at least one system" in capsys.readouterr().err
