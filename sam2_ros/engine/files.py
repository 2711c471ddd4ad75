"""The files the engine keeps and checks: where what it builds once is kept between runs (compiled
kernels, TensorRT engines, OpenVINO's compiled models), and a file's SHA-256 (a checkpoint's, an
exported graph's)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def user_cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/sam2_ros/<name>`` (``~/.cache`` without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sam2_ros" / name


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (a checkpoint's, an exported graph's)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
