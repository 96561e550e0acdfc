"""Floor and ceiling rows (results.json ``anchors``) and where a system row sits between them.

- **floor** (system "real"): real clips scored like a system row, i.e. what "indistinguishable
  from real" scores at this sample size;
- **ceiling** (system "autoencoder"): those clips through the shared autoencoder and decoder,
  the best any system generating in this latent space can score.

A row's **position** on a metric is ``(value − floor) / (ceiling − floor)``: 0 = scores like
real clips, 1 = scores like the decoder's own output (as good as the decoder allows), > 1 =
worse than that, < 0 = better than the real clips (sampling noise at this size). The ratio needs
no direction: it measures how far the row has travelled from floor towards ceiling. It is
undefined (None) when the ceiling does not score worse than the floor in the metric's direction:
then the anchors span no interval to place a row on.
"""
from __future__ import annotations

ANCHOR_ROLES = ("floor", "ceiling")
DEFAULT_LABELS = {"floor": "real clips", "ceiling": "autoencoder + Griffin-Lim"}
POSITION_NOTE = ("position = (value − floor) / (ceiling − floor): 0 = scores like real clips (floor), "
                 "1 = as good as the autoencoder + decoder allows (ceiling), > 1 = worse than the "
                 "ceiling, < 0 = better than the floor (noise); — = no anchors, or the ceiling does "
                 "not score worse than the floor on this metric.")


def anchor_position(value: float | None, floor: float | None, ceiling: float | None,
                    higher_is_better: bool) -> float | None:
    """``(value − floor) / (ceiling − floor)``; None when a number is missing or the span is empty.

    The span must run from better (floor) to worse (ceiling) in the metric's direction.
    """
    if value is None or floor is None or ceiling is None:
        return None
    span = float(ceiling) - float(floor)
    worse_by = -span if higher_is_better else span  # > 0 when the ceiling scores worse
    if not worse_by > 0.0:
        return None
    return (float(value) - float(floor)) / span + 0.0  # + 0.0: no '-0.00' for the floor itself


def role(row: dict) -> str:
    """'system', 'floor' or 'ceiling' (a row without a role is a system row)."""
    return row.get("role", "system")


def is_anchor(row: dict) -> bool:
    return role(row) in ANCHOR_ROLES


def system_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if not is_anchor(r)]


def anchor_label(row: dict) -> str:
    """Human label of an anchor row, always naming its role, e.g. 'real clips — floor'."""
    kind = role(row)
    label = str(row.get("label") or DEFAULT_LABELS.get(kind, row.get("system", kind)))
    if kind in label.lower():
        return label
    return f"{label} — {kind}"


def anchor_index(rows: list[dict]) -> dict[tuple[str, str], dict]:
    """(run, role) -> the anchor row of that run (the first one, should a run list two)."""
    out: dict[tuple[str, str], dict] = {}
    for row in rows:
        if is_anchor(row):
            out.setdefault((str(row.get("run", "")), role(row)), row)
    return out


def ok_value(row: dict | None, metric: str) -> float | None:
    """The metric's value when its status is 'ok', else None."""
    m = (row or {}).get("metrics", {}).get(metric)
    return m["value"] if m and m.get("status") == "ok" else None


def row_position(row: dict, metric: str, anchors: dict[tuple[str, str], dict]) -> float | None:
    """Position of ``row`` on ``metric`` between the floor and ceiling of its own run."""
    m = row["metrics"].get(metric)
    if m is None:
        return None
    run = str(row.get("run", ""))
    floor, ceiling = anchors.get((run, "floor")), anchors.get((run, "ceiling"))
    return anchor_position(ok_value(row, metric), ok_value(floor, metric), ok_value(ceiling, metric),
                           bool(m["higher_is_better"]))


def has_anchors(rows: list[dict]) -> bool:
    return any(is_anchor(r) for r in rows)
