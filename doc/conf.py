"""Sphinx settings of the sam2_ros site, which rosdoc2 builds (``make docs``; docs.ros.org).

rosdoc2 writes its own conf.py that runs this file, generates a page per message, service and
Python module, includes README.md in the front page and lists the pages of ``doc/`` under
"Documentation". What is set here:

* the site keeps the repository's layout (README.md at the top, the guide in ``doc/``), so that
  the links written for GitHub hold in the site too;
* heading anchors as GitHub makes them, for links such as ``interfaces.md#parameters``;
* modules the package imports that nothing installs where docs.ros.org builds (no rosdep key, or
  made by the package's own build) are mocked when they cannot be imported.
"""

import importlib.util
import re
import shutil
from pathlib import Path

# Sphinx runs this file in its source folder (rosdoc2's wrapped project).
_SOURCE = Path.cwd()

# Heading anchors on every level, GitHub's slugs (MyST's default slug function).
myst_heading_anchors = 6

# Imported by sam2_ros, but neither declared in package.xml (rosdoc2 mocks what is declared there
# and cannot be imported) nor in the package's source tree: PyTorch, SAM 2 and the other
# requirements.txt packages that package.xml does not declare; OpenCV, whose key python3-opencv
# rosdoc2 takes for a module "opencv"; and the message and service classes, which only the
# package's build generates. test/test_docs_site.py keeps this list exact.
MOCKED_WHEN_MISSING = (
    "PIL",
    "cv2",
    "onnx",
    "onnxruntime",
    "openvino",
    "ray",
    "rosbags",
    "safetensors",
    "sam2",
    "sam2_ros.msg",
    "sam2_ros.srv",
    "torch",
    "trackeval",
)


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def _mock_missing(app, config) -> None:
    """Add the missing modules to ``autodoc_mock_imports`` (rosdoc2 0.2.1 assigns that list after
    running this file, so the modules are added once the configuration is complete)."""
    missing = [name for name in MOCKED_WHEN_MISSING if not _importable(name)]
    config.autodoc_mock_imports = sorted(set(config.autodoc_mock_imports or ()) | set(missing))


def _guide_order() -> list[str]:
    """The guide's pages (``doc/*.md``) in the order README.md's "User guide" lists them, then
    any other."""
    pages = sorted(path.stem for path in (_SOURCE / "doc").glob("*.md"))
    readme = _SOURCE / "README.md"
    text = readme.read_text() if readme.exists() else ""
    guide = text[text.find("\n## User guide") :] if "\n## User guide" in text else text
    linked = re.findall(r"\]\(doc/([\w-]+)\.md[)#]", guide)
    order = list(dict.fromkeys(page for page in linked if page in pages))
    return order + [page for page in pages if page not in order]


def _mirror_repository_layout() -> list[str]:
    """Put README.md at the top of the source folder and the guide in ``doc/``, where later
    rosdoc2 versions put them already, and list the guide as rosdoc2's "Documentation" page.
    Returns the copies rosdoc2 0.2.1 makes elsewhere, to be left out of the site."""
    left_out = []
    user_docs = _SOURCE / "user_docs"  # rosdoc2 0.2.1: a copy of doc/, and doc/ at the top too
    if user_docs.is_dir():
        if not (_SOURCE / "doc").is_dir():
            shutil.copytree(user_docs, _SOURCE / "doc")
        left_out += ["user_docs", "user_docs_*.rst"]
        left_out += [path.name for path in (_SOURCE / "doc").glob("*.md")]
        left_out += [path.name for path in (_SOURCE / "doc").iterdir() if path.is_dir()]
    readme = _SOURCE / "standard_docs" / "original" / "README.md"  # rosdoc2 0.2.1
    if readme.is_file():
        if not (_SOURCE / "README.md").is_file():
            shutil.copy(readme, _SOURCE / "README.md")
        (_SOURCE / "__readme_include.rst").write_text(
            "README\n======\n\n.. include:: README.md\n   :parser: myst_parser.sphinx_\n"
        )
        left_out += ["standard_docs/original", "standard_docs/README.rst"]
    if (_SOURCE / "user_docs.rst").is_file():
        entries = "".join(f"   doc/{page}\n" for page in _guide_order())
        (_SOURCE / "user_docs.rst").write_text(
            f"User guide\n==========\n\n.. toctree::\n   :maxdepth: 1\n\n{entries}"
        )
    return left_out


def _readme_is_a_page_of_its_own(app, docname: str, source: list[str]) -> None:
    """README.md, shown in the front page, is also a page that the guide links to; it is in no
    table of contents."""
    if docname == "README":
        source[0] = "---\norphan: true\n---\n" + source[0]


exclude_patterns = ["sphinx_output", *_mirror_repository_layout()]


def setup(app):
    """Sphinx extension hook: the mocks and the README page."""
    app.connect("config-inited", _mock_missing)
    app.connect("source-read", _readme_is_a_page_of_its_own)
