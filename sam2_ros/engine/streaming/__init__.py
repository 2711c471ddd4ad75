"""Tracking a live stream: :class:`~sam2_ros.engine.streaming.predictor.StreamingPredictor` and
what it keeps between frames (the stream's state, the prompt history), SAM 2's per-frame steps
on it, late prompts and their rollback, saved objects, frames and prompts in, results out.

May import the engine's ``memory`` and ``model`` subpackages and its top-level modules
(``settings``, ``files``); nothing imports it but the engine's ``__init__``.
"""
