"""LAION-CLAP general-audio checkpoint, fadtk's ``clap-laion-audio`` (HTSAT-tiny, no fusion)."""
from __future__ import annotations

from metrics.embeddings.clap_laion import ClapLaionBackend


class ClapLaionAudio(ClapLaionBackend):
    name = "clap-laion-audio"
    amodel = "HTSAT-tiny"
    checkpoint = "630k-audioset-best.pt"
    env_var = "FASTAUDIO_CLAP_AUDIO_WEIGHTS"
    laion_model_id = 1  # laion_clap's load_ckpt id for 630k-audioset-best.pt
