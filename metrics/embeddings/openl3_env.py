"""OpenL3 environmental-sound model: stable-audio-metrics' FD_openl3 for AudioCaps."""
from __future__ import annotations

from metrics.embeddings._openl3 import OpenL3Backend


class OpenL3Env(OpenL3Backend):
    name = "openl3-env"
    content_type = "env"
