"""The validators preset: their SAT generator instance for instance (against a re-implementation
of the published draw order written here), their prompts verbatim, the per-task seed, the preset
overlay itself, and the 2026 `champion` comparison rule."""
import copy
import hashlib
import random
import re
from pathlib import Path

import pytest
import yaml

from tunepipe import TunepipeError, collection, config, evaluation, pareto, smoke
from tunepipe.tasks import sat
from tunepipe.tasks.code import abd, ded

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "params" / "presets" / "validators.yaml"


# ------------------------------------------------------------------ the validators' SAT generator
def published(task_id: int, n: int = 15, k: int = 10):
    """The published description, draw for draw (written independently of tunepipe.tasks.sat)."""
    r = random.Random(task_id)
    m = int(4.26 * n)
    planted = {}
    for v in range(1, n + 1):
        planted[v] = r.choice([True, False])
    clauses = []
    for _ in range(m):
        vs = r.sample(list(range(1, n + 1)), k)
        sv = r.choice(vs)
        clause = []
        for v in vs:
            if v == sv:
                positive = planted[v]
            else:
                positive = r.choice([True, False])
            clause.append(v if positive else -v)
        clauses.append(clause)
    return planted, clauses


def their_prompt(n, k, clauses):
    formula = " ∧ ".join("(" + " ∨ ".join(("¬" if l < 0 else "") + f"x{abs(l)}" for l in c) + ")" for c in clauses)
    return (f"Find a satisfying assignment for the following {k}-SAT formula over variables x1..x{n}:\n"
            f"{formula}\n"
            "Provide your answer as comma-separated assignments like `x1=True, x2=False, ...`, "
            "or respond `UNSAT` if it has no solution.")


def their_score(response: str, clauses) -> float:
    got = {int(v): val.lower() in ("true", "1") for v, val in re.findall(r"x(\d+)=(True|False|1|0)", response or "")}
    return float(all(any((lit > 0) == got.get(abs(lit), None) for lit in c) for c in clauses))


@pytest.mark.parametrize("n, k", [(15, 10), (7, 5), (3, 2)])
def test_validators_instance_matches_the_published_draw_order(n, k):
    ids = [*range(300), 500, 12345, 1_000_000, 10_000_017, 2**40 + 3]
    for tid in ids:
        assert sat.validators_instance(tid, n, k) == published(tid, n, k), tid


def sat_cfg(**kw):
    base = {"n_vars": [15, 15], "k": [10, 10], "ratio": 4.26, "answer": "planted",
            "prompt_template": sat.VALIDATORS_PROMPT, "generator": "validators"}
    return config.typed(sat.Config, {**base, **kw}, "collect.sat")


def test_validators_rows_prompt_verbatim_and_planted_solution_accepted():
    from tunepipe.tasks import BuildRequest

    rows = sat.FAMILY.build(40, random.Random(0), sat_cfg(), BuildRequest(split="test", seed=0))
    for i, row in enumerate(rows):
        planted, clauses = published(i)
        assert row["task_id"] == i
        assert row["spec"] == {"n_vars": 15, "clauses": clauses}
        assert row["prompt"] == [{"role": "user", "content": their_prompt(15, 10, clauses)}]
        assert their_score(row["answer"], clauses) == 1.0          # their scorer accepts the planted answer
        assert sat.score(row["answer"], row["spec"]) == 1.0
        assert their_score(sat.assignment_text(planted), clauses) == 1.0
    # random_solution answers are other satisfying assignments of the same instance
    rs = sat.FAMILY.build(5, random.Random(1), sat_cfg(answer="random_solution"), BuildRequest(split="test", seed=0))
    assert all(their_score(r["answer"], published(r["task_id"])[1]) == 1.0 for r in rs)


def collect_params(**sat_kw):
    p = config.load(ROOT / "params.yaml")
    p["collect"]["train"] = {"sat": 12}
    p["collect"]["test"] = {"sat": 8}
    p["collect"]["sat"].update(sat_kw)
    return p


def test_collect_task_ids_test_from_zero_train_disjoint_range():
    p = collect_params(generator="validators", n_vars=[6, 6], k=[4, 4], answer="planted")
    p["base"]["seed"] = 2
    rows = collection.collect(p)
    assert [r["task_id"] for r in rows["test"]] == list(range(8))
    start = sat.TRAIN_BASE + 2 * sat.TRAIN_STRIDE
    assert [r["task_id"] for r in rows["train"]] == list(range(start, start + 12))
    assert [r["spec"]["clauses"] for r in rows["test"]] == [published(i, 6, 4)[1] for i in range(8)]


def test_default_generator_rows_unchanged():
    """generator tunepipe: the rows of tunepipe's own stream, with no task id (what collect wrote before)."""
    p = collect_params()
    rows = collection.collect(p)
    c = p["collect"]["sat"]
    want = sat.build(8, random.Random(f"{p['base']['seed']}/test/sat"), n_vars=c["n_vars"], k=c["k"],
                     ratio=c["ratio"], answer=c["answer"], prompt_template=c["prompt_template"])
    got = rows["test"]
    assert all("task_id" not in r for r in got + rows["train"])
    assert [{k: v for k, v in r.items() if k != "id"} for r in got] == want


@pytest.mark.parametrize("kw, msg", [
    ({"n_vars": [10, 15]}, "collect.sat.n_vars: generator validators takes one value"),
    ({"k": [3, 5]}, "collect.sat.k: generator validators takes one value"),
    ({"ratio": 4.0}, "collect.sat.ratio: generator validators fixes"),
    ({"generator": "validator"}, "collect.sat.generator: expected one of tunepipe, validators"),
])
def test_validators_generator_bad_params_are_one_line_errors(kw, msg):
    with pytest.raises(TunepipeError) as e:
        sat_cfg(**kw)
    assert msg in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------ ABD / DED prompts
def test_abd_ded_templates_are_the_validators_text_and_format():
    # the whole of their texts, as their code builds them (affinetes environments/affine/abd.py, ded.py)
    assert abd.VALIDATORS_PROMPT.startswith("You are a programming expert. Given a Python program and its expected")
    assert "2. Use the exact format the program expects  \n" in abd.VALIDATORS_PROMPT   # their trailing spaces
    assert abd.VALIDATORS_PROMPT.endswith("Please analyze the program and provide the required input:")
    out = abd.VALIDATORS_PROMPT.format(program="print(input())", output="7")
    assert "Program:\n```python\nprint(input())\n```\n\nExpected Output:\n```\n7\n```\n" in out
    hint = ("\n\n---\n⚠️ **Instructions** ⚠️\nWrite a complete **Python 3** program that\n"
            "• reads *all* input from **STDIN** (using `input()` / `sys.stdin`),\n"
            "• writes *only* the required answer(s) to **STDOUT** using `print`,\n"
            "• contains no additional prompts or debug text, and\n"
            "• is returned as a single ```python … ``` fenced block.\n")
    assert ded.VALIDATORS_PROMPT.format(problem="Add two numbers.") == "Add two numbers." + hint


# ------------------------------------------------------------------ the preset overlay
def test_preset_applies_and_its_values_are_typed():
    args = smoke.set_args(str(PRESET), str(ROOT / "params.yaml"))
    assert "collect.sat.generator=\"validators\"" in args and "evaluate.seed=\"per_task\"" in args
    prof = yaml.safe_load(PRESET.read_text())
    assert prof["collect"]["sat"]["prompt_template"] == sat.VALIDATORS_PROMPT
    assert prof["collect"]["abd"]["prompt_template"] == abd.VALIDATORS_PROMPT
    assert prof["collect"]["ded"]["prompt_template"] == ded.VALIDATORS_PROMPT
    # merged onto params.yaml, every section it touches still types
    p = config.load(ROOT / "params.yaml")

    def merge(dst, src):
        for key, v in src.items():
            if isinstance(v, dict) and isinstance(dst.get(key), dict):
                merge(dst[key], v)
            else:
                dst[key] = v
    merged = copy.deepcopy(p)
    merge(merged, prof)
    c = merged["collect"]
    assert config.typed(sat.Config, c["sat"], "collect.sat").generator == "validators"
    a = config.typed(evaluation.EvalArgs, merged["evaluate"], "evaluate")
    assert (a.temperature, a.num_samples, a.seed) == (0.0, 0, "per_task")
    assert all(c[e]["max_steps"] == 30 for e in ("babyai", "textcraft", "sciworld", "webshop", "alfworld"))
    assert merged["harmony_convert"]["system_message"] is False
    assert merged["harmony_convert"]["prompt_templates"] == {"system": None, "developer": None, "user": "{prompt}"}


def test_a_preset_key_missing_from_params_is_refused(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("evaluate:\n  sed: per_task\n")
    with pytest.raises(TunepipeError, match="evaluate.sed is not a key"):
        smoke.set_args(str(bad), str(ROOT / "params.yaml"))


# ------------------------------------------------------------------ the per-task seed
def test_task_seed_is_the_validators_form():
    for env, tid in [("affine:sat", 0), ("affine:sat", 499), ("affine:abd-v2", 17)]:
        d = hashlib.sha256(f"{env}:{tid}".encode()).digest()
        assert evaluation.task_seed(env, tid) == int.from_bytes(d[:8], "big") % 2**32
    rows = [{"id": "test-sat-00003", "task": "sat", "task_id": 41}, {"id": "test-abd-00005", "task": "abd"},
            {"id": "x", "task": "textcraft"}]
    assert evaluation.row_seeds(rows) == [evaluation.task_seed("affine:sat", 41),
                                          evaluation.task_seed("affine:abd-v2", 5), evaluation.task_seed("textcraft", 2)]
    with pytest.raises(TunepipeError, match="evaluate.seed: expected null or per_task"):
        p = config.load(ROOT / "params.yaml")
        config.typed(evaluation.EvalArgs, {**p["evaluate"], "seed": "task"}, "evaluate")


# ------------------------------------------------------------------ the 2026 champion rule
def m(name, order, min_n=100, **envs):
    return {"name": name, "order": order,
            "envs": {e: {"successes": round(p * min_n, 6), "n": min_n} for e, p in envs.items()}}


def test_champion_dominant_needs_strictly_more_than_the_margin():
    champ = m("champ", 0, sat=0.50, abd=0.40)
    assert pareto.champion_verdicts(champ, m("x", 1, sat=0.53, abd=0.40), min_samples=100)["winner"] == "champ"
    assert pareto.champion_verdicts(champ, m("x", 1, sat=0.54, abd=0.40), min_samples=100)["winner"] == "x"
    kw = dict(rule="champion", min_samples=100)
    assert pareto.dominates(m("x", 1, sat=0.54, abd=0.40), champ, **kw)
    assert not pareto.dominates(champ, m("x", 1, sat=0.54, abd=0.40), **kw)
    assert pareto.dominates(champ, m("x", 1, sat=0.53, abd=0.40), **kw)   # a tie stays with the champion
    assert pareto.env_winner(champ, m("x", 1, sat=0.54, abd=0.40), "sat", **kw) == "x"
    assert pareto.env_winner(champ, m("x", 1, sat=0.54, abd=0.40), "abd", **kw) == "champ"
    assert pareto.frontier([champ, m("x", 1, sat=0.54, abd=0.40)], **kw) == ["x"]


def test_champion_not_worse_ratio_edge_and_one_worse_env_blocks():
    champ = m("champ", 0, sat=0.50, abd=0.50)
    edge = pareto.champion_verdicts(champ, m("x", 1, sat=0.60, abd=0.49), min_samples=100)   # .49 = .98 x .50
    assert [e["verdict"] for e in edge["envs"]] == ["not_worse", "dominant"] and edge["winner"] == "x"
    below = pareto.champion_verdicts(champ, m("x", 1, sat=0.60, abd=0.48), min_samples=100)
    assert below["worse"] == ["abd"] and below["winner"] == "champ"
    assert not pareto.dominates(m("x", 1, sat=0.60, abd=0.48), champ, rule="champion", min_samples=100)


def test_champion_per_env_margin():
    champ = m("champ", 0, sat=0.50, distill=0.20)
    x = m("x", 1, sat=0.50, distill=0.28)
    assert pareto.champion_verdicts(champ, x, min_samples=100)["dominant"] == ["distill"]
    v = pareto.champion_verdicts(champ, x, min_samples=100, env_margins={"distill": 0.1})
    assert v["dominant"] == [] and v["winner"] == "champ"
    # the per-env margin is additive both ways: not worse down to champion - 0.1
    y = m("y", 1, sat=0.60, distill=0.11)
    assert pareto.champion_verdicts(champ, y, min_samples=100, env_margins={"distill": 0.1})["winner"] == "y"
    with pytest.raises(ValueError, match="env_margins"):
        pareto.champion_verdicts(champ, y, env_margins={"distill": -1})


def test_champion_minimum_samples_gate_the_challenger_only():
    champ = m("champ", 0, min_n=50, sat=0.50, abd=0.50)
    x = {"name": "x", "order": 1, "envs": {"sat": {"successes": 180, "n": 200}, "abd": {"successes": 45, "n": 50}}}
    v = pareto.champion_verdicts(champ, x, min_samples=100)
    assert v["worse"] == ["abd"] and v["winner"] == "champ"          # too few challenger samples: worse
    x["envs"]["abd"] = {"successes": 90, "n": 100}
    assert pareto.champion_verdicts(champ, x, min_samples=100)["winner"] == "x"   # the champion's 50 are not gated
    del champ["envs"]["abd"]                                                      # champion lacks it: mean 0
    assert pareto.champion_verdicts(champ, x, min_samples=100)["dominant"] == ["abd", "sat"]


def test_champion_means_on_the_common_task_ids():
    champ = {"name": "c", "order": 0, "envs": {"sat": {"successes": 2, "n": 4, "scores": {0: 1, 1: 1, 2: 0, 3: 0}}}}
    # on all of its ids the challenger's mean is .6 (> .5 + .03); on the common ids 0..3 it is .5
    chal = {"name": "x", "order": 1,
            "envs": {"sat": {"successes": 3, "n": 5, "scores": {0: 1, 1: 0, 2: 1, 3: 0, 9: 1}}}}
    v = pareto.champion_verdicts(champ, chal, min_samples=4)
    assert (v["envs"][0]["champion"], v["envs"][0]["challenger"], v["envs"][0]["challenger_n"]) == (0.5, 0.5, 4)
    assert v["winner"] == "c"
    for e in (champ, chal):
        del e["envs"]["sat"]["scores"]
    assert pareto.champion_verdicts(champ, chal, min_samples=4)["winner"] == "x"   # aggregates without ids
    # fewer common ids than the minimum: the challenger cannot win the env
    champ["envs"]["sat"]["scores"] = {0: 0, 1: 0}
    chal["envs"]["sat"]["scores"] = {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    assert pareto.champion_verdicts(champ, chal, min_samples=4)["worse"] == ["sat"]


def test_champion_rule_through_the_report():
    from tunepipe import report

    check = report.check_pareto_args(report.ParetoArgs(rule="champion", mode="greedy", min_samples=100))
    assert check.rule == "champion"
    ev = {"base": {"sat": {"greedy": {"n": 200, "successes": 100}}},
          "sft": {"sat": {"greedy": {"n": 200, "successes": 105}}},
          "grpo": {"sat": {"greedy": {"n": 200, "successes": 120}}}}
    an = report.analyse(report.rows_from_eval(ev, "eval.json"), rule="champion", mode="greedy",
                        min_samples=100, level=0.8)
    assert an["frontier"] == ["grpo"] and an["winners"] == {"sat": "grpo"}
    assert "champion" in report.markdown(an)


def test_per_task_seeds_make_a_prompts_samples_independent_of_the_batch(tiny_model):
    from tunepipe import generation, models

    model = models.load_model(tiny_model / "base", dtype="float32")
    tok = models.load_tokenizer(tiny_model / "base")
    texts = [f"Solve {'x1 ' * (2 + i)}now" for i in range(4)]
    kw = dict(max_new_tokens=6, batch_size=4, num_samples=3, temperature=1.0, desc="t")
    g_all, s_all = generation.hf_generate_both(model, tok, texts, seed=0, seeds=[11, 12, 13, 14], **kw)
    g_one, s_one = generation.hf_generate_both(model, tok, texts[2:3], seed=5, seeds=[13], **kw)
    assert s_one[0] == s_all[2] and g_one[0] == g_all[2]
    with pytest.raises(ValueError, match="seeds: 1 for 4 prompts"):
        generation.hf_generate_both(model, tok, texts, seed=0, seeds=[1], **kw)
