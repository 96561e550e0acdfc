"""Shared components trained once per config, frozen, and injected into every system:
the mel front end and Griffin-Lim (``mel``), the latent autoencoder (``autoencoder``), the frozen
MiniLM text encoder (``text_encoder``), the DiT network (``dit``) in EDM form (``edm``), size
presets (``presets``) and the store that trains or reuses them (``shared``)."""
