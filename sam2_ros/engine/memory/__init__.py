"""Each object's memory and how a frame reads it: the bounded memory bank, the memory selections
that pick which memories condition a frame and which candidate mask an object gets (SAM 2's own,
SAMURAI's), and SAMURAI's motion model.

Imports no other engine subpackage (only the engine's top-level modules, ``settings`` and
``files``, where it needs them); ``streaming`` imports it.
"""
