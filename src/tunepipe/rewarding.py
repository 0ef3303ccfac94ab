"""The reward stage's logic: family reward hooks over specs, and reference verification."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from tunepipe import TunepipeError, tasks


@dataclass
class RewardArgs:
    verify_references: bool   # every train reference must count as solved by its task's scorer
    tau: float                # Boltzmann temperature of the decision rewards (> 0)
    normalize: str            # none | minmax: Q per row before tau


def rewarded(rows: list[dict], args: RewardArgs, where: str) -> list[dict]:
    """Rows with each spec passed through its family's ``reward`` hook (if any)."""
    section = asdict(args)
    out = []
    for i, row in enumerate(rows, 1):
        family = tasks.get(row["task"])
        if family.reward is not None and row["spec"] is not None:
            try:
                row = {**row, "spec": family.reward(row["spec"], section)}
            except ValueError as e:
                raise TunepipeError(f"{where}:{i}: row {row['id']}: reward.{e}") from None
        out.append(row)
    return out


def verify(rows: list[dict], where: str) -> None:
    """Every reference answer (except imported logs) counts as solved by its scorer."""
    idx = [i for i, row in enumerate(rows) if row.get("source") != "import"]
    scores = tasks.score_batch([rows[i]["task"] for i in idx], [rows[i]["completion_text"] for i in idx],
                               [rows[i]["spec"] for i in idx])
    for i, s in zip(idx, scores):
        if not tasks.solved(rows[i]["task"], s, rows[i]["spec"]):
            raise TunepipeError(f"{where}:{i + 1}: reference answer of row {rows[i]['id']} scores {s}, "
                                "which does not count as solved")
