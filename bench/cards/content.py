"""The content-preservation experiment (``bench.content``) as part of a reproduction card.

A card that sets ``content=ContentSpec(...)`` gets, beside its protocol run, a content run
(LPAPS between the ``few``- and ``many``-step output of the same prompt and noise, SoundCTM's
Table 7). Its rows become card rows so that claims judge them like any other row:

- row ``content/<row_id>`` with ``system=<row_id>`` (``soundctm-gamma0``, ``cd``, ``bound-real``,
  …), ``sampler="content"``, ``steps=few``; referenced by :func:`content_ref`;
- one metric, :func:`content_metric` (e.g. ``lpaps@aisfx[1vs16]``), lower = the sound changed
  less, with the content run's bootstrap replicates. Every content row resamples the same item
  indices in every replicate (``bench.content.mean_interval``), so the replicates are paired and
  the card's paired-bootstrap comparisons apply unchanged.

A content row that is ``missing`` or ``error`` carries the metric with that status and reason, so
a claim on it is "not computed" with the reason instead of silently absent.
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.cards.base import RowRef
from bench.cards.document import Block, Heading, Para, Table

SAMPLER = "content"   # the card rows' sampler: never a real sampler name


@dataclass(frozen=True)
class ContentSpec:
    """The content run a card asks for (``bench.content.run_content``'s settings)."""

    prompts: int = 16
    seeds: int = 2
    backend: str = "aisfx"
    few: int = 1
    many: int = 16
    bootstrap: int = 1000


def content_metric(spec: ContentSpec) -> str:
    """The card-row metric name: LPAPS on the backend, ``few`` vs ``many`` steps."""
    return f"lpaps@{spec.backend}[{spec.few}vs{spec.many}]"


def content_ref(row_id: str, spec: ContentSpec = ContentSpec()) -> RowRef:
    """The card row of the content run's row ``row_id`` (e.g. ``"soundctm-gamma0"``, ``"bound-real"``)."""
    return RowRef(row_id, SAMPLER, spec.few)


def check_matches(spec: ContentSpec, result: dict) -> str:
    """"" when ``result`` was run with ``spec``'s settings, else what differs."""
    config = result.get("config", {})
    wanted = {"prompts": spec.prompts, "seeds": spec.seeds, "few": spec.few, "many": spec.many,
              "bootstrap": spec.bootstrap, "metric": f"lpaps@{spec.backend}"}
    differs = [f"{key}: {config.get(key)!r} (card: {value!r})" for key, value in wanted.items()
               if config.get(key) != value]
    return "; ".join(differs)


def content_rows(spec: ContentSpec, result: dict) -> list[dict]:
    """The content run's rows as card rows (see the module docstring)."""
    return [_card_row(spec, row) for row in result.get("rows", [])]


def _card_row(spec: ContentSpec, row: dict) -> dict:
    metric = {"higher_is_better": False, "status": row["status"]}
    if row["status"] == "ok":
        lpaps = row["lpaps"]
        metric.update(value=lpaps["mean"], ci_low=lpaps["ci"][0], ci_high=lpaps["ci"][1],
                      replicates=lpaps["replicates"], n=row["n"])
    else:
        metric["reason"] = row.get("reason", "")
    return {"row_id": f"content/{row['row_id']}", "role": "content", "system": row["row_id"],
            "sampler": SAMPLER, "steps": spec.few, "label": row["label"],
            "metrics": {content_metric(spec): metric}}


def content_blocks(spec: ContentSpec, result: dict | None, where: str) -> list[Block]:
    """The card's content-preservation section: the table beside the paper's values, and notes."""
    from bench.content import PAPER_NOTE, metric_caveat

    head: list[Block] = [Heading(f"Content preservation: LPAPS between {spec.few}- and {spec.many}-step "
                                 "outputs (SoundCTM Table 7)")]
    if result is None:
        return head + [Para(f"Not measured: {where}.")]
    config = result["config"]
    lines = tuple(_content_line(row) for row in result["rows"])
    text = (f"{config['metric']} between each item's {spec.few}-step and {spec.many}-step output from the "
            f"same prompt and initial noise (lower = the sound changed less); mean over "
            f"{result['sizes']}, with a bootstrap {config['ci_level']:.0%} interval over items. Bounds on "
            f"real clips: the autoencoder's reconstruction of a clip vs the clip, and two renders of the "
            f"same prompt. The content run: {where}.")
    return head + [Para(text), Table(("row", "NFE few → many", "LPAPS mean [95 % CI]",
                                      "paper (CLAP-LPAPS)"), lines),
                   Para(f"{metric_caveat(config['metric'])} {PAPER_NOTE}", note=True)]


def _content_line(row: dict) -> tuple[str, ...]:
    paper = "–" if row.get("paper") is None else f"{row['paper']:.2f}"
    if row["status"] != "ok":
        return (row["label"], "–", f"{row['status']}: {row.get('reason', '')}", paper)
    nfe = "–" if row.get("nfe") is None else f"{row['nfe']['few']} → {row['nfe']['many']}"
    low, high = row["lpaps"]["ci"]
    return (row["label"], nfe, f"{row['lpaps']['mean']:.3f} [{low:.3f}, {high:.3f}]", paper)
