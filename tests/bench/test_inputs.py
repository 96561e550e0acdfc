"""Bad inputs: each gives a clear error naming the file and the fix, or follows the documented policy."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from bench.evaluate import evaluate
from bench.extract import IOConfig, prepare_clip
from common import audio_io
from common.audio_io import AudioInputError
from common.sources import load_source
from metrics.embeddings.mel import MelStatistics
from tests.conftest import tone

MEL = ["fd@mel:level=clip"]


def make_set(write_wav, folder: str, n: int = 6, seconds: float = 1.0, offset: float = 0.0):
    for i in range(n):
        write_wav(f"{folder}/c{i}.wav", tone(300 + 97 * i + offset, seconds))


def run(tmp_path, metrics=MEL, **kw):
    return evaluate(tmp_path / "gen", tmp_path / "ref", metrics, bootstrap=0, progress=False, **kw)


def test_nan_samples_error_names_file(tmp_path, write_wav):
    make_set(write_wav, "gen")
    make_set(write_wav, "ref")
    bad = tone(440)
    bad[100] = np.nan
    write_wav("gen/bad.wav", bad)
    with pytest.raises(AudioInputError, match=r"bad\.wav.*NaN/Inf.*re-export"):
        run(tmp_path)


def test_corrupt_file_error_names_file(tmp_path, write_wav):
    make_set(write_wav, "gen")
    make_set(write_wav, "ref")
    (tmp_path / "gen" / "broken.flac").write_bytes(b"not audio at all" * 50)
    with pytest.raises(AudioInputError, match=r"broken\.flac.*cannot read audio"):
        run(tmp_path)


def test_empty_folder_is_an_error(tmp_path, write_wav):
    make_set(write_wav, "ref")
    (tmp_path / "gen").mkdir()
    with pytest.raises(AudioInputError, match="no audio items"):
        run(tmp_path)


def test_non_audio_files_are_reported_not_silently_dropped(tmp_path, write_wav):
    make_set(write_wav, "gen")
    make_set(write_wav, "ref")
    (tmp_path / "gen" / "notes.txt").write_text("hello")
    results = run(tmp_path)
    assert results["_run"]["ignored_files"]["gen"] == ["notes.txt"]


def test_overlong_file_rejected_from_header(tmp_path, write_wav):
    path = write_wav("long.wav", np.zeros(601 * 100, np.float32), rate=100)
    with pytest.raises(AudioInputError, match=r"601\.0 s is longer than max_duration_s=600"):
        audio_io.read_audio(path)
    assert audio_io.read_audio(path, max_duration_s=3600)[0].shape == (1, 60100)


def test_silence_is_valid_and_reported(tmp_path, write_wav):
    make_set(write_wav, "gen")
    make_set(write_wav, "ref")
    write_wav("gen/quiet.wav", np.zeros(16000, np.float32))
    results = run(tmp_path, io=IOConfig(peak_dbfs=-1.0))
    assert results["fd@mel:level=clip"]["status"] == "ok"
    assert any("quiet" in w for w in results["_run"]["warnings"])


def test_peak_normalize_is_safe_on_silence():
    assert np.array_equal(audio_io.peak_normalize(np.zeros(10, np.float32)), np.zeros(10))
    y = audio_io.peak_normalize(np.array([0.1, -0.5], np.float32), -6.0)
    assert np.max(np.abs(y)) == pytest.approx(10 ** (-6 / 20), rel=1e-6)


def test_very_short_clip_is_padded_and_reported(tmp_path, write_wav):
    make_set(write_wav, "gen")
    make_set(write_wav, "ref")
    write_wav("gen/tiny.wav", tone(440, 0.05))
    results = run(tmp_path)
    assert any("tiny (0.050 s" in w for w in results["_run"]["warnings"])


def test_eight_channels_mono_mean_and_stereo_refusal():
    x = np.tile(np.linspace(-1, 1, 800, dtype=np.float32), (8, 1))
    x[1] *= 0.0
    mono = prepare_clip(x, 16000, MelStatistics(), IOConfig())
    assert mono.ndim == 1 and mono[799] == pytest.approx(7 / 8)

    class Stereo(MelStatistics):
        channels = "stereo"

    with pytest.raises(AudioInputError, match="8 channels"):
        prepare_clip(x, 16000, Stereo(), IOConfig())


def test_duplicate_ids_in_folder(tmp_path, write_wav):
    write_wav("set/a.wav", tone(440))
    write_wav("set/a.flac", tone(440))
    with pytest.raises(AudioInputError, match="share the id 'a'"):
        load_source(tmp_path / "set")


def test_manifest_columns_and_filters(tmp_path, write_wav):
    write_wav("x/a.wav", tone(440))
    write_wav("x/b.wav", tone(550))
    (tmp_path / "m.csv").write_text("id,path,caption,fold\na,x/a.wav,a tone,1\nb,x/b.wav,b tone,2\n")
    src = load_source(tmp_path / "m.csv", {"fold": ["2"]})
    assert [(it.id, it.prompt) for it in src.items] == [("b", "b tone")]
    (tmp_path / "bad.csv").write_text("name,file\n")
    with pytest.raises(AudioInputError, match="needs columns 'id' and 'path'"):
        load_source(tmp_path / "bad.csv")
    with pytest.raises(AudioInputError, match="filter column 'split'"):
        load_source(tmp_path / "m.csv", {"split": ["1"]})


def test_mismatched_ids_for_paired_metric_reported_as_error(tmp_path, write_wav):
    make_set(write_wav, "gen")
    for i in range(6):
        write_wav(f"ref/other{i}.wav", tone(300 + 97 * i))
    results = run(tmp_path, metrics=["si_sdr"])
    assert results["si_sdr"]["status"] == "error"
    assert "c0" in results["si_sdr"]["error"] and results["si_sdr"]["value"] is None


def test_too_few_items_reported_as_error_others_kept(tmp_path, write_wav):
    make_set(write_wav, "gen", n=1, seconds=3.0)
    make_set(write_wav, "ref")
    results = run(tmp_path, metrics=["fd@mel:level=clip", "fd@mel"], out=tmp_path / "out")
    assert results["fd@mel:level=clip"]["status"] == "error"
    assert "at least 2 rows" in results["fd@mel:level=clip"]["error"]
    assert results["fd@mel"]["status"] == "ok"  # frame level has enough rows
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["fd@mel"]["value"] == results["fd@mel"]["value"]


def test_resample_round_trip_keeps_a_tone():
    x = tone(1000, 1.0, 44100)
    y = audio_io.resample(audio_io.resample(x, 44100, 16000), 16000, 44100)
    assert np.max(np.abs(y[2000:-2000] - x[2000:-2000])) < 1e-3


def test_soundfile_reads_flac_and_ogg(tmp_path):
    for ext in ("flac", "ogg"):
        sf.write(tmp_path / f"t.{ext}", tone(440), 16000)
        x, rate = audio_io.read_audio(tmp_path / f"t.{ext}")
        assert rate == 16000 and x.shape[0] == 1 and abs(x.shape[1] - 16000) < 2000


def test_prdc_duplicated_rows_have_exactly_zero_radius_and_warn():
    from scipy.spatial.distance import cdist

    from metrics import prdc as prdc_module
    from metrics.prdc import Density

    rng = np.random.default_rng(4)
    real = rng.normal(size=(20, 8)) + 300.0  # far from 0: the Gram expansion's rounding is ~1e-6
    real[:6] = real[0]  # six identical rows: at k=5 their radius is exactly 0, their balls empty
    fake = np.concatenate([real[:1], rng.normal(size=(19, 8)) + 300.0])  # one clip on that point
    d = cdist(real, fake)
    radii = np.sort(cdist(real, real), axis=1)[:, 5]
    exact_density = (d < radii[:, None]).sum(axis=0).mean() / 5
    assert prdc_module.zero_radius(real, 5).tolist() == [True] * 6 + [False] * 14
    assert prdc_module.prdc(real, fake, 5)["density"] == pytest.approx(exact_density)
    metric = Density(k=5)
    metric.update(fake, real)
    out = metric.compute()
    assert out["value"] == pytest.approx(exact_density)
    assert "6 of 20 reference embeddings" in out["warning"]


def test_wav_chunks_of_odd_length_are_walked_with_their_pad_byte(tmp_path):
    import struct

    samples = (tone(440, 0.1) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"note" + struct.pack("<I", 3) + b"odd\0"
            + b"data" + struct.pack("<I", len(samples)) + samples)
    path = tmp_path / "odd.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert audio_io.declared_data_end(path) == path.stat().st_size
    assert audio_io.read_audio(path)[0].shape == (1, 1600)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(AudioInputError, match="truncated"):
        audio_io.read_audio(path)
