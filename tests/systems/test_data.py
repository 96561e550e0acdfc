"""Training data: procedural clips, real manifests (ESC-50) and caption prompt sets (AudioCaps)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from systems.data import load_clips, load_prompt_set, manifest_clips


def test_sfx_clips_are_deterministic_and_captioned():
    spec = {"source": "sfx", "n_train": 6, "seed": 3}
    a, b = load_clips(spec, 16000, 2.048, progress=False), load_clips(spec, 16000, 2.048, progress=False)
    assert a.wav.shape == (6, 32768) and a.wav.dtype == torch.float32
    assert torch.equal(a.wav, b.wav) and a.captions == b.captions and all(a.captions)


def test_unknown_source_is_an_error():
    with pytest.raises(ValueError, match="unknown data source 'youtube'"):
        load_clips({"source": "youtube"}, 16000, 1.0)


def test_manifest_without_captions_is_refused(tmp_path, write_wav):
    write_wav("a.wav", np.zeros(1600, np.float32))
    (tmp_path / "m.csv").write_text("id,path,caption\na,a.wav,\n")
    with pytest.raises(ValueError, match="rows without a caption"):
        manifest_clips(tmp_path / "m.csv", 16000, 1600, progress=False)


def test_manifest_clips_are_resampled_and_cropped_or_padded(tmp_path, write_wav):
    write_wav("long.wav", np.ones(48000, np.float32) * 0.1, rate=48000)
    write_wav("short.wav", np.ones(800, np.float32) * 0.1, rate=16000)
    (tmp_path / "m.csv").write_text("id,path,caption\nlong,long.wav,a hum\nshort,short.wav,a click\n")
    clips = manifest_clips(tmp_path / "m.csv", 16000, 8000, progress=False)
    assert clips.wav.shape == (2, 8000) and clips.captions == ["a hum", "a click"]
    assert float(clips.wav[1, 800:].abs().max()) == 0.0  # zero-padded, not looped


def test_esc50_manifest_loads_as_training_clips(shared):
    manifest = shared / "data" / "esc50-cc" / "manifest.csv"
    clips = manifest_clips(manifest, 16000, 32768, where={"category": ["dog"]}, progress=False)
    assert len(clips) >= 1 and clips.wav.shape[1] == 32768
    assert all("dog" in c.lower() or c for c in clips.captions)
    assert float(clips.wav.abs().max()) > 0.01


def test_audiocaps_captions_are_a_prompt_set(shared):
    prompts = load_prompt_set(shared / "data" / "audiocaps" / "test.csv", limit=50)
    assert len(prompts) == 50 and len(set(prompts)) == 50 and all(p.strip() for p in prompts)


def test_prompt_set_needs_its_column(tmp_path):
    (tmp_path / "p.csv").write_text("id,text\n1,hello\n")
    with pytest.raises(ValueError, match="no column 'caption'"):
        load_prompt_set(tmp_path / "p.csv")
