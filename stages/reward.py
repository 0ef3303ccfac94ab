"""reward: verify every reference answer scores 1.0 with its task's own scorer, then
write the SFT/GRPO-ready dataset.

    python stages/reward.py --params params.yaml --data data/harmony --out data/reward
"""
from __future__ import annotations

from pathlib import Path

from tunepipe import TunepipeError, cli, config, io, tasks


def reward(params: str = "params.yaml", data: str = "data/harmony", out: str = "data/reward") -> None:
    r = config.section(config.load(params), "reward")
    path = Path(data) / "train.jsonl"
    rows = io.read_jsonl(path, required=io.ROW_FIELDS + ("prompt_text", "completion_text"))
    if r["verify_references"]:
        for i, row in enumerate(rows, 1):
            # the rendered SFT target must score 1.0 through the same path as a model completion
            s = tasks.score_completion(row["task"], row["completion_text"], row["spec"])
            if s != 1.0:
                raise TunepipeError(f"{path}:{i}: reference answer of row {row['id']} scores {s}, not 1.0")
    with io.atomic_dir(out) as tmp:
        io.write_jsonl(tmp / "train.jsonl", rows)
    print(f"{len(rows)} rows verified -> {out}/train.jsonl")


if __name__ == "__main__":
    cli.run(reward)
