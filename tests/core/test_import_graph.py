"""No import cycles among edgeprof's modules, and a CLI start-up that leaves the heavy libraries unimported.

Every import counts: module level, inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "edgeprof"
HEAVY = ("scipy", "matplotlib", "onnx", "onnxruntime", "PIL", "numpy")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The edgeprof modules `path` imports (relative imports resolved; `from pkg import mod` counts as mod)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def import_graph() -> dict[str, set[str]]:
    """edgeprof module -> the edgeprof modules it imports."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(paths)
    return {name: _imports(path, name, known) for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first repeated last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def _top(name: str) -> str:
    return ".".join(name.split(".")[:2])


def test_no_cycle_among_modules() -> None:
    assert find_cycle(import_graph()) is None


def test_no_cycle_among_top_level_modules_and_packages() -> None:
    """edgeprof.report and edgeprof.recommend, say, may not lean on each other through different submodules."""
    packages: dict[str, set[str]] = {}
    for name, targets in import_graph().items():
        packages.setdefault(_top(name), set()).update(_top(t) for t in targets if _top(t) != _top(name))
    assert find_cycle(packages) is None


def test_the_finder_sees_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_cli_start_up_imports_no_heavy_library() -> None:
    code = ("import sys, edgeprof.cli; from edgeprof.cli.app import app; "
            f"print(','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"`import edgeprof.cli` imports {loaded}"
    helped = subprocess.run([sys.executable, "-c", f"import sys; sys.argv = ['edgeprof', '--help']\n"
                             "from edgeprof.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
                             f"print('LOADED=' + ','.join(sorted(m for m in {HEAVY!r} if m in sys.modules)))"],
                            capture_output=True, text=True, check=True).stdout
    assert helped.strip().endswith("LOADED="), helped[-300:]
