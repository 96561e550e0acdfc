"""Training tasks of the accelerators (one file per objective), run by ``systems.training.train``."""
