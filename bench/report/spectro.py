"""Log-mel spectrograms of one prompt+seed across a system's step counts (PNG, for the HTML page).

Only system rows are drawn (floor and ceiling rows have no step counts). A panel whose clip is
missing or unreadable shows why; a system without readable audio comes back as a note.
"""
from __future__ import annotations

import numpy as np

from bench.report.anchors import system_rows
from bench.report.cells import sort_rows
from bench.report.load import ReportError, audio_path, read_mono
from bench.report.plots import Plot, figure, finish, plain


def log_mel(samples: np.ndarray, rate: int, n_fft: int = 512, hop: int = 128, n_mels: int = 64) -> np.ndarray:
    """Log-mel power spectrogram in dB, [n_mels, frames], floored 80 dB below its peak."""
    from scipy.signal import stft

    x = samples if len(samples) >= n_fft else np.pad(samples, (0, n_fft - len(samples)))
    _, _, spec = stft(x, fs=rate, nperseg=n_fft, noverlap=n_fft - hop, boundary=None, padded=False)
    power = np.abs(spec) ** 2
    mel = mel_filterbank(rate, n_fft, n_mels) @ power
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    return np.maximum(db, db.max() - 80.0)


def mel_filterbank(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Triangular HTK-mel filters, [n_mels, n_fft // 2 + 1]."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    edges = 700.0 * (10 ** (np.linspace(0, hz_to_mel(rate / 2), n_mels + 2) / 2595.0) - 1.0)
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - freqs) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling))


def spectrogram_rows(rows: list[dict], system: str) -> list[dict]:
    """The rows of ``system`` from its first run and first sampler, by increasing steps."""
    mine = [r for r in sort_rows(system_rows(rows)) if str(r["system"]) == system]
    if not mine:
        return []
    run = sorted(mine, key=lambda r: str(r.get("run", "")))[0].get("run")
    sampler = next(r["sampler"] for r in mine if r.get("run") == run)
    return [r for r in mine if r.get("run") == run and r["sampler"] == sampler]


def matching_entry(row: dict, ref: dict) -> dict | None:
    """The row's audio entry with the reference's prompt and seed (else its item_id)."""
    audio = row.get("audio") or []
    for keys in (("prompt", "seed"), ("item_id",)):
        if all(k in ref for k in keys):
            hit = next((a for a in audio if all(a.get(k) == ref[k] for k in keys)), None)
            if hit is not None:
                return hit
    return None


def _panel_data(row: dict, entry: dict | None, max_s: float) -> tuple[np.ndarray | None, str]:
    """(log-mel or None, message) for one step count."""
    if entry is None:
        return None, "no clip for this prompt+seed"
    try:
        samples, rate = read_mono(audio_path(row, entry), max_s)
    except ReportError as exc:
        return None, f"unreadable: {entry['path']} ({type(exc.__cause__).__name__})"
    if samples.size == 0:
        return None, f"empty: {entry['path']}"
    return log_mel(samples, rate), ""


def spectrograms(rows: list[dict], system: str, fmt: str = "png", max_s: float = 10.0) -> Plot:
    """Log-mel spectrograms of the first listed prompt+seed across the step counts of ``system``."""
    title = f"log-mel spectrograms: {system}"
    series = spectrogram_rows(rows, system)
    ref = next((r["audio"][0] for r in series if r.get("audio")), None)
    if ref is None:
        return Plot(title, note=f"skipped: no audio listed for system {system!r}")
    panels = [(r, *_panel_data(r, matching_entry(r, ref), max_s)) for r in series]
    specs = [s for _, s, _ in panels if s is not None]
    if not specs:
        return Plot(title, note=f"skipped: no readable audio for {system!r} ({panels[0][2]})")
    vmin, vmax = min(s.min() for s in specs), max(s.max() for s in specs)
    fig = figure(max(2.3 * len(panels), 4.5), 2.9)
    for ax, (row, spec, message) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        _draw_panel(ax, row, spec, message, (vmin, vmax))
    prompt = str(ref.get("prompt", ref.get("item_id", ref["path"])))
    prompt = prompt if len(prompt) <= 70 else prompt[:67] + "…"
    seed = ref.get("seed", "?")
    fig.suptitle(plain(f"{system} / {series[0]['sampler']}: \u201c{prompt}\u201d (seed {seed})"), fontsize=9)
    return finish(title, fig, fmt)


def _draw_panel(ax, row: dict, spec: np.ndarray | None, message: str, limits: tuple[float, float]) -> None:
    ax.set_title(f"{row['steps']} steps", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    if spec is None:
        ax.text(0.5, 0.5, plain(message), ha="center", va="center", fontsize=7, wrap=True,
                transform=ax.transAxes)
        return
    ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=limits[0], vmax=limits[1])
