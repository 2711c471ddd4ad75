"""Streaming SAM 2 engine: bounded-memory video tracking on live frames (no ROS imports).

Four subpackages, whose imports run one way (each imports only those below it):

* ``streaming``: the streaming predictor, its state and SAM 2's per-frame steps on it;
* ``memory``: the memory bank and the memory selections (SAM 2's, SAMURAI's);
* ``model``: the SAM 2 network, its weights, precision, speed-ups, compiling and ONNX export;
* ``graphs``: the per-frame components, their exported graphs and the runtimes that run them.

``streaming`` imports ``memory`` and ``model``; ``model`` imports ``graphs``; ``memory`` and
``graphs`` import no other subpackage. ``settings`` (the engine's settings) and ``files`` (cache
folders, file hashes) are below them all. The names here are the engine's public interface.
"""

from sam2_ros.engine.graphs.onnx_graphs import OnnxExportError
from sam2_ros.engine.memory.bank import MemoryBank
from sam2_ros.engine.model.build import ModelConfigError, Sam2Model, load_model
from sam2_ros.engine.model.checkpoint import CheckpointError
from sam2_ros.engine.settings import DEFAULT_MODEL_CFG, EngineSettings
from sam2_ros.engine.streaming.objects_file import ObjectsFileError
from sam2_ros.engine.streaming.predictor import StreamingPredictor
from sam2_ros.engine.streaming.preprocess import FrameError
from sam2_ros.engine.streaming.prompts import PromptError
from sam2_ros.engine.streaming.results import PromptResult, TrackResult

__all__ = [
    "DEFAULT_MODEL_CFG",
    "CheckpointError",
    "EngineSettings",
    "FrameError",
    "MemoryBank",
    "ModelConfigError",
    "ObjectsFileError",
    "OnnxExportError",
    "PromptError",
    "PromptResult",
    "Sam2Model",
    "StreamingPredictor",
    "TrackResult",
    "load_model",
]
