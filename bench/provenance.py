"""What every result carries: package versions, git hash, device, platform, time."""
from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import platform
import subprocess
import sys

from common.paths import REPO_ROOT

PACKAGES = ("numpy", "scipy", "torch", "soundfile", "soxr", "librosa", "safetensors",
            "ai-edge-litert", "aisfx", "laion-clap", "hear21passt", "openl3", "torchvggish",
            "sentence-transformers", "fastaudio-bench")


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return out


def git_state() -> dict[str, object]:
    def run(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    try:
        return {"commit": run("rev-parse", "HEAD") or None,
                "dirty": bool(run("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def device_info(device: str = "cpu") -> dict[str, object]:
    info = {"requested": device, "cpu": platform.processor() or platform.machine()}
    if "torch" in sys.modules or device.startswith("cuda"):
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["cuda"] = torch.cuda.get_device_name(0)
    return info


def environment(device: str = "cpu") -> dict[str, object]:
    return {"time_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "python": sys.version.split()[0], "platform": platform.platform(),
            "argv": sys.argv, "git": git_state(), "packages": package_versions(),
            "device": device_info(device)}
