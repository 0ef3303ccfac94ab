"""An experiment reruns only what it changes: every reward-stage param reruns reward and what
reads the rows it changed, never sft -- sft reads ``data/reward/sft.jsonl``, the train rows
without their reward specs, which a reward-only param leaves byte-identical (on a real
checkpoint that is hours of SFT per swept value)."""
import pytest
import yaml

from conftest import TINY_OVERRIDES, make_project, run
from test_pipeline import DVC

pytestmark = pytest.mark.slow

#: reward param -> (new value, the stages stale after `dvc repro reward`)
SWEEP = {
    "reward.decision.tau": (0.5, {"grpo", "evaluate"}),            # rewards of train and test specs
    "reward.decision.normalize": ("none", {"grpo", "evaluate"}),
    "reward.reference.metric": ("rouge", {"grpo", "evaluate"}),    # the metric in every spec
    "reward.reference.answer_tag": (None, {"grpo", "evaluate"}),
    "reward.sat.partial_weight": (0.5, {"grpo"}),                  # train specs only: a shaping weight
    "reward.verify_references": (False, set()),                    # a check: no output changes
}


def stale(project) -> set[str]:
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        return {name.rsplit(":", 1)[-1] for name in repo.status()}


def test_each_reward_param_reruns_reward_onward_but_never_sft(tmp_path):
    project = make_project(tmp_path / "proj", {
        **TINY_OVERRIDES, "collect.train": {"sat": 24, "decision": 12, "reference": 8},
        "collect.test": {"sat": 4, "decision": 4, "reference": 4}, "collect.reference.pool_size": 30})
    run(DVC + ["repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline"], project)
    sft_rows = (project / "data" / "reward" / "sft.jsonl").read_bytes()
    assert b'"spec"' not in sft_rows
    assert stale(project) == set()
    for key, (value, expect) in SWEEP.items():
        params = yaml.safe_load((project / "params.yaml").read_text())
        *parents, last = key.split(".")
        d = params
        for p in parents:
            d = d[p]
        assert d[last] != value
        d[last] = value
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        # the params deps: reward, and export (its model card lists every section)
        assert stale(project) == {"reward", "export"}, key
        run(DVC + ["repro", "reward"], project)
        assert stale(project) == expect | {"export"}, key   # what the changed data says: sft never
        assert (project / "data" / "reward" / "sft.jsonl").read_bytes() == sft_rows, key
        run(["git", "checkout", "--", "params.yaml", "dvc.lock"], project)
        run(DVC + ["checkout", "-q"], project)
        assert stale(project) == set(), key
