"""Vector quantisers for latent codecs (S-PRESSO's offline stage, systems reference §2.4.1).

Every quantiser maps vectors ``x [N, d]`` to ``M`` integer codes in ``[0, K)`` per vector and back
(``base.VectorQuantizer``); any prefix of the ``M`` codes is a valid lower-rate code. Registry
(name -> ``"module:attr"``, imported lazily):

- ``rvq``: plain residual k-means (the paper's "RQ at equal bits" ablation and QINCo2's init);
- ``qinco2``: QINCo2, residual quantisation with implicit neural codebooks and beam search.

``payload`` packs codes into exact bytes, which is what a codec's bitrate is measured from.
"""
from __future__ import annotations

from common.registry import resolve

QUANTIZERS: dict[str, str] = {
    "rvq": "systems.quantizers.rvq:ResidualKMeans",
    "qinco2": "systems.quantizers.qinco2:QINCo2",
}


class QuantizerError(ValueError):
    """A quantiser was given bad settings or data, or was used before ``fit``."""


def get_quantizer(name: str):
    """The quantiser class registered as ``name`` (imported lazily)."""
    return resolve(QUANTIZERS, name, "quantizer")
