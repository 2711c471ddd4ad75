"""SAM 2's four per-frame components and their exported graphs: the one description of the
components, the ONNX graphs and an export's manifest, and the runtimes that run an export in
place of the components (ONNX Runtime, OpenVINO).

Imports no other engine subpackage (only the engine's top-level ``files``); ``model`` imports it
(exporting, which builds a model, is ``model.onnx_export``).
"""
