"""dvc.yaml tracks all the code and all the params each stage uses, derived from the code.

Code. A stage runs ``python stages/<name>.py``; the project modules it runs are the
transitive closure of what that script imports, found by a static AST walk of every
``import`` / ``from ... import`` anywhere in a module (heavy imports live inside functions
here, so module-level statements alone would miss most of them), resolved to files under
``src/tunepipe/``. Importing ``tunepipe.a.b`` runs ``tunepipe/__init__.py`` and
``tunepipe/a/__init__.py`` too, so those count. The task registry imports its families by
name (``importlib.import_module("tunepipe.tasks.sat")``), so a string constant that names
a ``tunepipe.*`` module counts as an import of it. A dep covers a module when it is the file
or a directory above it (``src/tunepipe/tasks`` covers every family). Fast tests: every
module a stage imports is covered by its deps, and no code dep is stale (a file dep the stage
does not import, or a directory dep none of whose files it imports); a directory dep that also
covers modules the stage does not import is reported as a warning, not a failure (the
declared granularity: ``src/tunepipe/tasks`` also covers ``tasks/imported.py``, which only
collect imports).

Params. What a stage reads is recorded at run time: the slow fixture runs ``dvc repro`` on
the tiny project with a ``sitecustomize`` that wraps the dict ``tunepipe.config.load``
returns in a recording mapping (a leaf read records ``section.key``; iterating a section,
as ``config.typed`` and the model card's dump do, records the whole section). That sees
reads made anywhere, in the stage script or deep in the library, which a static scan of
``config.section(p, "x")`` calls cannot follow once ``p`` is passed on. It sees only the
branches the tiny default takes; stages type their whole section, so a section entry is
what normally matters. A read not covered by the stage's ``params`` fails (the stage would
not rerun when that param changes), and so does an entry the stage never reads.

The acceptance test: after one repro, each module under ``src/tunepipe`` is edited in turn
and ``dvc status`` must name exactly the stages whose deps cover it, which are the stages
that import it (plus the reported directory-granularity extras).
"""
from __future__ import annotations

import ast
import json
import re
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, TINY_OVERRIDES, make_project, run

SRC = ROOT / "src"
PKG = SRC / "tunepipe"
DVC = [sys.executable, "-m", "dvc"]
_MODULE_STR = re.compile(r"tunepipe(\.[A-Za-z_]\w*)+")


# ----------------------------------------------------------------------------- the import graph
def module_file(name: str, src: Path = SRC) -> Path | None:
    """``tunepipe.a.b`` -> ``src/tunepipe/a/b.py`` or ``src/tunepipe/a/b/__init__.py``."""
    p = src.joinpath(*name.split("."))
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return p.with_suffix(".py") if p.with_suffix(".py").is_file() else None


def imported_names(path: Path, modname: str) -> set[str]:
    """Dotted names that ``path`` imports anywhere (functions included), relative imports
    resolved, plus string constants naming a ``tunepipe.*`` module."""
    tree = ast.parse(path.read_text(), str(path))
    package = modname if path.name == "__init__.py" else modname.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}   # `from pkg import module`
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_STR.fullmatch(node.value):
            out.add(node.value)
    return {n for n in out if n.split(".")[0] == "tunepipe"}


def project_imports(script: Path, src: Path = SRC) -> set[Path]:
    """Every file under ``src/tunepipe`` that running ``script`` may import."""
    files: set[Path] = set()
    todo = [(script, "__main__")]
    while todo:
        path, modname = todo.pop()
        for name in imported_names(path, modname):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):   # importing a.b.c runs a/__init__, a/b/__init__
                sub = ".".join(parts[:i])
                f = module_file(sub, src)
                if f is not None and f not in files:
                    files.add(f)
                    todo.append((f, sub))
    return files


# ----------------------------------------------------------------------------- dvc.yaml
def dvc_stages(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "dvc.yaml").read_text())["stages"]


def stage_script(stage: dict) -> str:
    cmd = stage["cmd"] if isinstance(stage["cmd"], str) else " ".join(stage["cmd"])
    m = re.match(r"python\s+(stages/\S+\.py)\b", cmd)
    assert m, f"cannot find the stage script in {cmd!r}"
    return m.group(1)


def dep_paths(stage: dict) -> list[str]:
    out = []
    for d in stage.get("deps", []):
        path = d if isinstance(d, str) else next(iter(d))
        if "${" not in path:   # templated deps (data paths from params) are not code
            out.append(path.rstrip("/"))
    return out


def code_deps(stage: dict) -> list[str]:
    return [d for d in dep_paths(stage) if d.startswith(("src/", "stages/"))]


def covers(dep: str, rel: str) -> bool:
    return rel == dep or rel.startswith(dep + "/")


def expected_code(stage: dict, root: Path = ROOT) -> set[str]:
    """The stage script and every project module it imports, as paths relative to ``root``."""
    script = stage_script(stage)
    return {script} | {str(f.relative_to(root)) for f in project_imports(root / script, root / "src")}


def graph() -> dict[str, set[str]]:
    return {name: expected_code(st) for name, st in dvc_stages().items()}


# ----------------------------------------------------------------------------- fast tests
def test_the_scan_sees_lazy_imports_registry_names_and_package_inits():
    got = {str(f.relative_to(PKG)) for f in project_imports(ROOT / "stages" / "evaluate.py")}
    assert "models.py" in got                     # imported inside evaluate_model()
    assert "generation.py" in got                 # ditto
    assert {"tasks/sat.py", "tasks/code/abd.py", "tasks/code/ded.py"} <= got   # the registry's import_module names
    assert "tasks/code/corpus.py" in got          # abd -> code.corpus, at module level
    assert "__init__.py" in got and "tasks/__init__.py" in got
    assert "gradients.py" not in got and "publish.py" not in got


def test_every_module_a_stage_imports_is_one_of_its_deps():
    missing = []
    for name, stage in dvc_stages().items():
        deps = code_deps(stage)
        for rel in sorted(expected_code(stage)):
            if not any(covers(d, rel) for d in deps):
                missing.append(f"{name}: add `- {rel}` to its deps")
    assert not missing, "dvc.yaml misses code a stage runs:\n" + "\n".join(missing)


def test_no_code_dep_is_stale():
    stale, broad = [], []
    for name, stage in dvc_stages().items():
        expected = expected_code(stage)
        for dep in code_deps(stage):
            path = ROOT / dep
            assert path.exists(), f"{name}: dep {dep} does not exist"
            if path.is_file():
                if dep not in expected:
                    stale.append(f"{name}: {dep} is a dep but the stage does not import it")
                continue
            files = {str(f.relative_to(ROOT)) for f in path.rglob("*.py") if "__pycache__" not in f.parts}
            used = files & expected
            if not used:
                stale.append(f"{name}: {dep}/ is a dep but the stage imports nothing in it")
            elif files - used:
                broad.append(f"{name}: {dep}/ also covers {', '.join(sorted(files - used))}")
    assert not stale, "\n".join(stale)
    for line in broad:   # reported: the declared granularity of a directory dep
        warnings.warn(f"directory dep wider than the imports: {line}", stacklevel=1)


# ----------------------------------------------------------------------------- runtime params trace
SITECUSTOMIZE = textwrap.dedent('''\
    """Test-only: record which params keys this process reads (tests/test_dvc_graph.py)."""
    import atexit, json, os, sys

    _DIR = os.environ.get("TUNEPIPE_PARAMS_TRACE")
    if _DIR:
        _reads = set()
        _used = []

        class _Rec(dict):
            """A params mapping that records reads: a leaf ``a.b``; iterating a section
            records the whole section (the root's iteration only enumerates sections)."""

            def __init__(self, data, path=""):
                super().__init__(data)
                self._path = path

            def _key(self, k):
                return f"{self._path}.{k}" if self._path else str(k)

            def _whole(self):
                if self._path:
                    _reads.add(self._path)

            def __getitem__(self, k):
                v = super().__getitem__(k)
                if str(k).startswith("__"):
                    return v
                if isinstance(v, dict):
                    return _Rec(v, self._key(k))
                _reads.add(self._key(k))
                return v

            def get(self, k, default=None):
                return self[k] if dict.__contains__(self, k) else default

            def __iter__(self):
                self._whole()
                return super().__iter__()

            def keys(self):
                self._whole()
                return super().keys()

            def items(self):
                if self._path:
                    self._whole()
                    return super().items()
                return [(k, self[k]) for k in super().keys()]

            def values(self):
                return [v for _, v in self.items()]

            def copy(self):
                self._whole()
                return dict(super().items())

        def _patch():
            import yaml
            from tunepipe import config

            yaml.SafeDumper.add_representer(_Rec, yaml.representer.SafeRepresenter.represent_dict)
            yaml.Dumper.add_representer(_Rec, yaml.representer.SafeRepresenter.represent_dict)
            real = config.load

            def load(path="params.yaml"):
                _used.append(str(path))
                return _Rec(real(path))

            config.load = load

        def _dump():
            if _used:
                with open(os.path.join(_DIR, f"{os.getpid()}.json"), "w") as f:
                    json.dump({"argv": sys.argv, "reads": sorted(_reads)}, f)

        try:
            _patch()
            atexit.register(_dump)
        except ImportError:
            pass
''')


def stage_reads(trace_dir: Path, stages: dict) -> dict[str, set[str]]:
    by_script = {stage_script(st): name for name, st in stages.items()}
    reads: dict[str, set[str]] = {name: set() for name in stages}
    for f in trace_dir.glob("*.json"):
        rec = json.loads(f.read_text())
        script = rec["argv"][0] if rec["argv"] else ""
        if script in by_script:
            reads[by_script[script]] |= set(rec["reads"])
    return reads


def params_entries(stage: dict) -> list[str]:
    return [e for e in stage.get("params", []) if isinstance(e, str)]


def stages_named_by_status(proj: Path) -> set[str]:
    """The stages `dvc status` names, through DVC's own API in this process (what `dvc status
    --json` prints, without a DVC start-up per call: the module-edit test makes ~50 calls)."""
    from dvc.repo import Repo

    with Repo(str(proj)) as repo:   # from another directory DVC names a stage <path>/dvc.yaml:<name>
        return {name.rsplit(":", 1)[-1] for name in repo.status()}


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    """The tiny project, repro'd once with every stage's params reads recorded."""
    base = tmp_path_factory.mktemp("graph")
    proj = make_project(base / "proj", TINY_OVERRIDES)
    hook, trace = base / "hook", base / "trace"
    hook.mkdir()
    trace.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    import os

    pythonpath = os.pathsep.join([str(hook)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    run(DVC + ["repro"], proj, env={"PYTHONPATH": pythonpath, "TUNEPIPE_PARAMS_TRACE": str(trace)})
    assert stages_named_by_status(proj) == set()
    return proj, trace


@pytest.mark.slow
def test_params_lists_are_what_each_stage_reads(traced):
    proj, trace = traced
    stages = dvc_stages(proj)
    reads = stage_reads(trace, stages)
    problems = []
    for name, stage in stages.items():
        got, entries = reads[name], params_entries(stage)
        assert got, f"{name}: no params reads recorded (did the stage run?)"
        # config.load itself reads `families` (it registers your own task families) before it
        # returns the dict the recorder wraps: every stage that loads params reads it
        got = got | {"families"}
        for r in sorted(got):
            if not any(r == e or r.startswith(e + ".") for e in entries):
                problems.append(f"{name}: reads {r} but its params list {entries} does not cover it")
        for e in entries:
            if not any(r == e or r.startswith(e + ".") or e.startswith(r + ".") for r in got):
                problems.append(f"{name}: lists {e} but never reads it")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_editing_a_module_reruns_exactly_the_stages_that_import_it(traced):
    """Every module under src/tunepipe, edited in turn: `dvc status` names exactly the stages
    whose deps cover it; those are the stages that import it, up to directory deps (warned)."""
    proj, _ = traced
    stages = dvc_stages(proj)
    imports = {name: expected_code(st, proj) for name, st in stages.items()}
    modules = sorted(str(f.relative_to(proj)) for f in (proj / "src" / "tunepipe").rglob("*.py")
                     if "__pycache__" not in f.parts)
    wrong, wider = [], []
    for rel in modules:
        path = proj / rel
        original = path.read_bytes()
        try:
            path.write_bytes(original + b"\n# edited by test_dvc_graph\n")
            named = stages_named_by_status(proj)
        finally:
            path.write_bytes(original)
        covered = {n for n, st in stages.items() if any(covers(d, rel) for d in code_deps(st))}
        importing = {n for n, files in imports.items() if rel in files}
        if named != covered or not importing <= covered:
            wrong.append(f"{rel}: dvc status names {sorted(named)}; importing stages {sorted(importing)}")
        extra = covered - importing
        if extra:
            assert all(any(covers(d, rel) and (proj / d).is_dir() for d in code_deps(stages[n])) for n in extra)
            wider.append(f"{rel}: also reruns {sorted(extra)} (directory dep)")
    assert not wrong, "\n".join(wrong)
    assert stages_named_by_status(proj) == set()
    for line in wider:
        warnings.warn(line, stacklevel=1)
    # the two measured gaps: harmony.py (every scorer's parse) and models.py
    users = lambda rel: {n for n, files in imports.items() if rel in files}   # noqa: E731
    assert {"base", "harmony_convert", "reward", "grpo", "evaluate"} <= users("src/tunepipe/harmony.py")
    assert {"base", "harmony_convert", "sft", "grpo", "evaluate", "export"} <= users("src/tunepipe/models.py")
