"""The node's model: loaded, and compiled and warmed up when asked, with every failure logged as
the reason configure failed."""

from __future__ import annotations

from typing import Any

from sam2_ros.engine import (
    CheckpointError,
    ModelConfigError,
    OnnxExportError,
    Sam2Model,
    load_model,
)
from sam2_ros.engine.model.compiled import default_cache_dir
from sam2_ros.engine.streaming.warm_up import warm_up
from sam2_ros.parameters.node_params import NodeParams


def build_model(params: NodeParams, logger: Any) -> Sam2Model | None:
    """Load (and compile and warm up) the model of ``params``; None when it failed (logged)."""
    try:
        model = load_model(params.engine_settings())
    except (CheckpointError, ModelConfigError, OnnxExportError) as err:
        logger.error(f"configure failed: {err}")
        return None
    if params.checkpoint is None:
        logger.warning("running with RANDOM WEIGHTS (allow_random_weights): masks are meaningless")
    if params.compile == "none":
        return model
    try:
        model.compile(params.compile, params.compile_cache_dir)
        seconds = warm_up(model, params.max_objects)
    except Exception as err:  # torch.compile's failures have many types (no compiler...)
        model.release()
        logger.error(
            f"configure failed: compile {params.compile} failed ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); set compile: none"
        )
        return None
    cache = params.compile_cache_dir or default_cache_dir()
    logger.info(
        f"compiled ({params.compile}) and warmed up for up to {params.max_objects} "
        f"objects in {seconds:.1f} s (cache {cache})"
    )
    return model
