"""Where saved objects live: one file per name and camera inside the ``objects_dir`` folder.

Names come from service callers, so only plain file names are accepted: a caller must never be
able to read or write a file outside that folder.
"""

from __future__ import annotations

import re
from pathlib import Path

SUFFIX = ".safetensors"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class ObjectNameError(ValueError):
    """A name that is not a plain file name."""


class ObjectStore:
    """The files of saved objects in one folder (``~`` expanded)."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory).expanduser()

    def path(self, name: str, camera: str) -> Path:
        """``<directory>/<name>.<camera>.safetensors``; ObjectNameError for anything but a plain
        name (no separators, no ``..``, not absolute, not hidden)."""
        if not _PLAIN_NAME.fullmatch(name) or ".." in name:
            raise ObjectNameError(
                f"name {name!r} is not a plain file name: use letters, digits, '.', '_' and '-' "
                f"(no '/', no '..'); files live in {self.directory}"
            )
        return self.directory / f"{name}.{camera}{SUFFIX}"
