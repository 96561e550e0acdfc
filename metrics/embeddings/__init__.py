"""Embedding backend registry: name -> ``"module:attr"``. Add a backend = one file + one line."""
from __future__ import annotations

from common.registry import resolve

EMBEDDINGS: dict[str, str] = {
    "mel": "metrics.embeddings.mel:MelStatistics",
    "aisfx": "metrics.embeddings.aisfx:AisfxBackend",
    "yamnet": "metrics.embeddings.yamnet:YamnetBackend",
    "clap-laion-audio": "metrics.embeddings.clap_laion_audio:ClapLaionAudio",
    "clap-laion-music": "metrics.embeddings.clap_laion_music:ClapLaionMusic",
    "passt": "metrics.embeddings.passt:PasstBackend",
    "openl3-env": "metrics.embeddings.openl3_env:OpenL3Env",
    "openl3-music": "metrics.embeddings.openl3_music:OpenL3Music",
    "vggish": "metrics.embeddings.vggish:VggishBackend",
}


def get_backend(name: str):
    """The backend class registered as ``name`` (imported lazily)."""
    return resolve(EMBEDDINGS, name, "embedding backend")
