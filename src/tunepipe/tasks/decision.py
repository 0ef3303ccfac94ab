"""Decision tasks (`decision`): prompts with per-action value estimates (Q-values), rewarded
by a Boltzmann distribution over the actions -- the gpt-oss GRPO workflow's CSVs.

Sources (``collect.decision.source``):

- a CSV file, or a directory of ``*.csv`` files (read in name order), in the workflow's
  shape: ``prompt, q_action_0 ... q_action_{K-1}`` (K >= 2), optionally
  ``reward_action_0 ...`` (rewards computed elsewhere: kept as given). Rows are taken as
  given and split train/test by a stable hash of the prompt (``test_fraction``), or, with
  ``test_file``, the source is train and that file is test. Counts in ``collect.train`` /
  ``collect.test`` cap the rows taken (null: all of them). A schema error (missing column,
  a non-numeric or NaN Q, fewer than 2 actions) is one line naming file, row and column;
- a directory with no CSV in it (the default, ``data/sources/decision``, shipped holding
  only a README): the built-in generator of carbon-aware load-shifting problems. A job of
  E kWh lasting d hours may start now or after each delay in ``delays_h``; the prompt lists
  the forecast average carbon intensity (g/kWh, a daily curve plus noise) of each start
  option, and Q(a) = -E * intensity(a) / 1000, the negative kg of CO2 of that choice --
  exact for the numbers the prompt shows.

Answers: the completion names one action as a bracketed index ``[k]``
(:func:`parse`). The reward stage turns Q into rewards with :func:`boltzmann` at
temperature ``reward.decision.tau`` (optionally after normalising Q per row,
``reward.decision.normalize``),
stored in the spec; :func:`score` is the reward of the chosen action (None: invalid);
"solved" means the chosen action is a best one (the best-action rate).

>>> boltzmann([0.0, 0.0], 1.0)
[0.5, 0.5]
>>> parse("I pick [2].", {"q": [0, 1, 2]}), parse("[1] or [2]", {"q": [0, 1, 2]}), parse("[3]", {"q": [0, 1, 2]})
(2, None, None)
"""
from __future__ import annotations

import csv
import glob
import hashlib
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path

from tunepipe import TunepipeError
from tunepipe.tasks.protocol import BuildRequest, Family

NAME = "decision"
_ACTION = re.compile(r"\[\s*([0-9]+)\s*\]")
_Q_COL = re.compile(r"q_action_(\d+)$")
_R_COL = re.compile(r"reward_action_(\d+)$")


# ------------------------------------------------------------------------- rewards


def boltzmann(q: list[float], tau: float) -> list[float]:
    """Boltzmann (softmax) distribution of ``q / tau``: ``exp((q_i - max q) / tau)``
    normalised. Stable for any ``tau > 0`` and any finite ``q`` (1e300 included: only
    differences to the max are exponentiated, and those are <= 0). ``tau <= 0`` (or not a
    finite number) and non-finite Q are errors.

    >>> [round(p, 4) for p in boltzmann([1.0, 2.0, 3.0], 1.0)]
    [0.09, 0.2447, 0.6652]
    >>> boltzmann([1e300, -1e300], 0.05)
    [1.0, 0.0]
    """
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau: expected a finite number > 0, got {tau!r}")
    if len(q) == 0:
        raise ValueError("q: no actions")
    qs = [float(x) for x in q]
    if not all(math.isfinite(x) for x in qs):
        raise ValueError(f"q: expected finite numbers, got {q!r}")
    top = max(qs)
    z = []
    for x in qs:
        d = (x - top) / tau          # <= 0; -inf when the difference overflows
        z.append(math.exp(d) if d > -745.2 else 0.0)
    total = math.fsum(z)             # >= 1: the max contributes exp(0)
    return [v / total for v in z]


def normalized(q: list[float], how: str) -> list[float]:
    """Q per row before tau: ``none`` (as given) or ``minmax`` (best 1, worst 0; all equal:
    all 0), so that tau means the same whatever the units of Q."""
    if how == "none":
        return [float(x) for x in q]
    if how == "minmax":
        lo, hi = min(q), max(q)
        span = float(hi) - float(lo)
        return [0.0 if span == 0 or not math.isfinite(span) else (float(x) - lo) / span for x in q]
    raise ValueError(f"normalize: expected 'none' or 'minmax', got {how!r}")


# --------------------------------------------------------------------- parse / score


def parse(completion, spec: dict | None = None) -> int | None:
    """The action a completion names: the one bracketed index ``[k]`` in it (repeats of the
    same index are fine). No index, several different ones, or one out of range (when
    ``spec`` gives the number of actions) -> None. ASCII digits only. Never raises."""
    if not isinstance(completion, str):
        return None
    found = {m for m in _ACTION.findall(completion)}
    if len(found) != 1:
        return None
    digits = found.pop().lstrip("0") or "0"
    if len(digits) > 6:
        return None
    k = int(digits)
    n = len(spec["q"]) if isinstance(spec, dict) and isinstance(spec.get("q"), list) else None
    return k if n is None or k < n else None


def score(completion, spec: dict) -> float | None:
    """The reward (``spec["rewards"]``, set by the reward stage) of the chosen action; None
    when the completion names no valid action or the spec has no rewards yet."""
    a = parse(completion, spec)
    rewards = spec.get("rewards") if isinstance(spec, dict) else None
    if a is None or not isinstance(rewards, list) or a >= len(rewards):
        return None
    return float(rewards[a])


def solved(s: float | None, spec: dict) -> bool:
    """A best action was chosen: its reward is the largest (Q ties share it)."""
    rewards = spec.get("rewards") or []
    return s is not None and bool(rewards) and s >= max(rewards) * (1 - 1e-12)


def check_spec(spec: dict) -> None:
    q = spec.get("q")
    if not isinstance(q, list) or len(q) < 2:
        raise ValueError(f"q: expected a list of at least 2 numbers, got {q!r}")
    for i, x in enumerate(q):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            raise ValueError(f"q: action {i}: expected a finite number, got {x!r}")
    r = spec.get("rewards")
    if r is not None:
        if not isinstance(r, list) or len(r) != len(q) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in r):
            raise ValueError(f"rewards: expected {len(q)} finite numbers, got {r!r}")


def metrics(answers: list, specs: list[dict], level: float) -> dict:
    """Per-task evaluation numbers from the parsed actions: best-action rate with its
    Jeffreys interval, mean regret Q* - Q(a) in the units of Q (an invalid answer counts as
    the worst action), mean regret of the valid answers, and the invalid rate."""
    from tunepipe.metrics import jeffreys_interval

    n = len(answers)
    best = regret = regret_valid = 0.0
    valid = 0
    for a, spec in zip(answers, specs):
        q = spec["q"]
        top = max(q)
        if a is None:
            regret += top - min(q)
            continue
        valid += 1
        best += q[a] >= top
        regret += top - q[a]
        regret_valid += top - q[a]
    lo, hi = jeffreys_interval(best, n, level)
    return {"best_action_rate": best / n if n else 0.0, "best_action_ci_low": lo, "best_action_ci_high": hi,
            "mean_regret": regret / n if n else 0.0,
            "mean_regret_valid": regret_valid / valid if valid else 0.0,
            "invalid_rate": (n - valid) / n if n else 0.0}


# ---------------------------------------------------------------------- the sources


@dataclass
class Config:
    """params ``collect.decision``."""
    source: str                 # a CSV file or a directory of CSVs; a directory without CSVs: generate
    test_file: str | None       # CSV sources: held-out rows from this file (null: split by prompt hash)
    test_fraction: float        # CSV sources: share of prompts held out, by a stable hash of the prompt
    answer_template: str        # the SFT target, str.format fields {action} (and {q} for the best Q)
    prompt_template: str        # generated problems: fields {duration}, {energy}, {hour}, {options}
    option_template: str        # one option line of the generated prompt: {action}, {delay}, {intensity}
    energy_kwh: list[float]     # generated: job energy, inclusive [min, max] (rounded to 1 kWh)
    duration_h: list[int]       # generated: job duration, inclusive [min, max] hours
    delays_h: list[int]         # generated: the actions -- start after each of these delays (0 = now)
    noise: float                # generated: sd of the hourly carbon-intensity noise (g/kWh)


def csv_files(source: str) -> list[Path]:
    """The CSV files of a source: a file, a directory's ``*.csv``, or a glob."""
    p = Path(source)
    if p.is_dir():
        return sorted(p.glob("*.csv"))
    if any(ch in source for ch in "*?["):
        return [Path(f) for f in sorted(glob.glob(source))]
    if not p.is_file():
        raise TunepipeError(f"collect.decision.source: {source}: no such file or directory")
    return [p]


def read_csv(path: Path) -> list[dict]:
    """Rows ``{"prompt", "spec": {"q", ["rewards"]}}`` of one CSV; schema errors name the
    file, the row (line number) and the column."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        if "prompt" not in cols:
            raise TunepipeError(f"{path}: missing column 'prompt' (columns: {', '.join(cols) or 'none'})")
        qi = sorted(int(m.group(1)) for c in cols if (m := _Q_COL.match(c)))
        if len(qi) < 2:
            raise TunepipeError(f"{path}: expected at least 2 columns q_action_0 ... q_action_{{K-1}}, "
                                f"found {len(qi)}")
        if qi != list(range(len(qi))):
            missing = next(i for i in range(len(qi)) if i not in qi)
            raise TunepipeError(f"{path}: missing column 'q_action_{missing}'")
        ri = sorted(int(m.group(1)) for c in cols if (m := _R_COL.match(c)))
        if ri and ri != qi:
            raise TunepipeError(f"{path}: reward_action_* columns must match q_action_0..{len(qi) - 1}")
        rows = []
        for line, rec in enumerate(reader, 2):
            prompt = rec.get("prompt")
            if not prompt or not prompt.strip():
                raise TunepipeError(f"{path}:{line}: column 'prompt': empty")
            spec = {"q": [_number(rec, f"q_action_{i}", path, line) for i in qi]}
            if ri:
                spec["rewards"] = [_number(rec, f"reward_action_{i}", path, line) for i in ri]
            rows.append({"prompt": prompt, "spec": spec})
    return rows


def _number(rec: dict, col: str, path: Path, line: int) -> float:
    raw = rec.get(col)
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise TunepipeError(f"{path}:{line}: column {col!r}: not a number ({raw!r})") from None
    if not math.isfinite(x):
        raise TunepipeError(f"{path}:{line}: column {col!r}: not a finite number ({raw!r})")
    return x


def in_test(prompt: str, fraction: float) -> bool:
    """The stable split: the first 8 bytes of sha256(prompt) as a fraction of 2^64."""
    h = int.from_bytes(hashlib.sha256(prompt.encode("utf-8")).digest()[:8], "big")
    return h / 2**64 < fraction


def intensity_curve(rng: random.Random, hours: int, noise: float) -> list[float]:
    """Hourly grid carbon intensity (g/kWh) from hour 0: an evening peak, a midday solar dip
    and Gaussian noise, floored at 50."""
    out = []
    for h in range(hours):
        hod = h % 24
        base = 380 + 130 * math.cos(2 * math.pi * (hod - 19) / 24) - 140 * math.exp(-((hod - 13) ** 2) / 10)
        out.append(max(50.0, base + rng.gauss(0.0, noise)))
    return out


def generate(rng: random.Random, cfg: Config) -> dict:
    """One carbon-aware load-shifting problem with exact Q-values."""
    if len(cfg.delays_h) < 2 or any(d < 0 for d in cfg.delays_h):
        raise ValueError("delays_h: expected at least 2 non-negative delays")
    hour = rng.randrange(24)
    duration = rng.randint(int(cfg.duration_h[0]), int(cfg.duration_h[-1]))
    energy = round(rng.uniform(float(cfg.energy_kwh[0]), float(cfg.energy_kwh[-1])))
    curve = intensity_curve(rng, hour + max(cfg.delays_h) + duration + 1, cfg.noise)
    shown = [round(sum(curve[hour + d: hour + d + duration]) / duration) for d in cfg.delays_h]
    q = [-energy * g / 1000.0 for g in shown]
    options = "\n".join(cfg.option_template.format(action=i, delay=d, intensity=g)
                        for i, (d, g) in enumerate(zip(cfg.delays_h, shown)))
    prompt = cfg.prompt_template.format(duration=duration, energy=energy, hour=hour, options=options)
    return {"prompt": prompt, "spec": {"q": q}}


def best_action(q: list[float]) -> int:
    return max(range(len(q)), key=lambda i: (q[i], -i))


def _row(prompt: str, spec: dict, cfg: Config) -> dict:
    a = best_action(spec["q"])
    return {"task": NAME, "prompt": prompt, "answer": cfg.answer_template.format(action=a, q=spec["q"][a]),
            "spec": spec}


def is_loaded(cfg: Config) -> bool:
    """True when the rows come from CSV files (not from the generator)."""
    return not (Path(cfg.source).is_dir() and not any(Path(cfg.source).glob("*.csv")))


def build(n: int | None, rng: random.Random, cfg: Config, req: BuildRequest) -> list[dict]:
    """Generated: ``n`` problems from ``rng``. CSV: every row of ``req.split`` (collect caps
    them after removing rows the other split already holds)."""
    try:
        cfg.answer_template.format(action=0, q=0.0)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"answer_template: invalid str.format template ({e}); fields: {{action}}, {{q}}") from None
    if not is_loaded(cfg):
        return [_row(**generate(rng, cfg), cfg=cfg) for _ in range(n)]
    if not 0.0 <= cfg.test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a number in [0, 1), got {cfg.test_fraction!r}")
    if cfg.test_file:
        files = csv_files(cfg.test_file) if req.split == "test" else csv_files(cfg.source)
        rows = [r for f in files for r in read_csv(f)]
    else:
        rows = [r for f in csv_files(cfg.source) for r in read_csv(f)
                if in_test(r["prompt"], cfg.test_fraction) == (req.split == "test")]
    if not rows and req.split == "train":
        raise TunepipeError(f"collect.decision.source: {cfg.source}: no train rows")
    return [_row(r["prompt"], r["spec"], cfg) for r in rows]


def key(row: dict) -> str:
    return repr((row["prompt"] if isinstance(row["prompt"], str) else str(row["prompt"]), row["spec"]["q"]))


# ----------------------------------------------------------------- the reward stage


@dataclass
class RewardConfig:
    """params ``reward.decision``: how Q-values become rewards."""
    tau: float                  # Boltzmann temperature (> 0); the reference workflow uses 0.05
    normalize: str              # none | minmax: Q per row before tau

    def __post_init__(self):
        if not (math.isfinite(self.tau) and self.tau > 0):
            raise ValueError(f"tau: expected a number > 0, got {self.tau!r}")
        if self.normalize not in ("none", "minmax"):
            raise ValueError(f"normalize: expected 'none' or 'minmax', got {self.normalize!r}")


def reward_spec(spec: dict, cfg: RewardConfig) -> dict:
    """The spec with ``rewards`` = Boltzmann(normalised Q, ``tau``); rewards a CSV brought
    (``reward_action_*``) are kept as given."""
    if spec.get("rewards") is not None:   # the CSV brought reward_action_* columns
        return spec
    return {**spec, "rewards": boltzmann(normalized(spec["q"], cfg.normalize), cfg.tau)}


def reward(rows: list[dict], cfg: RewardConfig, split: str) -> list[dict]:
    """Every row's spec through :func:`reward_spec` (both splits: evaluate reports the mean
    reward at ``tau`` beside the best-action rate)."""
    return [r if r["spec"] is None else {**r, "spec": reward_spec(r["spec"], cfg)} for r in rows]


def reward_table(rows: list[dict]) -> tuple[list[str], list[dict]]:
    """The rewarded rows as the workflow's CSV: prompt, q_action_*, reward_action_*."""
    k = max(len(r["spec"]["q"]) for r in rows) if rows else 0
    cols = ["id", "prompt"] + [f"q_action_{i}" for i in range(k)] + [f"reward_action_{i}" for i in range(k)]
    out = []
    for r in rows:
        p = r["prompt"] if isinstance(r["prompt"], str) else next(
            (m["content"] for m in reversed(r["prompt"]) if m.get("role") == "user"), "")
        rec = {"id": r.get("id", ""), "prompt": p}
        rec.update({f"q_action_{i}": x for i, x in enumerate(r["spec"]["q"])})
        rec.update({f"reward_action_{i}": x for i, x in enumerate(r["spec"]["rewards"])})
        out.append(rec)
    return cols, out


FAMILY = Family(
    name=NAME, config=Config, build=build, parse=parse, score=score, check_spec=check_spec, key=key,
    solved=solved, reads="final", loaded=is_loaded, atoms=(r"\[\d+\]",), reward_config=RewardConfig, reward=reward,
    reward_table=reward_table, metrics=metrics, headline="best_action_rate",
    budget=1024,   # a short comparison of the options, then "[k]"
)
