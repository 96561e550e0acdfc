"""fastaudio-bench: orchestration (audio I/O, caching, evaluation, CLI)."""

__version__ = "0.1.0"
