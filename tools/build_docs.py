"""Build the documentation site with rosdoc2, as docs.ros.org does, and fail on any warning.

    python tools/build_docs.py [--output DIR] [--as-on-docs-ros-org]

runs ``rosdoc2 build`` on this package (its own process, with this environment's ``bin/`` on
``PATH``: rosdoc2 calls ``sphinx-apidoc`` by name) and writes the site to
``DIR/sam2_ros/index.html`` (default ``build/docs/site``). rosdoc2 exits 0 whatever Sphinx
reports, so this reads its output: any warning or error of Sphinx (failed imports, broken links
or anchors, malformed pages) or of rosdoc2 makes the build fail, listed at the end.

``--as-on-docs-ros-org`` builds the site with only what docs.ros.org has to build it: rosdoc2
and what it requires, and what rosdep installs for package.xml. Every other module (PyTorch,
SAM 2, rosbags, ... and the package's generated messages, which only its build makes) cannot be
imported, so the site must build whole from what ``doc/conf.py`` and rosdoc2 mock.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from catkin_pkg.package import parse_package
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "sam2_ros"
BLOCKER_DIR = Path(__file__).resolve().parent / "docs_ros_org"
# Sphinx's warnings and errors ("file:line: WARNING: ...", "ERROR: ...") and rosdoc2's own.
PROBLEM = re.compile(
    r"(^|: )(WARNING|ERROR|CRITICAL|SEVERE)(:| \[)|\[rosdoc2\] \[(WARNING|ERROR)\]"
)


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def with_requirements(names: list[str]) -> list[importlib.metadata.Distribution]:
    """The distributions named and every distribution they require (recursively), as installed
    here (those not installed are left out)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if _key(name) in found:
            continue
        try:
            found[_key(name)] = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in found[_key(name)].requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(found.values())


def rosdoc2_module_names() -> list[str]:
    """The modules rosdoc2 takes package.xml's exec_depend and doc_depend entries for (it mocks
    those it cannot import): the name with any ``python3-`` prefix removed."""
    package = parse_package(REPO_ROOT)
    return [d.name.split("python3-")[-1] for d in package.exec_depends + package.doc_depends]


def docs_ros_org_folders() -> list[str]:
    """The folders a module may come from where docs.ros.org builds the site: the standard
    library, rosdoc2 and what it requires, what rosdep installs for package.xml (the modules
    rosdoc2 knows from it, with what they require) and the package's source tree."""
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix}
    stdlib = {sysconfig.get_path(key, vars=base) for key in ("stdlib", "platstdlib")}
    for site_packages in site.getsitepackages():
        if any(Path(site_packages).is_relative_to(folder) for folder in stdlib):
            raise SystemExit("--as-on-docs-ros-org needs a virtual environment")
    providers = importlib.metadata.packages_distributions()
    declared = [d for module in rosdoc2_module_names() for d in providers.get(module, ())]
    folders = set(stdlib) | {str(REPO_ROOT / PACKAGE)}
    for distribution in with_requirements(["rosdoc2", *declared]):
        for file in distribution.files or ():
            top = file.parts[0]
            if top != ".." and not top.endswith((".dist-info", ".egg-info", ".pth")):
                folders.add(str(distribution.locate_file(top)))
    return sorted(folders)


def build(output: Path, work: Path, as_on_docs_ros_org: bool) -> list[str]:
    """Run rosdoc2; return the warning and error lines it printed."""
    shutil.rmtree(work, ignore_errors=True)  # rosdoc2 0.2.1 keeps files of earlier runs
    shutil.rmtree(output / PACKAGE, ignore_errors=True)
    work.mkdir(parents=True)
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    python_path = [str(REPO_ROOT)]  # the sources documented, before any installed copy
    if as_on_docs_ros_org:
        python_path.insert(0, str(BLOCKER_DIR))
        env["SAM2_ROS_DOCS_ONLY_FROM"] = os.pathsep.join(docs_ros_org_folders())
    env["PYTHONPATH"] = os.pathsep.join([*python_path, env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    command = [
        str(Path(sys.executable).parent / "rosdoc2"),
        "build",
        "--package-path",
        str(REPO_ROOT),
        "--output-directory",
        str(output),
        "--doc-build-directory",
        str(work / "build"),
        "--cross-reference-directory",
        str(work / "cross_reference"),
    ]
    process = subprocess.Popen(
        command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    problems = []
    for line in process.stdout:
        sys.stdout.write(line)
        if PROBLEM.search(line):
            problems.append(line.rstrip())
    if process.wait() != 0:
        problems.append(f"rosdoc2 exited with status {process.returncode}")
    if not (output / PACKAGE / "index.html").is_file():
        problems.append(f"no site at {output / PACKAGE / 'index.html'}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Build the site; 0 when it built without a warning."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "build" / "docs" / "site")
    parser.add_argument(
        "--work", type=Path, default=None, help="rosdoc2's build folder (default: beside OUTPUT)"
    )
    parser.add_argument("--as-on-docs-ros-org", action="store_true")
    args = parser.parse_args(argv)
    output = args.output.resolve()
    work = (args.work or output.parent / f"{output.name}-rosdoc2").resolve()
    problems = build(output, work, args.as_on_docs_ros_org)
    if problems:
        print(f"\ndocs: {len(problems)} warnings or errors, each an error:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"\ndocs: {output / PACKAGE / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
