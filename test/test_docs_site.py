"""The documentation: README.md and the guide in doc/ hold together on GitHub, and rosdoc2 builds
them into a whole site the way docs.ros.org does (without PyTorch, SAM 2, rosbags or the package's
generated messages), with every link and anchor resolving there too."""

from __future__ import annotations

import ast
import importlib.util
import itertools
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import REPO_ROOT
from markdown_it import MarkdownIt

DOC = REPO_ROOT / "doc"
PACKAGE = REPO_ROOT / "sam2_ros"
PAGES = sorted([REPO_ROOT / "README.md", *DOC.glob("*.md")])


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- GitHub's rendering ------------------------------------------------------------------------

#: Unicode categories GitHub's heading slugs drop (github-slugger: punctuation but "-", symbols,
#: controls, format, private use, unassigned, separators but " ", other numbers), letters kept.
_SLUG_DROPS = {"No", "Pe", "Pf", "Pi", "Ps", "Po", "Pd", "Sm", "Sc", "Sk", "So"}
_SLUG_DROPS |= {"Cc", "Co", "Cf", "Cn", "Zs", "Zl", "Zp"}


def github_slug(title: str) -> str:
    """A heading's anchor as GitHub makes it: lowercase, the dropped characters removed, each
    space a hyphen."""
    kept = (
        c
        for c in title.lower()
        if c in " -" or c.isalpha() or unicodedata.category(c) not in _SLUG_DROPS
    )
    return "".join(kept).replace(" ", "-")


def _markdown(path: Path) -> list:
    return MarkdownIt("commonmark").enable("table").parse(path.read_text())


def heading_anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the page's headings (a repeated slug gets -1, -2, ...)."""
    anchors: set[str] = set()
    tokens = _markdown(path)
    for opening, inline in itertools.pairwise(tokens):
        if opening.type != "heading_open":
            continue
        text = "".join(c.content for c in inline.children if c.type in ("text", "code_inline"))
        slug, n = github_slug(text), 0
        while (slug if n == 0 else f"{slug}-{n}") in anchors:
            n += 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def relative_links(path: Path) -> list[str]:
    """The page's link and image targets that are not URLs."""
    targets = []
    for token in _markdown(path):
        for child in token.children or ():
            target = child.attrs.get("href") or child.attrs.get("src")
            if target and not urlsplit(target).scheme and not target.startswith("//"):
                targets.append(target)
    return targets


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_links_hold_on_github(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / unquote(path)).resolve() if path else page
        if not file.exists() or not file.is_relative_to(REPO_ROOT):
            broken.append(f"{target}: no {file}")
        elif anchor and (file.suffix != ".md" or anchor not in heading_anchors(file)):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    assert not broken, broken


def test_readme_is_a_front_page_that_links_every_guide_page():
    readme = REPO_ROOT / "README.md"
    assert len(readme.read_text().splitlines()) <= 200
    linked = {(REPO_ROOT / t.partition("#")[0]).resolve() for t in relative_links(readme)}
    missing = [page.name for page in DOC.glob("*.md") if page.resolve() not in linked]
    assert not missing, f"guide pages README.md does not link: {missing}"


def test_github_slugs():
    assert github_slug("Install on a robot (ROS 2 Jazzy or Kilted)") == (
        "install-on-a-robot-ros-2-jazzy-or-kilted"
    )
    assert github_slug("The node at its engine's speed (CPU)") == (
        "the-node-at-its-engines-speed-cpu"
    )
    assert github_slug("Compiled engine (torch.compile)") == "compiled-engine-torchcompile"
    assert github_slug('rviz2\'s "Publish Point"') == "rviz2s-publish-point"
    assert github_slug("Clicks in rqt_image_view") == "clicks-in-rqt_image_view"


# --- What docs.ros.org lacks, mocked -----------------------------------------------------------


def _imported_modules() -> set[str]:
    """Every module the package's sources import (absolute imports)."""
    names = set()
    for file in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    return names


def _in_source_tree(module: str) -> bool:
    path = REPO_ROOT.joinpath(*module.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def test_the_site_mocks_exactly_what_rosdoc2_leaves_unmocked():
    """doc/conf.py mocks (where missing) the modules the package imports that neither the
    standard library, nor the package's source tree, nor rosdoc2 (from package.xml's
    exec_depend entries) provides: no more, no fewer."""
    conf = ast.parse((DOC / "conf.py").read_text())
    mocked = next(
        ast.literal_eval(node.value)
        for node in conf.body
        if isinstance(node, ast.Assign) and node.targets[0].id == "MOCKED_WHEN_MISSING"
    )
    from_package_xml = set(_tool("build_docs").rosdoc2_module_names())
    needed = set()
    for module in _imported_modules():
        top = module.partition(".")[0]
        if top == "sam2_ros":
            if not _in_source_tree(module):
                needed.add(".".join(module.split(".")[:2]))
        elif top not in sys.stdlib_module_names and top not in from_package_xml:
            needed.add(top)
    assert set(mocked) == needed, {
        "mocked but provided": sorted(set(mocked) - needed),
        "needed but not mocked": sorted(needed - set(mocked)),
    }


# --- The site, built as docs.ros.org builds it -------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site rosdoc2 builds where only rosdoc2 and package.xml's dependencies are installed."""
    output = tmp_path_factory.mktemp("docs") / "site"
    build = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tools" / "build_docs.py"),
            "--output",
            str(output),
            "--as-on-docs-ros-org",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-6000:]
    return output / "sam2_ros"


@pytest.mark.slow
def test_the_site_has_a_page_per_module_interface_and_guide_page(site):
    missing = []
    for file in sorted(PACKAGE.rglob("*.py")):
        parts = file.relative_to(REPO_ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        page = site / f"{module}.html"
        if not page.is_file() or f'id="module-{module}"' not in page.read_text():
            missing.append(f"{module} (an API page whose module was imported)")
    for kind in ("msg", "srv"):
        for file in (REPO_ROOT / kind).glob(f"*.{kind}"):
            if not (site / "interfaces" / kind / f"{file.stem}.html").is_file():
                missing.append(f"{kind}/{file.name}")
    for page in DOC.glob("*.md"):
        if not (site / "doc" / f"{page.stem}.html").is_file():
            missing.append(f"doc/{page.name}")
    assert "Streaming" in (site / "index.html").read_text(), "README.md is not the front page"
    assert not missing, missing


class _Anchors(HTMLParser):
    """A page's ids and the URLs it links to."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        self.ids.update(filter(None, (attributes.get("id"), attributes.get("name"))))
        url = attributes.get("href") if tag in ("a", "link") else attributes.get("src")
        if url:
            self.urls.append(url)


@pytest.mark.slow
def test_links_hold_in_the_site(site):
    pages = {}
    for page in site.rglob("*.html"):
        parser = _Anchors()
        parser.feed(page.read_text())
        pages[page.resolve()] = parser
    broken = []
    for page, parser in pages.items():
        for url in parser.urls:
            parts = urlsplit(url)
            if parts.scheme or url.startswith("//"):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {url}")
            elif (
                parts.fragment
                and target.suffix == ".html"
                and parts.fragment not in pages[target].ids
            ):
                broken.append(f"{page.relative_to(site)}: {url} (no such anchor)")
    assert not broken, broken
