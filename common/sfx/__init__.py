"""Embedded, procedurally generated sound-effect set with captions, ground-truth attributes
and a signal-processing attribute analysis (its prompt-adherence score).

Modules: ``attributes`` (the attribute space and its physical definitions), ``synth``
(rendering), ``captions`` (templates and parser), ``dataset`` (items, splits, manifests),
``analysis`` (attribute estimation and adherence scoring).
"""
from common.sfx.analysis import AdherenceResult, adherence, adherence_batch, analyse, chance_level
from common.sfx.attributes import ATTRIBUTE_VALUES, SfxAttributes
from common.sfx.captions import caption, parse_caption
from common.sfx.dataset import SfxItem, make_items, render_item, write_manifest
from common.sfx.synth import render

__all__ = [
    "ATTRIBUTE_VALUES", "AdherenceResult", "SfxAttributes", "SfxItem", "adherence", "adherence_batch",
    "analyse", "caption", "chance_level", "make_items", "parse_caption", "render", "render_item",
    "write_manifest",
]
