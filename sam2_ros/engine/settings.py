"""The engine's settings, declared once: what :func:`~sam2_ros.engine.load_model` builds the model
with and how a :class:`~sam2_ros.engine.StreamingPredictor` tracks with it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MODEL_CFG = "configs/sam2.1/sam2.1_hiera_t.yaml"


@dataclass(frozen=True)
class EngineSettings:
    """Every setting of the engine. The model's are read by ``load_model`` (a predictor given a
    loaded ``model=`` ignores them); the tracking ones by the predictor."""

    # ---- the model ----------------------------------------------------------------------------
    #: SAM 2 config (a file inside the ``sam2`` package).
    model_cfg: str = DEFAULT_MODEL_CFG
    #: An official ``.pt`` checkpoint; None: random weights, only with ``allow_random_weights``.
    checkpoint: Path | None = None
    #: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
    device: str = "auto"
    #: SAM 2 input resolution; None: the config's (1024).
    image_size: int | None = None
    #: Build without a checkpoint (tests and demos: masks are meaningless).
    allow_random_weights: bool = False
    #: Seed of the random weights (two models built alike are identical).
    seed: int = 0
    #: ``auto`` (bf16 where the device has native bf16 units), ``fp32`` or ``bf16``.
    precision: str = "auto"
    #: What runs the per-frame components: ``torch``, ``onnxruntime`` or ``openvino``.
    backend: str = "torch"
    #: The export a graph backend runs (``sam2-ros export``).
    onnx_dir: Path | None = None
    #: ONNX Runtime's execution providers (``auto`` or a list such as ``tensorrt,cuda,cpu``).
    onnx_providers: str = "auto"
    #: Where TensorRT keeps the engines it builds; None: the user cache.
    tensorrt_cache_dir: Path | None = None
    #: OpenVINO's device for backend ``openvino``.
    openvino_device: str = "CPU"
    #: Only the speed-ups an ONNX trace records whole (for ``sam2-ros export``).
    exportable: bool = False

    # ---- tracking -----------------------------------------------------------------------------
    #: Most objects a predictor tracks.
    max_objects: int = 16
    #: Prompted frames kept per object (the first one plus the most recent ones).
    max_conditioning_frames: int = 8
    #: A prompt on an already-tracked frame becomes a conditioning frame (kept until capped)
    #: rather than a recent memory that ages out: SAM 2's ``add_all_frames_to_correct_as_cond``.
    corrections_as_conditioning: bool = True
    #: How many of the last tracked frames a prompt can still land on.
    history_frames: int = 30
    #: ``sam2`` (SAM 2's memory) or ``samurai`` (SAMURAI's motion-aware memory).
    memory_selection: str = "sam2"
    #: SAMURAI's settings by SAMURAI's names (only with ``memory_selection="samurai"``).
    samurai: dict[str, float] = field(default_factory=dict)
    #: Object batches padded to buckets with one memory layout (static shapes); None: when the
    #: model is compiled.
    bucketed: bool | None = None

    def __post_init__(self) -> None:
        for name in ("checkpoint", "onnx_dir", "tensorrt_cache_dir"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    def replace(self, **changes: Any) -> EngineSettings:
        """These settings with ``changes`` (field names); TypeError naming an unknown one."""
        return dataclasses.replace(self, **changes) if changes else self


def settings_with(settings: EngineSettings | None, changes: dict[str, Any]) -> EngineSettings:
    """``settings`` (default: the defaults) with ``changes``: how ``load_model`` and the
    predictor take ``settings, **changes``."""
    return (settings or EngineSettings()).replace(**changes)
