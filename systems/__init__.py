"""System registry: name -> ``"module:attr"`` (generators, accelerators, codecs).

Add a system = one file under ``systems/`` plus one line in ``SYSTEMS``. Other packages add
systems without touching this repository through the entry-point group ``fastaudio_bench.systems``
in their own pyproject::

    [project.entry-points."fastaudio_bench.systems"]
    my-system = "my_package.my_system:MySystem"

Built-in names win over entry points with the same name (a warning says so).
"""
from __future__ import annotations

import warnings
from importlib.metadata import entry_points

from common.registry import resolve

ENTRY_POINT_GROUP = "fastaudio_bench.systems"

SYSTEMS: dict[str, str] = {
    "teacher": "systems.teacher:TeacherSystem",
    "audioturbo": "systems.audioturbo:AudioTurbo",
    "lafma": "systems.lafma:LAFMA",
    "arc": "systems.arc:ARC",
    "arc-no-contrastive": "systems.arc_no_contrastive:ARCNoContrastive",
    "arc-lsgan": "systems.arc_lsgan:ARCLeastSquares",
    "cd": "systems.cd:ConsistencyDistillation",
    "soundctm": "systems.soundctm:SoundCTM",
    "soundctm-l2": "systems.soundctm_l2:SoundCTML2",
    "opus": "systems.opus:OpusCodec",
    "lowpass-anchor": "systems.lowpass:LowpassAnchor",
    "spresso": "systems.spresso:SPresso",
    "ae-codec": "systems.ae_codec:AECodec",
    "dac": "systems.dac:DACCodec",
    "encodec": "systems.encodec:EncodecCodec",
    "stable-audio-open": "systems.stable_audio_open:StableAudioOpen",
    "audioldm2": "systems.audioldm2:AudioLDM2",
    "audioldm": "systems.audioldm:AudioLDM",
}


def _entry_point_systems() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for name in sorted(set(found) & set(SYSTEMS)):
        if found[name] != SYSTEMS[name]:
            warnings.warn(f"entry point {name!r} ({found[name]}) is shadowed by the built-in system "
                          f"{SYSTEMS[name]}", stacklevel=3)
    return {k: v for k, v in found.items() if k not in SYSTEMS}


def system_table() -> dict[str, str]:
    """Built-in systems plus those other installed packages register as entry points."""
    return {**SYSTEMS, **_entry_point_systems()}


def get_system(name: str):
    """The system class registered as ``name`` (imported lazily)."""
    return resolve(system_table(), name, "system")
