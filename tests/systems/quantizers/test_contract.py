"""The VectorQuantizer contract, checked for every registered quantiser (rvq and qinco2)."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from common.registry import UnknownNameError
from systems.quantizers import QUANTIZERS, QuantizerError, get_quantizer
from systems.quantizers.qinco2 import QINCo2
from systems.quantizers.rvq import ResidualKMeans
from tests.systems.quantizers.conftest import CODEBOOK, DIM, STEPS, make


def test_registry_resolves_every_name_and_suggests_on_typos():
    assert get_quantizer("rvq") is ResidualKMeans and get_quantizer("qinco2") is QINCo2
    assert {get_quantizer(name).kind for name in QUANTIZERS} == set(QUANTIZERS)
    with pytest.raises(UnknownNameError, match="Did you mean 'qinco2'"):
        get_quantizer("qinco")


@pytest.mark.parametrize("kind", ["rvq", "qinco2"])
def test_bits_and_json_config(kind):
    model = make(kind)
    assert model.bits_per_code == 4 and model.bits_per_vector == STEPS * 4
    config = json.loads(json.dumps(model.config()))
    assert config["quantizer"] == kind and config["codebook_size"] == CODEBOOK
    changed = {"rvq": {"init": "random"}, "qinco2": {"beam": 2}}[kind]
    assert make(kind).config() == config and make(kind, **changed).config() != config


@pytest.mark.parametrize("kind", ["rvq", "qinco2"])
@pytest.mark.parametrize("size", [0, 1, 48, 100])
def test_codebook_size_must_be_a_power_of_two(kind, size):
    with pytest.raises(QuantizerError, match="power of 2"):
        get_quantizer(kind)(DIM, 2, size)


def test_prefixes_decode_at_lower_rate_with_non_increasing_error(fitted, train_x, test_x):
    kind, model, _ = fitted
    for x in (train_x, test_x):
        codes = model.encode(x)
        assert codes.shape == (len(x), STEPS) and codes.dtype == torch.long
        errors = []
        for m in range(STEPS + 1):   # m = 0: zero bits, every vector decodes to the data mean
            x_hat = model.decode(codes[:, :m])
            assert x_hat.shape == x.shape and torch.isfinite(x_hat).all()
            errors.append(float((x.double() - x_hat.double()).pow(2).mean()))
        assert all(a >= b for a, b in zip(errors, errors[1:])), (kind, errors)
        assert errors[1:] == pytest.approx(model.prefix_mse(x), rel=1e-6)
    assert torch.allclose(model.decode(codes[:, :0]), model.data_mean.expand(len(x), DIM))


def test_fit_report(fitted):
    kind, model, report = fitted
    assert report["quantizer"] == kind and report["config"] == model.config()
    assert len(report["train_mse_per_step"]) == STEPS and report["wall_s"] > 0
    assert isinstance(report["resets"], int) and report["resets"] >= 0
    json.dumps(report)


def test_fit_is_deterministic_given_the_seed(fitted, train_x, test_x):
    kind, model, _ = fitted
    again = make(kind)
    again.fit(train_x, seed=0)
    codes = model.encode(test_x)
    assert torch.equal(again.encode(test_x), codes)
    assert torch.equal(again.decode(codes), model.decode(codes))
    other = make(kind)
    other.fit(train_x, seed=1)
    assert not torch.equal(other.encode(test_x), codes)


def test_batched_encode_equals_one_shot(fitted, test_x):
    _, model, _ = fitted
    codes = model.encode(test_x)
    parts = torch.cat([model.encode(test_x[:1]), model.encode(test_x[1:37]), model.encode(test_x[37:])])
    assert torch.equal(parts, codes)
    chunk, model.chunk_vectors = model.chunk_vectors, 50   # the internal chunking does not matter
    try:
        assert torch.equal(model.encode(test_x), codes)
        assert torch.equal(model.decode(codes), torch.cat([model.decode(c) for c in codes.split(77)]))
    finally:
        model.chunk_vectors = chunk


def test_state_dict_round_trip_through_safetensors(fitted, test_x, tmp_path):
    kind, model, _ = fitted
    save_file(model.state_dict(), tmp_path / "q.safetensors")
    fresh = make(kind)
    fresh.load_state_dict(load_file(tmp_path / "q.safetensors"))
    codes = model.encode(test_x)
    assert torch.equal(fresh.encode(test_x), codes)
    assert torch.equal(fresh.decode(codes), model.decode(codes))


def test_encode_with_fewer_steps(fitted, test_x):
    kind, model, _ = fitted
    short = model.encode(test_x, steps=2)
    assert short.shape == (len(test_x), 2)
    if kind == "rvq":   # greedy: the best 2-step code is the prefix of the full one
        assert torch.equal(short, model.encode(test_x)[:, :2])
    with pytest.raises(QuantizerError, match="exceeds"):
        model.encode(test_x, steps=STEPS + 1)


@pytest.mark.parametrize("kind", ["rvq", "qinco2"])
def test_use_before_fit_is_refused(kind, test_x):
    model = make(kind)
    with pytest.raises(QuantizerError, match="before fit"):
        model.encode(test_x)
    with pytest.raises(QuantizerError, match="before fit"):
        model.decode(torch.zeros(3, STEPS, dtype=torch.long))


def test_bad_vectors_are_refused(fitted, test_x):
    _, model, _ = fitted
    with pytest.raises(QuantizerError, match=r"dim=6\], got torch.float32 \(1000, 5\)"):
        model.encode(test_x[:, :5])
    with pytest.raises(QuantizerError, match=r"pass x\[None\]"):
        model.encode(test_x[0])
    with pytest.raises(QuantizerError, match="float vectors"):
        model.encode(torch.ones(4, DIM, dtype=torch.long))
    bad = test_x.clone()
    bad[[3, 7], 1] = float("nan")
    bad[9, 0] = float("inf")
    with pytest.raises(QuantizerError, match="3 of 1000 vectors contain NaN or Inf"):
        model.encode(bad)


def test_bad_codes_are_refused(fitted):
    _, model, _ = fitted
    with pytest.raises(QuantizerError, match=r"in \[0, 16\), got values in \[0, 16\]"):
        model.decode(torch.tensor([[0, 16, 1]]))
    with pytest.raises(QuantizerError, match=r"in \[0, 16\), got values in \[-1, 2\]"):
        model.decode(torch.tensor([[-1, 2, 1]]))
    with pytest.raises(QuantizerError, match="codes have 4 steps but this quantiser has steps=3"):
        model.decode(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(QuantizerError, match="integer codes"):
        model.decode(torch.zeros(2, 3))
    with pytest.raises(QuantizerError, match="integer codes"):
        model.decode(torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("kind", ["rvq", "qinco2"])
def test_fit_refuses_too_little_or_constant_data(kind, train_x):
    with pytest.raises(QuantizerError, match="at least codebook_size=16 vectors, got 10"):
        make(kind).fit(train_x[:10])
    with pytest.raises(QuantizerError, match="zero variance"):
        make(kind).fit(torch.ones(100, DIM))


def test_bad_settings_are_refused():
    with pytest.raises(QuantizerError, match="steps must be a positive integer"):
        ResidualKMeans(DIM, 0, 16)
    with pytest.raises(QuantizerError, match="unknown k-means init 'kmeans'"):
        ResidualKMeans(DIM, 2, 16, init="kmeans")
    with pytest.raises(QuantizerError, match="finite and ≥ 0"):
        QINCo2(DIM, 2, 16, lr=-1.0)
    with pytest.raises(QuantizerError, match="beam must be a positive integer"):
        QINCo2(DIM, 2, 16, beam=0)
