"""``dac`` and ``encodec``: transformers' DacModel and EncodecModel behind the Codec interface, offline.

Each tiny random build is made in code, saved with ``save_pretrained`` and loaded back through the
``from_pretrained(dir)`` call a downloaded snapshot takes (``systems.hf_models``). The contract
tests (``test_contract.py``) run the generic codec checks on them; this file checks what is
particular to these adapters: the load path, rates and resampling, payload bits against the
formula, operating points, agreement with the library's own encode/decode, EnCodec's chunks and
scales (48-kHz-like build), refusals and the missing-weights error.
"""
from __future__ import annotations

import dataclasses
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

transformers = pytest.importorskip(
    "transformers", reason="the dac and encodec adapters need transformers (pip install -e . in the .venv)")

import torch  # noqa: E402

from systems import get_system  # noqa: E402
from systems.api import SystemInputError  # noqa: E402
from systems.dac import DACCodec  # noqa: E402
from systems.encodec import EncodecCodec  # noqa: E402
from systems.hf_models import TINY_RANDOM, tiny_model  # noqa: E402
from systems.quantizers import payload  # noqa: E402
from systems.tiny import dac as tiny_dac  # noqa: E402
from systems.tiny import encodec as tiny_encodec  # noqa: E402

SR = 16000
TINY = {"dac": (DACCodec, tiny_dac, "DacModel"), "encodec": (EncodecCodec, tiny_encodec, "EncodecModel")}
# operating points of the tiny builds: (setting, Q); DAC has 3 codebooks, EnCodec 3 kbps per codebook
OPS = {"dac": ("n_codebooks", [(1, 1), (2, 2), (3, 3)]),
       "encodec": ("bandwidth_kbps", [(3, 1), (6, 2), (12, 4)])}


@pytest.fixture(scope="module")
def make(tmp_path_factory):
    """``make(name, sample_rate=SR, **op)``: a loaded codec on its tiny build (built once per module,
    saved in a module cache and reused, as a user's cached download would be)."""
    cache, built = tmp_path_factory.mktemp("released-cache"), {}

    def build(name, sample_rate=SR, **op):
        key = (name, sample_rate, tuple(sorted(op.items())))
        if key not in built:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("FASTAUDIO_CACHE", str(cache))
                built[key] = TINY[name][0](model=TINY_RANDOM, sample_rate=sample_rate, **op).load("cpu")
        return built[key]
    return build


def noise(n_clips=2, n=SR, seed=0):
    return (0.3 * np.random.default_rng(seed).standard_normal((n_clips, n))).astype(np.float32)


def expected_bits(q: int, frames: int, bits: int, scales: int = 0) -> int:
    """Header + packed codes (+ a header and 32 bit per scale): what payload_bits must be."""
    codes = 8 * (payload.HEADER_BYTES + math.ceil(q * frames * bits / 8))
    return codes + (8 * (payload.HEADER_BYTES + 4 * scales) if scales else 0)


# ---------------------------------------------------------------- the tiny builds and the load path


@pytest.mark.parametrize("name", TINY)
def test_tiny_build_saves_and_loads_back_through_from_pretrained(name, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTAUDIO_CACHE", str(tmp_path))
    _, tiny, model_class = TINY[name]
    settings = tiny.settings()
    assert json.loads(json.dumps(settings)) == settings
    assert settings["transformers"] == transformers.__version__
    folder = tiny_model(name, tiny.build, settings)
    assert folder.parent == tmp_path / "released" and tiny_model(name, tiny.build, settings) == folder
    assert "random" in json.loads((folder / "fastaudio_tiny_random.json").read_text())["weights"]
    loaded = getattr(transformers, model_class).from_pretrained(folder)
    for key, value in tiny.CONFIG.items():
        assert getattr(loaded.config, key) == value, key
    fresh = tiny.build().state_dict()   # the fixed seed: the same weights every time
    assert all(torch.equal(fresh[k], v) for k, v in loaded.state_dict().items())
    codec = TINY[name][0](model=TINY_RANDOM).load()
    assert codec.net.config.to_dict() == loaded.config.to_dict() and codec.sample_rate == tiny.CONFIG[
        "sampling_rate"]


@pytest.mark.parametrize("name", TINY)
def test_construction_is_cheap_and_the_config_records_the_codec(name, make):
    cls = get_system(name)
    assert cls is TINY[name][0] and cls.requires == ("transformers",)
    assert cls.test_config == {"model": TINY_RANDOM}
    lazy = cls()   # the default hub id: nothing is downloaded or loaded before load()
    assert lazy.model == cls.default_model and lazy.net is None
    with pytest.raises(RuntimeError, match="load"):
        lazy.config()
    codec = cls.from_components(SimpleNamespace(ae=SimpleNamespace(sample_rate=SR), device="cpu"),
                                model=TINY_RANDOM)
    config = codec.config()
    json.dumps(config)
    assert config["system"] == name and config["model"] == TINY_RANDOM and "random" in config["weights"]
    assert config["transformers"] == transformers.__version__
    assert config["sample_rate"] == SR == codec.sample_rate
    assert config["codebook_size"] == 16 and config["bits_per_code"] == 4
    assert config["n_codebooks"] == codec.n_codebooks and config["model_codebooks"] in (3, 4)
    assert config["frame_rate_hz"] == config["native_rate_hz"] / config["hop_length"]


def test_sample_rates_and_the_resampling_policy(make):
    native = make("encodec", sample_rate=None)   # standalone: the model's own rate, no resampling
    assert native.sample_rate == native.native_rate == 24000 and native.config()["resampler"] is None
    resampled = make("encodec")   # built for 16-kHz clips: soxr to 24 kHz and back
    assert (resampled.sample_rate, resampled.native_rate) == (SR, 24000)
    assert resampled.config()["resampler"] == "soxr-HQ" and make("dac").config()["resampler"] is None
    for codec, rate in ((resampled, SR), (make("dac", sample_rate=44100), 44100)):
        encoded = codec.encode(noise(2, 777, seed=1))
        assert (encoded.sample_rate, encoded.num_samples) == (rate, 777)
        assert codec.decode(encoded).shape == (2, 777)
    assert resampled.unpack(resampled.encode(noise(1, SR)).codes[0]).n_native == 24000


# ---------------------------------------------------------------- payload, operating points, fidelity


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("n", [SR, 1001, 1])
def test_payload_bits_follow_the_formula_and_audio_round_trips(name, n, make):
    key, points = OPS[name]
    for setting, q in points:
        codec = make(name, **{key: setting})
        encoded = codec.encode(noise(2, n))
        clip = codec.unpack(encoded.codes[1], 1)
        frames = math.ceil(clip.n_native / codec.hop_length)
        assert clip.codes.shape == (q, frames) and clip.scales.size == 0 and codec.n_codebooks == q
        assert encoded.payload_bits == expected_bits(q, frames, 4) == 8 * len(encoded.codes[0])
        assert payload.bit_counts(encoded.codes[0])["code_bits"] == q * frames * 4
        assert encoded.bitrate_kbps == pytest.approx(encoded.payload_bits / (n / SR) / 1000)
        assert codec.bitrate_kbps() == pytest.approx(q * codec.frame_rate_hz * 4 / 1000)
        assert encoded.frame_rate_hz == codec.frame_rate_hz
        out = codec.decode(encoded)
        assert out.shape == (2, n) and out.dtype == np.float32 and np.abs(out).max() <= 1.0


def test_measured_rate_is_the_nominal_one_plus_the_header(make):
    codec = make("dac", n_codebooks=2)   # 2 · 2000 frames/s · 4 bit = 16 kbps, + 19 bytes per second
    assert codec.encode(noise(1, SR)).bitrate_kbps == pytest.approx(16 + 19 * 8 / 1000)


@pytest.mark.parametrize("name", TINY)
def test_more_codebooks_cost_more_bits_and_change_the_audio(name, make):
    key, points = OPS[name]
    audio = noise(1, 4000)
    codecs = [make(name, **{key: setting}) for setting, _ in points]
    bits = [c.encode(audio).payload_bits for c in codecs]
    nominal = [c.bitrate_kbps() for c in codecs]
    assert bits == sorted(set(bits)) and nominal == sorted(set(nominal))
    outs = [c.decode(c.encode(audio)) for c in codecs]
    assert not np.allclose(outs[0], outs[-1])


def test_adapters_code_exactly_like_the_library(make):
    """The codes and audio equal transformers' own encode/decode of the same (padded) clip."""
    x = noise(1, 1001)
    dac = make("dac", n_codebooks=2)
    padded = torch.nn.functional.pad(torch.from_numpy(x)[None], (0, 1008 - 1001))
    with torch.inference_mode():
        codes = dac.net.encode(padded, n_quantizers=2).audio_codes
        audio = dac.net.decode(audio_codes=codes).audio_values[0, :1001].numpy()
    np.testing.assert_array_equal(dac.unpack(dac.encode(x).codes[0]).codes, codes[0].numpy())
    np.testing.assert_allclose(dac.decode(dac.encode(x))[0], np.clip(audio, -1, 1), atol=1e-6)
    enc = make("encodec", sample_rate=None, bandwidth_kbps=6)
    with torch.inference_mode():
        out = enc.net.encode(torch.from_numpy(x)[None], bandwidth=6.0)
        audio = enc.net.decode(out.audio_codes, out.audio_scales).audio_values[0, 0, :1001].numpy()
    np.testing.assert_array_equal(enc.unpack(enc.encode(x).codes[0]).codes, out.audio_codes[0, 0].numpy())
    np.testing.assert_allclose(enc.decode(enc.encode(x))[0], np.clip(audio, -1, 1), atol=1e-6)


@pytest.mark.parametrize("name", TINY)
def test_deterministic_and_independent_of_the_batch(name, make):
    codec, audio = make(name), noise(3, 3000, seed=2)
    first, again = codec.encode(audio), codec.encode(audio)
    assert first.codes == again.codes
    alone = [codec.encode(audio[i:i + 1]).codes[0] for i in range(3)]
    assert list(first.codes) == alone
    np.testing.assert_array_equal(codec.decode(first), codec.decode(again))
    np.testing.assert_array_equal(codec.decode(first, seed=5), codec.decode(first))   # the seed is unused


def test_chunked_normalised_stereo_encodec_sends_its_scales(tmp_path, make):
    """A 48-kHz-like build (stereo, chunks with 1 % overlap, normalised): its per-chunk scales travel
    as float32 and are counted; codes, scales and audio equal the library's own."""
    folder = tmp_path / "encodec-chunked"
    chunked = tiny_encodec.build(chunk_length_s=0.05, overlap=0.01, normalize=True, audio_channels=2)
    chunked.save_pretrained(folder)
    codec = EncodecCodec(model=str(folder), bandwidth_kbps=6, sample_rate=24000).load()
    assert codec.net.config.chunk_length == 1200 and codec.net.config.chunk_stride == 1188
    x = noise(2, 2880, seed=3)   # chunks at 0, 1188, 2376: 1200, 1200 and 504 samples
    encoded = codec.encode(x)
    clip = codec.unpack(encoded.codes[0])
    assert codec.chunk_frames(2880) == [38, 38, 16]
    assert clip.codes.shape == (2, 92) and clip.scales.shape == (3,)
    assert encoded.payload_bits == expected_bits(2, 92, 4, scales=3)
    stereo = torch.from_numpy(x[:1])[:, None].expand(1, 2, -1)
    with torch.inference_mode():
        out = codec.net.encode(stereo, bandwidth=6.0)
        ref = codec.net.decode(out.audio_codes, out.audio_scales,
                               last_frame_pad_length=out.last_frame_pad_length)
    np.testing.assert_array_equal(clip.scales, [float(s) for s in out.audio_scales])
    np.testing.assert_array_equal(clip.codes[:, :38], out.audio_codes[0, 0].numpy())
    expected = np.clip(ref.audio_values[0].mean(0)[:2880].numpy(), -1, 1)
    np.testing.assert_allclose(codec.decode(encoded)[0], expected, atol=1e-6)
    without_scales = dataclasses.replace(encoded, codes=(encoded.codes[0][:-(payload.HEADER_BYTES + 12)],))
    with pytest.raises(SystemInputError, match="truncated"):
        codec.decode(without_scales)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("audio, match", [
    (np.zeros((1, 2, 100), np.float32), "mix down"), (np.zeros(100, np.float32), r"audio\[None\]"),
    (np.zeros((1, 0), np.float32), "empty"), (np.full((2, 100), np.nan, np.float32), "NaN"),
    (np.zeros((1, 100), np.complex64), "real"),
])
def test_bad_audio_is_refused(name, audio, match, make):
    with pytest.raises(SystemInputError, match=match):
        make(name).encode(audio)


def test_foreign_and_damaged_payloads_are_refused(make, tmp_path):
    codec = make("dac", n_codebooks=2)
    encoded = codec.encode(noise(2, 1000))
    data = encoded.codes[0]
    flipped = data[:-1] + bytes([data[-1] ^ 1])
    cases = [
        (encoded, {"steps": 2}, "without steps"),
        (dataclasses.replace(encoded, sample_rate=24000), {}, "24000 Hz"),
        (dataclasses.replace(encoded, codes=()), {}, "no per-clip bytes"),
        (dataclasses.replace(encoded, codes=(np.zeros(3),)), {}, "expected the bytes"),
        (dataclasses.replace(encoded, codes=(data[:-3],)), {}, "truncated"),
        (dataclasses.replace(encoded, codes=(data[:10],)), {}, "truncated"),
        (dataclasses.replace(encoded, codes=(flipped,)), {}, "CRC32"),
        (dataclasses.replace(encoded, codes=(data + b"\0",)), {}, "unexpected bytes"),
    ]
    for bad, kwargs, match in cases:
        with pytest.raises(SystemInputError, match=match):
            codec.decode(bad, **kwargs)
    tiny_dac.build().save_pretrained(tmp_path / "dac")   # the same weights, named as another model
    for other in (make("dac", n_codebooks=3), DACCodec(str(tmp_path / "dac"), 2).load()):
        with pytest.raises(SystemInputError, match="another operating point"):
            other.decode(encoded)
    with pytest.raises(SystemInputError, match="another operating point"):
        make("encodec", bandwidth_kbps=6).decode(make("encodec", bandwidth_kbps=3).encode(noise(1, 500)))


def test_bad_settings_are_refused_with_the_choices(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTAUDIO_CACHE", str(tmp_path))
    components = SimpleNamespace(ae=SimpleNamespace(sample_rate=SR))
    for build, match in [(lambda: DACCodec(n_codebooks=0), "positive integer"),
                         (lambda: DACCodec(sample_rate=-1), "positive integer"),
                         (lambda: EncodecCodec(bandwidth_kbps="6"), "target bandwidths"),
                         (lambda: EncodecCodec(model=""), "hub id"),
                         (lambda: DACCodec.from_components(components, sample_rate=SR), "sample_rate")]:
        with pytest.raises(SystemInputError, match=match):
            build()
    too_many = DACCodec(model=TINY_RANDOM, n_codebooks=4)
    with pytest.raises(SystemInputError, match="has 3 codebooks; pass 1 to 3"):
        too_many.load()
    assert too_many.net is None
    with pytest.raises(SystemInputError, match=r"bandwidths \[3.0, 6.0, 12.0\] kbps, not 5"):
        EncodecCodec(model=TINY_RANDOM, bandwidth_kbps=5).load()


@pytest.mark.parametrize("name", TINY)
def test_missing_weights_are_a_clear_error(name, tmp_path, monkeypatch):
    import huggingface_hub.constants

    cls = TINY[name][0]
    with pytest.raises(SystemInputError, match=r"could not load model .*no-such-folder.*tiny-random"):
        cls(model=str(tmp_path / "no-such-folder")).load()
    # the hub client reads HF_HUB_OFFLINE (and its cache path) when first imported, so the already
    # imported module's constants are patched too; an empty cache: nothing downloaded before counts
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(SystemInputError, match=rf"{cls.default_model}.*needs internet.*hf download"):
        cls().load()
