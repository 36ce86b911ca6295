"""The floor plan stays readable: small core modules, few top-level modules, one IPOT codec.

A module past 500 lines is doing several jobs (the runner, the warehouse and broksum_fetch each
were); a flat core of dozens of modules hides the data walk tape -> footprint -> warehouse ->
summary that the layer folders show; and a second place that builds the SocketCluster handshake
is a second IPOT client that drifts from the first. Each limit fails with the offenders named.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "orderflow_pipeline"
MAX_LINES = 500
MAX_TOP_LEVEL = 12


def test_no_core_module_over_500_lines() -> None:
    sizes = {p.relative_to(ROOT): len(p.read_text().splitlines()) for p in CORE.rglob("*.py")}
    assert len(sizes) > 50, "the walk found too few modules: wrong root?"
    big = sorted(f"{path} ({n} lines)" for path, n in sizes.items() if n > MAX_LINES)
    assert not big, f"split these by role (at most {MAX_LINES} lines each):\n" + "\n".join(big)


def test_core_has_at_most_12_top_level_modules() -> None:
    top = sorted(p.name for p in CORE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= MAX_TOP_LEVEL, f"{len(top)} top-level modules, move some into a layer: {top}"


def _builds_handshake(path: Path) -> bool:
    """The module holds the string "#handshake" as a value of its own (a frame's event, a
    comparison operand): it writes or matches the frame itself. Prose that mentions the frame
    (docstrings, comments) is a longer string or no node at all, so it does not count."""
    tree = ast.parse(path.read_text())
    return any(isinstance(node, ast.Constant) and node.value == "#handshake" for node in ast.walk(tree))


def test_handshake_frame_is_built_in_one_module() -> None:
    paths = [*CORE.rglob("*.py"), *(ROOT / "assets").rglob("*.py")]
    builders = sorted(str(p.relative_to(ROOT)) for p in paths if _builds_handshake(p))
    assert builders == ["orderflow_pipeline/sources/ipot/protocol.py"], builders


def test_handshake_detector_sees_a_second_builder(tmp_path: Path) -> None:
    (tmp_path / "doc_only.py").write_text('"""Sends {"event":"#handshake"} first."""\n')
    (tmp_path / "builder.py").write_text('import json\nFRAME = json.dumps({"event": "#handshake"})\n')
    assert not _builds_handshake(tmp_path / "doc_only.py")
    assert _builds_handshake(tmp_path / "builder.py")
