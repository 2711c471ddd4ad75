"""The layout table of doc/architecture.md names every module of the package, in its folder's
row (the deepest folder with a row)."""

from __future__ import annotations

import re

from conftest import REPO_ROOT


def layout_section() -> str:
    """The "## Layout" section of the architecture page (up to the next section)."""
    page = (REPO_ROOT / "doc" / "architecture.md").read_text()
    start = page.index("\n## Layout\n")
    end = page.find("\n## ", start + 1)
    return page[start : end if end != -1 else len(page)]


def test_every_module_is_in_its_folders_row():
    layout = layout_section()
    rows = {
        match.group(1): match.group(0)
        for match in re.finditer(r"^\| `(sam2_ros/[^`]*)`.*$", layout, flags=re.MULTILINE)
    }
    missing = []
    for module in sorted((REPO_ROOT / "sam2_ros").rglob("*.py")):
        relative = module.relative_to(REPO_ROOT)
        if module.stem == "__init__" or relative.parts[1] in {"msg", "srv"}:
            continue
        folders = [
            "/".join(relative.parts[:n]) + "/" for n in range(len(relative.parts) - 1, 1, -1)
        ]
        row = (
            next((rows[folder] for folder in folders if folder in rows), None)
            if folders
            else next(
                (r for k, r in rows.items() if not k.endswith("/") and module.name in r), None
            )
        )
        names = (f"`{module.stem}`", f"`{module.name}`", f"{module.name}`")
        if row is None or not any(name in row for name in names):
            missing.append(str(relative))
    assert not missing, f"modules the layout table of doc/architecture.md does not name: {missing}"
