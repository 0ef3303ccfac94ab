"""Task registry.

Every task family is one module in this package with the same small surface:

- ``generate(rng: random.Random, **params) -> dict``: one example row
  ``{"task", "prompt": [chat messages], "answer": str, "spec": dict}``
  (families that load a corpus instead expose ``load(...)`` and friends);
- ``parse(completion: str, spec: dict)``: the answer a validator would extract,
  ``None`` on garbage; never raises;
- ``score(completion: str, spec: dict) -> float | None``: 1.0/0.0 (or a
  fraction), ``None`` when the sample cannot be scored (masked by GRPO);
- optionally ``score_many(completions, specs)``: the same scores for a batch, in
  parallel (ABD/DED run programs in the sandbox on all cores).

The GRPO reward functions and the evaluator both call :func:`score_completion` (or its
batch form :func:`score_batch`), so the training reward and the reported accuracy cannot
drift apart.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from tunepipe import TunepipeError

#: task name -> module path. Add a family here and it is available everywhere.
REGISTRY = {
    "sat": "tunepipe.tasks.sat",
    "abd": "tunepipe.tasks.abd",
    "ded": "tunepipe.tasks.ded",
}


def names() -> list[str]:
    return sorted(REGISTRY)


def get(name: str) -> ModuleType:
    """The module of task family ``name``; a clear error for unknown names."""
    if name not in REGISTRY:
        raise TunepipeError(f"unknown task {name!r}; known tasks: {', '.join(names())}")
    return importlib.import_module(REGISTRY[name])


def response_text(completion: str) -> str:
    """What a validator sees of a completion: Harmony markup removed (analysis and final
    channels kept, thinking included, as the validators parse the whole response)."""
    from tunepipe import harmony

    if "<|channel|>" not in completion and "<|message|>" not in completion:
        return completion
    channels = harmony.parse(completion)
    parts = [channels[c] for c in ("analysis", "commentary", "final") if channels.get(c)]
    return "\n".join(parts) if parts else completion


def score_completion(task: str, completion: str, spec: dict) -> float | None:
    """Score one completion of a row of family ``task`` (the single scoring entry point)."""
    return get(task).score(response_text(completion), spec)


def score_batch(task_names: list[str], completions: list[str], specs: list) -> list[float | None]:
    """``[score_completion(t, c, s) ...]`` for a batch, in order; families with a
    ``score_many`` (ABD, DED: sandboxed programs) are scored in parallel."""
    if not len(task_names) == len(completions) == len(specs):
        raise ValueError("task_names, completions and specs differ in length")
    out: list[float | None] = [None] * len(completions)
    by_task: dict[str, list[int]] = {}
    for i, t in enumerate(task_names):
        by_task.setdefault(t, []).append(i)
    for t, idx in by_task.items():
        module = get(t)
        texts = [response_text(completions[i]) for i in idx]
        if hasattr(module, "score_many") and len(idx) > 1:
            scores = module.score_many(texts, [specs[i] for i in idx])
        else:
            scores = [module.score(c, specs[i]) for c, i in zip(texts, idx)]
        for i, s in zip(idx, scores):
            out[i] = s
    return out
