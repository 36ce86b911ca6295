"""The import graph of `orderflow_pipeline/` and `assets/` has no cycle, and the core stays free of
Dagster and of the code location.

A cycle hidden in a function-level import still couples the modules (each needs the other to run)
and breaks the moment someone hoists the import, so imports inside functions count. The graph is
read from the source with `ast`, without importing anything.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orderflow_pipeline", "assets")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool  # an __init__.py: its relative imports start from itself, not its parent


def find_modules(root: Path, packages: Iterable[str]) -> dict[str, Module]:
    """Every module under `root/<package>`, by dotted name."""
    mods: dict[str, Module] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            is_package = rel.name == "__init__"
            name = ".".join(rel.parts[:-1] if is_package else rel.parts)
            mods[name] = Module(name, path, is_package)
    return mods


def imported_names(mod: Module) -> Iterator[str]:
    """The absolute dotted names `mod` imports anywhere in its body (functions included);
    `from p import n` yields `p.n`, which `resolve` maps to `p` when `n` is not a module."""
    for node in ast.walk(ast.parse(mod.path.read_text(), filename=str(mod.path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = mod.name.split(".")
                # `.` is the module's own package: the module itself for an __init__, else its parent.
                keep = len(parts) - (node.level - 1) - (0 if mod.is_package else 1)
                base = ".".join(parts[: max(keep, 0)])
                module = ".".join(p for p in (base, node.module) if p)
            else:
                module = node.module or ""
            yield from (f"{module}.{alias.name}" if module else alias.name for alias in node.names)


def resolve(name: str, mods: Mapping[str, Module]) -> str | None:
    """The longest prefix of `name` that is one of `mods` (None for a third-party name)."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(mods: Mapping[str, Module]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, mod in mods.items():
        for target in imported_names(mod):
            resolved = resolve(target, mods)
            if resolved is not None and resolved != name:
                graph[name].add(resolved)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative so a deep
    chain of imports cannot hit the recursion limit), each sorted, in a stable order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    # The recursion's frames: a module and the imports of it not yet followed.
    work: list[tuple[str, Iterator[str]]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        work.append((v, iter(sorted(graph[v]))))

    for start in sorted(graph):
        if start in index:
            continue
        visit(start)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    visit(child)
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                comp: list[str] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return sorted(found)


def describe(graph: Mapping[str, set[str]], comps: list[list[str]]) -> str:
    lines = []
    for comp in comps:
        lines.append(f"cycle of {len(comp)} modules:")
        members = set(comp)
        lines += [f"    {m} -> {sorted(graph[m] & members)}" for m in comp]
    return "\n".join(lines)


def test_no_import_cycles() -> None:
    graph = import_graph(find_modules(ROOT, PACKAGES))
    assert len(graph) > 50, "the module walk found too little: wrong root?"
    comps = cycles(graph)
    assert not comps, "import cycles:\n" + describe(graph, comps)


def test_detector_reports_a_cycle_through_function_level_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    # a -> b by an absolute import inside a function, b -> a by a relative one: the cycle of the
    # old runner/definitions knot in miniature.
    (pkg / "sub" / "a.py").write_text("def f():\n    from pkg.sub import b\n\n    return b\n")
    (pkg / "sub" / "b.py").write_text("def g():\n    from . import a\n\n    return a\n")
    (pkg / "c.py").write_text("from pkg.sub.a import f\nfrom .sub import b\n")  # on no cycle
    graph = import_graph(find_modules(tmp_path, ["pkg"]))
    assert graph["pkg.sub.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.sub.a"}
    assert graph["pkg.c"] == {"pkg.sub.a", "pkg.sub.b"}
    assert cycles(graph) == [["pkg.sub.a", "pkg.sub.b"]]
    (pkg / "sub" / "b.py").write_text("def g():\n    return 1\n")
    assert cycles(import_graph(find_modules(tmp_path, ["pkg"]))) == []


def test_core_imports_neither_dagster_nor_assets() -> None:
    mods = find_modules(ROOT, PACKAGES)
    bad = sorted(
        f"{name} imports {target}"
        for name, mod in mods.items()
        if name.split(".")[0] == "orderflow_pipeline"
        for target in imported_names(mod)
        if target.split(".")[0] == "assets" or target.split(".")[0].startswith("dagster")
    )
    assert not bad, "the core must run without Dagster or the code location:\n" + "\n".join(bad)
