"""The reward stage's logic, family-blind: each family's ``reward.<name>`` params typed by its
own ``reward_config``, its ``reward`` hook over the specs, its ``select`` hook over the train
rows, and the check that every reference answer counts as solved.

A family with reward-stage settings owns them: its module declares the dataclass and the
hooks (:mod:`tunepipe.tasks.protocol`), its params live under ``reward.<name>``; nothing here
names a family.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from tunepipe import TunepipeError, config, tasks


@dataclass
class RewardArgs:
    """The family-independent keys of ``reward`` (the rest are ``reward.<family>`` sections)."""
    verify_references: bool   # every train reference must count as solved by its task's scorer


#: families whose hooks the reward stage calls, with their typed ``reward.<name>`` configs
FamilyConfigs = dict


def parse_section(section: dict, where: str) -> tuple[RewardArgs, FamilyConfigs]:
    """``(RewardArgs, {family: typed reward.<family>})`` from params section ``reward``: a
    key that is neither a :class:`RewardArgs` field nor a family with a ``reward_config`` is
    a one-line error naming the nearest valid key; so is a missing ``reward.<family>``."""
    if not isinstance(section, dict):
        raise TunepipeError(f"{where}: expected a mapping, got {type(section).__name__}")
    own = {f.name for f in fields(RewardArgs)}
    families = {n: tasks.get(n) for n in tasks.names()}
    owners = {n: f for n, f in families.items() if f.reward_config is not None}
    config.reject_unknown(section, sorted(own | set(owners)), where)
    args = config.typed(RewardArgs, {k: v for k, v in section.items() if k in own}, where)
    cfgs = {}
    for name, family in owners.items():
        if name not in section:
            raise TunepipeError(f"{where}.{name}: missing section (the {name} family's reward settings)")
        cfgs[name] = config.typed(family.reward_config, section[name], f"{where}.{name}")
    return args, cfgs


def _by_task(rows: list[dict]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        out.setdefault(r["task"], []).append(i)
    return out


def rewarded(rows: list[dict], cfgs: FamilyConfigs, where: str, split: str = "train") -> list[dict]:
    """Rows with each family's rows passed through its ``reward`` hook (given its typed
    ``reward.<name>`` config and ``split``), in their order."""
    out = list(rows)
    for name, idx in _by_task(rows).items():
        family = tasks.get(name)
        if family.reward is None:
            continue
        try:
            new = family.reward([rows[i] for i in idx], cfgs.get(name), split)
        except ValueError as e:
            raise TunepipeError(f"{where}: reward.{name}.{e}") from None
        if len(new) != len(idx):
            raise TunepipeError(f"{where}: the {name} family's reward hook returned {len(new)} rows for {len(idx)}")
        for i, r in zip(idx, new):
            out[i] = r
    return out


def select(rows: list[dict], cfgs: FamilyConfigs, *, base: str, seed: int) -> tuple[list[dict], dict[str, list]]:
    """The train rows after each family's ``select`` hook (its rows only; the others kept, order
    kept), and ``{family: records}`` for the families that selected."""
    keep = [True] * len(rows)
    records = {}
    for name, idx in _by_task(rows).items():
        family = tasks.get(name)
        if family.select is None:
            continue
        mine = [rows[i] for i in idx]
        kept, recs = family.select(mine, cfgs.get(name), tasks.SelectRequest(base=base, seed=seed))
        if recs is None:
            continue
        ids = {id(r) for r in kept}
        for i, r in zip(idx, mine):
            keep[i] = id(r) in ids
        records[name] = recs
    return [r for r, k in zip(rows, keep) if k], records


def verify(rows: list[dict], where: str) -> None:
    """Every reference answer (except imported logs) counts as solved by its scorer."""
    def reference(row):   # environments: the whole expert episode, replayed
        if tasks.multi_turn(row["task"]):
            return "\n\n".join([row["answer"], *(t["answer"] for t in row["turns"])])
        return row["completion_text"]

    # imported logs and environment instances without an expert (a real server's) have no reference
    idx = [i for i, row in enumerate(rows) if row.get("source") != "import"
           and not (tasks.multi_turn(row["task"]) and row.get("turns") is None)]
    scores = tasks.score_batch([rows[i]["task"] for i in idx], [reference(rows[i]) for i in idx],
                               [rows[i]["spec"] for i in idx])
    for i, s in zip(idx, scores):
        if not tasks.solved(rows[i]["task"], s, rows[i]["spec"]):
            raise TunepipeError(f"{where}:{i + 1}: reference answer of row {rows[i]['id']} scores {s}, "
                                "which does not count as solved")


#: the fields of a train row that SFT reads (:func:`tunepipe.training.sft_examples`): no spec,
#: so a reward-only param (a decision tau, a shaping weight) leaves ``sft.jsonl`` byte-identical
#: and DVC does not rerun sft
SFT_FIELDS = ("id", "task", "prompt_text", "completion_text", "turns", "sft_turns")


def sft_rows(rows: list[dict]) -> list[dict]:
    return [{k: r[k] for k in SFT_FIELDS if k in r} for r in rows]
