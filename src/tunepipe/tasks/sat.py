"""SAT (`sat`): random k-SAT with a planted solution, scored exactly as the validators do.

Generation (docs/reference/validators.md): draw a random truth value for x1..xn; m = int(ratio * n) clauses;
each clause picks k distinct variables, forces one literal to agree with the planted
value and gives the others random signs, so every instance is satisfiable.

Spec: ``{"n_vars": int, "clauses": [[signed int, ...], ...]}`` (DIMACS literals).

Scoring (validator rule): every match of ``x(\\d+)=(True|False|1|0)`` anywhere in the
response (case-sensitive, thinking text included), last assignment of a variable wins;
1.0 iff every clause has a literal made true; unassigned variables satisfy nothing;
``UNSAT`` (or no assignment at all) scores 0.

>>> spec = {"n_vars": 2, "clauses": [[1, -2], [2]]}
>>> [score(c, spec) for c in ["x1=True, x2=True", "x1=False, x2=True", "x2=1 x1=1", "UNSAT", ""]]
[1.0, 0.0, 1.0, 0.0, 0.0]
"""
from __future__ import annotations

import random
import re

NAME = "sat"
ASSIGN_RE = re.compile(r"x(\d+)=(True|False|1|0)")
PARTIAL_RE = re.compile(r"x\s*(\d+)\s*=\s*(true|false|1|0)", re.IGNORECASE)

DEFAULT_PROMPT = (
    "Find a satisfying assignment for this {k}-SAT formula over variables x1..x{n}:\n"
    "{formula}\n"
    "Answer in the form x1=True, x2=False, ... with one value for every variable, "
    "or UNSAT if there is none."
)


def _literal(lit: int) -> str:
    return f"x{lit}" if lit > 0 else f"¬x{-lit}"


def formula_text(clauses: list[list[int]]) -> str:
    """``(x1 ∨ ¬x3 ∨ x4) ∧ (¬x2 ∨ x5 ∨ x1)``"""
    return " ∧ ".join("(" + " ∨ ".join(_literal(lit) for lit in c) + ")" for c in clauses)


def assignment_text(values: dict[int, bool]) -> str:
    return ", ".join(f"x{v}={values[v]}" for v in sorted(values))


def planted_instance(rng: random.Random, n: int, k: int, ratio: float):
    """(planted assignment {var: bool}, clauses) drawn exactly as the validators do."""
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..n_vars, got k={k}, n_vars={n}")
    planted = {v: rng.random() < 0.5 for v in range(1, n + 1)}
    clauses = []
    for _ in range(int(ratio * n)):
        vars_ = rng.sample(range(1, n + 1), k)
        forced = rng.randrange(k)
        clause = []
        for i, v in enumerate(vars_):
            positive = planted[v] if i == forced else rng.random() < 0.5
            clause.append(v if positive else -v)
        clauses.append(clause)
    return planted, clauses


#: the validators' SAT prompt (AffineFoundation/affinetes, environments/affine/sat.py), verbatim, as a
#: ``prompt_template``: their f-string with ``{k}``, ``{n}`` and ``{formula}`` left as fields
VALIDATORS_PROMPT = (
    "Find a satisfying assignment for the following {k}-SAT formula over variables x1..x{n}:\n"
    "{formula}\n"
    "Provide your answer as comma-separated assignments like `x1=True, x2=False, ...`, "
    "or respond `UNSAT` if it has no solution."
)
#: the validators' clause ratio: m = int(4.26 * n)
VALIDATORS_RATIO = 4.26
#: ``generator: validators`` task ids: test rows take 0, 1, ... (the validators' SAT range is 0-500);
#: train rows TRAIN_BASE + seed * TRAIN_STRIDE + 0, 1, ... (disjoint from any test id < TRAIN_BASE)
TRAIN_BASE = 1_000_000
TRAIN_STRIDE = 10_000_000
GENERATORS = ("tunepipe", "validators")


def validators_instance(task_id: int, n: int = 15, k: int = 10):
    """(planted {var: bool}, clauses) of the validators' SAT task ``task_id``, draw for draw:
    ``random.Random(task_id)``; m = int(4.26 n); x1..xn each ``choice([True, False])``; per
    clause ``sample(1..n, k)``, ``choice`` of the forced variable, then a ``choice([True,
    False])`` sign for every other variable in order (none for the forced one)."""
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..n_vars, got k={k}, n_vars={n}")
    rng = random.Random(task_id)
    planted = {v: rng.choice([True, False]) for v in range(1, n + 1)}
    clauses = []
    for _ in range(int(VALIDATORS_RATIO * n)):
        vs = rng.sample(list(planted), k)
        sv = rng.choice(vs)
        clauses.append([(v if planted[v] else -v) if v == sv else (v if rng.choice([True, False]) else -v)
                        for v in vs])
    return planted, clauses


def satisfies(values: dict[int, bool], clauses: list[list[int]]) -> bool:
    return all(any(values.get(abs(lit)) is (lit > 0) for lit in c) for c in clauses)


def all_solutions(n: int, clauses: list[list[int]]) -> list[dict[int, bool]]:
    """Every satisfying assignment, by enumeration (numpy; fine up to n_vars ~ 18)."""
    import numpy as np

    idx = np.arange(2**n, dtype=np.int64)
    bits = ((idx[:, None] >> np.arange(n)) & 1).astype(bool)  # column v-1 = value of x_v
    ok = np.ones(len(idx), dtype=bool)
    for c in clauses:
        sat = np.zeros(len(idx), dtype=bool)
        for lit in c:
            col = bits[:, abs(lit) - 1]
            sat |= col if lit > 0 else ~col
        ok &= sat
    return [{v + 1: bool(row[v]) for v in range(n)} for row in bits[ok]]


def generate(
    rng: random.Random,
    *,
    n_vars: list[int],
    k: list[int],
    ratio: float,
    answer: str,
    prompt_template: str,
) -> dict:
    """One row. ``n_vars``/``k`` are inclusive [min, max] ranges; ``answer`` is
    ``planted`` (the planted assignment) or ``random_solution`` (a uniformly random
    satisfying assignment: more diverse SFT targets, hence pass@k headroom for GRPO)."""
    n = rng.randint(int(n_vars[0]), int(n_vars[-1]))
    kk = min(rng.randint(int(k[0]), int(k[-1])), n)
    planted, clauses = planted_instance(rng, n, kk, float(ratio))
    return _row(rng, n, kk, planted, clauses, answer, prompt_template)


def _row(rng: random.Random, n: int, k: int, planted: list[bool], clauses, answer: str, prompt_template: str,
         task_id: int | None = None) -> dict:
    """A row of an instance; its SFT target per ``answer`` (a random solution drawn from ``rng``)."""
    if answer == "planted":
        values = planted
    elif answer == "random_solution":
        if n > 18:
            raise ValueError(f"sat.answer=random_solution enumerates 2^n_vars; n_vars={n} > 18")
        values = rng.choice(all_solutions(n, clauses))
    else:
        raise ValueError(f"sat.answer must be 'planted' or 'random_solution', got {answer!r}")
    prompt = prompt_template.format(n=n, k=k, m=len(clauses), formula=formula_text(clauses))
    row = {"task": NAME, "prompt": [{"role": "user", "content": prompt}], "answer": assignment_text(values),
           "spec": {"n_vars": n, "clauses": clauses}}
    if task_id is not None:
        row = {"task": NAME, "task_id": task_id, **{k_: v for k_, v in row.items() if k_ != "task"}}
    return row


def build(n: int, rng: random.Random, **params) -> list[dict]:
    return [generate(rng, **params) for _ in range(n)]


def single(rng_: list[int], what: str) -> int:
    """The one value of an inclusive [min, max] range that must hold one value."""
    lo, hi = int(rng_[0]), int(rng_[-1])
    if lo != hi:
        raise ValueError(f"{what}: generator validators takes one value (e.g. [15, 15]), got {list(rng_)}")
    return lo


def first_task_id(split: str, seed: int) -> int:
    """The task id of a split's first row under ``generator: validators``."""
    if split == "test":
        return 0
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"base.seed: generator validators needs an int in 0..2**32-1 for the train ids, got {seed!r}")
    return TRAIN_BASE + seed * TRAIN_STRIDE


def validators_row(task_id: int, rng: random.Random, *, n: int, k: int, answer: str, prompt_template: str) -> dict:
    """The validators' SAT task ``task_id`` as a row (``task_id`` carried); ``answer`` as in
    :func:`generate`, drawn from ``rng`` (never from the instance's own stream)."""
    planted, clauses = validators_instance(task_id, n, k)
    return _row(rng, n, k, planted, clauses, answer, prompt_template, task_id=task_id)


def key(row: dict) -> str:
    """Identity of an instance, used to keep train and test disjoint."""
    return repr(sorted(sorted(c) for c in row["spec"]["clauses"]))


def check_spec(spec) -> None:
    """ValueError ``"<field>: <what is wrong>"`` for a spec that lacks ``n_vars`` or
    ``clauses`` or has one of a wrong type: ``n_vars`` a non-negative int, ``clauses`` a
    list of non-empty lists of non-zero ints within x1..x{n_vars}; None for a good one."""
    if not isinstance(spec, dict):
        raise ValueError(f"spec: expected an object, got {type(spec).__name__}")
    if "n_vars" not in spec:
        raise ValueError("n_vars: missing")
    n = spec["n_vars"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n_vars: expected a non-negative int, got {n!r}")
    if "clauses" not in spec:
        raise ValueError("clauses: missing")
    clauses = spec["clauses"]
    what = "expected a list of lists of non-zero ints"
    if not isinstance(clauses, list):
        raise ValueError(f"clauses: {what}, got {type(clauses).__name__}")
    for i, clause in enumerate(clauses):
        if not isinstance(clause, list):
            raise ValueError(f"clauses: {what}, got {type(clause).__name__} as clause {i}")
        if not clause:
            raise ValueError(f"clauses: clause {i} is empty (never satisfiable)")
        for lit in clause:
            if isinstance(lit, bool) or not isinstance(lit, int) or lit == 0:
                raise ValueError(f"clauses: {what}, got {lit!r} in clause {i}")
            if abs(lit) > n:
                raise ValueError(f"clauses: literal {lit} in clause {i} is outside x1..x{n} (n_vars={n})")


def _clauses(spec) -> list[list[int]] | None:
    """The clauses of a usable spec, else None."""
    clauses = spec.get("clauses") if isinstance(spec, dict) else None
    if not isinstance(clauses, list) or not all(
            isinstance(c, list) and all(isinstance(l, int) and not isinstance(l, bool) for l in c)
            for c in clauses):
        return None
    return clauses


def parse(completion: str, spec: dict | None = None) -> dict[int, bool] | None:
    """The validator's parse: ``{var: value}``; later assignments win; None if none.
    ``\\d`` also matches other scripts' decimal digits (``x٣=True`` is x3, as for the
    validators); a variable number ``int()`` refuses (more than 4300 digits) makes the
    validators' parse raise: None here. Never raises."""
    if not isinstance(completion, str):
        return None
    try:
        found = ASSIGN_RE.findall(completion)
        if not found:
            return None
        return {int(v): val in ("True", "1") for v, val in found}
    except (ValueError, MemoryError, RecursionError):
        return None


def score(completion: str, spec: dict) -> float | None:
    """1.0 iff the parsed assignment satisfies every clause (the reported accuracy);
    None for an unusable spec. Never raises."""
    clauses = _clauses(spec)
    if clauses is None:
        return None
    values = parse(completion, spec)
    if not values:
        return 0.0
    return 1.0 if satisfies(values, clauses) else 0.0


def score_partial(completion: str, spec: dict) -> float | None:
    """Training-only shaping reward: fraction of clauses satisfied, with a regex tolerant
    of spaces and case (one training service's reward). Never the reported accuracy.
    None for an unusable spec; never raises."""
    clauses = _clauses(spec)
    if clauses is None:
        return None
    if not clauses:
        return 1.0
    values: dict[int, bool] = {}
    if isinstance(completion, str):
        try:
            for v, val in PARTIAL_RE.findall(completion):
                try:
                    values[int(v)] = val.lower() in ("true", "1")
                except ValueError:   # a variable number int() refuses: no clause variable
                    pass
        except (MemoryError, RecursionError):
            values = {}
    return sum(any(values.get(abs(l)) is (l > 0) for l in c) for c in clauses) / len(clauses)



# ---------------------------------------------------------------- the task protocol

from dataclasses import asdict, dataclass  # noqa: E402

from tunepipe.tasks.protocol import BuildRequest, Family  # noqa: E402


@dataclass
class Config:
    """params ``collect.sat``."""
    n_vars: list[int]
    k: list[int]
    ratio: float
    answer: str
    prompt_template: str
    # tunepipe: its own random stream (rows carry no task id) | validators: the validators'
    # generator for task ids (test 0.., train TRAIN_BASE + seed * TRAIN_STRIDE + ..)
    generator: str = "tunepipe"

    def __post_init__(self):
        if self.generator not in GENERATORS:
            raise ValueError(f"generator: expected one of {', '.join(GENERATORS)}, got {self.generator!r}")
        if self.generator == "validators":
            single(self.n_vars, "n_vars"), single(self.k, "k")
            if self.ratio != VALIDATORS_RATIO:
                raise ValueError(f"ratio: generator validators fixes m = int({VALIDATORS_RATIO} * n), got {self.ratio!r}")


def _build(n: int, rng: random.Random, cfg: Config, req: BuildRequest) -> list[dict]:
    params = asdict(cfg)
    if params.pop("generator") == "tunepipe":
        return build(n, rng, **params)
    start = first_task_id(req.split, req.seed) + req.start
    if req.split == "train" and req.start + n > TRAIN_STRIDE:
        raise ValueError(f"generator validators: at most {TRAIN_STRIDE} train rows per seed")
    nv, kk = single(cfg.n_vars, "n_vars"), single(cfg.k, "k")
    return [validators_row(start + i, rng, n=nv, k=kk, answer=cfg.answer, prompt_template=cfg.prompt_template)
            for i in range(n)]


def to_service(row: dict) -> dict:
    """The training service's ``env.sat``: ``{"cls": clauses, "sol": {"1": true, ...}}``
    (the reference answer, which must satisfy the clauses)."""
    values = parse(row["answer"]) or {}
    if not satisfies(values, row["spec"]["clauses"]):
        raise ValueError("answer: the reference answer does not satisfy the clauses")
    return {"cls": row["spec"]["clauses"], "sol": {str(v): values[v] for v in sorted(values)}}


def from_service(info) -> dict | None:
    """A spec from the service's ``env.sat`` (None when it is not that shape)."""
    if not isinstance(info, dict) or not isinstance(info.get("cls"), list):
        return None
    try:
        clauses = [[int(lit) for lit in c] for c in info["cls"]]
    except (TypeError, ValueError):
        raise ValueError("cls: expected lists of ints") from None
    return {"n_vars": max((abs(lit) for c in clauses for lit in c), default=0), "clauses": clauses}


@dataclass
class RewardConfig:
    """params ``reward.sat``: SAT's training-only shaping (``grpo.reward: strict+partial``)."""
    partial_weight: float   # weight of the share of clauses satisfied, added to the strict score

    def __post_init__(self):
        if not self.partial_weight >= 0:
            raise ValueError(f"partial_weight: expected a number >= 0, got {self.partial_weight!r}")


def reward(rows: list[dict], cfg: RewardConfig, split: str) -> list[dict]:
    """Train specs carry the shaping weight (GRPO reads it there); test specs are left as
    collected, so a shaping change reruns grpo but not evaluate's inputs."""
    if split != "train":
        return rows
    return [r if r["spec"] is None else {**r, "spec": {**r["spec"], "partial_weight": cfg.partial_weight}}
            for r in rows]


def partial_term(completion: str, spec: dict) -> float | None:
    """The ``partial`` shaping term: ``spec.partial_weight`` (put there by :func:`reward`)
    times :func:`score_partial`."""
    s = score_partial(completion, spec)
    return None if s is None else spec["partial_weight"] * s


FAMILY = Family(
    name=NAME, config=Config, build=_build, parse=parse, score=score, check_spec=check_spec,
    key=key, shaping={"partial": partial_term},
    atoms=(r"¬?x\d+(?:=\w+)?",),   # a literal or an assignment is ONE token (docs/results/sat-recipe.md: .23 vs .80)
    reward_config=RewardConfig, reward=reward,
    to_service=to_service, from_service=from_service,
    # the validators' n=15, k=10 formulas (63 clauses): a thinking model checks clauses at length
    # before its ~100-token assignment
    budget=4096,
)
