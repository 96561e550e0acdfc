"""Reproduction card registry: paper name -> ``"module:CARD"``; one file per paper.

A card (``bench.cards.base.Card``) holds a paper's citable numbers and its claims as checkable
statements over our measurements; ``python -m bench reproduce PAPER --out DIR`` runs the card's
protocol (or reads a finished run) and judges every claim (``bench.reproduce``).
"""
from __future__ import annotations

CARDS: dict[str, str] = {
    "audioturbo": "bench.cards.audioturbo:CARD",
    "arc": "bench.cards.arc:CARD",
    "soundctm": "bench.cards.soundctm:CARD",
    "spresso": "bench.cards.spresso:CARD",
}


def get_card(name: str):
    """The card registered as ``name``; an unknown name raises with the known cards listed."""
    from common.registry import resolve

    return resolve(CARDS, name, "card")
