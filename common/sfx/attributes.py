"""The attribute space of the embedded sound-effect set (SynthTTA-style, see systems-reference §4).

Every clip is a *sequence of repeated events* inside a fixed clip (default 2.048 s at 16 kHz).
An item is described by seven categorical attributes; the physical meaning of each value is
fixed here, once, and both the synthesiser (``synth.py``) and the analysis (``analysis.py``)
read it from this module, so "what a caption means" has one definition.

=========  ==================================  ==============================================
attribute  values                              physical meaning
=========  ==================================  ==============================================
event      tone, chirp, noise_burst, impact,   what one event sounds like (see ``EVENT_INFO``)
           pluck, hum, rain, click_train
direction  rising, falling (chirp only)        each chirp sweeps two octaves up or down
pitch      low, mid, high                      centre frequency c of the event, log-uniform in
                                               140-220 / 560-880 / 2240-3520 Hz. Pitched
                                               events: c is the (fundamental) frequency or the
                                               sweep's geometric middle; noise-like events: c is
                                               the geometric centre of a 3-octave pink band
                                               (c/2.8 .. 2.8c); clicks ring at c. The analysis reads
                                               the power-median frequency, split at 350/1400 Hz.
loudness   quiet, loud                         momentary level = max RMS over 64 ms windows:
                                               -42..-38 dBFS vs -22..-18 dBFS (split -30 dBFS)
duration   short, long                         time from the first to the last event onset:
                                               short = 1 or 3 periods (0.5 / 0.6 s), long =
                                               2 or 5 periods (1.0 s); split at 0.8 s
rate       slow, fast                          event period 0.5 s (2/s) vs 0.2 s (5/s), +-5 %;
                                               split at 0.32 s
onset      early, late                         first event starts at 0.03-0.15 s vs
                                               0.50-0.62 s; split at 0.32 s
=========  ==================================  ==============================================

Every event type is repeated (rate) and every type has a pitch: for noise-like types pitch
is the colour of the band, for clicks the ringing frequency. Nuisance variables (exact centre
frequency, exact period, onset, level, phases, noise) are random per item, so the mean of
many clips with one caption is a smeared, non-member clip.

Duration is the length of the *sequence*, not of one event: a per-event length cannot vary
freely under a fast period (events would overlap), and 64 ms mel windows blur 30-100 ms
differences, while a 0.5 s vs 1.0 s onset span survives any such blur. Event length is tied to
the period instead (50-60 % duty; clicks are always ~5 ms).
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass

import numpy as np

ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "event": ("tone", "chirp", "noise_burst", "impact", "pluck", "hum", "rain", "click_train"),
    "direction": ("rising", "falling"),
    "pitch": ("low", "mid", "high"),
    "loudness": ("quiet", "loud"),
    "duration": ("short", "long"),
    "rate": ("slow", "fast"),
    "onset": ("early", "late"),
}
ATTRIBUTES: tuple[str, ...] = tuple(ATTRIBUTE_VALUES)
# Event-level envelope family; the analysis separates them by these envelope/spectrum traits.
EVENT_INFO: dict[str, str] = {
    "tone": "steady sine at c, flat envelope",
    "chirp": "sine sweeping two octaves (c/2 <-> 2c) within each event, rising or falling",
    "noise_burst": "3-octave pink noise band around c, flat envelope",
    "impact": "3-octave pink noise band around c, sharp attack, 24 dB exponential decay",
    "pluck": "Karplus-Strong-like string (f0 = c, 5 partials 1/k, upper ones decay faster), decaying",
    "hum": "engine-like harmonic stack (f0 = c, 6 partials 1/k) with 8-14 Hz wobble, flat",
    "rain": "dense random drops (1000/s, pitches log-uniform over 3 octaves), swelling by 24 dB",
    "click_train": "one short click (5 ms ring at c) per event: a train of clicks",
}

# --- physical definitions shared by synth and analysis ---------------------------------------
PITCH_CENTRE_HZ = {"low": (140.0, 220.0), "mid": (560.0, 880.0), "high": (2240.0, 3520.0)}
PITCH_SPLITS_HZ = (350.0, 1400.0)  # geometric means between neighbouring bands
LEVEL_DBFS = {"quiet": (-42.0, -38.0), "loud": (-22.0, -18.0)}
LEVEL_SPLIT_DBFS = -30.0
PERIOD_S = {"slow": 0.5, "fast": 0.2}
PERIOD_JITTER = 0.05
RATE_SPLIT_S = 0.32  # ~ geometric mean of the two periods
# Number of onset-to-onset periods in the sequence: spans 0.5/0.6 s (short) vs 1.0 s (long).
PERIODS_IN_SPAN = {("short", "slow"): 1, ("short", "fast"): 3, ("long", "slow"): 2, ("long", "fast"): 5}
DURATION_SPLIT_S = 0.8
ONSET_WINDOW_S = {"early": (0.03, 0.15), "late": (0.50, 0.62)}
ONSET_SPLIT_S = 0.32
MIN_CLIP_S = 2.0  # latest onset + longest span + longest event + fade fits in 2.0 s
LEVEL_WINDOW, LEVEL_HOP = 1024, 256  # at 16 kHz: 64 ms windows, the mel front end's frames


@dataclass(frozen=True)
class SfxAttributes:
    """One attribute combination. ``direction`` is required for chirps and forbidden otherwise."""

    event: str
    pitch: str
    loudness: str
    duration: str
    rate: str
    onset: str
    direction: str | None = None

    def __post_init__(self) -> None:
        for name in ATTRIBUTES:
            value = getattr(self, name)
            if name == "direction" and value is None and self.event != "chirp":
                continue
            if value not in ATTRIBUTE_VALUES[name]:
                raise ValueError(f"attribute {name}={value!r} is not one of {ATTRIBUTE_VALUES[name]}")
        if self.direction is not None and self.event != "chirp":
            raise ValueError(f"direction={self.direction!r} only applies to event='chirp', "
                             f"not {self.event!r}; leave it None")

    def scored(self) -> tuple[str, ...]:
        """Names of the attributes this item states (direction only for chirps)."""
        return tuple(a for a in ATTRIBUTES if a != "direction" or self.event == "chirp")

    def to_dict(self) -> dict[str, str | None]:
        """All seven attributes; ``direction`` is None for non-chirps."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> SfxAttributes:
        """Inverse of ``to_dict``; a missing or empty ``direction`` means None (CSV round trip)."""
        missing = [a for a in ATTRIBUTES if a != "direction" and a not in d]
        if missing:
            raise ValueError(f"attributes {missing} missing from {dict(d)}")
        values = {a: d[a] for a in ATTRIBUTES if a != "direction"}
        direction = d.get("direction") or None
        return cls(**values, direction=direction)  # type: ignore[arg-type]

    def key(self) -> str:
        """A stable text key of the combination, e.g. for hashing splits."""
        return "|".join(f"{a}={getattr(self, a) or '-'}" for a in ATTRIBUTES)


def all_combinations() -> Iterator[SfxAttributes]:
    """Every valid combination: 7 x 48 non-chirp plus 2 x 48 chirp = 432."""
    rest = [ATTRIBUTE_VALUES[a] for a in ("pitch", "loudness", "duration", "rate", "onset")]
    for event in ATTRIBUTE_VALUES["event"]:
        directions = ATTRIBUTE_VALUES["direction"] if event == "chirp" else (None,)
        for direction, values in itertools.product(directions, itertools.product(*rest)):
            yield SfxAttributes(event, *values, direction=direction)


def sample_attributes(rng: np.random.Generator) -> SfxAttributes:
    """Each attribute uniform and independent (direction uniform for chirps)."""
    pick = {a: str(rng.choice(v)) for a, v in ATTRIBUTE_VALUES.items()}
    if pick["event"] != "chirp":
        pick["direction"] = None
    return SfxAttributes(**pick)


def momentary_level_db(wav: np.ndarray, floor_db: float = -200.0) -> float:
    """Loudness as defined here: max RMS over 64 ms windows (hop 16 ms), in dBFS.

    Windows match the mel front end, so a mel + Griffin-Lim round trip keeps the level.
    Clips shorter than one window use the whole clip; silence returns ``floor_db``.
    """
    x = np.asarray(wav, dtype=np.float64)
    if x.size < LEVEL_WINDOW:
        power = float(np.mean(x**2)) if x.size else 0.0
    else:
        csum = np.concatenate([[0.0], np.cumsum(x**2)])
        starts = np.arange(0, x.size - LEVEL_WINDOW + 1, LEVEL_HOP)
        power = float(np.max(csum[starts + LEVEL_WINDOW] - csum[starts])) / LEVEL_WINDOW
    return max(10.0 * np.log10(power), floor_db) if power > 0 else floor_db
