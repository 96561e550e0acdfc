"""A content-addressed store of trained components: train once per (kind, config), reuse after.

Layout: ``<root>/<kind>-<config_hash>/`` holds ``config.json`` (for people), the run's files
(state, log, report, when ``train_fn`` uses ``train``) and ``final.safetensors``, whose presence
marks the component as done. A lock file serialises training of the same component across
processes: it is held with ``fcntl.flock``, which the kernel releases when the holder dies (even
on SIGKILL), so a lock left by a killed process never blocks anyone; the holder's pid is written
into it for error messages. (A pid-file lock would need a "is that pid alive?" check, which
races when two waiters break the same stale lock and misfires when pids are reused; flock has
neither problem.) POSIX only: on Windows ``get_or_train`` raises NotImplementedError.
"""
from __future__ import annotations

import errno
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping

from common.paths import cache_root
from systems.training.checkpoint import canonical_json, config_hash

try:
    import fcntl
except ImportError:   # pragma: no cover - Windows
    fcntl = None

FINAL_FILE, LOCK_FILE = "final.safetensors", ".lock"


class ComponentStore:
    """Trained components under ``root`` (default ``cache_root() / "components"``)."""

    def __init__(self, root: str | os.PathLike | None = None, *, poll_s: float = 0.5,
                 lock_timeout_s: float | None = None) -> None:
        self.root = Path(root) if root is not None else cache_root() / "components"
        self.poll_s = poll_s
        self.lock_timeout_s = lock_timeout_s   # None: wait as long as a live process trains it

    def path(self, kind: str, config: Mapping) -> Path:
        """The component's folder: ``root / f"{kind}-{config_hash(config)}"``."""
        if not kind or "/" in kind or os.sep in kind:
            raise ValueError(f"kind must be a non-empty name without path separators, got {kind!r}")
        return self.root / f"{kind}-{config_hash(config)}"

    def get_or_train(self, kind: str, config: Mapping, train_fn: Callable[[Path], None]) -> Path:
        """The path of ``final.safetensors``, running ``train_fn(run_dir)`` first if it is absent.

        ``train_fn`` must write ``run_dir / "final.safetensors"``; if it is interrupted, the next
        call runs it again in the same folder (a ``train``-based ``train_fn`` then resumes).
        """
        run_dir = self.path(kind, config)
        final = run_dir / FINAL_FILE
        if final.exists():
            return final
        run_dir.mkdir(parents=True, exist_ok=True)
        with self._lock(run_dir / LOCK_FILE):
            if not final.exists():   # another process may have finished while we waited
                _write_config(run_dir, kind, config)
                train_fn(run_dir)
                if not final.exists():
                    raise RuntimeError(f"train_fn for {kind!r} returned without writing {final}")
        return final

    @contextmanager
    def _lock(self, path: Path) -> Iterator[None]:
        """Hold the lock at ``path`` for the duration of the block, waiting for other holders."""
        if fcntl is None:
            raise NotImplementedError("ComponentStore locking needs fcntl.flock (Linux/macOS)")
        deadline = None if self.lock_timeout_s is None else time.monotonic() + self.lock_timeout_s
        while (handle := _flock_acquire(path)) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{path} is held by pid {_holder(path)} (training this component); "
                                   "wait for it to finish or stop that process (its lock dies with it)")
            time.sleep(self.poll_s)
        try:
            yield
        finally:
            _flock_release(handle)


def _write_config(run_dir: Path, kind: str, config: Mapping) -> None:
    text = json.dumps({"kind": kind, "config_hash": config_hash(config),
                       "config": json.loads(canonical_json(config))}, indent=1, sort_keys=True)
    (run_dir / "config.json").write_text(text + "\n", encoding="utf-8")


def _holder(path: Path) -> int | None:
    """The pid recorded in a lock file (None if unreadable)."""
    try:
        return int(path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _flock_acquire(path: Path) -> int | None:
    """A file descriptor holding an exclusive flock on ``path``, or None if someone else holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _flock_release(fd: int) -> None:
    # The file stays: unlinking it while another process waits on the same inode would let two
    # processes hold "the" lock on different inodes.
    os.ftruncate(fd, 0)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
