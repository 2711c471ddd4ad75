"""Make a Python process see only what docs.ros.org has when it builds the package's site.

``tools/build_docs.py --as-on-docs-ros-org`` puts this folder first on ``PYTHONPATH``, so every
Python process of the build (rosdoc2, Sphinx) imports this file at start-up. A module can then be
imported only from the folders named in ``SAM2_ROS_DOCS_ONLY_FROM`` (the standard library,
rosdoc2 and what it requires, what rosdep installs for package.xml, the package's source tree):
not PyTorch, SAM 2 or rosbags, nor the package's generated messages, which only its build makes.
Sphinx's mocks (``autodoc_mock_imports``) sit before this finder and still answer.
"""

import os
import sys
from importlib.machinery import PathFinder

_ROOTS = tuple(
    os.path.join(os.path.realpath(root), "")
    for root in os.environ.get("SAM2_ROS_DOCS_ONLY_FROM", "").split(os.pathsep)
    if root
)


def _allowed(location):
    return os.path.join(os.path.realpath(location), "").startswith(_ROOTS)


class _OnlyWhatDocsRosOrgHas:
    """A meta path finder that refuses modules found outside the allowed folders."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.origin in ("built-in", "frozen"):
            return None  # not on sys.path: the other finders answer
        locations = [spec.origin] if spec.has_location else []
        locations += list(spec.submodule_search_locations or ())
        if any(_allowed(location) for location in locations):
            return None  # the usual finders find it
        message = f"No module named {name!r} (not where docs.ros.org builds)"
        raise ModuleNotFoundError(message, name=name)


if _ROOTS:
    sys.meta_path.insert(0, _OnlyWhatDocsRosOrgHas())
