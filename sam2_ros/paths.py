"""Where the package's installed files (config/, launch/, model/) live."""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = "sam2_ros"


def package_share(package: str = PACKAGE) -> Path | None:
    """``share/<package>`` of the install (ament index, else the Python environment's prefix);
    for sam2_ros also the source checkout when running from one."""
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )

        return Path(get_package_share_directory(package))
    except (ImportError, PackageNotFoundError, LookupError, OSError):  # OSError: no ament env
        pass
    candidates = [Path(sys.prefix) / "share" / package]
    if package == PACKAGE:
        candidates.append(Path(__file__).resolve().parents[1])
    return next((c for c in candidates if (c / "package.xml").is_file()), None)


def model_dir() -> Path | None:
    """The folder ``model/download_checkpoints.sh`` downloads into, as installed."""
    share = package_share()
    return share / "model" if share is not None else None


def fastdds_profile() -> Path | None:
    """The Fast DDS profile for camera-sized messages (``config/fastdds_large_images.xml``)."""
    share = package_share()
    return share / "config" / "fastdds_large_images.xml" if share is not None else None
