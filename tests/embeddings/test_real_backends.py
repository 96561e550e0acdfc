"""Real-model backends (LAION-CLAP, PaSST, OpenL3, VGGish) without their weights.

The pre-processing of each backend is tested as pure functions against hand-computed values;
availability/load errors and cheap construction are tested with the packages absent; shapes are
tested with randomly initialised networks where a package is importable, and with real weights
(``slow``) where they are present. Everything else skips with the reason.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from metrics.embeddings import _openl3 as ol3
from metrics.embeddings import clap_laion as cl
from metrics.embeddings import get_backend
from metrics.embeddings import passt as ps
from metrics.embeddings import vggish as vg
from metrics.embeddings.base import BackendUnavailable

REPO = Path(__file__).resolve().parents[2]
REAL = {  # registry name -> (importable module that makes it available, text in its hint)
    "clap-laion-audio": ("laion_clap", "630k-audioset-best.pt"),
    "clap-laion-music": ("laion_clap", "music_audioset_epoch_15_esc_90.14.pt"),
    "passt": ("hear21passt", "passt-s-f128-p16-s10-ap.476-swa.pt"),
    "openl3-env": ("openl3", "torchopenl3"),
    "openl3-music": ("openl3", "torchopenl3"),
    "vggish": ("torchvggish", "vggish-10086976.pth"),
}
HEAVY = ("torch", "laion_clap", "hear21passt", "openl3", "tensorflow", "torchopenl3", "torchvggish")


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def backend_installed(name: str) -> bool:
    return installed(REAL[name][0]) or (name.startswith("openl3") and installed("torchopenl3"))


# --- LAION-CLAP pre-processing (fadtk chunks, laion_clap quantisation and repeatpad) ---

def test_int16_roundtrip_matches_laion_clap_rounding():
    x = np.array([0.5, -0.5, 1.5, -2.0, 3.7 / 32767, 0.0], np.float32)
    y = cl.int16_roundtrip(x)
    # 0.5 * 32767 = 16383.5 truncates to 16383; out-of-range values clip to +-32767.
    expected = np.array([16383, -16383, 32767, -32767, 3, 0]) / 32767.0
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, expected.astype(np.float32), rtol=0, atol=0)


@pytest.mark.parametrize("seconds, count", [(10.0, 10), (12.5, 13), (0.5, 1), (1.0, 1), (0.0, 1)])
def test_clap_chunk_counts_one_per_second(seconds, count):
    starts = cl.chunk_starts(int(seconds * 48_000))
    assert len(starts) == count
    np.testing.assert_array_equal(starts, np.arange(count) * 48_000)


def test_clap_chunks_are_zero_padded_to_ten_seconds():
    x = np.arange(1, 120_001, dtype=np.float32)  # 2.5 s
    chunks = cl.take_chunks(x, cl.chunk_starts(len(x)))
    assert chunks.shape == (3, 480_000)
    np.testing.assert_array_equal(chunks[0, :120_000], x)
    np.testing.assert_array_equal(chunks[2, :24_000], x[96_000:])
    assert not chunks[0, 120_000:].any() and not chunks[2, 24_000:].any()
    ten = cl.take_chunks(np.ones(480_000), cl.chunk_starts(480_000))  # 10 s -> 10 frames
    assert ten.shape == (10, 480_000) and ten[0].all() and ten[9].sum() == 48_000


def test_repeat_pad_tiles_whole_copies_then_zeros():
    np.testing.assert_array_equal(cl.repeat_pad(np.array([1, 2, 3.0]), 10),
                                  [1, 2, 3, 1, 2, 3, 1, 2, 3, 0])
    np.testing.assert_array_equal(cl.repeat_pad(np.array([1, 2, 3, 4.0]), 10),
                                  [1, 2, 3, 4, 1, 2, 3, 4, 0, 0])
    np.testing.assert_array_equal(cl.repeat_pad(np.array([]), 3), [0, 0, 0])


def test_lpaps_input_first_ten_seconds_repeat_padded():
    long = np.arange(600_000, dtype=np.float32)
    np.testing.assert_array_equal(cl.lpaps_input(long), long[:480_000])
    short = np.arange(1, 192_001, dtype=np.float32)  # 4 s: two copies (8 s), then 2 s of zeros
    y = cl.lpaps_input(short)
    np.testing.assert_array_equal(y[:192_000], short)
    np.testing.assert_array_equal(y[192_000:384_000], short)
    assert not y[384_000:].any()


def test_clean_state_dict_strips_ddp_prefix_and_position_ids():
    state = {"module.a.weight": 1, "module.text_branch.embeddings.position_ids": 2, "b": 3}
    assert cl.clean_state_dict(state) == {"a.weight": 1, "b": 3}


# --- PaSST windows (av-benchmark first 10 s; stable-audio-metrics KL windows) ---

def test_passt_first_window_truncates_and_pads():
    long = np.arange(400_000, dtype=np.float32)
    np.testing.assert_array_equal(ps.first_window(long), long[:320_000])
    short = np.ones(96_000, np.float32)  # 3 s
    y = ps.first_window(short)
    assert y.shape == (320_000,) and y[:96_000].all() and not y[96_000:].any()


S = 32_000


@pytest.mark.parametrize("n, expected", [
    (10 * S, [(0, 10 * S, False)]),
    (12 * S, [(0, 10 * S, False), (5 * S, 12 * S, True)]),
    (16 * S, [(0, 10 * S, False), (5 * S, 15 * S, False), (10 * S, 16 * S, True)]),
    (7 * S, [(0, 7 * S, True)]),
    (48_001, [(0, 48_001, True)]),  # just over 1.5 s: padded
    (48_000, [(0, 48_000, False)]),  # exactly 15 %: not "longer than", fed unpadded
    (S, [(0, S, False)]),
])
def test_sam_window_positions_and_padding_rule(n, expected):
    assert ps.sam_window_bounds(n) == expected


def test_sam_windows_arrays():
    x = np.arange(12 * S, dtype=np.float32)
    wins = ps.sam_windows(x)
    assert [len(w) for w in wins] == [320_000, 320_000]
    np.testing.assert_array_equal(wins[1][:7 * S], x[5 * S:])
    assert not wins[1][7 * S:].any()
    assert [len(w) for w in ps.sam_windows(np.ones(S, np.float32))] == [S]


def test_parse_audioset_labels_orders_by_index():
    text = 'index,mid,display_name\n1,/m/b,"Speech, male"\n0,/m/a,Music\n'
    assert ps.parse_audioset_labels(text) == ["Music", "Speech, male"]


def test_passt_labels_explain_where_to_get_them(monkeypatch, tmp_path):
    monkeypatch.delenv(ps.LABELS_ENV_VAR, raising=False)
    with pytest.raises(BackendUnavailable, match="class_labels_indices.csv"):
        ps.PasstBackend().label_names()
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("index,mid,display_name\n" +
                        "".join(f"{i},/m/{i},name{i}\n" for i in range(527)))
    names = ps.PasstBackend(labels=str(csv_path)).label_names()
    assert len(names) == 527 and names[526] == "name526"


def test_passt_rejects_unknown_window():
    with pytest.raises(ValueError, match="window"):
        ps.PasstBackend(window="random")


# --- OpenL3 framing and SAM's stereo convention ---

@pytest.mark.parametrize("seconds, center, frames", [
    (10.0, True, 20), (1.0, True, 2), (0.2, True, 1), (1.5, True, 3), (0.5, True, 1),
    (1.0, False, 1), (2.0, False, 3)])
def test_openl3_frame_count_half_second_hop(seconds, center, frames):
    assert ol3.openl3_frame_count(int(seconds * 48_000), center=center) == frames


def test_stereo_duplicates_mono_and_keeps_left_right():
    mono = np.arange(4, dtype=np.float32)
    left, right = ol3.channel_signals(mono, 2)
    np.testing.assert_array_equal(left, mono)
    np.testing.assert_array_equal(right, mono)
    stereo = np.stack([mono, -mono])
    left, right = ol3.channel_signals(stereo, 2)
    np.testing.assert_array_equal(right, -mono)
    (mean,) = ol3.channel_signals(stereo, 1)
    assert not mean.any()
    (same,) = ol3.channel_signals(mono, 1)
    np.testing.assert_array_equal(same, mono)


def test_openl3_channels_option_sets_dim_and_channel_policy():
    backend_cls = get_backend("openl3-env")
    assert (backend_cls().dim, backend_cls().channels) == (1024, "stereo")
    mono = backend_cls(channels=1)
    assert (mono.dim, mono.channels, mono.config()["n_channels"]) == (512, "mono", 1)
    with pytest.raises(ValueError, match="channels"):
        backend_cls(channels=3)


# --- VGGish framing ---

@pytest.mark.parametrize("n, count", [(16_000, 1), (15_600, 1), (15_599, 0), (160_000, 10),
                                      (48_000, 3), (0, 0)])
def test_vggish_example_count(n, count):
    assert vg.vggish_example_count(n) == count


def test_vggish_pads_short_clips_to_one_second():
    y = vg.pad_to_min(np.ones(8_000))
    assert y.shape == (16_000,) and y[:8_000].all() and not y[8_000:].any()
    x = np.ones(20_000)
    assert vg.pad_to_min(x) is x
    assert vg.vggish_example_count(len(vg.pad_to_min(np.ones(100)))) == 1


# --- contract: registry, availability, load errors, cheap construction, config ---

@pytest.mark.parametrize("name", sorted(REAL))
def test_registered_class_attributes(name):
    cls = get_backend(name)
    rates = {"passt": 32_000, "vggish": 16_000}
    assert cls.name == name and cls.sample_rate == rates.get(name, 48_000)
    assert cls.dim == {"passt": 768, "vggish": 128}.get(name, 1024 if "openl3" in name else 512)
    if name.startswith("clap"):
        hint = cls.weights_hint()
        assert cls.checkpoint in hint and cls.env_var in hint and "huggingface.co" in hint


@pytest.mark.parametrize("name", sorted(REAL))
def test_unavailable_without_package_names_the_fix(name, monkeypatch):
    if backend_installed(name):
        pytest.skip(f"a package for {name} is installed here")
    cls = get_backend(name)
    ok, reason = cls.availability()
    assert not ok and "pip install" in reason and REAL[name][1] in reason
    with pytest.raises(BackendUnavailable, match="pip install"):
        cls().load("cpu")


def test_constructors_import_nothing_heavy():
    code = (
        "import sys\n"
        "from metrics.embeddings import get_backend\n"
        f"for n in {sorted(REAL)!r}:\n"
        "    b = get_backend(n)(); b.availability(); b.config()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_config_records_weights_hash_and_preprocessing(tmp_path):
    weights = tmp_path / "my.pt"
    weights.write_bytes(b"abc")
    sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")
    clap = get_backend("clap-laion-audio")(weights=str(weights), batch_size=4).config()
    assert clap["weights_sha256"] == sha and clap["checkpoint"] == "my.pt"
    assert (clap["chunk_s"], clap["hop_s"], clap["quantise"]) == (10.0, 1.0, "int16")
    assert clap["options"] == {} and clap["amodel"] == "HTSAT-tiny"
    passt = ps.PasstBackend(window="sam", weights=str(weights)).config()
    assert passt["weights_sha256"] == sha and passt["window"] == "sam"
    assert vg.VggishBackend(weights=str(weights)).config()["weights_sha256"] == sha
    assert get_backend("clap-laion-music")().config()["amodel"] == "HTSAT-base"


def test_weights_resolution_order(tmp_path, monkeypatch):
    env_file = tmp_path / "env.pth"
    monkeypatch.setenv(vg.ENV_VAR, str(env_file))
    assert vg.VggishBackend().weights_path() == env_file
    assert vg.VggishBackend(weights="/x/opt.pth").weights_path() == Path("/x/opt.pth")
    monkeypatch.delenv(vg.ENV_VAR)
    assert vg.VggishBackend().weights_path() is None
    audio = get_backend("clap-laion-audio")
    monkeypatch.delenv(audio.env_var, raising=False)
    assert audio().weights_path().name == "630k-audioset-best.pt"
    monkeypatch.setenv(audio.env_var, str(env_file))
    assert audio().weights_path() == env_file


def test_missing_explicit_weights_file_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv(ps.ENV_VAR, str(tmp_path / "nope.pt"))
    ok, reason = ps.PasstBackend.availability()
    assert not ok and ("nope.pt" in reason or "pip install" in reason)
    if installed("hear21passt"):
        with pytest.raises(BackendUnavailable, match="nope.pt"):
            ps.PasstBackend().load("cpu")


# --- glue code around the networks, with stand-in models (torch only) ---

class _FakeStage(torch.nn.Module):
    """Stands in for a Swin stage: halves the tokens, returns (x, attn) like BasicLayer."""

    def forward(self, x):
        return x[:, ::2], None


class _FakeClap:
    """CLAP_Module and its .model as the backend uses them; outputs encode the input."""

    def __init__(self):
        self.model = self
        self.audio_branch = torch.nn.Module()
        self.audio_branch.layers = torch.nn.ModuleList(_FakeStage() for _ in range(4))
        self.batches = []

    def get_audio_embedding(self, data):
        wav = torch.stack([d["waveform"] for d in data])
        self.batches.append(wav.shape)
        out = torch.zeros(len(wav), 512)
        out[:, 0], out[:, 1] = wav.double().sum(1).float(), wav.shape[1]
        return out

    def encode_audio(self, data, device):
        x = data["waveform"].reshape(1, 1200, 400)[:, :, :8]
        for layer in self.audio_branch.layers:
            x, _ = layer(x)
        return {"embedding": x}

    def get_text_embedding(self, texts, use_tensor=True):
        return torch.tensor([[float(t)] * 512 for t in texts])


def test_clap_embed_glue_with_stand_in_model():
    backend = get_backend("clap-laion-audio")(batch_size=4)
    backend._clap = _FakeClap()
    x = np.linspace(-1.2, 1.2, 10 * 48_000 + 100, dtype=np.float32)
    (out,) = backend.embed([x], frozenset({"embedding", "layers"}))
    q = cl.int16_roundtrip(x)
    sums = [q[s:s + 480_000].astype(np.float64).sum() for s in range(0, len(x), 48_000)]
    assert out["embedding"].shape == (11, 512) and out["embedding"].dtype == np.float32
    np.testing.assert_allclose(out["embedding"][:, 0], sums, rtol=1e-5, atol=1e-2)
    assert (out["embedding"][:, 1] == 480_000).all()
    assert [b[0] for b in backend._clap.model.batches] == [4, 4, 3]
    assert [a.shape for a in out["layers"]] == [(600, 8), (300, 8), (150, 8), (75, 8)]
    expected = cl.lpaps_input(x).reshape(1200, 400)[::2, :8]
    np.testing.assert_array_equal(out["layers"][0], expected)
    assert len(backend._clap.model.audio_branch.layers[0]._forward_hooks) == 0


def test_clap_clip_input_is_one_repeat_padded_frame():
    backend = get_backend("clap-laion-audio")(audio_input="clip")
    backend._clap = _FakeClap()
    x = np.full(4 * 48_000, 0.25, np.float32)  # 4 s: two copies, then 2 s of zeros
    (out,) = backend.embed([x], frozenset({"embedding"}))
    assert out["embedding"].shape == (1, 512)
    assert out["embedding"][0, 0] == pytest.approx(2 * 4 * 48_000 * 8191 / 32767, rel=1e-6)
    with pytest.raises(ValueError, match="audio_input"):
        get_backend("clap-laion-audio")(audio_input="fusion")


def test_clap_text_batches_keep_order():
    backend = get_backend("clap-laion-music")()
    backend._clap = _FakeClap()
    texts = [str(i) for i in range(130)]
    emb = backend.embed_text(texts)
    assert emb.shape == (130, 512)
    np.testing.assert_array_equal(emb[:, 0], np.arange(130))
    assert backend.embed_text([]).shape == (0, 512)


def test_clap_checkpoint_reading_and_strict_loading(tmp_path):
    state = {"module.w": torch.ones(2), "module." + cl.POSITION_IDS: torch.arange(3)}
    path = tmp_path / "ck.pt"
    # LAION files carry training metadata the safe unpickler refuses (numpy scalars).
    torch.save({"epoch": np.float64(15.0), "state_dict": state}, path)
    loaded = cl.read_checkpoint(path)
    assert list(loaded) == ["w"]
    target = torch.nn.Module()
    target.w = torch.nn.Parameter(torch.zeros(2))
    cl.load_into(target, loaded, "ck.pt")
    assert target.w.sum().item() == 2.0
    with pytest.raises(BackendUnavailable, match="unexpected"):
        cl.load_into(target, {"w": torch.ones(2), "extra": torch.ones(1)}, "ck.pt")


def _fake_passt(x):
    """[b, n] -> [b, 1295]: logit 0 = sum of the input, feature 0 = its length."""
    out = torch.zeros(len(x), 527 + 768)
    out[:, 0], out[:, 527] = x.double().sum(1).float(), x.shape[1]
    return out


def test_passt_glue_first10s_and_sam_with_stand_in_model():
    x12 = np.linspace(-1, 1, 12 * S, dtype=np.float32)
    x3 = np.ones(3 * S, np.float32)
    backend = ps.PasstBackend(batch_size=1)
    backend._model = _fake_passt
    a, b = backend.embed([x12, x3], frozenset({"embedding", "logits"}))
    assert a["embedding"].shape == (1, 768) and a["logits"].shape == (1, 527)
    np.testing.assert_allclose(a["logits"][0, 0], x12[:10 * S].astype(np.float64).sum(), atol=1e-2)
    assert b["logits"][0, 0] == pytest.approx(3 * S) and b["embedding"][0, 0] == 320_000
    assert "logits" not in backend.embed([x3], frozenset({"embedding"}))[0]
    sam = ps.PasstBackend(window="sam")
    sam._model = _fake_passt
    (w,) = sam.embed([x12], frozenset({"logits"}))
    sums = [x12[:10 * S].astype(np.float64).sum(), x12[5 * S:].astype(np.float64).sum()]
    np.testing.assert_allclose(w["logits"][:, 0], sums, atol=1e-2)
    np.testing.assert_array_equal(w["embedding"][:, 0], [320_000, 320_000])


# --- shapes with random weights (package importable, no download) ---

def _save_random_state(model, path: Path) -> str:
    torch.save(model.state_dict(), path)
    return str(path)


@pytest.mark.skipif(not installed("torchvggish"), reason="torchvggish is not installed")
def test_vggish_shapes_with_random_weights(tmp_path):
    import torchvggish

    path = _save_random_state(torchvggish.VGG(torchvggish.make_layers(), postprocess=False),
                              tmp_path / "vggish.pth")
    backend = vg.VggishBackend(weights=path)
    backend.load("cpu")
    rng = np.random.default_rng(0)
    out = backend.embed([rng.uniform(-0.5, 0.5, 48_000).astype(np.float32),
                         np.zeros(4_000, np.float32)], frozenset({"embedding"}))
    assert out[0]["embedding"].shape == (3, 128) and out[1]["embedding"].shape == (1, 128)
    assert out[0]["embedding"].dtype == np.float32


@pytest.mark.skipif(not installed("torchopenl3"), reason="torchopenl3 is not installed")
def test_torchopenl3_stereo_shapes_with_random_weights(tmp_path):
    import torchopenl3

    net = torchopenl3.models.PytorchOpenl3(content_type="env", input_repr="mel256",
                                           embedding_size=512)
    path = _save_random_state(net, tmp_path / "ol3.pth.tar")
    backend = get_backend("openl3-env")(weights=path, implementation="torchopenl3")
    backend.load("cpu")
    rng = np.random.default_rng(0)
    mono = rng.uniform(-0.5, 0.5, 48_000).astype(np.float32)  # 1 s
    out = backend.embed([mono, np.stack([mono, mono])], frozenset({"embedding"}))
    assert out[0]["embedding"].shape == (2, 1024)
    # SAM duplicates mono to L = R: identical to the same signal given as stereo.
    np.testing.assert_allclose(out[0]["embedding"], out[1]["embedding"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0]["embedding"][:, :512], out[0]["embedding"][:, 512:])


@pytest.mark.skipif(not installed("hear21passt"), reason="hear21passt is not installed")
def test_passt_shapes_with_random_weights(tmp_path):
    from hear21passt.models.passt import get_model

    path = _save_random_state(get_model(arch=ps.ARCH, pretrained=False), tmp_path / "passt.pt")
    for window, frames in (("first10s", 1), ("sam", 2)):
        backend = ps.PasstBackend(weights=path, window=window)
        backend.load("cpu")
        (out,) = backend.embed([np.zeros(12 * S, np.float32)], frozenset({"logits"}))
        assert out["embedding"].shape == (frames, 768) and out["logits"].shape == (frames, 527)


# --- real weights (slow): skip with the backend's own reason when they are absent ---

def _loaded_or_skip(name: str, **options):
    backend = get_backend(name)(**options)
    ok, reason = backend.availability()
    if not ok:
        pytest.skip(reason)
    try:
        backend.load("cpu")
    except BackendUnavailable as e:
        pytest.skip(str(e))
    return backend


def _tone(seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["clap-laion-audio", "clap-laion-music"])
def test_clap_real_weights_shapes_and_determinism(name):
    backend = _loaded_or_skip(name)
    clip = _tone(12.0, 48_000)
    first, again = backend.embed([clip, clip], frozenset({"embedding", "layers"}))
    assert first["embedding"].shape == (12, 512)
    np.testing.assert_array_equal(first["embedding"], again["embedding"])
    assert len(first["layers"]) == 4 and all(a.ndim == 2 for a in first["layers"])
    text = backend.embed_text(["a dog barks", "rain on a roof"])
    assert text.shape == (2, 512)
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, rtol=1e-4)


@pytest.mark.slow
def test_passt_real_weights_shapes():
    backend = _loaded_or_skip("passt", window="sam")
    (out,) = backend.embed([_tone(12.0, S)], frozenset({"logits"}))
    assert out["embedding"].shape == (2, 768) and out["logits"].shape == (2, 527)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["openl3-env", "openl3-music"])
def test_openl3_real_weights_shapes(name):
    backend = _loaded_or_skip(name)
    (out,) = backend.embed([_tone(2.0, 48_000)], frozenset({"embedding"}))
    assert out["embedding"].shape == (ol3.openl3_frame_count(96_000), 1024)


@pytest.mark.slow
def test_vggish_real_weights_shapes():
    backend = _loaded_or_skip("vggish")
    (out,) = backend.embed([_tone(3.0, 16_000)], frozenset({"embedding"}))
    assert out["embedding"].shape == (3, 128) and (out["embedding"] < 0).any()

