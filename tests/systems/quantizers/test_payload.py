"""Exact bit packing of codes: round trips, exact sizes, and every kind of bad payload."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from systems.quantizers.payload import (
    HEADER_BYTES,
    PayloadError,
    bit_counts,
    body_bytes,
    pack,
    pack_bits,
    payload_bits,
    unpack,
    unpack_bits,
)

OP = "spresso-1hz-m4k64"


def random_codes(frames: int, steps: int, bits: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**bits, size=(frames, steps), dtype=np.int64)


@pytest.mark.parametrize("bits", [1, 3, 6, 8, 11, 16, 32])
@pytest.mark.parametrize("frames,steps", [(0, 4), (1, 1), (7, 4), (50, 12)])
def test_round_trip_is_exact_and_sizes_are_exact(bits, frames, steps):
    codes = random_codes(frames, steps, bits, seed=bits * 100 + frames)
    codes.flat[:2] = 2**bits - 1 if codes.size else 0   # the extreme values survive too
    data = pack(codes, bits, op_point=OP, n_samples=96_000)
    assert len(data) == HEADER_BYTES + -(-frames * steps * bits // 8) == HEADER_BYTES + body_bytes(
        frames, steps, bits)
    assert payload_bits(data) == 8 * len(data)
    assert bit_counts(data) == {"payload_bits": 8 * len(data), "header_bits": 8 * HEADER_BYTES,
                                "body_bits": 8 * (len(data) - HEADER_BYTES),
                                "code_bits": frames * steps * bits}
    payload = unpack(data, op_point=OP, steps=steps, bits_per_code=bits)
    assert np.array_equal(payload.codes, codes) and payload.codes.dtype == np.int64
    assert (payload.n_frames, payload.steps, payload.bits_per_code, payload.n_samples) == (
        frames, steps, bits, 96_000)


def test_bits_are_packed_msb_first_without_gaps():
    assert pack_bits(np.array([0b101, 0b011, 0b111]), 3) == bytes([0b10101111, 0b10000000])
    assert unpack_bits(bytes([0b10101111, 0b10000000]), 3, 3).tolist() == [5, 3, 7]


def test_six_bit_codes_of_four_steps_take_three_bytes_per_frame():
    data = pack(random_codes(10, 4, 6), 6, op_point=OP)
    assert bit_counts(data)["body_bits"] == 10 * 24 == bit_counts(data)["code_bits"]


def test_every_corrupted_byte_is_detected():
    data = pack(random_codes(5, 4, 6), 6, op_point=OP, n_samples=1234)
    for position in range(len(data)):
        broken = bytearray(data)
        broken[position] ^= 0x10
        with pytest.raises(PayloadError, match="corrupted|version"):
            unpack(bytes(broken), op_point=OP)


def test_wrong_version_is_named():
    data = bytearray(pack(random_codes(5, 4, 6), 6, op_point=OP))
    data[0] = 7
    with pytest.raises(PayloadError, match="format version 7 is not supported"):
        unpack(bytes(data), op_point=OP)


@pytest.mark.parametrize("keep", [0, 5, HEADER_BYTES - 1, HEADER_BYTES, HEADER_BYTES + 3])
def test_truncated_payload_is_named(keep):
    data = pack(random_codes(5, 4, 6), 6, op_point=OP)
    with pytest.raises(PayloadError, match="truncated"):
        unpack(data[:keep], op_point=OP)


def test_trailing_bytes_are_refused():
    data = pack(random_codes(5, 4, 6), 6, op_point=OP)
    with pytest.raises(PayloadError, match="corrupted"):
        unpack(data + b"\x00", op_point=OP)


def test_codes_of_another_operating_point_are_refused():
    data = pack(random_codes(5, 4, 6), 6, op_point=OP)
    with pytest.raises(PayloadError, match="another operating point.*'spresso-2hz-m4k64'"):
        unpack(data, op_point="spresso-2hz-m4k64")


def test_decoder_expectations_are_checked():
    data = pack(random_codes(5, 4, 6), 6, op_point=OP)
    with pytest.raises(PayloadError, match="steps=4, the decoder expects 8"):
        unpack(data, op_point=OP, steps=8)
    with pytest.raises(PayloadError, match="bits_per_code=6, the decoder expects 8"):
        unpack(data, op_point=OP, bits_per_code=8)


@pytest.mark.parametrize("codes,bits,match", [
    (np.array([[0, 64]]), 6, r"\[0, 2\*\*6\)"),
    (np.array([[-1, 3]]), 6, r"\[0, 2\*\*6\)"),
    (np.array([[0.0, 1.0]]), 6, "integers"),
    (np.array([0, 1]), 6, "integers"),
    (np.zeros((2, 256), dtype=np.int64), 6, "1 to 255 steps"),
    (np.zeros((2, 2), dtype=np.int64), 0, "bits_per_code"),
    (np.zeros((2, 2), dtype=np.int64), 33, "bits_per_code"),
])
def test_pack_refuses_codes_it_cannot_hold(codes, bits, match):
    with pytest.raises(PayloadError, match=match):
        pack(codes, bits, op_point=OP)


def test_pack_needs_an_operating_point():
    with pytest.raises(PayloadError, match="op_point"):
        pack(np.zeros((2, 2), dtype=np.int64), 6, op_point="")


def test_quantiser_codes_survive_the_payload(fitted, test_x):
    _, model, _ = fitted
    codes = model.encode(test_x[:40])
    data = pack(codes, model.bits_per_code, op_point=OP, n_samples=0)
    payload = unpack(data, op_point=OP, steps=model.steps, bits_per_code=model.bits_per_code)
    assert torch.equal(model.decode(torch.from_numpy(payload.codes)), model.decode(codes))
    assert bit_counts(data)["code_bits"] == 40 * model.bits_per_vector
