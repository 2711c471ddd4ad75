"""Write the node's parameter reference, doc/parameters.md, from the parameter declarations.

    python tools/parameter_reference.py           # print the page
    python tools/parameter_reference.py --write   # write doc/parameters.md

Each row is one declaration of ``sam2_ros/parameters/declarations.py``: its name, its default
(as ``config/sam2.yaml`` writes it) and the description the node declares with it (what
``ros2 param describe`` shows, the accepted values included). test/test_launch_and_config.py
fails when the page differs from this output or from what a running node declares.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGE = REPO_ROOT / "doc" / "parameters.md"

HEADER = """\
# Parameters

Every parameter of the node, in the order `config/sam2.yaml` sets them (that file sets each to
the default below). Types follow the defaults: a parameter given a value of another type, or a
value it does not accept, fails `configure` with the reason and leaves the node unconfigured.
Names with a dot (`samurai.*`) nest in a parameter file as ROS 2 reads them
(`samurai: {kf_score_weight: 0.2}`).

This page is generated from the declarations in `sam2_ros/parameters/declarations.py`
(`python tools/parameter_reference.py --write`); a test fails when it differs from them.

| parameter | default | description |
| --- | --- | --- |
"""

# Characters that Markdown (GitHub's and MyST's) would read as markup inside a table cell.
_MARKUP = str.maketrans({c: "\\" + c for c in "\\`*_[]<>|"})


def default_text(value: object) -> str:
    """A default as a YAML parameter file writes it (``''``, ``[camera]``, ``0.001``)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return text.removesuffix("\n...").strip()


def render() -> str:
    """The page, from the declarations and the descriptions the node declares."""
    from sam2_ros.node.params import descriptor
    from sam2_ros.parameters.declarations import PARAMETERS

    rows = [
        f"| `{p.name}` | `{default_text(p.default)}` | "
        f"{descriptor(p).description.translate(_MARKUP)} |\n"
        for p in PARAMETERS
    ]
    return HEADER + "".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Print or write the page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help=f"write {PAGE.relative_to(REPO_ROOT)}")
    args = parser.parse_args(argv)
    page = render()
    if args.write:
        PAGE.write_text(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
