"""LAION-CLAP music checkpoint, fadtk's ``clap-laion-music`` (HTSAT-base, no fusion).

The same checkpoint as audiocraft's CLAP config and AudioEditingCode's CLAP-LPAPS notebook.
"""
from __future__ import annotations

from metrics.embeddings.clap_laion import ClapLaionBackend


class ClapLaionMusic(ClapLaionBackend):
    name = "clap-laion-music"
    amodel = "HTSAT-base"
    checkpoint = "music_audioset_epoch_15_esc_90.14.pt"
    env_var = "FASTAUDIO_CLAP_MUSIC_WEIGHTS"
