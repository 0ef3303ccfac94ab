"""The import graph of ``src/tunepipe`` has no cycle, and the stage scripts stay thin.

The graph: one node per module (a package is its ``__init__``), an edge for every import
anywhere in a module, inside functions too, and for every string constant naming a
``tunepipe.*`` module (the task ``REGISTRY``: ``tasks.get`` imports the families by name).
Both come from the scan dvc.yaml's deps are checked with (``imported_names`` /
``module_file`` in test_dvc_graph.py). Lazy imports count: they hide a cycle from Python,
not from the layering (``models`` read the tiny tokenizer's atoms from the registry while
the ``reference`` family loaded its reward model through ``models``; the base stage now
collects the atoms and passes them in).

Two kinds of edge would make false cycles, and are left out only where they would:

- Implicit parent packages. Importing ``tunepipe.a.b.c`` also runs ``tunepipe/a/__init__``
  and ``tunepipe/a/b/__init__``: edges, except to the importer's own ancestors. A module
  only ever runs once its packages have started (``tunepipe.tasks`` before
  ``tunepipe.tasks.sat``), so ``sat``'s ``from tunepipe.tasks.protocol import Family`` does
  not depend on ``tasks/__init__``; counted, every package whose ``__init__`` imports its
  submodules (``tasks`` -> ``protocol``, ``tasks.envs`` -> its envs) would be a cycle. An
  explicit import of the package itself (``from tunepipe.tasks import get``) stays an edge,
  and so does a parent package outside the importer's (``models`` importing
  ``tunepipe.tasks.sat`` runs ``tasks/__init__``).
- The registry's string edges ``tunepipe.tasks`` -> family. They are real, and a cycle
  through one is reported when it leaves the tasks package (``tasks`` -> ``reference`` ->
  ``models`` -> ``tasks``). Only a cycle of the registry and its own families (a family that
  imports ``tunepipe.tasks`` back: ``get`` imports it lazily, once the package has loaded)
  is by design and ignored. Ignoring the registry edges altogether would have hidden the
  ``models`` cycle above.

Known cycles would be listed in :data:`KNOWN` (back edges left out); an entry fails the test
once its edge is gone, so it cannot outlive the cycle. None is known today.
"""
from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

from conftest import ROOT
from test_dvc_graph import SRC, imported_names, module_file

TASKS = "tunepipe.tasks"
#: back edges of known cycles, left out of the check (see the module docstring)
KNOWN: set = set()
MAX_STAGE_LINES = 150   # a stage script parses params and calls the library; the logic lives in src/tunepipe


def modules(src: Path = SRC) -> dict[str, Path]:
    """Every module under ``src/tunepipe``: dotted name -> file."""
    out = {}
    for f in sorted((src / "tunepipe").rglob("*.py")):
        if "__pycache__" in f.parts:
            continue
        parts = f.relative_to(src).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def registry_strings(path: Path) -> set[str]:
    """The modules ``path`` names in string constants only (not in an import statement)."""
    tree = ast.parse(path.read_text(), str(path))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    strings = {n.value.partition(":")[0] for n in ast.walk(tree) if isinstance(n, ast.Constant)
               and isinstance(n.value, str) and n.value.startswith("tunepipe.")}
    return strings - imported


def import_graph(src: Path = SRC) -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """(edges, the registry's string edges ``tunepipe.tasks`` -> family), as described above."""
    mods = modules(src)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        for name in imported_names(f, m):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                sub = ".".join(parts[:i])
                if sub == m or module_file(sub, src) is None:
                    continue
                implicit = i < len(parts) and module_file(".".join(parts[: i + 1]), src) is not None
                if implicit and m.startswith(sub + "."):
                    continue   # the importer's own package: already started before the importer runs
                graph[m].add(sub)
    registry = set()
    if TASKS in mods:   # "module:ATTRIBUTE" entries too (the envs), which imported_names does not match
        registry = {(TASKS, t) for t in registry_strings(mods[TASKS]) if t in mods}
        graph[TASKS] |= {t for _, t in registry}
    return graph, registry


def _inside(m: str) -> bool:
    return m == TASKS or m.startswith(TASKS + ".")


def _path(graph: dict[str, set[str]], start: str, goal: str, skip: set[tuple[str, str]],
          must_leave: bool = False) -> list[str] | None:
    """A shortest path start ..> goal avoiding the ``skip`` edges (BFS); with ``must_leave``,
    one through a module outside the tasks package."""
    first = (start, must_leave and _inside(start))
    prev: dict[tuple[str, bool], tuple[str, bool] | None] = {first: None}
    todo = deque([first])
    while todo:
        node, need = state = todo.popleft()
        for nxt in sorted(graph[node]):
            if (node, nxt) in skip:
                continue
            nstate = (nxt, need and _inside(nxt))
            if nstate in prev:
                continue
            prev[nstate] = state
            if nxt == goal and not nstate[1]:
                path, s = [], nstate
                while s is not None:
                    path.append(s[0])
                    s = prev[s]
                return path[::-1]
            if nxt != goal:
                todo.append(nstate)
    return None


def find_cycles(graph: dict[str, set[str]], registry: set[tuple[str, str]]) -> list[list[str]]:
    """One cycle (as a path, first module repeated last) per module that lies on one,
    deduplicated: cycles without a registry edge, and cycles through one that leave the tasks
    package."""
    found, seen = [], set()
    for m in sorted(graph):
        for nxt in sorted(graph[m]):
            if (m, nxt) in registry:
                rest = _path(graph, nxt, m, set(), must_leave=True)
            else:
                rest = _path(graph, nxt, m, registry)
            if rest is None:
                continue
            cyc = [m, *rest]
            key = frozenset(zip(cyc, cyc[1:]))
            if key not in seen:
                seen.add(key)
                found.append(cyc)
            break
    return found


def show(cyc: list[str], registry: set[tuple[str, str]]) -> str:
    return cyc[0] + "".join(f" -{'(registry)' if (a, b) in registry else ''}-> {b}" for a, b in zip(cyc, cyc[1:]))


# ----------------------------------------------------------------------------- tests
def test_the_graph_sees_lazy_imports_and_the_registry():
    graph, registry = import_graph()
    assert "tunepipe.models" in graph["tunepipe.tasks.reference.rm"]     # inside load_reward_model()
    assert "tunepipe.generation" in graph["tunepipe.generate"]           # inside generate()
    assert {(TASKS, "tunepipe.tasks.sat"), (TASKS, "tunepipe.tasks.reference"),
            (TASKS, "tunepipe.tasks.envs.family")} <= registry
    assert "tunepipe.tasks" not in graph["tunepipe.tasks.sat"]           # its own package: left out
    assert "tunepipe.tasks" in graph["tunepipe.collection"]


def test_no_import_cycle():
    graph, registry = import_graph()
    stale = sorted(e for e in KNOWN if e[1] not in graph[e[0]])
    assert not stale, f"KNOWN lists edges that are gone (remove them): {stale}"
    graph = {m: {t for t in ts if (m, t) not in KNOWN} for m, ts in graph.items()}
    cycles = find_cycles(graph, registry)
    assert not cycles, "import cycles in src/tunepipe:\n" + "\n".join(show(c, registry) for c in cycles)


def test_models_imports_nothing_from_the_task_registry():
    graph, _ = import_graph()
    assert not {m for m in graph["tunepipe.models"] if _inside(m)}


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for rel, text in {"tunepipe/__init__.py": "", "tunepipe/tasks/__init__.py": "", **files}.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    return src


def test_the_check_catches_lazy_and_registry_cycles_and_excuses_the_false_ones(tmp_path):
    src = _package(tmp_path, {
        "tunepipe/tasks/__init__.py": ('from tunepipe.tasks.protocol import F\n'
                                       'REGISTRY = {"x": "tunepipe.tasks.x", "y": "tunepipe.tasks.y:Y"}\n'),
        "tunepipe/tasks/protocol.py": "F = 1\n",
        "tunepipe/tasks/x.py": "from tunepipe.tasks.protocol import F\n\ndef f():\n    from tunepipe import models\n",
        "tunepipe/tasks/y.py": "from tunepipe import tasks\n",   # a family using the registry: by design
        "tunepipe/models.py": "def atoms():\n    from tunepipe import tasks\n",
        "tunepipe/a.py": "def f():\n    import tunepipe.b\n",
        "tunepipe/b.py": "import tunepipe.a\n",
    })
    graph, registry = import_graph(src)
    got = sorted(show(c, registry) for c in find_cycles(graph, registry))
    assert got == ["tunepipe.a --> tunepipe.b --> tunepipe.a",
                   "tunepipe.tasks -(registry)-> tunepipe.tasks.x --> tunepipe.models --> tunepipe.tasks"]
    assert (TASKS, "tunepipe.tasks.y") in registry and TASKS in graph["tunepipe.tasks.y"]
    (src / "tunepipe/models.py").write_text("")
    graph, registry = import_graph(src)
    assert [show(c, registry) for c in find_cycles(graph, registry)] == ["tunepipe.a --> tunepipe.b --> tunepipe.a"]


def test_stage_scripts_are_thin():
    sizes = {f.name: len(f.read_text().splitlines()) for f in sorted((ROOT / "stages").glob("*.py"))}
    fat = {n: s for n, s in sizes.items() if s > MAX_STAGE_LINES}
    assert not fat, (f"stage scripts over {MAX_STAGE_LINES} lines (move the logic into src/tunepipe): {fat}; "
                     f"all: {sizes}")
