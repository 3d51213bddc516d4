"""No import circle in the package: every module imports on its own, in a fresh interpreter's package state,
and no two modules import each other at load time (a circle works only in the order someone happened to try;
`pipeline` and `render_audio` were one)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "melodex"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def load_time_imports(name: str, path: Path) -> set[str]:
    """The package's modules that `name` imports when it is loaded: module-level statements only (an import
    inside a function runs later and cannot make a circle at load time; `if TYPE_CHECKING:` never runs)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:  # `from melodex import edit` loads a module, `from x import f` needs x
                    found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)

    visit(ast.parse(path.read_text(), str(path)).body)
    # Importing a.b.c loads a and a.b first; the importer's own packages are loaded before it already (Python
    # runs a package's __init__ before any of its modules), so only a name taken from one of them counts.
    own = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    loaded = {m for target in found for m in MODULES
              if (target + ".").startswith(m + ".") and (m == target or m not in own)}
    return loaded - {name}


def test_no_module_imports_itself_back_at_load_time() -> None:
    graph = {name: load_time_imports(name, path) for name, path in MODULES.items()}
    circles = []
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*path[path.index(nxt):], nxt]))
            elif nxt not in state:
                walk(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    assert not circles, "import circles at load time:\n" + "\n".join(circles)


def test_every_module_imports_on_its_own() -> None:
    """Each module imported first, with no other Melodex module loaded before it (third-party ones stay
    loaded, so one interpreter does it in seconds)."""
    script = f"""
import importlib, sys, traceback
failed = []
for name in {sorted(MODULES)!r}:
    for loaded in [m for m in sys.modules if m == "melodex" or m.startswith("melodex.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc(limit=-1).strip().splitlines()[-1])
print("\\n".join(failed))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          cwd=PACKAGE.parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", "modules that do not import on their own:\n" + done.stdout
