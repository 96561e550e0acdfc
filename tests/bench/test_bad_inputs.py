"""Table of bad inputs: each row builds one hostile input, runs the CLI and checks the outcome.

Policy (README "Input policy"): a user-input problem is never a traceback, a hang or a silent
wrong result. Exit code 2 with one ``error:`` paragraph for input problems, 1 for a metric that
cannot be computed on its inputs (``status: error``), 0 where the policy accepts the input (and
reports what it did). Rows run in-process through ``bench.__main__.main``; the two inputs that
used to hang (a FIFO, a device file) run in a subprocess under a timeout. Backend: ``mel``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from bench.__main__ import main
from bench.evaluate import evaluate
from common import audio_io
from metrics.embeddings.mel import MelStatistics
from tests.conftest import tone

REPO = Path(__file__).resolve().parents[2]
HANG_TIMEOUT_S = 60


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], list[str]]  # writes the input under tmp_path, returns the CLI args
    code: int  # expected exit code
    words: tuple[str, ...]  # expected in stdout + stderr
    check: Callable[[Path], None] | None = None  # further assertions on tmp_path afterwards
    patch: Callable[[pytest.MonkeyPatch, Path], None] | None = None  # e.g. a file that changes
    subprocess: bool = False  # only where a regression would hang


# -- builders ------------------------------------------------------------------------------------


def _run_out_is_a_file(t: Path) -> list[str]:
    (t / "taken").write_text("not a run folder")
    return ["run", "sfx-mini", "--out", str(t / "taken")]
def wav(path: Path, x: np.ndarray, rate: int = 16000, subtype: str = "FLOAT") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, rate, subtype=subtype)
    return path


def sets(tmp: Path, n: int = 6) -> None:
    """gen/ and ref/: n one-second tones each, at different pitches."""
    for i in range(n):
        wav(tmp / "gen" / f"c{i}.wav", tone(300 + 97 * i))
        wav(tmp / "ref" / f"c{i}.wav", tone(330 + 101 * i))


def ev(tmp: Path, *extra: str, gen: str = "gen", ref: str = "ref", metrics: str = "kad@mel",
       cache: bool = False) -> list[str]:
    args = ["eval", "--gen", str(tmp / gen), "--ref", str(tmp / ref), "--bootstrap", "0"]
    args += ["--metrics", metrics]
    return args + ([] if cache else ["--no-cache"]) + list(extra)


def manifest(text: str | bytes, encoding: str = "utf-8") -> Callable[[Path], list[str]]:
    """A gen.csv with ``text`` (paths relative to tmp) beside good gen/ and ref/ folders."""
    def build(tmp: Path) -> list[str]:
        sets(tmp)
        (tmp / "gen.csv").write_bytes(text.encode(encoding) if isinstance(text, str) else text)
        return ev(tmp, gen="gen.csv")
    return build


GOOD_ROWS = "".join(f"c{i},gen/c{i}.wav,a tone\n" for i in range(6))


def with_sets(*extra: str, **kw) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        sets(tmp)
        return ev(tmp, *extra, **kw)
    return build


def prompts_file(text: str | None) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        sets(tmp)
        if text is not None:
            (tmp / "prompts.csv").write_text(text)
        return ev(tmp, "--prompts", str(tmp / "prompts.csv"))
    return build


def audio_as_manifest(tmp: Path) -> list[str]:
    """A FLAC file renamed gen.csv."""
    sf.write(tmp / "a.flac", tone(440), 16000)
    return manifest((tmp / "a.flac").read_bytes())(tmp)


def odd_entries(gen: Path) -> None:
    """A non-audio file, a FIFO without an audio extension, a symbolic link to a folder."""
    (gen / "notes.txt").write_text("x")
    os.mkfifo(gen / "pipe")
    (gen / "linked").symlink_to(gen.parent / "ref")


def fifo_manifest(tmp: Path) -> list[str]:
    sets(tmp)
    os.mkfifo(tmp / "gen" / "pipe.wav")
    (tmp / "gen.csv").write_text("id,path\npipe,gen/pipe.wav\n" + "".join(
        f"c{i},gen/c{i}.wav\n" for i in range(6)))
    return ev(tmp, gen="gen.csv")


def device_manifest(tmp: Path) -> list[str]:
    sets(tmp)
    (tmp / "gen.csv").write_text("id,path\nzero,/dev/zero\n" + GOOD_ROWS.replace(",a tone", ""))
    return ev(tmp, gen="gen.csv")


def folder_with(make: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        sets(tmp)
        make(tmp / "gen")
        return ev(tmp, "--out", str(tmp / "out"))
    return build


def out_beside_file(rel: str) -> Callable[[Path], list[str]]:
    """Good sets, a plain file ``f``, and ``--out`` at ``rel``."""
    def build(tmp: Path) -> list[str]:
        (tmp / "f").write_text("a file")
        return with_sets("--out", str(tmp / rel))(tmp)
    return build


def short_wav(tmp: Path) -> list[str]:
    sets(tmp)
    path = wav(tmp / "gen" / "cut.wav", tone(440), subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:16000])  # header says 1 s, half of it is there
    return ev(tmp)


def warm_cache(*extra_clips: tuple[str, np.ndarray]) -> Callable[[Path], list[str]]:
    """Good sets (plus ``extra_clips`` in gen/), evaluated once so the cache is filled."""
    def build(tmp: Path) -> list[str]:
        sets(tmp)
        for name, x in extra_clips:
            wav(tmp / "gen" / name, x)
        evaluate(tmp / "gen", tmp / "ref", ["kad@mel"], bootstrap=0, progress=False)
        return ev(tmp, "--out", str(tmp / "out"), cache=True)
    return build


def truncated_cache(tmp: Path) -> list[str]:
    args = warm_cache()(tmp)
    for entry in cache_entries():
        entry.write_bytes(entry.read_bytes()[:40])
    return args


def cache_entries() -> list[Path]:
    return sorted(Path(os.environ["FASTAUDIO_CACHE"]).rglob("*.npz"))


def silent_sets(tmp: Path) -> list[str]:
    for i in range(6):
        wav(tmp / "gen" / f"s{i}.wav", np.zeros(16000, np.float32))
        wav(tmp / "ref" / f"s{i}.wav", np.zeros(16000, np.float32))
    return ev(tmp, metrics="prdc@mel")


# -- patches: files that change under the reader, backends that misbehave ---------------------------
def patch_read(action: Callable[[Path], None]) -> Callable[[pytest.MonkeyPatch, Path], None]:
    def patch(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
        read = sf.read

        def hostile_read(path, *args, **kwargs):
            if Path(path).name == "c3.wav" and Path(path).parent.name == "gen":
                action(Path(path))
            return read(path, *args, **kwargs)

        monkeypatch.setattr(audio_io.sf, "read", hostile_read)
    return patch


def append_bytes(path: Path) -> None:
    with open(path, "ab") as f:
        f.write(b"\0" * 64)


def change_while_hashed(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    import bench.extract

    digest = bench.extract.file_sha256

    def hostile_sha(path, *args):
        out = digest(path, *args)
        if Path(path).name == "c2.wav":
            append_bytes(Path(path))
        return out

    monkeypatch.setattr(bench.extract, "file_sha256", hostile_sha)


def nan_embeddings(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    embed = MelStatistics.embed

    def bad_embed(self, clips, want):
        out = embed(self, clips, want)
        out[-1]["embedding"][0, 0] = np.nan
        return out

    monkeypatch.setattr(MelStatistics, "embed", bad_embed)


def disk_full(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    import bench.cache

    def no_space(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bench.cache.os, "replace", no_space)  # the run has no --out to replace


def cache_env(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    (tmp / "cachefile").write_text("not a folder")
    monkeypatch.setenv("FASTAUDIO_CACHE", str(tmp / "cachefile"))


# -- checks after the run ------------------------------------------------------------------------------
def absent(rel: str) -> Callable[[Path], None]:
    def check(tmp: Path) -> None:
        assert not (tmp / rel).exists(), f"{rel} was left behind"
    return check


def results(tmp: Path) -> dict:
    return json.loads((tmp / "out" / "results.json").read_text())


def ignored_listed(tmp: Path) -> None:
    assert results(tmp)["_run"]["ignored_files"]["gen"] == ["linked/", "notes.txt", "pipe"]


def cache_rewritten(tmp: Path) -> None:
    run = results(tmp)["_run"]
    assert run["cache"] == {"hits": 0, "misses": 12} and len(run["warnings"]) == 12
    for entry in cache_entries():  # recomputed entries replaced the truncated ones
        with np.load(entry) as z:
            assert np.isfinite(z["embedding"]).all()


def warm_run_warns(tmp: Path) -> None:
    run = results(tmp)["_run"]
    assert run["cache"]["misses"] == 0 and run["cache"]["hits"] == 14
    assert any("quiet" in w for w in run["warnings"]) and any("tiny (0.050 s" in w for w in run["warnings"])


def nothing_cached(tmp: Path) -> None:
    assert cache_entries() == [] and not list(Path(os.environ["FASTAUDIO_CACHE"]).rglob("*.tmp"))


def no_nan_cached(tmp: Path) -> None:
    entries = cache_entries()
    assert len(entries) < 6  # the bad clip's entry is missing
    for entry in entries:
        with np.load(entry) as z:
            assert np.isfinite(z["embedding"]).all()


def _missing_run_check(tmp: Path) -> list[str]:
    (tmp / "baseline.json").write_text("{}")
    return ["check", str(tmp / "no-run"), "--baseline", str(tmp / "baseline.json")]


CASES = [
    # manifests
    Case("manifest short row", manifest("id,path,caption\nc0,gen/c0.wav\n" + GOOD_ROWS), 2,
         ("line 2", "2 fields", "header has 3")),
    Case("manifest long row (unquoted comma)", manifest("id,path,caption\nc0,gen/c0.wav,a, tone\n"), 2,
         ("line 2", "quote fields")),
    Case("manifest empty id", manifest("id,path\n,gen/c0.wav\n"), 2, ("line 2", "empty id")),
    Case("manifest repeated column", manifest("id,path,id\nc0,gen/c0.wav,x\n"), 2, ("repeats a column",)),
    Case("manifest empty file", manifest(""), 2, ("is empty", "header")),
    Case("manifest with NUL bytes", manifest(b"id,path\n\0\0\0,gen/c0.wav\n"), 2, ("line 2", "NUL bytes")),
    Case("manifest is an audio file", audio_as_manifest, 2, ("not UTF-8",)),
    Case("manifest not UTF-8", manifest("id,path,caption\nc0,gen/c0.wav,caf\xe9\n", "latin-1"), 2,
         ("not UTF-8", "re-save it as UTF-8")),
    Case("manifest with BOM is accepted", manifest("id,path,caption\n" + GOOD_ROWS, "utf-8-sig"), 0,
         ("kad@mel", "ok")),
    Case("manifest row is a folder", manifest("id,path\nc0,gen\n"), 2, ("line 2", "is a folder")),
    Case("manifest row missing file", manifest("id,path\nc0,gen/nope.wav\n"), 2,
         ("line 2", "nope.wav", "no such file")),
    Case("manifest row is a FIFO (hung)", fifo_manifest, 2, ("pipe.wav", "FIFO"), subprocess=True),
    Case("manifest row is /dev/zero (hashed forever)", device_manifest, 2, ("/dev/zero", "character device"),
         subprocess=True),
    Case("manifest filter column repeated", lambda t: manifest("id,path,fold\nc0,gen/c0.wav,1\n")(t)
         + ["--gen-where", "fold=1", "fold=2"], 2, ("given twice", "fold=A,B")),
    Case("--gen does not exist", with_sets(gen="nowhere"), 2, ("nowhere", "does not exist")),
    # folders
    Case("folder: FIFO named .wav", folder_with(lambda g: os.mkfifo(g / "pipe.wav")), 2,
         ("pipe.wav", "FIFO")),
    Case("folder: broken link named .wav", folder_with(lambda g: (g / "gone.wav").symlink_to(g / "nothing")),
         2, ("gone.wav", "broken symbolic link")),
    Case("folder: non-audio, FIFO, linked folder are listed", folder_with(odd_entries), 0,
         ("not used", "notes.txt", "pipe", "linked/"), check=ignored_listed),
    # audio files
    Case("WAV shorter than its header", short_wav, 2, ("cut.wav", "truncated")),
    Case("file vanishes while read", with_sets(), 2, ("c3.wav", "disappeared"),
         patch=patch_read(Path.unlink)),
    Case("file changes while read", with_sets(), 2, ("c3.wav", "changed"), patch=patch_read(append_bytes)),
    Case("file changes while hashed", with_sets(), 2, ("c2.wav", "changed", "hashed"),
         patch=change_while_hashed),
    # --prompts
    Case("--prompts missing", prompts_file(None), 2, ("prompts.csv", "no such file")),
    Case("--prompts without id column", prompts_file("name,caption\nc0,a\n"), 2, ("needs columns 'id'",)),
    Case("--prompts lacks some ids", prompts_file("id,caption\nc0,a\n"), 2, ("no prompt", "c1")),
    # numeric options, checked before any work
    Case("--batch-size 0", with_sets("--batch-size", "0"), 2, ("--batch-size", ">= 1")),
    Case("--batch-size -3", with_sets("--batch-size", "-3"), 2, ("--batch-size",)),
    Case("--batch-size abc (argparse)", with_sets("--batch-size", "abc"), 2, ("--batch-size", "invalid int")),
    Case("--bootstrap 1", with_sets("--bootstrap", "1"), 2, ("--bootstrap", "no spread")),
    Case("--bootstrap -5", with_sets("--bootstrap", "-5"), 2, ("--bootstrap",)),
    Case("--ci-level 1.5", with_sets("--ci-level", "1.5"), 2, ("--ci-level", "between 0 and 1")),
    Case("--ci-level nan", with_sets("--ci-level", "nan"), 2, ("--ci-level",)),
    Case("--peak-dbfs nan", with_sets("--peak-dbfs", "nan"), 2, ("--peak-dbfs", "finite")),
    Case("--peak-dbfs inf", with_sets("--peak-dbfs", "inf"), 2, ("--peak-dbfs",)),
    Case("--peak-dbfs above full scale", with_sets("--peak-dbfs", "3"), 2, ("--peak-dbfs", "<= 0")),
    Case("--max-duration-s nan", with_sets("--max-duration-s", "nan"), 2, ("--max-duration-s",)),
    Case("--max-duration-s 0", with_sets("--max-duration-s", "0"), 2, ("--max-duration-s", "> 0")),
    Case("--seed -1", with_sets("--seed", "-1"), 2, ("--seed", ">= 0")),
    Case("--device bogus", with_sets("--device", "gpu0"), 2, ("--device", "cuda:N")),
    # metric lists
    Case("repeated metric option", with_sets(metrics="fd@mel:level=clip:level=frame"), 2, ("given twice",)),
    Case("empty metric list", with_sets(metrics=","), 2, ("metric list is empty",)),
    Case("empty --metrics string", with_sets(metrics=""), 2, ("metric list is empty",)),
    Case("metric option of the wrong type", with_sets(metrics="prdc@mel:k=abc"), 2, ("k='abc'", "integer")),
    Case("metric option NaN", with_sets(metrics="kad@mel:sigma=nan"), 2, ("not a finite number",)),
    Case("PRDC on identical degenerate embeddings", silent_sets, 1,
         ("every k-NN radius is zero", "silent or identical clips")),
    # output and cache folders
    Case("--out is a file", out_beside_file("f"), 2, ("--out", "is a file")),
    Case("--out under a file", out_beside_file("f/run"), 2, ("--out", "cannot be created")),
    Case("input error leaves no --out", with_sets("--out", "{tmp}/new/run", gen="missing.csv"), 2,
         ("missing.csv",), check=absent("new")),
    Case("error during the work leaves no --out",
         folder_with(lambda g: wav(g / "nan.wav", np.full(800, np.nan))), 2, ("nan.wav", "NaN/Inf samples"),
         check=absent("out")),
    Case("cache folder is a file", with_sets(cache=True), 2, ("cache folder", "--no-cache"), patch=cache_env),
    Case("truncated cache entry is recomputed", truncated_cache, 0, ("deleted and recomputed",),
         check=cache_rewritten),
    Case("cache write fails mid-run (disk full)", with_sets(cache=True), 0,
         ("writing the embedding cache failed", "not cached"), patch=disk_full, check=nothing_cached),
    Case("NaN embeddings are refused, not cached", with_sets(cache=True), 2,
         ("NaN/Inf values", "not cached"), patch=nan_embeddings, check=no_nan_cached),
    Case("silence/padding warnings survive the cache",
         warm_cache(("quiet.wav", np.zeros(16000, np.float32)), ("tiny.wav", tone(440, 0.05))), 0,
         ("silent clips", "quiet", "zero-padded", "tiny"), check=warm_run_warns),
    # other commands on missing folders
    Case("bench check on a missing run", _missing_run_check, 2, ("no-run", "not found")),
    Case("bench report on a missing run", lambda t: ["report", str(t / "no-run"), "--out", str(t / "rep")], 2,
         ("no-run",), check=absent("rep")),
    Case("bench run --out is a file", _run_out_is_a_file, 2, ("is a file", "new folder")),
    Case("bench run with an unknown protocol", lambda t: ["run", "sfx-mni", "--out", str(t / "r")], 2,
         ("sfx-mini",), check=absent("r")),
]


def _run(case: Case, args: list[str], capsys) -> tuple[int, str]:
    if case.subprocess:
        proc = subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True,
                              timeout=HANG_TIMEOUT_S, cwd=REPO)
        return proc.returncode, proc.stdout + proc.stderr
    try:
        code = main(args)
    except SystemExit as exc:  # argparse rejects a malformed option itself (exit code 2)
        code = exc.code
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in case.build(tmp_path)]
    if case.patch:
        case.patch(monkeypatch, tmp_path)
    code, text = _run(case, args, capsys)
    assert "Traceback" not in text
    assert code == case.code, text
    for word in case.words:
        assert word in text, f"{word!r} not in output:\n{text}"
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == (1 if code == 2 and "usage:" not in text else 0), text  # one paragraph
    if case.check:
        case.check(tmp_path)


def test_table_covers_every_issue_item() -> None:
    """The table is the record of item 7: it must not shrink silently."""
    assert len(CASES) == len({c.name for c in CASES}) >= 50
