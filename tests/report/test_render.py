"""The HTML page as a person sees it: rendered by headless Chromium (skipped when not installed)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from bench.__main__ import main

from .fakes import make_run


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    return path


def _chromium_run(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    args = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            *extra]
    return subprocess.run(args, capture_output=True, text=True, timeout=90)


def test_headless_chromium_renders_the_page(tmp_path):
    _chromium()
    run_dir = make_run(tmp_path)
    assert main(["report", str(run_dir), "--out", str(tmp_path / "out")]) == 0
    url = (tmp_path / "out" / "leaderboard.html").resolve().as_uri()
    dom = _chromium_run(tmp_path, "--dump-dom", url).stdout
    assert dom.count('<table class="lb">') == 2 and dom.count("<tr class=") >= 2 * 8 + 5
    assert dom.count('<tr class="anchor floor">') == 2
    assert "real clips through the autoencoder (ceiling)" in dom
    assert dom.count("<svg") == 2 and dom.count('<img src="data:image/png') == 2
    assert dom.count("<audio") == 22
    assert "&lt;script&gt;" in dom and "<script" not in dom.lower()
    shot = tmp_path / "shot.png"
    _chromium_run(tmp_path, f"--screenshot={shot}", "--window-size=1400,2400", "--hide-scrollbars", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
