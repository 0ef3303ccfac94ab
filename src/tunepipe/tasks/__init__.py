"""Task registry and the single scoring entry point.

Every task family is one module in this package ending with ``FAMILY = Family(...)`` (the
protocol: :mod:`tunepipe.tasks.protocol`), registered below by one line. Rows carry
``task`` (the family name), ``prompt`` (chat messages, or a plain string that
harmony_convert turns into messages), ``answer`` (the SFT reference) and ``spec`` (what the
scorer needs).

The GRPO reward functions and the evaluator both call :func:`score_batch` (or
:func:`score_completion`), so the training reward and the reported accuracy cannot drift
apart. Neither ever raises: an exception inside a family's parse/score is an invalid
score (None) and is counted (``n_errors`` in eval.json, ``error`` in the GRPO completion
log).
"""
from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from tunepipe import TunepipeError
from tunepipe.tasks.protocol import BuildRequest, Family, SelectRequest, field_error  # noqa: F401 (re-export)

#: task name -> module path (the module defines ``FAMILY``), or ``module:ATTRIBUTE`` when one
#: module defines several families. One line per family.
REGISTRY = {
    "sat": "tunepipe.tasks.sat",
    "abd": "tunepipe.tasks.code.abd",
    "ded": "tunepipe.tasks.code.ded",
    "decision": "tunepipe.tasks.decision",
    "reference": "tunepipe.tasks.reference",
    # multi-turn text environments under AgentGym's names (module:attribute -- the five share one module)
    "babyai": "tunepipe.tasks.envs.family:BABYAI",       # real engines, in-process
    "textcraft": "tunepipe.tasks.envs.family:TEXTCRAFT",
    "sciworld": "tunepipe.tasks.envs.family:SCIWORLD",
    "webshop": "tunepipe.tasks.envs.family:WEBSHOP",     # simulators in AgentGym's action languages
    "alfworld": "tunepipe.tasks.envs.family:ALFWORLD",
}


#: families registered from params (``families:``): task name -> the loaded Family
_PLUGINS: dict[str, Family] = {}


def register(families: dict | None, where: str = "params.yaml") -> None:
    """Register the task families of params ``families`` (name -> ``path/to/module.py``,
    ``path/to/module.py:ATTRIBUTE`` or ``package.module:ATTRIBUTE``; the attribute defaults
    to ``FAMILY``): a family of your own, in your own file, joins every stage with no edit
    of ``src/`` (docs/tasks/adding-a-family.md). Add its file to the stages' deps in dvc.yaml."""
    if families is None:
        return
    if not isinstance(families, dict):
        raise TunepipeError(f"{where}: families: expected a mapping of task name -> module, got {families!r}")
    for name, ref in families.items():
        if name in REGISTRY:
            raise TunepipeError(f"{where}: families.{name}: a built-in task has that name")
        if not isinstance(ref, str) or not ref:
            raise TunepipeError(f"{where}: families.{name}: expected 'path/to/module.py[:ATTRIBUTE]' or "
                                f"'package.module:ATTRIBUTE', got {ref!r}")
        module, sep, attr = ref.rpartition(":")
        if not sep:
            module, attr = ref, ""
        if module.endswith(".py") and not Path(module).is_file():
            raise TunepipeError(f"{where}: families.{name}: {module}: no such file")
        try:
            if module.endswith(".py"):
                spec = importlib.util.spec_from_file_location(f"tunepipe_family_{name}", module)
                mod = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(mod)
            else:
                mod = importlib.import_module(module)
        except Exception as e:   # a user's module that does not import: named, one line
            raise TunepipeError(f"{where}: families.{name}: cannot import {module}: "
                                f"{type(e).__name__}: {e}") from None
        family = getattr(mod, attr or "FAMILY", None)
        if not isinstance(family, Family):
            raise TunepipeError(f"{where}: families.{name}: {module} has no Family {attr or 'FAMILY'}")
        if family.name != name:
            raise TunepipeError(f"{where}: families.{name}: its Family is named {family.name!r}")
        _PLUGINS[name] = family


def names() -> list[str]:
    return sorted([*REGISTRY, *_PLUGINS])


def multi_turn(name: str) -> bool:
    """Whether family ``name`` is a multi-turn environment (its rows are whole episodes)."""
    return get(name).episode is not None


def get(name: str) -> Family:
    """The :class:`Family` of task ``name``; a clear error for unknown names."""
    if name in _PLUGINS:
        return _PLUGINS[name]
    if name not in REGISTRY:
        raise TunepipeError(f"unknown task {name!r}; known tasks: {', '.join(names())}")
    module, _, attr = REGISTRY[name].partition(":")
    family = getattr(importlib.import_module(module), attr or "FAMILY")
    if family.name != name:
        raise TunepipeError(f"{REGISTRY[name]}: FAMILY.name is {family.name!r}, registered as {name!r}")
    return family


def response_text(completion: str, reads: str = "all") -> str:
    """What a scorer sees of a completion: Harmony markup removed. ``reads="all"``: the
    analysis, commentary and final channels joined (the validators parse the whole
    response, thinking included); ``reads="final"``: the final channel only, when there
    is one."""
    from tunepipe import harmony

    if not isinstance(completion, str):
        return ""
    if "<|channel|>" not in completion and "<|message|>" not in completion:
        return completion
    channels = harmony.parse(completion)
    if reads == "final" and channels.get("final") is not None:
        return channels["final"]
    parts = [channels[c] for c in ("analysis", "commentary", "final") if channels.get(c)]
    return "\n".join(parts) if parts else completion


def _safe_score(family: Family, text: str, spec) -> tuple[float | None, bool]:
    """(score, raised): the family's score, None plus ``raised`` when it raised."""
    try:
        s = family.score(text, spec)
    except Exception:   # a scorer must never kill a run; counted as an error
        return None, True
    if s is None:
        return None, False
    try:
        s = float(s)
    except (TypeError, ValueError):
        return None, True
    return (s, False) if s == s else (None, True)   # NaN -> invalid


def score_completion(task: str, completion: str, spec: dict) -> float | None:
    """Score one completion of a row of family ``task`` (never raises)."""
    family = get(task)
    return _safe_score(family, response_text(completion, family.reads), spec)[0]


def score_batch(task_names: list[str], completions: list[str], specs: list,
                errors: list | None = None) -> list[float | None]:
    """``[score_completion(t, c, s) ...]`` for a batch, in order; families with a
    ``score_many`` (ABD, DED: sandboxed programs) are scored in parallel. When ``errors``
    is a list, it receives one bool per completion: True where the scorer raised."""
    if not len(task_names) == len(completions) == len(specs):
        raise ValueError("task_names, completions and specs differ in length")
    out: list[float | None] = [None] * len(completions)
    raised = [False] * len(completions)
    by_task: dict[str, list[int]] = {}
    for i, t in enumerate(task_names):
        by_task.setdefault(t, []).append(i)
    for t, idx in by_task.items():
        family = get(t)
        texts = [response_text(completions[i], family.reads) for i in idx]
        scores = None
        if family.score_many is not None and len(idx) > 1:
            try:
                scores = [None if s is None else float(s)
                          for s in family.score_many(texts, [specs[i] for i in idx])]
            except Exception:   # score one by one, so only the culprit is invalid
                scores = None
        if scores is None:
            for i, text in zip(idx, texts):
                out[i], raised[i] = _safe_score(family, text, specs[i])
        else:
            for i, s in zip(idx, scores):
                out[i] = s
    if errors is not None:
        errors[:] = raised
    return out


def parse_completion(task: str, completion: str, spec: dict):
    """The family's parse of ``completion`` (what the completion log shows); None when it
    cannot be parsed (or the parser raised)."""
    family = get(task)
    try:
        return family.parse(response_text(completion, family.reads), spec)
    except Exception:
        return None


def solved(task: str, score: float | None, spec: dict) -> bool:
    """Whether ``score`` counts as solved for family ``task`` (success rate, pass@k)."""
    try:
        return bool(get(task).solved(score, spec))
    except TunepipeError:
        raise
    except Exception:
        return False


def check_rows(rows: list[dict], where: str) -> None:
    """Bad specs are bad input: every row of a known task with a spec must pass its
    family's ``check_spec``; the first that does not is a one-line error naming the file,
    the row and the field. Rows with ``spec: null`` (imported logs) are skipped."""
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict) or "task" not in row:
            raise TunepipeError(f"{where}: row {i}: field 'task': missing")
        family = get(row["task"])
        spec = row.get("spec")
        if spec is None:
            continue
        if not isinstance(spec, dict):
            raise TunepipeError(f"{where}: row {i} ({row.get('id', '?')}): field 'spec': expected an object")
        try:
            family.check_spec(spec)
        except ValueError as e:
            raise TunepipeError(f"{where}: row {i} ({row.get('id', '?')}): {field_error('spec', e)}") from None


#: the params type of a generation budget: an int (every family), null (each family its own
#: ``Family.budget``) or a mapping family -> int | null (a family left out, or null: its own)
Budget = int | None | dict[str, int | None]


def budget(name: str, setting: Budget) -> int:
    """Family ``name``'s budget (new tokens) under a params ``setting`` (:data:`Budget`)."""
    if isinstance(setting, dict):
        setting = setting.get(name)
    return get(name).budget if setting is None else setting


def check_budgets(section: str, completion_key: str, completion: Budget, turn_tokens: Budget) -> None:
    """A section's two budgets (``<section>.<completion_key>`` per completion of a single-turn
    family, ``<section>.episode.turn_tokens`` per turn of an environment), or a one-line error."""
    c, t = f"{section}.{completion_key}", f"{section}.episode.turn_tokens"
    check_budget(completion, c, turns=False, other=t)
    check_budget(turn_tokens, t, turns=True, other=c)


def check_budget(setting: Budget, where: str, *, turns: bool, other: str) -> None:
    """A params budget (``where``: its dotted key) as :func:`budget` reads it, or a one-line
    error: a number that is not an int >= 1; in a mapping, a family not known (the nearest
    named) or of the other kind (``turns``: the setting is per turn of a multi-turn family,
    else per completion of a single-turn one; ``other``: the key that budgets the other kind)."""
    import difflib

    def check_int(v, key: str, what: str) -> None:
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise TunepipeError(f"{key}: expected {what}, got {v!r}")

    if not isinstance(setting, dict):
        check_int(setting, where, "an int >= 1, null or a mapping task -> int | null")
        return
    for name, v in setting.items():
        if name not in names():
            near = difflib.get_close_matches(str(name), names(), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}?" if near else f"; known tasks: {', '.join(names())}"
            raise TunepipeError(f"{where}.{name}: unknown task{hint}")
        if multi_turn(name) != turns:
            kind = "a single-turn task" if turns else "a multi-turn environment"
            raise TunepipeError(f"{where}.{name}: {name} is {kind}: its budget is {other}.{name}")
        check_int(v, f"{where}.{name}", "an int >= 1 or null (the task's own budget)")
