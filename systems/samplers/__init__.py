"""Sampler registry: name -> ``"module:attr"`` (imported lazily; importing this costs no torch).

Every sampler is a pure function over an EDM denoiser ``D(x, σ)`` (see ``base``) wrapped in a
``Sampler`` with its metadata. Usage::

    from systems.samplers import get_sampler
    from systems.samplers.grids import karras

    sigmas = karras(8)
    x = sigmas[0] * torch.randn(shape, generator=g)   # the caller scales the start noise
    sample = get_sampler("heun")(denoise, x, sigmas)

Add a sampler = one file under ``systems/samplers/`` exporting ``SAMPLER`` plus one line here.
"""
from __future__ import annotations

from common.registry import resolve

SAMPLERS: dict[str, str] = {
    "euler": "systems.samplers.euler:SAMPLER",
    "heun": "systems.samplers.heun:SAMPLER",
    "ddim": "systems.samplers.ddim:SAMPLER",
    "dpmpp_2m": "systems.samplers.dpmpp_2m:SAMPLER",
    "pingpong": "systems.samplers.pingpong:SAMPLER",
    "ctm_gamma": "systems.samplers.ctm_gamma:SAMPLER",
}


def get_sampler(name: str):
    """The ``Sampler`` registered as ``name``; unknown names raise ``UnknownNameError`` with hints."""
    return resolve(SAMPLERS, name, "sampler")


def sampler_names() -> list[str]:
    """Registered sampler names, sorted."""
    return sorted(SAMPLERS)
