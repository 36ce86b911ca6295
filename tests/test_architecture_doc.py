"""docs/architecture.md's layout block and the package tree agree, both ways.

The layout is the newcomer's floor plan: a package missing from it is a room nobody is told
about, and a listed folder that no longer exists sends the reader looking for nothing. The
block is the first fenced block under the "## Layout" heading; a folder is a line whose first
word ends in "/", nested by two spaces per level (a first word like `layers/outcomes.py` or a
description continuing on the next line is not a folder, so such a line must not start with
a word ending in "/").
"""

from __future__ import annotations

import re
from pathlib import Path

ROOTS = ("orderflow_pipeline", "assets")
INDENT = 2


def _repo_root() -> Path:
    """The folder holding pyproject.toml, wherever this file sits under tests/."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    raise AssertionError(f"no pyproject.toml above {__file__}")


REPO = _repo_root()
DOC = REPO / "docs" / "architecture.md"


def layout_block(text: str) -> list[str]:
    """The lines of the first ``` block after the `## Layout` heading."""
    heading = re.search(r"^## Layout\b.*$", text, flags=re.MULTILINE)
    assert heading, "docs/architecture.md has no '## Layout' heading"
    fence = re.search(r"^```[^\n]*\n(.*?)^```", text[heading.end() :], flags=re.MULTILINE | re.DOTALL)
    assert fence, "no fenced layout block under '## Layout'"
    return fence.group(1).splitlines()


def listed_folders(lines: list[str]) -> list[str]:
    """Folder paths (`orderflow_pipeline/layers/footprint`) in the block, resolved by indentation."""
    stack: list[str] = []
    out: list[str] = []
    for n, line in enumerate(lines, 1):
        words = line.split()
        if not words or not words[0].endswith("/"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        assert indent % INDENT == 0, (
            f"layout line {n}: indent {indent} is not a multiple of {INDENT}: {line!r}"
        )
        depth = indent // INDENT
        assert depth <= len(stack), f"layout line {n}: indented under no folder: {line!r}"
        stack = [*stack[:depth], words[0].rstrip("/")]
        out.append("/".join(stack))
    return out


def packages() -> set[str]:
    """Every folder with an __init__.py under the core and the code location."""
    found = set()
    for root in ROOTS:
        for init in (REPO / root).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found.add(init.parent.relative_to(REPO).as_posix())
    return found


def test_parser_reads_nesting() -> None:
    block = [
        "top/              the root",
        "  mod.py          not a folder",
        "  sub/            a package",
        "                  a description continued, not a folder",
        "    deeper/",
        "  sub/file.py     a module named with its folder",
        "  other/",
    ]
    assert listed_folders(block) == ["top", "top/sub", "top/sub/deeper", "top/other"]


def test_every_package_is_in_the_layout() -> None:
    listed = set(listed_folders(layout_block(DOC.read_text(encoding="utf-8"))))
    missing = sorted(packages() - listed)
    assert not missing, f"packages missing from docs/architecture.md's layout block: {missing}"


def test_every_listed_folder_exists() -> None:
    listed = listed_folders(layout_block(DOC.read_text(encoding="utf-8")))
    assert set(ROOTS) <= set(listed), f"the layout block must list {ROOTS}"
    gone = [p for p in listed if not (REPO / p).is_dir()]
    assert not gone, f"docs/architecture.md's layout lists folders that do not exist: {gone}"
    outside = [p for p in listed if p.split("/", 1)[0] not in ROOTS]
    assert not outside, f"the layout block lists folders outside {ROOTS}: {outside}"
