"""Template captions that state every attribute of an item, and their parser.

``caption(attrs, seed)`` picks a template and one synonym per attribute deterministically from
the seed. Every synonym belongs to exactly one (attribute, value) and no synonym occurs inside
another attribute's synonym at word boundaries, so ``parse_caption`` recovers the attributes of
any caption these templates produce (the benchmark can then score prompts without metadata).
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from common.sfx.attributes import ATTRIBUTE_VALUES, SfxAttributes

PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "event": {
        "tone": ("tone", "beep", "sine tone", "pure tone"),
        "chirp": ("chirp", "sweep", "glide"),
        "noise_burst": ("noise burst", "burst of noise", "hiss", "burst of static"),
        "impact": ("impact", "hit", "knock", "thud"),
        "pluck": ("pluck", "plucked string", "twang"),
        "hum": ("hum", "engine hum", "drone", "motor hum"),
        "rain": ("rain shower", "patter of rain", "burst of rain", "shower of raindrops"),
        "click_train": ("click train", "series of clicks", "ticking sound", "clicking sound"),
    },
    "direction": {"rising": ("rising", "upward", "ascending"),
                  "falling": ("falling", "downward", "descending")},
    "pitch": {"low": ("low", "low-pitched", "deep"),
              "mid": ("mid-pitched", "medium-pitched", "mid-range"),
              "high": ("high", "high-pitched", "shrill")},
    "loudness": {"quiet": ("quiet", "soft", "faint"), "loud": ("loud", "strong", "powerful")},
    "duration": {"short": ("for a short while", "briefly", "in a short sequence"),
                 "long": ("for a long while", "for a long time", "in a long sequence")},
    "rate": {"slow": ("repeating slowly", "at a slow pace", "with slow repetitions"),
             "fast": ("repeating quickly", "in quick succession", "at a fast pace")},
    "onset": {"early": ("starting right away", "from the very start", "beginning immediately"),
              "late": ("starting late", "after a pause", "beginning after a delay")},
}
# {a} is the article of the word after it; {sound} = [direction +] event noun.
TEMPLATES: tuple[str, ...] = (
    "{a} {loudness} {pitch} {sound} {rate}, {duration}, {onset}",
    "{onset}, {a} {loudness} {pitch} {sound} {rate} {duration}",
    "{a} {pitch} {sound}, {loudness}, {rate} {duration} and {onset}",
    "{loudness} {pitch} {sound} {duration}, {rate}, {onset}",
    "the sound of {a} {loudness} {pitch} {sound}, {onset}, {rate} {duration}",
)


def caption(attrs: SfxAttributes, seed: int) -> str:
    """A caption stating every attribute of ``attrs``; template and synonyms follow ``seed``."""
    rng = np.random.default_rng([int(seed), 0xCA])
    pick = {a: _choice(rng, PHRASES[a][getattr(attrs, a)]) for a in attrs.scored()}
    sound = f"{pick['direction']} {pick['event']}" if attrs.event == "chirp" else pick["event"]
    text = _choice(rng, TEMPLATES).format(a="{a}", sound=sound, **pick)
    text = re.sub(r"\{a\} (\w)", lambda m: ("an " if m.group(1) in "aeiou" else "a ") + m.group(1), text)
    return text[0].upper() + text[1:]


def _choice(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def parse_caption(text: str) -> SfxAttributes | None:
    """The attributes a caption states, or None when any attribute is missing or ambiguous."""
    lowered = text.lower()
    found: dict[str, str | None] = {}
    for attribute in PHRASES:
        hits = [v for v, pattern in _patterns(attribute) if pattern.search(lowered)]
        if len(hits) > 1 or (not hits and attribute != "direction"):
            return None
        found[attribute] = hits[0] if hits else None
    try:
        return SfxAttributes.from_dict(found)
    except ValueError:  # e.g. a direction stated for a non-chirp
        return None


@lru_cache(maxsize=None)
def _patterns(attribute: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """One whole-word regex per value of ``attribute`` (alternation of its synonyms)."""
    assert set(PHRASES[attribute]) == set(ATTRIBUTE_VALUES[attribute])
    out = []
    for value, phrases in PHRASES[attribute].items():
        alternatives = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
        out.append((value, re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")))
    return tuple(out)
