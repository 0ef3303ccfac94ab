"""Comparing models the way the validators do: per-environment winners, Pareto dominance,
the frontier and subset scoring.

A model is a plain dict (what `evaluate` writes; extra keys are ignored)::

    {"name": "grpo", "order": 2, "envs": {"sat": {"successes": 131.5, "n": 200}, ...}}

``order`` is when the model appeared (lower = earlier); ``successes`` is the SUM of the
env's scores (fractional with partial credit), so ``tunepipe.metrics.summarize`` output
can be used as an env entry directly. Equal ``order`` is broken by ``name``.

Between an earlier model E and a later model L, E keeps an environment unless L clearly
beats it (the validators' earlier-model advantage). Four named rules (docs/reference/validators.md):

- ``interval`` (Oct 2025, the default): L wins only if the lower bound of its Jeffreys
  interval (``level``, 80%) is above E's upper bound; overlapping intervals go to E.
- ``epsilon`` (Sep 2025): with p = successes / n, SE = sqrt(pE(1-pE)/nE' + pL(1-pL)/nL')
  where n' = min(n, 1000): X is *better* than Y on the env if x >= y + max(0.008, 0.5 SE)
  and *worse* if x < y - max(0.005, 1.28 SE) (i.e. not "not worse"); as in the validators'
  code the "better" margin is capped at the "not worse" one (it only matters near 0 or 1).
- ``threshold`` (Dec 2025): L wins if pL >= min(pE + min(max(0.2 (1 - pE), 0.02), 0.1), 1)
  and pL > pE (so a later model merely matching a perfect 1.0 does not take the env).

- ``champion`` (2026, AffineFoundation/affine-cortex ``affine/src/scorer/comparator.py``):
  the earlier model is the champion, the later one the challenger. Per env, on the means
  over the task ids BOTH were sampled on (when the env entries carry per-task ``scores``,
  ``{task_id: score}``; else the aggregate ``successes / n``), the challenger is *dominant*
  if its mean > champion + ``margin`` (0.03), *not worse* if >= ``not_worse`` (0.98) x
  champion, else *worse*. An env in ``env_margins`` (``{env: m}``; the validators use 0.1
  for one env) uses m both ways: dominant above champion + m, not worse from champion - m.
  A challenger with fewer than ``min_samples`` samples on an env (or without it) is *worse*
  there (so it cannot win at all: the validators' sample gate); the champion's count is
  not gated, and a champion without the env counts as mean 0. The challenger wins (and
  dominates) with at least one dominant env and no worse env; otherwise the champion
  dominates it: winner takes all, a tie stays with the champion. `env_winner` gives an
  env to the challenger only where it is dominant; `champion_verdicts` lists the verdicts.

A model with fewer than ``min_samples`` (default 200, the validators') samples on an env,
or without the env, cannot win it and loses it. When NEITHER model is eligible on an env,
both lose it and `env_winner` returns None (no evidence either way; it then blocks
dominance in both directions on any env set that contains it).

Dominance: A dominates B when, over the union of both models' envs, A wins at least one
env and loses none. For ``interval``/``threshold`` each env has one winner and one loser.
For ``epsilon`` "wins" is *better* and "loses" is *worse*, as the validators define them,
so an env can have a winner without a loser, or neither; as the validators do, a full tie
(nobody worse anywhere) goes to the earlier model, and where both would then dominate each
other the earlier one does. Net effect: under ``epsilon`` a later model dominates only if
it is not worse anywhere and beats the earlier one by more than max(0.005, 1.28 SE)
somewhere, and `env_winner` reports exactly that per env.

>>> base = {"name": "base", "order": 0, "envs": {"sat": {"successes": 100, "n": 200}}}
>>> sft = {"name": "sft", "order": 1, "envs": {"sat": {"successes": 110, "n": 200}}}
>>> grpo = {"name": "grpo", "order": 2, "envs": {"sat": {"successes": 130, "n": 200}}}
>>> env_winner(base, sft, "sat")   # 0.55 vs 0.50, but the 80% intervals overlap
'base'
>>> env_winner(base, grpo, "sat"), dominates(grpo, base), dominates(base, grpo)
('grpo', True, False)
>>> frontier([base, sft, grpo])
['grpo']
"""
from __future__ import annotations

import itertools
import math
import numbers
from typing import Callable, Iterable

from tunepipe.metrics import jeffreys_interval

__all__ = ["RULES", "env_winner", "dominates", "frontier", "subset_scores", "report_rows", "champion_verdicts"]

RULES = ("interval", "epsilon", "threshold", "champion")

# Tunables of each rule (overridable through ``**rule_kw``); the values are the validators'.
# (Every rule's minimum sample count is the functions' own ``min_samples`` argument.)
RULE_DEFAULTS: dict[str, dict[str, object]] = {
    "interval": {},
    "epsilon": {"n_cap": 1000, "eps_not_worse": 0.005, "z_not_worse": 1.28,
                "eps_better": 0.008, "z_better": 0.5},
    "threshold": {"frac": 0.2, "floor": 0.02, "cap": 0.1},
    "champion": {"margin": 0.03, "not_worse": 0.98, "env_margins": {}},
}
#: champion's float slack, as the validators' comparator (1e-9 on both comparisons)
_CHAMP_TOL = 1e-9

_TOL = 1e-12  # float slack on ">=" margins: 0.5 + 0.1 must reach 0.6

_Outcome = tuple[frozenset, frozenset]  # (names that win the env, names that lose it)


# --------------------------------------------------------------------------- helpers
def _check_model(model) -> dict:
    if not isinstance(model, dict):
        raise ValueError(f"a model must be a dict with name/order/envs, got {type(model).__name__}")
    for key in ("name", "order", "envs"):
        if key not in model:
            raise ValueError(f"model {model.get('name', '?')!r}: missing field {key!r}")
    name, order, envs = model["name"], model["order"], model["envs"]
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if isinstance(order, bool) or not isinstance(order, numbers.Real) or not math.isfinite(order):
        raise ValueError(f"model {name!r}: order must be a number, got {order!r}")
    if not isinstance(envs, dict):
        raise ValueError(f"model {name!r}: envs must be a dict env -> {{successes, n}}")
    for env, row in envs.items():
        if not isinstance(row, dict) or "successes" not in row or "n" not in row:
            raise ValueError(f"model {name!r}, env {env!r}: needs fields 'successes' and 'n'")
        n, s = row["n"], row["successes"]
        if isinstance(n, bool) or not isinstance(n, numbers.Real) or n < 0 or int(n) != n:
            raise ValueError(f"model {name!r}, env {env!r}: n must be a non-negative integer, "
                             f"got {n!r}")
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not 0 <= s <= n:
            raise ValueError(f"model {name!r}, env {env!r}: successes must lie in [0, n={n}], "
                             f"got {s!r}")
        scores = row.get("scores")
        if scores is not None and (not isinstance(scores, dict) or not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in scores.values())):
            raise ValueError(f"model {name!r}, env {env!r}: scores must map task ids to numbers")
    return model


def _check_models(models: Iterable[dict]) -> list[dict]:
    """Validated models sorted by appearance (order, then name); names must be unique."""
    checked = [_check_model(m) for m in models]
    names = [m["name"] for m in checked]
    dupes = sorted({x for x in names if names.count(x) > 1})
    if dupes:
        raise ValueError(f"model names must be unique, repeated: {dupes}")
    return sorted(checked, key=_key)


def _key(model: dict) -> tuple:
    return (model["order"], model["name"])


def _params(rule: str, rule_kw: dict) -> dict:
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {list(RULES)}")
    unknown = sorted(set(rule_kw) - set(RULE_DEFAULTS[rule]))
    if unknown:
        raise ValueError(f"rule {rule!r} takes no option(s) {unknown}; "
                         f"it takes {sorted(RULE_DEFAULTS[rule])}")
    out = {**RULE_DEFAULTS[rule], **rule_kw}
    if rule == "champion":
        for key in ("margin", "not_worse"):
            v = out[key]
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
                raise ValueError(f"rule 'champion': {key} must be a number >= 0, got {v!r}")
        em = out["env_margins"]
        if not isinstance(em, dict) or not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
                for v in em.values()):
            raise ValueError(f"rule 'champion': env_margins must map env names to numbers >= 0, got {em!r}")
    return out


def _common_means(champ: dict, chal: dict, env: str) -> tuple[float | None, int, float | None, int]:
    """(champion mean, its n, challenger mean, its n) on ``env``: over the task ids both were
    sampled on when both entries carry ``scores``, else the aggregates; None: no samples."""
    c, l = champ["envs"].get(env), chal["envs"].get(env)
    if c is not None and l is not None and c.get("scores") is not None and l.get("scores") is not None:
        common = sorted(set(c["scores"]) & set(l["scores"]), key=str)
        if not common:
            return None, 0, None, 0
        return (sum(float(c["scores"][t]) for t in common) / len(common), len(common),
                sum(float(l["scores"][t]) for t in common) / len(common), len(common))
    mean = lambda r: (None, 0) if r is None or not r["n"] else (float(r["successes"]) / r["n"], int(r["n"]))  # noqa: E731
    return (*mean(c), *mean(l))


def _champion_verdict(champ: dict, chal: dict, env: str, min_samples: int, params: dict) -> dict:
    """The challenger's verdict on ``env``: ``dominant`` | ``not_worse`` | ``worse``, with the
    means it was decided on and the reason."""
    pc, nc, pl, nl = _common_means(champ, chal, env)
    out = {"env": env, "champion": pc, "challenger": pl, "champion_n": nc, "challenger_n": nl}
    if pl is None or nl < max(min_samples, 1):
        return {**out, "verdict": "worse", "reason": f"challenger has {nl} < {max(min_samples, 1)} samples"}
    basis = 0.0 if pc is None else pc
    if env in params["env_margins"]:
        m = float(params["env_margins"][env])
        up, low = basis + m, basis - m
    else:
        up, low = basis + float(params["margin"]), basis * float(params["not_worse"])
    if pl > up + _CHAMP_TOL:
        return {**out, "verdict": "dominant", "reason": f"{pl:.4f} > {up:.4f}"}
    if pl >= low - _CHAMP_TOL:
        return {**out, "verdict": "not_worse", "reason": f"{pl:.4f} >= {low:.4f}"}
    return {**out, "verdict": "worse", "reason": f"{pl:.4f} < {low:.4f}"}


def _stats(model: dict, env: str) -> tuple[float, int] | None:
    row = model["envs"].get(env)
    return None if row is None else (float(row["successes"]), int(row["n"]))


def _eligible(model: dict, env: str, min_samples: int) -> bool:
    st = _stats(model, env)
    return st is not None and st[1] >= max(min_samples, 1)


def _duel(a: dict, b: dict, env: str, rule: str, min_samples: int, level: float,
          params: dict) -> _Outcome:
    """Who wins and who loses ``env`` between a and b (the heart of every rule)."""
    early, late = sorted((a, b), key=_key)
    if rule == "champion":   # the challenger's verdict: dominant takes the env, worse loses it
        v = _champion_verdict(early, late, env, min_samples, params)["verdict"]
        if v == "dominant":
            return frozenset({late["name"]}), frozenset({early["name"]})
        if v == "worse":
            return frozenset({early["name"]}), frozenset({late["name"]})
        return frozenset(), frozenset()
    e_ok, l_ok = _eligible(early, env, min_samples), _eligible(late, env, min_samples)
    if not (e_ok or l_ok):
        return frozenset(), frozenset({early["name"], late["name"]})
    if e_ok != l_ok:
        winner, loser = (early, late) if e_ok else (late, early)
        return frozenset({winner["name"]}), frozenset({loser["name"]})
    (s_e, n_e), (s_l, n_l) = _stats(early, env), _stats(late, env)
    pe, pl = s_e / n_e, s_l / n_l
    if rule == "interval":
        _, hi_e = jeffreys_interval(s_e, n_e, level)
        lo_l, _ = jeffreys_interval(s_l, n_l, level)
        late_wins = lo_l > hi_e
    elif rule == "threshold":
        margin = min(max(params["frac"] * (1.0 - pe), params["floor"]), params["cap"])
        target = min(pe + margin, 1.0)
        late_wins = pl >= target - _TOL and pl > pe
    else:  # epsilon: "better" and "worse" are separate relations; see the module docstring
        cap = params["n_cap"]
        se_diff = math.sqrt(pe * (1 - pe) / min(n_e, cap) + pl * (1 - pl) / min(n_l, cap))
        not_worse = max(params["eps_not_worse"], params["z_not_worse"] * se_diff)
        # kept <= the not-worse tolerance (as the validators do), so "worse" implies "better"
        better = min(max(params["eps_better"], params["z_better"] * se_diff), not_worse)
        wins, loses = set(), set()
        for x, px, py in ((early, pe, pl), (late, pl, pe)):
            if px >= py + better - _TOL:
                wins.add(x["name"])
            if px < py - not_worse - _TOL:
                loses.add(x["name"])
        return frozenset(wins), frozenset(loses)
    winner, loser = (late, early) if late_wins else (early, late)
    return frozenset({winner["name"]}), frozenset({loser["name"]})


def _holder(a: dict, b: dict, env: str, rule: str, min_samples: int, level: float,
            params: dict) -> str | None:
    """`env_winner` without the input checks."""
    wins, loses = _duel(a, b, env, rule, min_samples, level, params)
    early, late = sorted((a, b), key=_key)
    if late["name"] in wins and early["name"] in loses:
        return late["name"]
    if early["name"] in loses and late["name"] in loses:
        return None
    return early["name"]


def _dominates_on(x: dict, y: dict, envs: Iterable[str], outcomes: dict[str, _Outcome],
                  rule: str) -> bool:
    envs = list(envs)
    if not envs:
        return False
    if rule == "champion":   # winner takes all: the challenger dethrones, or the champion stays
        early, late = sorted((x, y), key=_key)
        late_wins = (any(late["name"] in outcomes[e][0] for e in envs)
                     and not any(late["name"] in outcomes[e][1] for e in envs))
        return late_wins if x is late else not late_wins

    def claims(p: dict, q: dict) -> bool:  # p "dominates" q before the mutual-claim tiebreak
        won = any(p["name"] in outcomes[e][0] for e in envs)
        lost = any(p["name"] in outcomes[e][1] for e in envs)
        if won and not lost:
            return True
        full_tie = not any(outcomes[e][1] for e in envs)
        return rule == "epsilon" and full_tie and _key(p) < _key(q)

    return claims(x, y) and not (claims(y, x) and _key(y) < _key(x))


def _pair_outcomes(a: dict, b: dict, rule: str, min_samples: int, level: float,
                   params: dict) -> dict[str, _Outcome]:
    return {e: _duel(a, b, e, rule, min_samples, level, params)
            for e in set(a["envs"]) | set(b["envs"])}


# --------------------------------------------------------------------------- public API
def env_winner(a: dict, b: dict, env: str, *, rule: str = "interval", min_samples: int = 200,
               level: float = 0.8, **rule_kw) -> str | None:
    """Name of the model that holds ``env`` between a and b: the earlier one, unless the
    later one clearly beats it under ``rule`` (see the module docstring for the rules).

    Returns None only when neither model is eligible on the env (missing, or fewer than
    ``min_samples`` samples): nobody has the evidence to hold it.

    >>> e = {"name": "e", "order": 0, "envs": {"sat": {"successes": 160, "n": 200}}}
    >>> l = {"name": "l", "order": 1, "envs": {"sat": {"successes": 167, "n": 200}}}
    >>> env_winner(e, l, "sat", rule="threshold")   # 0.835 < 0.80 + 0.04
    'e'
    >>> l["envs"]["sat"]["successes"] = 168          # 0.84 reaches the target
    >>> env_winner(e, l, "sat", rule="threshold")
    'l'
    >>> env_winner(e, {"name": "x", "order": 2, "envs": {}}, "sat")   # missing env
    'e'
    """
    _check_model(a), _check_model(b)
    if a["name"] == b["name"]:
        raise ValueError(f"cannot compare model {a['name']!r} with itself")
    return _holder(a, b, env, rule, min_samples, level, _params(rule, rule_kw))


def dominates(a: dict, b: dict, *, rule: str = "interval", min_samples: int = 200,
              level: float = 0.8, **rule_kw) -> bool:
    """True if a wins at least one env and loses none, over the union of both models' envs
    (``epsilon``: plus the full-tie and mutual-claim rules of the module docstring).

    Identical results never let the later model dominate; the earlier one dominates a
    later one that does not clearly beat it anywhere (it wins every env).
    """
    _check_model(a), _check_model(b)
    if a["name"] == b["name"]:
        return False
    params = _params(rule, rule_kw)
    outcomes = _pair_outcomes(a, b, rule, min_samples, level, params)
    return _dominates_on(a, b, list(outcomes), outcomes, rule)


def frontier(models: Iterable[dict], *, rule: str = "interval", min_samples: int = 200,
             level: float = 0.8, **rule_kw) -> list[str]:
    """Names of the models no other model dominates, earliest first. (With the interval
    rule's earlier-model advantage dominance can cycle, so this may even be empty.)"""
    ms = _check_models(models)
    params = _params(rule, rule_kw)
    out = []
    for m in ms:
        beaten = False
        for o in ms:
            if o is not m:
                oc = _pair_outcomes(o, m, rule, min_samples, level, params)
                beaten = beaten or _dominates_on(o, m, list(oc), oc, rule)
        if not beaten:
            out.append(m["name"])
    return out


def subset_scores(models: Iterable[dict], *, weight: Callable[[int], float] | None = None,
                  rule: str = "interval", min_samples: int = 200, level: float = 0.8,
                  **rule_kw) -> dict[str, float]:
    """Validator-style subset scoring: every non-empty subset S of all envs (union over the
    models) has one winner, who gets ``weight(len(S))`` (default: ``len(S)``, so winning
    bigger subsets is worth more). The winner is the model no other model dominates when
    both are restricted to S; several undominated → the earliest; none (a dominance cycle)
    → the one dominated by the fewest, then the earliest. Returns every model's total,
    earliest first (0.0 for models that win nothing).

    >>> m = lambda name, order, **envs: {"name": name, "order": order,
    ...     "envs": {e: {"successes": s, "n": 200} for e, s in envs.items()}}
    >>> a, b = m("a", 0, sat=100, abd=100), m("b", 1, sat=160, abd=100)
    >>> subset_scores([a, b])   # {sat}: b; {abd}: a; {sat, abd}: b loses abd, a loses sat
    {'a': 3.0, 'b': 1.0}
    >>> subset_scores([a, b], rule="epsilon")   # a tie on abd is no loss: b takes {sat, abd}
    {'a': 1.0, 'b': 3.0}
    """
    ms = _check_models(models)
    params = _params(rule, rule_kw)
    weight = weight if weight is not None else (lambda size: float(size))
    all_envs = sorted(set().union(*(m["envs"] for m in ms))) if ms else []
    outcomes = {}
    for x, y in itertools.combinations(ms, 2):
        outcomes[x["name"], y["name"]] = outcomes[y["name"], x["name"]] = _pair_outcomes(
            x, y, rule, min_samples, level, params)
    envsets = {m["name"]: set(m["envs"]) for m in ms}
    totals = {m["name"]: 0.0 for m in ms}
    for size in range(1, len(all_envs) + 1):
        w = weight(size)
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w):
            raise ValueError(f"weight({size}) must be a finite number, got {w!r}")
        for subset in itertools.combinations(all_envs, size):
            s = set(subset)

            def dominated_by(m: dict) -> int:
                return sum(
                    _dominates_on(o, m, (envsets[o["name"]] | envsets[m["name"]]) & s,
                                  outcomes[o["name"], m["name"]], rule)
                    for o in ms if o is not m)

            winner = min(ms, key=lambda m: (dominated_by(m), _key(m)))
            totals[winner["name"]] += float(w)
    return totals


def report_rows(models: Iterable[dict], *, rule: str = "interval", min_samples: int = 200,
                level: float = 0.8, **rule_kw) -> list[dict]:
    """One row per env (sorted by name) for the report renderer::

        {"env": "sat", "winner": "grpo" | None,
         "models": {name: {"n", "successes", "accuracy", "ci_low", "ci_high", "eligible"}
                          | None (model lacks the env), ...}}   # earliest first

    ``winner`` is king of the hill in order of appearance: the first eligible model holds
    the env and each later eligible model takes it if it beats the holder (`env_winner`);
    None if no model is eligible.

    >>> a = {"name": "a", "order": 0, "envs": {"sat": {"successes": 50, "n": 100}}}
    >>> rows = report_rows([a], min_samples=100)
    >>> rows[0]["winner"], rows[0]["models"]["a"]["accuracy"]
    ('a', 0.5)
    """
    ms = _check_models(models)
    params = _params(rule, rule_kw)
    rows = []
    for env in sorted(set().union(*(m["envs"] for m in ms))) if ms else []:
        cells, king = {}, None
        for m in ms:
            st = _stats(m, env)
            if st is None:
                cells[m["name"]] = None
                continue
            s, n = st
            lo, hi = jeffreys_interval(s, n, level)
            ok = _eligible(m, env, min_samples)
            cells[m["name"]] = {"n": n, "successes": s, "accuracy": s / n if n else 0.0,
                                "ci_low": lo, "ci_high": hi, "eligible": ok}
            if ok and (king is None or
                       _holder(king, m, env, rule, min_samples, level, params) == m["name"]):
                king = m
        rows.append({"env": env, "winner": king["name"] if king else None, "models": cells})
    return rows


def champion_verdicts(champion: dict, challenger: dict, *, min_samples: int = 200, **rule_kw) -> dict:
    """The ``champion`` rule's comparison of one window: per env (the union of both models'
    envs, sorted) the challenger's verdict, and the winner (winner takes all)::

        {"winner": name, "dominant": [envs], "worse": [envs],
         "envs": [{"env", "verdict", "reason", "champion", "challenger", "champion_n", "challenger_n"}]}

    >>> champ = {"name": "c", "order": 0, "envs": {"sat": {"successes": 50, "n": 100}}}
    >>> chal = {"name": "x", "order": 1, "envs": {"sat": {"successes": 54, "n": 100}}}
    >>> champion_verdicts(champ, chal, min_samples=100)["winner"]   # .54 > .50 + .03
    'x'
    """
    _check_model(champion), _check_model(challenger)
    params = _params("champion", rule_kw)
    envs = sorted(set(champion["envs"]) | set(challenger["envs"]))
    rows = [_champion_verdict(champion, challenger, e, min_samples, params) for e in envs]
    dominant = [r["env"] for r in rows if r["verdict"] == "dominant"]
    worse = [r["env"] for r in rows if r["verdict"] == "worse"]
    winner = challenger["name"] if dominant and not worse else champion["name"]
    return {"winner": winner, "dominant": dominant, "worse": worse, "envs": rows}
