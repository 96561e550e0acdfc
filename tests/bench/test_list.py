"""``python -m bench list``: every registered thing is listed, and what is unavailable says why."""
from __future__ import annotations

from bench import cli_list
from bench.__main__ import main
from bench.protocols import PROTOCOLS, get_protocol
from metrics import METRICS
from metrics.embeddings import EMBEDDINGS
from metrics.embeddings.yamnet import YamnetBackend
from systems import SYSTEMS, system_table


def listed(capsys, *sections: str) -> str:
    assert main(["list", *sections]) == 0
    return capsys.readouterr().out


def section_lines(out: str, title: str) -> list[str]:
    """The indented lines under the (unindented) heading line that starts with ``title``."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    block = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        block.append(line.strip())
    return block


def test_lists_every_registered_thing(capsys):
    out = listed(capsys)
    for title in ("Systems", "Shared components", "Protocols", "Reproduction cards",
                  "Embedding backends", "Metrics"):
        assert section_lines(out, title), f"empty section {title}"
    assert {line.split()[0] for line in section_lines(out, "Systems")} == set(system_table())
    assert {line.split()[0] for line in section_lines(out, "Embedding backends")} == set(EMBEDDINGS)
    metric_names = {line.split()[0] for line in section_lines(out, "Metrics (")}
    assert set(METRICS) <= metric_names
    for name in PROTOCOLS:
        protocol = get_protocol(name)
        assert f"{name:10} v{protocol.version}  {protocol.hash()}" in out


def test_sections_can_be_chosen_and_unknown_ones_are_input_errors(capsys):
    out = listed(capsys, "cards", "systems")
    assert out.index("Systems") < out.index("Reproduction cards")  # the fixed section order
    assert "Protocols" not in out and "Metrics" not in out
    assert main(["list", "sytems"]) == cli_list.EXIT_INPUT_ERROR
    err = capsys.readouterr().err
    assert "unknown section(s) sytems" in err and "systems" in err


def test_no_card_registry_says_none_are_registered(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(cli_list, "CARD_REGISTRY", "no_such_card_registry")
    assert cli_list.card_table() is None
    lines = section_lines(listed(capsys, "cards"), "Reproduction cards")
    assert lines == ["none registered (no card registry exists yet; reproduction cards arrive with "
                     "`bench reproduce`)"]
    (tmp_path / "empty_card_registry.py").write_text("CARDS = {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli_list, "CARD_REGISTRY", "empty_card_registry")
    assert "none registered (empty_card_registry.CARDS is empty" in listed(capsys, "cards")


def test_cards_are_read_from_the_registry_when_it_exists(capsys, tmp_path, monkeypatch):
    (tmp_path / "fake_card_registry.py").write_text('CARDS = {"audioturbo": "cards.audioturbo:CARD"}\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli_list, "CARD_REGISTRY", "fake_card_registry")
    lines = section_lines(listed(capsys, "cards"), "Reproduction cards")
    assert lines == ["audioturbo     cards.audioturbo:CARD"]


def test_unavailable_backend_reason_reaches_backends_metrics_and_protocols(capsys, monkeypatch):
    monkeypatch.setattr(YamnetBackend, "availability",
                        classmethod(lambda cls: (False, "yamnet: planted reason, fix it like so")))
    out = listed(capsys, "protocols", "backends", "metrics")
    yamnet = [line for line in section_lines(out, "Embedding backends") if line.startswith("yamnet")]
    assert "UNAVAILABLE" in yamnet[0] and yamnet[0].endswith("planted reason, fix it like so")
    kl = [line for line in section_lines(out, "Metrics (") if line.startswith("kl ")][0]
    assert "none here: needs logits: from" in kl and "yamnet" in kl and "unavailable here" in kl
    assert "fd@yamnet (yamnet unavailable" in out  # sfx-mini scores fd@yamnet


def test_missing_shared_folder_marks_manifest_protocols(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FASTAUDIO_SHARED", str(tmp_path / "nowhere"))
    out = listed(capsys, "protocols")
    esc50 = out.split("esc50", 1)[1]
    assert "DATA MISSING" in esc50 and "needs the shared data folder" in esc50
    assert "data present (prompts: procedural" in out.split("sfx-mini", 1)[1].split("esc50")[0]


def test_broken_registrations_are_listed_with_the_import_error(capsys, monkeypatch):
    monkeypatch.setitem(SYSTEMS, "ghost-system", "no_such_module:Ghost")
    monkeypatch.setitem(METRICS, "ghost_metric", "no_such_module:Ghost")
    out = listed(capsys, "systems", "metrics")
    ghost = [line for line in section_lines(out, "Systems") if line.startswith("ghost-system")][0]
    assert "BROKEN" in ghost and "no_such_module:Ghost does not import (ModuleNotFoundError" in ghost
    assert "ghost_metric  ?" in out and "none here: no_such_module:Ghost does not import" in out


def test_components_say_trained_or_how_to_train(capsys):
    rows = cli_list.component_rows()
    assert {(r.preset, r.kind) for r in rows} >= {("tiny", "autoencoder"), ("tiny", "teacher")}
    assert not any(r.trained for r in rows)  # the test's own empty cache (tests/conftest.py)
    ae = next(r for r in rows if (r.preset, r.kind) == ("tiny", "autoencoder"))
    ae.path.mkdir(parents=True)
    (ae.path / "final.safetensors").write_bytes(b"")
    lines = section_lines(listed(capsys, "components"), "Shared components")
    assert f"tiny   autoencoder  trained      {ae.path}" in lines
    assert any(line.startswith("tiny   teacher      not trained  `python -m bench train components "
                               "--preset tiny`") for line in lines)


def test_pin_status_words():
    protocol = get_protocol("sfx-mini")
    assert cli_list.pin_status(protocol, None).startswith("NOT PINNED")
    assert cli_list.pin_status(protocol, {"version": protocol.version, "hash": protocol.hash()}) == "pinned"
    stale = cli_list.pin_status(protocol, {"version": protocol.version, "hash": "0" * 16})
    assert stale.startswith("DIFFERS from its pin") and "bump the version" in stale


def test_a_system_whose_extra_is_missing_says_so(capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    hide = lambda name, *a: None if name == "diffusers" else real(name, *a)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", hide)
    assert main(["list", "systems"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.strip().startswith("audioldm2 "))
    assert "[needs diffusers: not installed" in line
