"""The leaf layer: what every other package may import, importing nothing of the project itself.

``registry`` (lazy ``"module:attr"`` tables and helpful unknown-name errors), ``paths`` (the
cache root and the optional ../shared folder), ``audio_io`` (reading and checking audio files,
resampling), ``sources`` (audio folders and CSV manifests) and ``sfx`` (the embedded procedural
sound-effect data set and its signal analysis). Dependencies point one way::

    common  <-  metrics  <-  systems  <-  bench

(``tests/test_layering.py`` enforces it.)
"""
