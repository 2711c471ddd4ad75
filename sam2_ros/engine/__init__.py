"""Streaming SAM 2 engine: bounded-memory video tracking on live frames (no ROS imports)."""

from sam2_ros.engine.checkpoint import CheckpointError
from sam2_ros.engine.memory_bank import MemoryBank
from sam2_ros.engine.model import ModelConfigError, Sam2Model, load_model
from sam2_ros.engine.objects_file import ObjectsFileError
from sam2_ros.engine.onnx_graphs import OnnxExportError
from sam2_ros.engine.predictor import StreamingPredictor
from sam2_ros.engine.preprocess import FrameError
from sam2_ros.engine.prompts import PromptError
from sam2_ros.engine.results import PromptResult, TrackResult
from sam2_ros.engine.settings import DEFAULT_MODEL_CFG, EngineSettings

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
