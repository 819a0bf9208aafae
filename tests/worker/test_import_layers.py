"""Imports flow one way: longrun <- backends <- tasks <- workers, and longrun <- api.

Read from the source (every import statement, at module level or inside a
function), so an import hidden in a function cannot hold a cycle open either.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("longrun", "longrun_client", "backends", "tasks", "workers", "api")
MODULES = ("celeryconfig",)

# Which top-level packages each may import (besides itself).
ALLOWED = {
    "longrun": set(),
    "longrun_client": set(),
    "backends": {"longrun"},
    "tasks": {"longrun", "backends"},
    "workers": {"longrun", "backends", "tasks", "celeryconfig"},
    "celeryconfig": {"longrun"},
    "api": {"longrun", "tasks", "workers"},
}
# What the API may import of tasks and workers: schemas, the Celery app and the publishing path.
API_MAY_IMPORT = {
    "tasks",
    "tasks.registry",
    "tasks.inputs",
    "workers",
    "workers.celery_app",
    "workers.publish",
    "workers.broker",
}
WORKER_RUNTIME = (
    "workers.job_task",
    "workers.watchdog",
    "workers.janitor",
    "workers.bootsteps",
    "workers.job_logs",
    "workers.kind_tasks",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules() -> dict[str, Path]:
    found = {name: ROOT / f"{name}.py" for name in MODULES}
    for package in PACKAGES:
        found.update((module_name(p), p) for p in (ROOT / package).rglob("*.py"))
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ours that ``name`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".")[: len(name.split(".")) - node.level + is_package]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # "from a import b" imports the module a.b when there is one, else the name b of a.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:  # "import a.b.c" reaches a.b.c (and its packages)
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    modules = our_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def top(name: str) -> str:
    return name.split(".")[0]


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other in a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(edges.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_the_graph_sees_our_modules_and_their_imports():
    edges = graph()
    # The test would pass vacuously if it read nothing: check that it reads what we know is there.
    assert {"longrun.settings", "tasks.registry", "workers.celery_app", "api.service"} <= set(edges)
    assert "longrun.settings" in edges["workers.celery_app"]
    assert "tasks.registry" in edges["api.service"]


def test_the_strongly_connected_components_of_a_hand_made_cycle_are_found():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_imports_flow_one_way():
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in graph().items()
        for target in targets
        if top(target) != top(name) and top(target) not in ALLOWED[top(name)]
    )
    assert wrong == []


def test_the_api_imports_only_the_kinds_schemas_the_celery_app_and_the_publishing_path():
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in graph().items()
        if top(name) == "api"
        for target in targets
        if top(target) in ("tasks", "workers") and target not in API_MAY_IMPORT
    )
    assert wrong == []


def test_there_are_no_import_cycles():
    assert strongly_connected(graph()) == []


def test_creating_the_api_app_loads_no_work_code_and_no_worker_runtime():
    code = (
        "import sys, api; api.create_app(); "
        "print('\\n'.join(m for m in sys.modules if m.startswith(('tasks.', 'workers.', 'backends'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "LONGRUN_AUTH": "off", "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    loaded = set(out.stdout.split())
    assert "tasks.registry" in loaded and "workers.celery_app" in loaded  # what it does need
    kinds = {f"tasks.{kind}" for kind in ("sleep", "inference", "chat", "browser", "codegen")}
    assert loaded & (kinds | set(WORKER_RUNTIME)) == set()


@pytest.mark.parametrize("module", ["tasks.sleep", "tasks.inference", "tasks.chat", "tasks.browser", "tasks.codegen"])
def test_a_kinds_work_imports_no_celery(module):
    tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {n for n in names if top(n) in ("celery", "kombu", "billiard", "workers")}
