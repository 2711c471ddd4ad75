"""Where what the engine builds once is kept between runs: compiled kernels, TensorRT engines,
OpenVINO's compiled models."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/sam2_ros/<name>`` (``~/.cache`` without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sam2_ros" / name
