"""Tiny randomly initialised builds of released models' architectures, for offline tests
(hf_models.TINY_RANDOM)."""
