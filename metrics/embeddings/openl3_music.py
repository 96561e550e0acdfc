"""OpenL3 music model: stable-audio-metrics' FD_openl3 for MusicCaps and Song Describer."""
from __future__ import annotations

from metrics.embeddings._openl3 import OpenL3Backend


class OpenL3Music(OpenL3Backend):
    name = "openl3-music"
    content_type = "music"
