"""``bench quantizers`` (``bench.quantizer_compare``) on micro S-PRESSO codecs: both quantisers code
the same held-out z frames at equal bits, every prefix is reported (lower rate, higher error),
the greedy QINCo2 shares the fitted weights, and the Markdown names every quantiser."""
from __future__ import annotations

import pytest

from bench.quantizer_compare import compare, greedy, markdown
from systems.spresso import SPresso
from systems.training import Budget

BUDGET = Budget(max_updates=12, batch=8)


@pytest.fixture(scope="module")
def record(micro_components, micro_store):
    codecs = {}
    for name in ("qinco2", "rvq"):
        codec = SPresso.from_components(micro_components, quantizer=name, codebook_size=16)
        codec.fit(BUDGET, settings=dict(SPresso.test_settings), store=micro_store, progress=False)
        codecs[name] = codec
    return compare(codecs, clips=3, repeats=1), codecs


def test_both_quantisers_code_the_same_frames_at_equal_bits(record):
    result, codecs = record
    rows = result["quantizers"]
    codec = codecs["qinco2"]
    clip = round(codec.components.preset.clip_duration_s * codec.sample_rate)
    assert set(rows) == {"qinco2", "rvq", "qinco2-greedy"}
    assert rows["qinco2"]["bits_per_frame"] == rows["rvq"]["bits_per_frame"] == [4, 8, 12, 16]
    assert result["frames"] == 3 * codec.z_frames(clip) and result["z_variance"] > 0
    for row in rows.values():
        mse = row["mse_per_prefix"]
        assert len(mse) == 4 and all(v >= 0 for v in mse) and row["encode_ms_per_1000_frames"] > 0
        assert row["relative_mse_per_prefix"] == pytest.approx([v / result["z_variance"] for v in mse])
    rvq = rows["rvq"]["mse_per_prefix"]
    assert rvq == sorted(rvq, reverse=True)   # greedy residual VQ: every step lowers the error
    assert result["fit"]["qinco2"]["wall_s"] > 0 and result["fit"]["rvq"]["train_mse_per_step"]


def test_the_greedy_qinco2_shares_the_weights_and_only_narrows_the_beam(record):
    _, codecs = record
    fitted = codecs["qinco2"]._fitted.quantizer
    narrow = greedy(fitted)
    assert narrow.beam == 1 and fitted.beam == 4 and narrow.codebooks is fitted.codebooks
    assert narrow.config()["beam"] == 1


def test_the_markdown_table_names_every_quantiser(record):
    result, _ = record
    text = markdown(result)
    assert "t = 8, M = 4, K = 16" in text
    for name in ("qinco2", "rvq", "qinco2-greedy"):
        assert f"| {name} | 4/8/12/16 |" in text
