"""reward: verify every reference answer scores 1.0 with its task's own scorer, then
write the SFT/GRPO-ready dataset.

    python stages/reward.py --params params.yaml --data data/harmony --out data/reward

References are scored through the same path as a model completion (the rendered SFT
target), in parallel where the task runs programs (ABD/DED: the sandbox). Imported
evaluation logs (``source: import``) keep the score the validator gave them instead.
"""
from __future__ import annotations

from pathlib import Path

from tunepipe import TunepipeError, cli, config, io, tasks


def reward(params: str = "params.yaml", data: str = "data/harmony", out: str = "data/reward") -> None:
    r = config.section(config.load(params), "reward")
    path = Path(data) / "train.jsonl"
    rows = io.read_jsonl(path, required=io.ROW_FIELDS + ("prompt_text", "completion_text"))
    for i, row in enumerate(rows, 1):
        tasks.get(row["task"])
        if row["spec"] is None and row.get("source") != "import":
            raise TunepipeError(f"{path}:{i}: row {row['id']} has no spec")
    if r["verify_references"]:
        idx = [i for i, row in enumerate(rows) if row.get("source") != "import"]
        scores = tasks.score_batch([rows[i]["task"] for i in idx], [rows[i]["completion_text"] for i in idx],
                                   [rows[i]["spec"] for i in idx])
        for i, s in zip(idx, scores):
            if s != 1.0:
                raise TunepipeError(f"{path}:{i + 1}: reference answer of row {rows[i]['id']} scores {s}, not 1.0")
    with io.atomic_dir(out) as tmp:
        io.write_jsonl(tmp / "train.jsonl", rows)
    by_task: dict[str, int] = {}
    for row in rows:
        by_task[row["task"]] = by_task.get(row["task"], 0) + 1
    print(f"{len(rows)} rows {by_task} verified -> {out}/train.jsonl")


if __name__ == "__main__":
    cli.run(reward)
