"""collect mixes SAT/ABD/DED by params, keeps train and test disjoint (code tasks: no shared
source program), imports evaluation logs; reward verifies them; grpo filters by task."""
from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from conftest import ROOT, TINY_OVERRIDES, write_params
from tunepipe import TunepipeError, harmony, io, tasks
from tunepipe.tasks import imported
from tunepipe.tasks.code import abd, ded

MIX = {**TINY_OVERRIDES, "collect.train": {"sat": 6, "abd": 8, "ded": 8},
       "collect.test": {"sat": 3, "abd": 4, "ded": 4}}


def stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, name) if name != "grpo" else mod


def run_collect(tmp_path, overrides, out="data/collect"):
    write_params(tmp_path / "params.yaml", overrides)
    stage("collect")(params=str(tmp_path / "params.yaml"), out=str(tmp_path / out))
    return (io.read_jsonl(tmp_path / out / "train.jsonl"), io.read_jsonl(tmp_path / out / "test.jsonl"))


def source(row):
    return {"abd": abd, "ded": ded}[row["task"]].source_key(row)


def test_mix_counts_ids_and_disjoint_splits(tmp_path):
    train, test = run_collect(tmp_path, MIX)
    count = lambda rows, t: sum(r["task"] == t for r in rows)  # noqa: E731
    assert [count(train, t) for t in ("sat", "abd", "ded")] == [6, 8, 8]
    assert [count(test, t) for t in ("sat", "abd", "ded")] == [3, 4, 4]
    assert len({r["id"] for r in train + test}) == len(train + test)
    assert {r["id"] for r in test if r["task"] == "abd"} == {f"test-abd-{i:05d}" for i in range(4)}
    sat_keys = lambda rows: {tasks.get("sat").key(r) for r in rows if r["task"] == "sat"}  # noqa: E731
    assert not sat_keys(train) & sat_keys(test)
    code = lambda rows: {source(r) for r in rows if r["task"] in ("abd", "ded")}  # noqa: E731
    assert not code(train) & code(test), "a held-out program is used for training"
    for r in train + test:
        assert r["task"] in ("sat", "abd", "ded") and r["prompt"][0]["role"] == "user"
    # every reference scores 1.0 through the batch scorer (sandboxed for ABD/DED)
    assert set(tasks.score_batch([r["task"] for r in train], [r["answer"] for r in train],
                                 [r["spec"] for r in train])) == {1.0}
    # deterministic, and the held-out rows do not depend on the train size
    again_train, again_test = run_collect(tmp_path, MIX, out="again")
    assert (again_train, again_test) == (train, test)
    _, bigger_test = run_collect(tmp_path, {**MIX, "collect.train": {"sat": 9, "abd": 12, "ded": 3}},
                                 out="bigger")
    assert bigger_test == test


def test_code_params_are_checked(tmp_path):
    import yaml

    p = tmp_path / "params.yaml"
    write_params(p, MIX)
    params = yaml.safe_load(p.read_text())
    del params["collect"]["abd"]["timeout_s"]
    p.write_text(yaml.safe_dump(params, sort_keys=False))
    with pytest.raises(TunepipeError, match=r"collect\.abd\.timeout_s: missing key"):
        stage("collect")(params=str(p), out=str(tmp_path / "out"))
    write_params(p, {**MIX, "collect.ded.prompt_templat": "{problem}"})
    with pytest.raises(TunepipeError, match=r"collect\.ded\.prompt_templat: unknown key; did you mean prompt_template\?"):
        stage("collect")(params=str(p), out=str(tmp_path / "out"))
    write_params(p, {**MIX, "collect.ded.source": str(tmp_path / "missing.jsonl")})
    with pytest.raises(TunepipeError, match="missing.jsonl"):
        stage("collect")(params=str(p), out=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()   # no partial outputs


def test_local_rl_python_source(tmp_path):
    rows = [{"program": f"x = int(input())\nprint(x * {k})", "inputs": str(k + 1),
             "output": "", "prompt": f"Read x and print x times {k}.",
             "verification_info": json.dumps({"test_cases": [
                 {"type": "stdin_stdout", "input": "2\n", "output": f"{2 * k}\n"}]})} for k in range(2, 12)]
    path = tmp_path / "rl.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    train, test = run_collect(tmp_path, {**MIX, "collect.train": {"abd": 4, "ded": 4},
                                         "collect.test": {"abd": 2, "ded": 2},
                                         "collect.abd.source": str(path), "collect.ded.source": str(path)})
    assert len(train) == len(test) + 4 == 8
    assert not {source(r) for r in train} & {source(r) for r in test}
    assert set(tasks.score_batch([r["task"] for r in train], [r["answer"] for r in train],
                                 [r["spec"] for r in train])) == {1.0}


LOG = [
    {"prompt": "solve A", "response": "x1=True", "score": 1.0, "env": "SAT"},
    {"prompt": "solve B", "response": "x1=False", "score": 0.0, "env": "SAT"},
    {"prompt": [{"role": "user", "content": "find input"}], "response": "<INPUT>3</INPUT>",
     "score": 1, "env": {"sat": False, "abd": {"program": "print(int(input()) + 1)", "expected_output": "4\n"}}},
    {"challenge": {"prompt": "nested", "env": "DED"}, "response": {"response": "```python\nprint(1)\n```"},
     "evaluation": {"score": 0.9}},
    {"prompt": "p", "response": "r", "score": 1.0, "env": "MTH"},   # not one of our tasks
    {"prompt": "sat spec", "response": "x1=True, x2=False", "score": 1.0,
     "env": {"sat": {"cls": [[1, 2], [-2]], "sol": {"1": True, "2": False}}, "abd": False}},
]


def test_import_filters_and_shapes(tmp_path):
    rows = imported.from_records(LOG, min_score=0.9, max_results=None, envs=None, where="log")
    assert [(r["task"], r["score"]) for r in rows] == [("sat", 1.0), ("abd", 1.0), ("sat", 1.0), ("ded", 0.9)]
    assert rows[0]["prompt"] == [{"role": "user", "content": "solve A"}] and rows[0]["spec"] is None
    assert rows[1]["spec"]["program"] == "print(int(input()) + 1)"
    assert rows[2]["spec"] == {"n_vars": 2, "clauses": [[1, 2], [-2]]}
    assert tasks.score_completion("abd", rows[1]["answer"], rows[1]["spec"]) == 1.0
    assert tasks.score_completion("sat", rows[2]["answer"], rows[2]["spec"]) == 1.0
    assert len(imported.from_records(LOG, min_score=1.0, max_results=2, envs=None, where="log")) == 2
    assert {r["task"] for r in imported.from_records(LOG, min_score=0, max_results=None, envs=["DED"],
                                                     where="log")} == {"ded"}
    with pytest.raises(TunepipeError, match=r"log: record 1: field 'score'"):
        imported.from_records([LOG[0], {"prompt": "p", "response": "r", "env": "SAT"}],
                              min_score=0, max_results=None, envs=None, where="log")
    with pytest.raises(TunepipeError, match=r"record 0: field 'response'"):
        imported.from_records([{"prompt": "p", "score": 1, "env": "SAT"}], min_score=0,
                              max_results=None, envs=None, where="log")
    # through collect: a JSON array, into train only
    (tmp_path / "log.json").write_text(json.dumps(LOG))
    train, test = run_collect(tmp_path, {**MIX, "collect.import.path": str(tmp_path / "log.json"),
                                         "collect.import.max_results": 3})
    imp = [r for r in train if r.get("source") == "import"]
    assert [r["id"] for r in imp] == ["train-import-00000", "train-import-00001", "train-import-00002"]
    assert not any(r.get("source") == "import" for r in test)
    (tmp_path / "bad.jsonl").write_text('{"prompt": "p"}\n{oops\n')
    with pytest.raises(TunepipeError, match=r"bad.jsonl:2: not valid JSON"):
        imported.load(tmp_path / "bad.jsonl", min_score=1.0, max_results=None, envs=None)


def _harmony_rows(rows):
    for r in rows:
        r["prompt_text"] = harmony.render(r["prompt"], system_message=False)
        r["completion_text"] = harmony.render_completion(r["answer"])
    return rows


def test_reward_verifies_code_rows_and_keeps_imports(tmp_path):
    train, _ = run_collect(tmp_path, {**MIX, "collect.import.path": None})
    log = imported.from_records(LOG, min_score=1.0, max_results=None, envs=None, where="log")
    rows = _harmony_rows(train + [{"id": f"imp{i}", **r} for i, r in enumerate(log)])
    io.write_jsonl(tmp_path / "h" / "train.jsonl", rows)
    io.write_jsonl(tmp_path / "h" / "test.jsonl", [])
    stage("reward")(params=str(tmp_path / "params.yaml"), data=str(tmp_path / "h"), out=str(tmp_path / "r"))
    assert len(io.read_jsonl(tmp_path / "r" / "train.jsonl")) == len(rows)
    bad = [dict(r) for r in rows]
    i = next(i for i, r in enumerate(bad) if r["task"] == "ded")
    bad[i]["completion_text"] = harmony.render_completion("```python\nprint('wrong')\n```")
    io.write_jsonl(tmp_path / "h2" / "train.jsonl", bad)
    io.write_jsonl(tmp_path / "h2" / "test.jsonl", [])
    with pytest.raises(TunepipeError, match=rf"train.jsonl:{i + 1}: reference answer of row {bad[i]['id']} scores 0.0"):
        stage("reward")(params=str(tmp_path / "params.yaml"), data=str(tmp_path / "h2"), out=str(tmp_path / "r2"))
    assert not (tmp_path / "r2").exists()


def test_grpo_rows_filter(tmp_path):
    grpo = stage("grpo")
    rows = [{"id": "a", "task": "sat", "spec": {"n_vars": 1, "clauses": [[1]]}},
            {"id": "b", "task": "abd", "spec": {"program": "print(1)", "expected_output": "1\n"}},
            {"id": "c", "task": "sat", "spec": None, "source": "import"}]
    io.write_jsonl(tmp_path / "t.jsonl", rows)
    assert [r["id"] for r in grpo.grpo_rows(str(tmp_path / "t.jsonl"), None)] == ["a", "b"]
    assert [r["id"] for r in grpo.grpo_rows(str(tmp_path / "t.jsonl"), ["sat"])] == ["a"]
    with pytest.raises(TunepipeError, match="no rows"):
        grpo.grpo_rows(str(tmp_path / "t.jsonl"), ["ded"])
    with pytest.raises(TunepipeError, match="unknown task 'sta'"):
        grpo.grpo_rows(str(tmp_path / "t.jsonl"), ["sta"])


def test_score_batch_matches_score_completion():
    specs = [{"program": "print(int(input()) * 2)", "expected_output": "42\n", "timeout_s": 5.0},
             {"tests": [{"type": "stdin_stdout", "input": "1", "output": "2"}], "timeout_s": 5.0},
             {"n_vars": 1, "clauses": [[1]]}]
    names = ["abd", "ded", "sat", "abd", "ded"]
    comps = ["<INPUT>21</INPUT>", "```python\nprint(int(input()) + 1)\n```", "x1=True",
             "<|channel|>final<|message|><INPUT>20</INPUT><|return|>", "print(3)"]
    sp = [specs[0], specs[1], specs[2], specs[0], specs[1]]
    expect = [tasks.score_completion(t, c, s) for t, c, s in zip(names, comps, sp)]
    assert expect == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert tasks.score_batch(names, comps, sp) == expect


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_a_generated_family_that_runs_out_of_distinct_rows_is_a_quick_one_line_error():
    """A family asked for more distinct rows than it can make stops once 20 n + 100 rows in a row
    brought nothing new, naming the split, the family and how far it got (an environment with 130
    difficulty-1 instances asked for 128 train rows beside 25 test rows spun for minutes: its
    batches of the missing rows each counted as one try)."""
    import dataclasses
    import random

    from tunepipe import collection
    from tunepipe.tasks.protocol import BuildRequest, Family

    calls = []

    def build(n, rng, cfg, req):
        calls.append(n)
        return [{"task": "few", "prompt": [], "answer": "", "spec": {}, "k": rng.randrange(3)} for _ in range(n)]

    fam = dataclasses.replace(tasks.get("sat"), name="few", build=build, key=lambda row: str(row["k"]), loaded=None)
    with pytest.raises(TunepipeError, match=r"collect.train.few: cannot draw 5 distinct rows \(3 drawn"):
        collection.draw(fam, None, 5, random.Random(0), BuildRequest(split="train", seed=0, where="p"), set())
    assert sum(calls[3:]) <= 20 * 5 + 100 + 5


def test_an_environment_refuses_more_rows_than_its_difficulty_has_instances():
    from tunepipe import collection, config

    c = config.load(ROOT / "params.yaml")["collect"]
    with pytest.raises(TunepipeError, match="200 rows asked, but difficulty 1..1 has 130 instances"):
        collection.draw_splits({**c, "train": {"babyai": 200}, "test": {"babyai": 5}}, 0, "params.yaml")
