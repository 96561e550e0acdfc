"""``bench eval --list``: which metrics and backends can run on this machine, and why not."""
from __future__ import annotations

from metrics import ALIASES, METRICS, get_metric
from metrics.embeddings import EMBEDDINGS, get_backend


def backend_rows() -> list[tuple[str, bool, str, str]]:
    rows = []
    for name in EMBEDDINGS:
        cls = get_backend(name)
        ok, why = cls.availability()
        provides = ",".join(sorted(cls.provides))
        rows.append((name, ok, provides, why))
    return rows


def print_listing() -> None:
    rows = backend_rows()
    print("Embedding backends:")
    for name, ok, provides, why in rows:
        print(f"  {name:18} {'available  ' if ok else 'UNAVAILABLE'} provides {provides:28} {why}")
    usable = {n: set(p.split(",")) | {"embedding"} for n, ok, p, _ in rows if ok}
    print("\nMetrics (metric@backend combinations that can run here):")
    for name in METRICS:
        cls = get_metric(name)
        if not cls.info.needs_backend:
            combos = name
        else:
            ok = [b for b, p in usable.items() if set(cls.info.needs) - {"audio"} <= p]
            combos = ", ".join(f"{name}@{b}" for b in ok) or "none here (needs " + \
                ",".join(cls.info.needs) + ")"
        arrow = "higher is better" if cls.info.higher_is_better else "lower is better"
        print(f"  {name:13} {arrow:17} {combos}")
    print("\nAliases: " + ", ".join(f"{a} = {'+'.join(v)}" for a, v in ALIASES.items()))
