"""The import direction: library <- service, and nothing in the library or bench reaches up.

Every ``import`` and ``from ... import`` statement is read from the source (``ast``),
including those inside functions, so a lazy import cannot hide a wrong direction.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_IN_LIBRARY = {"service", "tests", "scripts", "bench"}


def imported_modules(path: Path) -> set[str]:
    """Absolute dotted names a module imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def modules_under(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_the_walker_sees_lazy_and_relative_imports(tmp_path):
    pkg = ROOT / "medcam" / "_probe_for_test.py"
    assert not pkg.exists()
    pkg.write_text("def f():\n    import service.main\n    from . import errors\n")
    try:
        found = imported_modules(pkg)
    finally:
        pkg.unlink()
    assert "service.main" in found and "medcam.errors" in found


def test_the_library_imports_no_service_tests_scripts_or_bench():
    offenders = []
    files = modules_under("medcam")
    assert len(files) > 50
    for path in files:
        for name in imported_modules(path):
            if name.split(".")[0] in FORBIDDEN_IN_LIBRARY:
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_bench_imports_nothing_from_tests():
    files = modules_under("bench")
    assert files
    offenders = [f"{p.relative_to(ROOT)}: {n}" for p in files for n in imported_modules(p)
                 if n.split(".")[0] == "tests"]
    assert offenders == []


def _service_graph() -> dict[str, set[str]]:
    """service's first-level parts (``jobs``, ``intake``, ``api``...) -> what they import."""
    graph: dict[str, set[str]] = {}
    for path in modules_under("service"):
        parts = path.relative_to(ROOT / "service").with_suffix("").parts
        if parts[0] in ("__init__", "__main__"):
            continue
        node = graph.setdefault(parts[0], set())
        for name in imported_modules(path):
            bits = name.split(".")
            if bits[0] == "service" and len(bits) > 1 and bits[1] != parts[0]:
                node.add(bits[1])
    return graph


def test_the_service_parts_import_each_other_one_way():
    graph = _service_graph()
    assert {"jobs", "intake", "api"} <= set(graph)
    assert "pacs" not in graph  # the senders live in medcam.pacs
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt in graph:
                visit(nxt, [*stack, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == []


@pytest.mark.parametrize(("module", "heavy"), [
    ("medcam", ("torch", "SimpleITK", "highdicom", "pynetdicom", "requests")),
    ("medcam.batch.units", ("torch", "SimpleITK", "highdicom", "medcam.run")),
    ("medcam.pacs", ("pynetdicom", "dicomweb_client", "requests", "torch")),
    ("medcam.batch.push", ("pynetdicom", "dicomweb_client", "requests", "torch")),
])
def test_light_modules_stay_light(module, heavy):
    code = (f"import sys, {module}; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == ""
