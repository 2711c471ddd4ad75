"""Compiling SAM 2's per-frame components with ``torch.compile``, in static shapes.

Modes: ``none`` (eager), ``default`` (inductor's default) and ``max`` (``max-autotune``: autotuned
kernels, and CUDA graphs on GPUs). Every component the engine runs per frame is compiled the way
Meta's ``SAM2VideoPredictorVOS`` compiles it: static shapes, except memory attention, whose memory
grows until SAM 2's window is full (dynamic). The engine pads object batches to :data:`BUCKETS`
so that a steady stream of objects never meets a new shape.

Compiled kernels are cached on disk (``cache_dir``, by default ``~/.cache/sam2_ros/torch_compile``
or ``$XDG_CACHE_HOME/sam2_ros/torch_compile``): a second start compiles from the cache.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sam2_ros.engine.files import user_cache_dir
from sam2_ros.engine.graphs.components import COMPONENTS

COMPILE_MODES = ("none", "default", "max")

#: Object batch sizes compiled graphs are made for; larger batches run at their own size.
BUCKETS = (1, 2, 4, 8, 16)

#: What is compiled: each per-frame component's module, and the prompt encoder (as Meta's
#: ``SAM2VideoPredictorVOS`` compiles it): (attribute of SAM2Base, shapes dynamic?).
COMPILED = (
    *((component.attribute, component.dynamic) for component in COMPONENTS),
    ("sam_prompt_encoder", False),
)


def default_cache_dir() -> Path:
    """Where compiled kernels are kept between runs."""
    return user_cache_dir("torch_compile")


def bucket(batch: int) -> int:
    """The smallest bucket holding ``batch`` objects (``batch`` itself beyond the largest)."""
    return next((size for size in BUCKETS if size >= batch), batch)


def compile_components(
    sam: nn.Module, device: torch.device, mode: str, cache_dir: Path | None = None
) -> None:
    """``torch.compile`` SAM 2's per-frame components in place (``mode``: default or max)."""
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir or default_cache_dir())
    inductor_mode = "max-autotune" if mode == "max" else "default"
    graphs = mode == "max" and device.type == "cuda"  # CUDA graphs reuse their output buffers
    for attribute, dynamic in COMPILED:
        module = getattr(sam, attribute)
        compiled = torch.compile(module.forward, mode=inductor_mode, dynamic=dynamic)
        module.forward = functools.partial(_cloned, compiled) if graphs else compiled


def _cloned(forward: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``forward``'s outputs copied out of the CUDA graph's buffers, which its next replay
    overwrites (the engine keeps memories across frames)."""
    return torch.utils._pytree.tree_map_only(torch.Tensor, torch.clone, forward(*args, **kwargs))


def compiled_graphs() -> int:
    """Graphs compiled so far in this process (a new one after warm-up is a recompilation)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])
