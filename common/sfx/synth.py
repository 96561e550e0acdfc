"""Render one clip of the sound-effect set from its attributes and a seed (numpy only).

The clip is a sequence of ``n`` events with period ``P`` starting at ``onset``; each event type
is an excitation times a gate envelope (``EVENT_INFO`` in attributes.py). The level is set with
the same meter the analysis reads (``momentary_level_db``). Everything random (centre
frequency, period, onset, level, phases, noise) comes from one ``Generator(PCG64(seed))``,
so a clip is a pure function of (attrs, seed, sample_rate, clip_duration_s).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from common.sfx.attributes import (
    LEVEL_DBFS,
    MIN_CLIP_S,
    ONSET_WINDOW_S,
    PERIOD_JITTER,
    PERIOD_S,
    PERIODS_IN_SPAN,
    PITCH_CENTRE_HZ,
    SfxAttributes,
    momentary_level_db,
)

DUTY = (0.5, 0.6)  # event length / period, so gaps of >= 80 ms separate fast events
ATTACK_S, RELEASE_S, FADE_S = 0.004, 0.015, 0.005
DECAY_DB = 24.0  # impact/pluck decay and rain swell across one event
CLICK_TAU_S = 0.005
SWEEP_OCTAVES = 2.0  # c/2 <-> 2c: a slope that noise bands cannot fake
RAIN_DROPS_PER_S = 1000.0
# Noise bands span 3 octaves: wide enough (>= 6 mel bands even at 140 Hz) to never look like a line.
BAND_OCTAVES = 3.0
PEAK_LIMIT = 0.98


@dataclass(frozen=True)
class Layout:
    """Where the events are: onset times (s), event length (s), centre frequency (Hz)."""

    onsets: np.ndarray
    length_s: float
    centre_hz: float
    sample_rate: int
    n: int


def render(attrs: SfxAttributes, seed: int, sample_rate: int = 16000,
           clip_duration_s: float = 2.048) -> np.ndarray:
    """The clip of ``attrs`` for ``seed``: float32 [round(rate * duration)], peak <= 0.98."""
    _check_settings(sample_rate, clip_duration_s)
    rng = np.random.Generator(np.random.PCG64(seed))
    layout = _layout(attrs, rng, sample_rate, clip_duration_s)
    x = RENDERERS[attrs.event](attrs, layout, rng)
    x = _set_level(x, rng.uniform(*LEVEL_DBFS[attrs.loudness]))
    return (_fade(x, sample_rate)).astype(np.float32)


def _check_settings(sample_rate: int, clip_duration_s: float) -> None:
    # 16 kHz keeps every partial (up to ~7 kHz) below Nyquist; shorter clips cannot hold a
    # late, long, slow sequence.
    if int(sample_rate) != sample_rate or sample_rate < 16000:
        raise ValueError(f"sample_rate={sample_rate!r}: need an integer >= 16000 Hz")
    if not clip_duration_s >= MIN_CLIP_S:
        raise ValueError(f"clip_duration_s={clip_duration_s!r}: need >= {MIN_CLIP_S} s")


def _layout(attrs: SfxAttributes, rng: np.random.Generator, sr: int, dur: float) -> Layout:
    """Draw the nuisance timing and frequency of one clip."""
    period = PERIOD_S[attrs.rate] * rng.uniform(1 - PERIOD_JITTER, 1 + PERIOD_JITTER)
    count = PERIODS_IN_SPAN[(attrs.duration, attrs.rate)] + 1
    onsets = rng.uniform(*ONSET_WINDOW_S[attrs.onset]) + period * np.arange(count)
    lo, hi = PITCH_CENTRE_HZ[attrs.pitch]
    centre = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return Layout(onsets, period * rng.uniform(*DUTY), centre, sr, int(round(sr * dur)))


def _gate(layout: Layout, shape: str = "flat") -> np.ndarray:
    """Sum of per-event envelopes: raised-cosine attack/release around a flat/decay/swell body."""
    sr, length = layout.sample_rate, layout.length_s
    env = np.zeros(layout.n)
    tau = np.arange(int(round(sr * length))) / sr
    body = {"flat": np.ones_like(tau),
            "decay": 10 ** (-DECAY_DB * tau / length / 20),
            "swell": 10 ** (-DECAY_DB * (1 - tau / length) / 20)}[shape]
    body = body * _ramp(tau, ATTACK_S) * _ramp(length - tau, RELEASE_S)
    for onset in layout.onsets:
        start = int(round(onset * sr))
        env[start:start + body.size] += body[: layout.n - start]
    return env


def _ramp(t: np.ndarray, width: float) -> np.ndarray:
    """Raised-cosine ramp from 0 at t=0 to 1 at t=width (clicks at gate edges would be broadband)."""
    return np.where(t >= width, 1.0, 0.5 - 0.5 * np.cos(np.pi * np.clip(t / width, 0, 1)))


def _times(layout: Layout) -> np.ndarray:
    """Sample times (s) of the whole clip."""
    return np.arange(layout.n) / layout.sample_rate


def _tone(attrs: SfxAttributes, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """A steady sine at the centre frequency (one phase for the whole clip), gated."""
    phase = rng.uniform(0, 2 * np.pi)
    return np.sin(2 * np.pi * layout.centre_hz * _times(layout) + phase) * _gate(layout)


def _chirp(attrs: SfxAttributes, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """Exponential two-octave sweep restarted at every event (phase integrated in closed form)."""
    sr, length = layout.sample_rate, layout.length_s
    sign = 1.0 if attrs.direction == "rising" else -1.0
    tau = np.arange(int(round(sr * length))) / sr
    f_start = layout.centre_hz * 2.0 ** (-SWEEP_OCTAVES / 2 * sign)
    k = sign * SWEEP_OCTAVES * np.log(2) / length  # f(tau) = f_start * exp(k tau)
    phase = 2 * np.pi * f_start * np.expm1(k * tau) / k
    x = np.zeros(layout.n)
    for onset in layout.onsets:
        start = int(round(onset * sr))
        seg = np.sin(phase + rng.uniform(0, 2 * np.pi))[: layout.n - start]
        x[start:start + seg.size] = seg
    return x * _gate(layout)


def _partials(layout: Layout, count: int, sr: int) -> np.ndarray:
    """Harmonic numbers 1..count that stay below 0.45 sr (no aliasing)."""
    k = np.arange(1, count + 1)
    return k[k * layout.centre_hz < 0.45 * sr]


def _hum(attrs: SfxAttributes, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """Engine hum: 6 partials (1/k) with slow vibrato and a 8-14 Hz amplitude wobble."""
    t, sr = _times(layout), layout.sample_rate
    vibrato = 0.004 * np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 2 * np.pi))
    base_phase = 2 * np.pi * layout.centre_hz * np.cumsum(1 + vibrato) / sr
    ks = _partials(layout, 6, sr)
    x = sum(np.sin(k * base_phase + rng.uniform(0, 2 * np.pi)) / k for k in ks)
    wobble = 1 + 0.25 * np.sin(2 * np.pi * rng.uniform(8, 14) * t + rng.uniform(0, 2 * np.pi))
    return x * wobble * _gate(layout)


def _pluck(attrs: SfxAttributes, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong-like string: partials 1/k whose decay rate grows with k, re-plucked."""
    sr, length = layout.sample_rate, layout.length_s
    tau = np.arange(int(round(sr * length))) / sr
    ks = _partials(layout, 5, sr)
    alpha = DECAY_DB / 20 * np.log(10) / length * (1 + 0.15 * (ks - 1))  # 1/s per partial
    x = np.zeros(layout.n)
    for onset in layout.onsets:
        phases = rng.uniform(0, 2 * np.pi, ks.size)
        note = (np.sin(2 * np.pi * layout.centre_hz * np.outer(ks, tau) + phases[:, None])
                / ks[:, None] * np.exp(-np.outer(alpha, tau))).sum(axis=0)
        start = int(round(onset * sr))
        x[start:start + note.size] += note[: layout.n - start]
    return x * _gate(layout)  # flat gate: only the attack/release ramps


def _band_noise(rng: np.random.Generator, layout: Layout) -> np.ndarray:
    """Unit-RMS pink noise (equal power per octave) over ``BAND_OCTAVES`` around the centre,
    with 1/6-octave cosine skirts. Pink keeps the power median at the centre frequency."""
    n, sr = layout.n, layout.sample_rate
    lo, hi = layout.centre_hz * 2.0 ** (-BAND_OCTAVES / 2), layout.centre_hz * 2.0 ** (BAND_OCTAVES / 2)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / sr), 1.0)
    octaves = np.log2(f)
    edge = 1 / 6
    mask = _ramp(octaves - np.log2(lo) + edge, edge) * _ramp(np.log2(hi) + edge - octaves, edge)
    x = np.fft.irfft(spec * mask / np.sqrt(f), n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _noise_burst(attrs: SfxAttributes, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """Band noise under flat gates."""
    return _band_noise(rng, layout) * _gate(layout)


def _impact(attrs: SfxAttributes, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """Band noise hit: sharp attack, exponential decay."""
    return _band_noise(rng, layout) * _gate(layout, "decay")


def _rain(attrs: SfxAttributes, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """Dense drops (1000/s) of tiny damped sines at log-uniform pitches, under a swelling gate."""
    sr, c = layout.sample_rate, layout.centre_hz
    count = rng.poisson(RAIN_DROPS_PER_S * layout.n / sr)
    starts = rng.integers(0, layout.n, count)
    top = min(BAND_OCTAVES / 2, np.log2(0.45 * sr / c))  # no drop above 0.45 sr (aliasing)
    freqs = c * 2.0 ** rng.uniform(-BAND_OCTAVES / 2, top, count)
    tau = np.arange(int(0.008 * sr)) / sr
    drops = (np.sin(2 * np.pi * np.outer(freqs, tau) + rng.uniform(0, 2 * np.pi, (count, 1)))
             * np.exp(-tau / 0.0015) * rng.lognormal(0, 0.25, (count, 1)))
    x = np.zeros(layout.n + tau.size)
    np.add.at(x, starts[:, None] + np.arange(tau.size), drops)
    return x[: layout.n] * _gate(layout, "swell")


def _click_train(attrs: SfxAttributes, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """One click per event: a 5 ms damped ring at the centre frequency, random phase."""
    sr = layout.sample_rate
    tau = np.arange(int(8 * CLICK_TAU_S * sr)) / sr
    x = np.zeros(layout.n)
    for onset in layout.onsets:
        click = (np.sin(2 * np.pi * layout.centre_hz * tau + rng.uniform(0, 2 * np.pi))
                 * np.exp(-tau / CLICK_TAU_S) * _ramp(tau, 0.0005))
        start = int(round(onset * sr))
        x[start:start + click.size] += click[: layout.n - start]
    return x


RENDERERS: dict[str, Callable[[SfxAttributes, Layout, np.random.Generator], np.ndarray]] = {
    "tone": _tone, "chirp": _chirp, "noise_burst": _noise_burst, "impact": _impact,
    "pluck": _pluck, "hum": _hum, "rain": _rain, "click_train": _click_train,
}


def _set_level(x: np.ndarray, target_db: float) -> np.ndarray:
    """Scale to ``target_db`` momentary level; a rare over-peak is scaled down (level drops)."""
    level = momentary_level_db(x)
    y = x * 10 ** ((target_db - level) / 20)
    peak = float(np.max(np.abs(y)))
    return y * (PEAK_LIMIT / peak) if peak > PEAK_LIMIT else y


def _fade(x: np.ndarray, sr: int) -> np.ndarray:
    """5 ms fade-in/out of the whole clip so it starts and ends at zero."""
    width = int(FADE_S * sr)
    ramp = _ramp(np.arange(width) / sr, FADE_S)
    x = x.copy()
    x[:width] *= ramp
    x[-width:] *= ramp[::-1]
    return x
