"""S-PRESSO's reproduction card: every row it names is a row codec-mini makes, its claims follow
synthetic codec rows with paired replicates (supported one way, contradicted the other), and
``reproduce`` on a codec run writes the codec speed table and one training entry per operating
point without timing a teacher."""
from __future__ import annotations

import zlib

import numpy as np

from bench.cards.spresso import CARD, CLAIMS, KBPS1
from bench.codec_entries import codec_row_name
from bench.entries import row_variant
from bench.protocols import get_protocol
from bench.reproduce import reproduce
from tests.bench._card_runs import SHARED, card_results, metric, write_run

#: metric -> (intercept, slope in quality q, higher_is_better); decode_spread has its own knob
LINEAR = {"fd@aisfx": (100.0, -80.0, False), "kad@aisfx": (10.0, -8.0, False),
          "emb_cos@aisfx": (0.2, 0.7, True), "mel_distance": (1.0, -0.6, False), "si_sdr": (-20.0, 5.0, True)}
#: variant -> (quality, decode spread) making every claim true
GOOD = {"": (0.5, 0.3), "time_factor4": (0.55, 0.25), "time_factor16": (0.4, 0.35),
        "time_factor32": (0.3, 0.4), KBPS1: (0.8, 0.1), "quantizerrvq": (0.4, 0.3),
        "time_factor2,quantizerrvq,codebook_steps8,codebook_size256": (0.7, 0.1),
        "decoderregression": (0.3, None), f"{KBPS1},decoderregression": (0.6, None),
        "quantizernone": (0.9, 0.05), "decode_steps16": (0.45, 0.3)}
OTHERS = {("opus", "bitrate_kbps6"): 0.6, ("opus", "bitrate_kbps8"): 0.7, ("opus", "bitrate_kbps12"): 0.8,
          ("ae-codec", ""): 0.95, ("lowpass-anchor", ""): 0.9}


def codec_row(system: str, variant: str, q: float, spread: float | None) -> dict:
    noise = SHARED + np.random.default_rng(zlib.crc32(f"{system}/{variant}".encode())).uniform(-2e-3, 2e-3,
                                                                                                   len(SHARED))
    metrics = {name: metric(a + b * q, a + b * q + b * noise, up) for name, (a, b, up) in LINEAR.items()}
    metrics["kbps"] = metric(1.0, [1.0] * len(SHARED), False)
    if spread is not None:
        metrics["decode_spread"] = metric(spread, spread + 0.1 * noise, False)
    row_id = f"{system}/{variant}" if variant else system
    row = {"row_id": row_id, "role": "system", "kind": "codec", "system": system, "sampler": "-", "steps": 0,
           "guidance": None, "nfe": None, "metrics": metrics, "decode_seeds": [0, 1, 2] if spread else [0],
           "config": {"decode_steps": 64} if system == "spresso" else {},
           "speed": {"encode_rtf": 50.0, "decode_rtf": 2.0, "device": "cpu", "torch_threads": 2}}
    if variant:
        row["variant"] = variant
    if system == "spresso":
        row["training"] = {"updates": 1067, "batch": 32, "stopped_by": "max_updates", "op": variant,
                           "sanity": {"1": {"spresso_mse": 0.13}}}
    return row


def codec_rows(flip: bool = False) -> list[dict]:
    rows = [codec_row(s, v, q, None) for (s, v), q in OTHERS.items()]
    for variant, (q, spread) in GOOD.items():
        if flip:   # the opposite evidence: quality and spread mirrored around the middle
            q, spread = 1.3 - q, (None if spread is None else 0.45 - spread)
        rows.append(codec_row("spresso", variant, q, spread))
    return rows


def codec_results(rows: list[dict]) -> dict:
    results = card_results(rows, protocol="codec-mini")
    results["protocol"]["kind"] = "codec"
    return results


def test_every_row_the_card_names_is_a_row_of_codec_mini():
    protocol = get_protocol("codec-mini")
    made = {(e.system, row_variant(e)) for e in protocol.systems}
    refs = [ref for claim in CLAIMS for ref in (claim.row, *claim.rivals)]
    refs += [ref for table in CARD.tables for ref in table.rows]
    assert {(ref.system, ref.variant) for ref in refs} <= made
    assert len({codec_row_name(e, None) for e in protocol.systems}) == len(protocol.systems)


def test_every_claim_is_supported_when_the_rows_say_so_and_contradicted_otherwise(tmp_path):
    good = reproduce(CARD, tmp_path / "good", run_dir=write_run(tmp_path / "g", codec_results(codec_rows())))
    assert {c["id"]: c["verdict"] for c in good["claims"]} == dict.fromkeys(
        ("s", "a1", "a2", "b1", "b2", "c", "d"), "supported")
    bad_run = write_run(tmp_path / "b", codec_results(codec_rows(True)))
    bad = reproduce(CARD, tmp_path / "bad", run_dir=bad_run)
    assert {c["id"]: c["verdict"] for c in bad["claims"]} == dict.fromkeys(
        ("s", "a1", "a2", "b1", "b2", "c", "d"), "contradicted")
    d = next(c for c in good["claims"] if c["id"] == "d")
    assert set(d["per_metric"]) == {"decode_spread"}   # variability is judged on the spread alone


def test_the_codec_card_report_lists_speed_per_row_and_each_operating_points_training(tmp_path):
    run = write_run(tmp_path / "r", codec_results(codec_rows()))
    outcome = reproduce(CARD, tmp_path / "out", run_dir=run)
    assert outcome["speed"] is None   # nothing timed against a teacher: the codec run timed every row
    md = (tmp_path / "out" / "reproduction.md").read_text()
    assert "## Speed" in md and "| opus/bitrate_kbps6 | 1 | — | 1 | 50 | 2 |" in md
    assert f"| spresso/{KBPS1} | 1 | 64 | 3 | 50 | 2 |" in md
    assert "| spresso time_factor4 | 1067 |" in md and "No speedup" not in md
    assert "## Ablations on the same bits" in md and "| spresso/-/0 decoderregression |" in md
