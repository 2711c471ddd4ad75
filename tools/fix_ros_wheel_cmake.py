"""Point the ROS 2 wheels' exported CMake targets at this environment's Python and NumPy headers.

The PyPI ROS 2 wheels were built in a manylinux container, and their exported CMake targets name
that container's include directories (``/opt/python/cp311-cp311/...``). CMake refuses to generate
a build that links those targets while the directories do not exist. This rewrites them, in place
and idempotently, to the running interpreter's include directory and ``numpy.get_include()``.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

BUILD_PYTHON_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
BUILD_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/_core/include"
)


def main() -> int:
    """Rewrite the build-machine include paths under ``<sys.prefix>/share/*/cmake``."""
    python_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    for required in (python_include, numpy_include):
        if not Path(required, "Python.h" if required == python_include else "numpy").exists():
            print(f"error: include directory {required} is missing its headers", file=sys.stderr)
            return 1
    changed = 0
    for cmake_file in sorted(Path(sys.prefix, "share").glob("*/cmake/*.cmake")):
        text = cmake_file.read_text()
        fixed = BUILD_NUMPY_INCLUDE.sub(numpy_include, text)
        fixed = BUILD_PYTHON_INCLUDE.sub(python_include, fixed)
        if fixed != text:
            cmake_file.write_text(fixed)
            changed += 1
    print(f"fix_ros_wheel_cmake: rewrote include paths in {changed} CMake files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
