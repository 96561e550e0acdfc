"""The codec path of ``bench run`` (codec protocols) and its report, on micro components and 4 clips.

Fake codecs of this module (registered per test through ``systems.SYSTEMS``): ``test-byte-codec``
(each 20-ms frame's mean level in one byte, per-clip bytes as its payload; it can be told to
fail part-way, as a killed run would) and ``test-noisy-codec`` (the same, plus seeded noise on
decoding: a stochastic decoder).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import systems
from bench.__main__ import main
from bench.codec_payload import check_declared_bits, clip_payloads
from bench.protocols import PROTOCOLS, get_protocol
from bench.protocols.base import SystemEntry
from bench.protocols.budgets import budget_for
from bench.runner import RunError, run_protocol
from common.registry import UnknownNameError
from systems.api import Codec, Encoded, SystemInfo, check_options

CLIPS = {"source": "sfx", "split": "test", "n": 4, "seed": 0}
METRICS = ("fd@mel", "kad@mel", "emb_cos@mel", "si_sdr", "mel_distance", "lsd", "adherence")
FAKES = {"test-byte-codec": f"{__name__}:ByteCodec", "test-noisy-codec": f"{__name__}:NoisyCodec"}
INTERRUPT = {"after": None, "calls": 0}  # ByteCodec.encode raises on call number "after"


class ByteCodec(Codec):
    """Each 20-ms frame's mean level in 8 bits; one bytes object per clip (400 bit/s)."""

    info = SystemInfo(name="test-byte-codec", paper="test double: a codec with a byte payload")
    frame_hz = 50

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.hop = sample_rate // self.frame_hz

    @classmethod
    def from_components(cls, components, **config) -> ByteCodec:
        check_options(config, (), cls.info.name)
        return cls(components.ae.sample_rate)

    def load(self, device: str = "cpu") -> ByteCodec:
        return self

    def bitrate_kbps(self) -> float:
        return self.frame_hz * 8 / 1000

    def encode(self, audio: np.ndarray) -> Encoded:
        INTERRUPT["calls"] += 1
        if INTERRUPT["after"] is not None and INTERRUPT["calls"] >= INTERRUPT["after"]:
            raise KeyboardInterrupt("planted interruption")
        frames = -(-audio.shape[1] // self.hop)
        padded = np.pad(audio, ((0, 0), (0, frames * self.hop - audio.shape[1])))
        level = padded.reshape(len(audio), frames, self.hop).mean(-1)
        codes = np.round((np.clip(level * 20, -1, 1) + 1) / 2 * 255).astype(np.uint8)
        return Encoded(tuple(c.tobytes() for c in codes), None, self.frame_hz, frames * 8, audio.shape[1],
                       self.sample_rate)

    def decode(self, encoded: Encoded, *, steps=None, seed: int = 0) -> np.ndarray:
        codes = np.stack([np.frombuffer(c, np.uint8) for c in encoded.codes]).astype(np.float32)
        levels = codes / 255 * 2 - 1
        wav = np.repeat(levels / 20, self.hop, axis=1)[:, : encoded.num_samples]
        return (wav + self.noise(wav.shape, seed)).astype(np.float32)

    def noise(self, shape, seed: int) -> np.ndarray:
        return np.zeros(shape, np.float32)


class NoisyCodec(ByteCodec):
    """ByteCodec with seeded noise on decoding: a stochastic decoder."""

    info = SystemInfo(name="test-noisy-codec", paper="test double: a stochastic decoder")
    stochastic = True

    def noise(self, shape, seed: int) -> np.ndarray:
        return 0.02 * np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def codec_protocol(*entries: SystemEntry, **changes):
    base = replace(get_protocol("codec-mini"), name="codec-micro-test", preset="micro", prompts=CLIPS,
                   reference=CLIPS, systems=entries, metrics=METRICS,
                   headline=("emb_cos@mel", "mel_distance"), pareto_metric="mel_distance", bootstrap=10)
    return replace(base, **changes) if changes else base


ENTRIES = (SystemEntry("ae-codec", (), ()), SystemEntry("opus", (), (), config={"bitrate_kbps": 6}),
           SystemEntry("lowpass-anchor", (), ()))


@pytest.fixture(autouse=True)
def fake_codecs(monkeypatch):
    for name, target in FAKES.items():
        monkeypatch.setitem(systems.SYSTEMS, name, target)
    INTERRUPT.update(after=None, calls=0)


@pytest.fixture
def shared_cache(tmp_path_factory, monkeypatch):
    """One cache for the module's runs (the micro components train once)."""
    path = tmp_path_factory.getbasetemp() / "codec-runner-cache"
    monkeypatch.setenv("FASTAUDIO_CACHE", str(path))
    return path


@pytest.fixture(scope="module")
def codec_run(tmp_path_factory):
    """(run folder, results) of ae-codec, opus at 6 kbps and the low-pass anchor on 4 clips."""
    out = tmp_path_factory.mktemp("codec") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASTAUDIO_CACHE", str(tmp_path_factory.getbasetemp() / "codec-runner-cache"))
        return out, run_protocol(codec_protocol(*ENTRIES), out, progress=False)


# ---------------------------------------------------------------- results


def test_results_are_self_describing_with_every_metric_and_its_ci(codec_run):
    out, results = codec_run
    assert {"protocol", "environment", "components", "metrics", "rows", "originals", "definitions",
            "timings"} <= set(results)
    assert results["protocol"]["kind"] == "codec"
    stored = json.loads((out / "results.json").read_text())
    assert stored["protocol"]["hash"] == codec_protocol(*ENTRIES).hash()
    assert [r["row_id"] for r in results["rows"]] == ["ae-codec", "opus/bitrate_kbps6", "lowpass-anchor"]
    for row in results["rows"]:
        assert set(row["metrics"]) == {*METRICS, "adherence_retained", "kbps"}
        for name, metric in row["metrics"].items():
            assert metric["status"] == "ok", (row["row_id"], name, metric)
            assert metric["ci_low"] <= metric["value"] <= metric["ci_high"], (row["row_id"], name)
        assert row["decode_seeds"] == [0] and row["seed_spread"] is None
        assert row["speed"]["encode_rtf"] > 0 and row["speed"]["decode_rtf"] > 0
        assert "higher is faster" in row["speed"]["rtf_definition"]
        for entry in row["audio"]:  # decoded clips are named after their originals
            assert Path(entry["path"]).name == Path(entry["original"]).name
            assert (out / entry["path"]).exists() and (out / entry["original"]).exists()
    assert results["originals"]["metrics"]["adherence"]["value"] == 1.0


def test_kbps_is_the_payload_bytes_over_the_clip_duration(codec_run):
    out, results = codec_run
    rows = {r["row_id"]: r for r in results["rows"]}
    for row_id in ("ae-codec", "opus/bitrate_kbps6"):
        row = rows[row_id]
        payload = out / "rows" / row_id / "payload"
        sizes = [(payload / f"{a['item_id']}.bin").stat().st_size for a in row["audio"]]
        assert row["payload"]["bits_per_clip"] == [8 * s for s in sizes]
        duration_s = row["payload"]["clip_s"]
        assert duration_s == pytest.approx(2.048)
        assert row["metrics"]["kbps"]["value"] == pytest.approx(np.mean(sizes) * 8 / duration_s / 1000)
    assert rows["ae-codec"]["metrics"]["kbps"]["value"] == pytest.approx(8.0)  # 16 ch × 31.25 Hz × 16 bit
    opus = rows["opus/bitrate_kbps6"]["metrics"]["kbps"]
    assert opus["details"]["min"] < opus["details"]["max"]  # VBR: per-clip sizes differ
    anchor = rows["lowpass-anchor"]
    assert anchor["anchor"] and anchor["metrics"]["kbps"]["flags"] == ["nominal"]
    assert anchor["metrics"]["kbps"]["value"] == pytest.approx(112.0)
    assert not (out / "rows" / "lowpass-anchor" / "payload").exists()


def test_a_finished_run_folder_is_never_overwritten(codec_run, shared_cache):
    out, _ = codec_run
    before = (out / "results.json").read_bytes()
    with pytest.raises(RunError, match="already holds a run"):
        run_protocol(codec_protocol(*ENTRIES), out, progress=False)
    with pytest.raises(RunError, match="another protocol definition"):
        run_protocol(codec_protocol(*ENTRIES[:1]), out, resume=True, progress=False)
    assert (out / "results.json").read_bytes() == before


def test_interrupted_run_resumes_and_reuses_finished_rows_and_batches(shared_cache, tmp_path, monkeypatch):
    monkeypatch.setattr("bench.codec_coding.BATCH", 1)
    protocol = codec_protocol(SystemEntry("opus", (), (), config={"bitrate_kbps": 8}),
                              SystemEntry("test-byte-codec", (), ()))
    out = tmp_path / "run"
    INTERRUPT["after"] = 3  # warm-up, clip 0, then the interruption while coding clip 1
    with pytest.raises(KeyboardInterrupt):
        run_protocol(protocol, out, progress=False)
    first, byte_row = out / "rows" / "opus" / "bitrate_kbps8" / "row.json", out / "rows" / "test-byte-codec"
    assert first.exists() and not (out / "results.json").exists() and not (byte_row / "row.json").exists()
    assert len((byte_row / "coded.jsonl").read_text().splitlines()) == 1
    with open(byte_row / "coded.jsonl", "a") as f:
        f.write('{"ids": ["torn')  # a kill while appending leaves half a line
    stamps = first.stat().st_mtime_ns, (byte_row / "payload" / "sfx-test-0-00000.bin").stat().st_mtime_ns
    INTERRUPT.update(after=None, calls=0)
    resumed = run_protocol(protocol, out, resume=True, progress=False)
    assert INTERRUPT["calls"] == 1 + 3  # a warm-up and the three clips left
    assert stamps == (first.stat().st_mtime_ns,
                      (byte_row / "payload" / "sfx-test-0-00000.bin").stat().st_mtime_ns)
    fresh = run_protocol(protocol, tmp_path / "fresh", progress=False, cache=False)
    assert [r["metrics"] for r in resumed["rows"]] == [r["metrics"] for r in fresh["rows"]]
    assert resumed["rows"][1]["payload"]["bits_per_clip"] == [8 * 103] * 4  # ceil(2.048 s × 50 Hz) bytes


def test_a_stochastic_decoder_is_decoded_with_three_seeds_and_its_spread_reported(shared_cache, tmp_path):
    out = tmp_path / "run"
    results = run_protocol(codec_protocol(SystemEntry("test-noisy-codec", (), ())), out, progress=False)
    row = results["rows"][0]
    assert row["stochastic"] and row["decode_seeds"] == [0, 1, 2]
    spread = row["seed_spread"]
    assert set(METRICS) <= set(spread)
    sdr = spread["si_sdr"]
    assert len(sdr["values"]) == 3 and sdr["std"] > 0 and len(set(sdr["values"])) == 3
    assert sdr["values"][0] == row["metrics"]["si_sdr"]["value"]  # the row shows the first seed
    assert sdr["std"] == pytest.approx(np.std(sdr["values"], ddof=1))
    for k in (1, 2):
        assert len(list((out / "rows" / "test-noisy-codec" / f"seed{k}" / "audio").glob("*.flac"))) == 4


def test_the_cli_summary_shows_measured_kbps_and_both_rtfs(codec_run):
    from bench.cli_run import summary

    out, results = codec_run
    text = summary(results, str(out))
    assert "RTF = seconds of audio per wall-clock second" in text
    assert "kbps=8.00" in text and "kbps=112.00 (nominal: anchor)" in text and text.count("dec_rtf=") == 3


# ---------------------------------------------------------------- bad protocols and payloads


@pytest.mark.parametrize("entry, error, match", [
    (SystemEntry("opuss", (), ()), UnknownNameError, "unknown system 'opuss'.*Did you mean 'opus'"),
    (SystemEntry("teacher", ("euler",), (1,)), RunError, r"'teacher' is a text-to-audio system \(generator"),
    (SystemEntry("opus", ("euler",), ()), RunError, "a codec takes no sampler"),
    (SystemEntry("opus", (), (), budget=budget_for("teacher", "micro")), RunError, "not trained"),
    (SystemEntry("opus", (), (0,)), RunError, "decode steps must be an integer >= 1"),
])
def test_bad_codec_entries_are_refused_before_any_work(tmp_path, entry, error, match):
    with pytest.raises(error, match=match):
        run_protocol(codec_protocol(entry), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_two_entries_at_one_operating_point_are_refused(tmp_path):
    twice = SystemEntry("opus", (), (), config={"bitrate_kbps": 6})
    with pytest.raises(RunError, match=r"runs the row\(s\) \['opus/bitrate_kbps6'\] twice"):
        run_protocol(codec_protocol(twice, twice), tmp_path / "run", progress=False)


def test_the_cli_reports_a_bad_codec_protocol_as_an_input_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(PROTOCOLS, "bad-codec", f"{__name__}:BAD_PROTOCOL")
    assert main(["run", "bad-codec", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "error:" in capsys.readouterr().err and not (tmp_path / "run").exists()


BAD_PROTOCOL = codec_protocol(SystemEntry("audioturbo", ("euler",), (1,)))


def test_a_payload_that_is_not_bytes_or_misdeclares_its_size_is_refused():
    codec = ByteCodec(16000)
    audio = np.zeros((2, 3200), np.float32)
    encoded = codec.encode(audio)
    assert clip_payloads(codec, encoded) == list(encoded.codes)
    with pytest.raises(RunError, match="not one bytes object per clip"):
        clip_payloads(codec, replace(encoded, codes=np.zeros((2, 10), np.uint8)))
    with pytest.raises(RunError, match="declares payload_bits=9 per clip but its bytes hold 80"):
        check_declared_bits(codec, replace(encoded, payload_bits=9), list(encoded.codes))


def test_codec_mini_runs_every_codec_at_its_operating_points():
    protocol = get_protocol("codec-mini")
    assert protocol.kind == "codec" and protocol.definition()["kind"] == "codec"
    names = [(e.system, e.config.get("bitrate_kbps")) for e in protocol.systems]
    assert ("ae-codec", None) in names and ("lowpass-anchor", None) in names
    assert {("opus", 6), ("opus", 8), ("opus", 12)} <= set(names)
    for spec in ("fd@aisfx", "kad@aisfx", "prdc@aisfx", "emb_cos@aisfx", "si_sdr", "mel_distance", "lsd",
                 "adherence"):
        assert spec in protocol.metrics
    sfx = get_protocol("sfx-mini")
    assert "kind" not in sfx.definition()  # text-to-audio protocols keep their hashes


# ---------------------------------------------------------------- report


def test_report_has_kbps_rows_the_rate_quality_plot_players_and_a_labelled_anchor(codec_run, tmp_path):
    out, results = codec_run
    assert main(["report", str(out), "--out", str(tmp_path / "report"), "--players", "2"]) == 0
    html = (tmp_path / "report" / "leaderboard.html").read_text()
    assert "Rate–quality" in html and "rate–quality: each metric vs measured kbps" in html
    assert html.count("<svg") == 1
    assert html.count("<audio") == 2 * (1 + len(results["rows"]))  # per clip: original + every row
    assert html.count("<figcaption>original</figcaption>") == 2
    assert "lowpass-anchor — anchor (nominal rate, not a codec)" in html
    assert '<tr class="anchor anchor last-anchor">' in html  # the anchor row: styled as one, on top
    md = (tmp_path / "report" / "leaderboard.md").read_text()
    anchor_line = next(line for line in md.splitlines() if "lowpass-anchor" in line)
    assert "112 [112, 112] (nominal)" in anchor_line and anchor_line.startswith("| *lowpass-anchor")
    assert "RTF = seconds of audio per wall-clock second" in md
    lines = (tmp_path / "report" / "leaderboard.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert {"kbps:value", "kbps:ci_low", "encode_rtf", "decode_rtf", "si_sdr:seed_std"} <= set(header)
    assert len(lines) == 1 + len(results["rows"])


def test_codec_and_text_to_audio_runs_do_not_share_a_report(codec_run, tmp_path, capsys):
    from tests.report.fakes import make_run

    tta = make_run(tmp_path)
    assert main(["report", str(codec_run[0]), str(tta), "--out", str(tmp_path / "r"), "--allow-mixed"]) == 2
    assert "cannot share one report" in capsys.readouterr().err
