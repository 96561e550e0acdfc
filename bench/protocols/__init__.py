"""Protocol registry: name -> ``"module:PROTOCOL"``; one file per protocol, pinned in versions.json."""
from __future__ import annotations

PROTOCOLS: dict[str, str] = {
    "sfx-mini": "bench.protocols.sfx_mini:PROTOCOL",
    "esc50": "bench.protocols.esc50:PROTOCOL",
    "audioturbo-card": "bench.protocols.audioturbo_card:PROTOCOL",
    "arc-card": "bench.protocols.arc_card:PROTOCOL",
    "soundctm-card": "bench.protocols.soundctm_card:PROTOCOL",
    "soundctm-budget": "bench.protocols.soundctm_budget:PROTOCOL",
    "codec-mini": "bench.protocols.codec_mini:PROTOCOL",
    "audiocaps": "bench.protocols.audiocaps:PROTOCOL",
    "released-tiny": "bench.protocols.released_tiny:PROTOCOL",
    "released-codecs-tiny": "bench.protocols.released_codecs_tiny:PROTOCOL",
}


def get_protocol(name: str):
    from common.registry import resolve

    return resolve(PROTOCOLS, name, "protocol")
