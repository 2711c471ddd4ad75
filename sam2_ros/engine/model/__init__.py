"""The SAM 2 network and how it is made fast: building it as Meta's video predictor does, its
checkpoint, precision (and bf16 on the CPU), exact speed-ups, ``torch.compile``, and exporting its
per-frame components as ONNX graphs.

May import the engine's ``graphs`` subpackage (the graph backends a model is built with) and its
top-level modules (``settings``, ``files``); ``streaming`` imports it.
"""
