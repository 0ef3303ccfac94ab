"""(The end-to-end run of these helpers is tests/test_pipeline.py's, on one project.)

A task family of one's own, added from outside ``src/``: its module, its params
(``families``, ``collect.<name>``, ``reward.<name>``) and dvc.yaml deps -- and it runs
through collect, reward, sft, grpo and evaluate, scored by its own scorer, rewarded with its
own reward-stage setting. The proof that the stages and the library name no family.

On the same project (one repro for both): an experiment reruns only what it changes. Every
reward-stage param -- the built-in families' and this one's -- reruns reward and what reads
the rows it changed, never sft: sft reads ``data/reward/sft.jsonl``, the train rows without
their reward specs, which a reward-only param leaves byte-identical (on a real checkpoint that
is hours of SFT per swept value)."""
import filecmp
import json
import sys
import textwrap

import pytest
import yaml

from conftest import ROOT, TINY_OVERRIDES, make_project, run
from tunepipe import TunepipeError, config, tasks

ARITH = textwrap.dedent('''
    """Integer addition, a throw-away family: ``a + b = ?``; an answer one off earns
    ``reward.arith.near_credit``."""
    import re
    from dataclasses import dataclass

    from tunepipe.tasks.protocol import Family


    @dataclass
    class Config:          # collect.arith
        max_operand: int
        prompt_template: str


    @dataclass
    class RewardConfig:    # reward.arith
        near_credit: float


    def build(n, rng, cfg, req):
        out = []
        for _ in range(n):
            a, b = rng.randint(0, cfg.max_operand), rng.randint(0, cfg.max_operand)
            out.append({"task": "arith", "answer": str(a + b), "spec": {"a": a, "b": b},
                        "prompt": [{"role": "user", "content": cfg.prompt_template.format(a=a, b=b)}]})
        return out


    def parse(text, spec):
        m = re.search(r"-?[0-9]+", text or "")
        return int(m.group()) if m else None


    def score(text, spec):
        v, want = parse(text, spec), spec["a"] + spec["b"]
        if v is None:
            return 0.0
        return 1.0 if v == want else spec.get("near_credit", 0.0) if abs(v - want) == 1 else 0.0


    def check_spec(spec):
        for k in ("a", "b"):
            if not isinstance(spec.get(k), int):
                raise ValueError(f"{k}: expected an int")


    def reward(rows, cfg, split):
        return [{**r, "spec": {**r["spec"], "near_credit": cfg.near_credit}} for r in rows]


    FAMILY = Family(name="arith", config=Config, build=build, parse=parse, score=score, check_spec=check_spec,
                    reward_config=RewardConfig, reward=reward)
''')


def plugin_project(tmp_path):
    """The tiny project (conftest's overrides) plus a family of one's own -- its file, its
    params, its dvc.yaml deps -- and reference rows, committed: tests/test_pipeline.py's
    end-to-end project, so one repro serves both."""

    project = make_project(tmp_path / "proj", {
        **TINY_OVERRIDES,
        "families": {"arith": "families/arith.py"},
        "collect.train": {**TINY_OVERRIDES["collect.train"], "arith": 40, "reference": 8},
        "collect.test": {**TINY_OVERRIDES["collect.test"], "arith": 8, "reference": 4},
        "collect.reference.pool_size": 30,
        "collect.arith": {"max_operand": 9, "prompt_template": "{a} + {b} = ?"},
        "reward.arith": {"near_credit": 0.5},
        "grpo.tasks": ["sat", "decision", "reference", "arith"],
    })
    (project / "families").mkdir()
    (project / "families" / "arith.py").write_text(ARITH)
    dvc_yaml = yaml.safe_load((project / "dvc.yaml").read_text())
    for stage in dvc_yaml["stages"].values():   # as docs/tasks/adding-a-family.md says
        stage["deps"].append("families/arith.py")
    (project / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "arith"], project)
    return project


def check_plugin_family(project):
    """After `dvc repro` of :func:`plugin_project`: the family went through every stage."""
    # no file of src/ was touched: the project's library is the repo's, byte for byte
    cmp = filecmp.dircmp(ROOT / "src" / "tunepipe", project / "src" / "tunepipe", ignore=["__pycache__"])
    assert not cmp.diff_files and not cmp.left_only
    train = [json.loads(line) for line in (project / "data" / "reward" / "train.jsonl").open()]
    arith = [r for r in train if r["task"] == "arith"]
    assert len(arith) == 40 and all(r["spec"]["near_credit"] == 0.5 for r in arith)   # its reward hook ran
    assert sum(r["task"] == "arith" for r in map(json.loads, (project / "data/reward/sft.jsonl").open())) == 40
    ev = json.loads((project / "metrics" / "eval.json").read_text())
    for model in ("base", "sft", "grpo"):
        assert ev[model]["arith"]["greedy"]["n"] == 8
    # GRPO's reward function scores the family with its own scorer and reward setting (which
    # rows a 2-step GRPO samples is chance): in a fresh process that loads the project's params
    code = ("import json; from tunepipe import config, training\n"
            "config.load('params.yaml')\n"
            "row = next(r for r in map(json.loads, open('data/reward/train.jsonl')) if r['task'] == 'arith')\n"
            "a, b = row['spec']['a'], row['spec']['b']\n"
            "fn = training.reward_function('strict', [])\n"
            "print(fn(['p'] * 3, [str(a + b), str(a + b + 1), 'no'], task=['arith'] * 3, spec=[json.dumps(row['spec'])] * 3))\n")
    assert run([sys.executable, "-c", code], project).stdout.strip() == "[1.0, 0.5, 0.0]"


#: reward param -> (new value, the stages stale after `dvc repro reward`, besides export)
SWEEP = {
    "reward.decision.tau": (0.5, {"grpo", "evaluate"}),            # rewards of train and test specs
    "reward.decision.normalize": ("none", {"grpo", "evaluate"}),
    "reward.reference.metric": ("rouge", {"grpo", "evaluate"}),    # the metric in every spec
    "reward.reference.answer_tag": (None, {"grpo", "evaluate"}),
    "reward.sat.partial_weight": (0.5, {"grpo"}),                  # train specs only: a shaping weight
    "reward.arith.near_credit": (0.25, {"grpo", "evaluate"}),      # a family of one's own: its hook, every split
    "reward.verify_references": (False, set()),                    # a check: no output changes
}


def stale(project) -> set[str]:
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        return {name.rsplit(":", 1)[-1] for name in repo.status()}


def sweep_reward_params(project):
    from test_pipeline import DVC

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


def test_bad_family_registrations_are_one_line_errors(tmp_path):
    (tmp_path / "bad.py").write_text("x = 1\n")
    (tmp_path / "broken.py").write_text("import no_such_module\n")
    for families, expect in [
        ({"sat": str(tmp_path / "bad.py")}, "families.sat: a built-in task has that name"),
        ({"arith": str(tmp_path / "missing.py")}, "missing.py: no such file"),
        ({"arith": str(tmp_path / "bad.py")}, "has no Family FAMILY"),
        ({"arith": str(tmp_path / "broken.py")}, "cannot import"),
        ({"arith": 3}, "expected 'path/to/module.py"),
    ]:
        p = tmp_path / "params.yaml"
        p.write_text(yaml.safe_dump({"families": families}))
        with pytest.raises(TunepipeError, match=expect):
            config.load(p)
    assert "arith" not in tasks.names()
