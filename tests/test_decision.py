"""The decision family: Boltzmann rewards, the [k] parser, CSV sources and their schema
errors, the carbon generator's exact Q, the reward stage, evaluation metrics and the
GRPO invalid penalty."""
from __future__ import annotations

import csv
import json
import math
import random
import sys

import pytest

from conftest import ROOT, TINY_OVERRIDES, run, write_params
from tunepipe import TunepipeError, collection, config, harmony, io, tasks, training
from tunepipe.tasks import decision
from tunepipe.tasks.decision import boltzmann

SPEC = {"q": [-3.0, -1.0, -2.0], "rewards": [0.1, 0.7, 0.2]}


# ------------------------------------------------------------------------ boltzmann

@pytest.mark.parametrize("q, tau, expect", [
    ([5.0, 5.0, 5.0, 5.0], 0.05, [0.25] * 4),                      # uniform Q
    ([0.0, 10.0], 1.0, [1 / (1 + math.exp(10)), 1 / (1 + math.exp(-10))]),   # one dominant Q
    ([1.0, 2.0], 1e-9, [0.0, 1.0]),                                 # tau tiny: argmax
    ([1.0, 2.0, 3.0], 1e9, [1 / 3] * 3),                            # tau huge: uniform
    ([1e6, 0.0], 1.0, [1.0, 0.0]),                                  # magnitude 1e6
    ([1e300, -1e300, 1e300], 0.05, [0.5, 0.0, 0.5]),                # 1e300: no overflow
    ([-1e300, -1e300 * 0.5], 1e-300, [0.0, 1.0]),                   # differences overflow to -inf
])
def test_boltzmann_table(q, tau, expect):
    got = boltzmann(q, tau)
    assert len(got) == len(q) and all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in got)
    assert math.isclose(sum(got), 1.0, rel_tol=1e-12)
    assert got == pytest.approx(expect, abs=1e-8)


def test_boltzmann_is_a_softmax():
    q, tau = [0.3, -1.2, 2.5, 0.0], 0.7
    e = [math.exp(x / tau) for x in q]
    assert boltzmann(q, tau) == pytest.approx([x / sum(e) for x in e], rel=1e-12)


@pytest.mark.parametrize("tau", [0, 0.0, -0.05, float("nan"), float("inf"), True, "0.1"])
def test_boltzmann_refuses_bad_tau(tau):
    with pytest.raises(ValueError, match="tau"):
        boltzmann([1.0, 2.0], tau)


def test_boltzmann_refuses_non_finite_q():
    with pytest.raises(ValueError, match="q"):
        boltzmann([1.0, float("nan")], 1.0)


def test_minmax_makes_tau_unit_free():
    kg = [-9.072, -9.288, -6.048, -8.388]
    grams = [x * 1000 for x in kg]
    a = boltzmann(decision.normalized(kg, "minmax"), 0.05)
    b = boltzmann(decision.normalized(grams, "minmax"), 0.05)
    assert a == pytest.approx(b, abs=1e-12)
    assert boltzmann(decision.normalized(grams, "none"), 0.05) == pytest.approx([0, 0, 1, 0], abs=1e-12)
    assert decision.normalized([2.0, 2.0], "minmax") == [0.0, 0.0]
    with pytest.raises(ValueError, match="normalize"):
        decision.normalized(kg, "zscore")


# ---------------------------------------------------------------------- the parser

@pytest.mark.parametrize("text, expect", [
    ("[1]", 1),
    ("I choose [2] because it is cleanest.", 2),
    ("no action here", None),                       # none
    ("[]", None),
    ("[0] or [2]", None),                           # several different
    ("[1] ... yes, [1]", 1),                        # the same action repeated
    ("[ 2 ]", 2),                                   # whitespace inside the brackets
    ("[\t0\n]", 0),
    ("[3]", None),                                  # out of range (3 actions)
    ("[" + "9" * 5000 + "]", None),                 # huge index, no int() limit error
    ("[007]", None),                                # 7: out of range
    ("[01]", 1),
    ("[[1]]", 1),                                   # nested: the inner [1]
    ("[[1] [2]]", None),
    ("[-1]", None),                                 # not an index
    ("[1.5]", None),
    ("[²]", None), ("[٣]", None),                   # Unicode digits are not indices
    ("[1", None),                                   # unbalanced
    (None, None), (42, None),
])
def test_parser_table(text, expect):
    assert decision.parse(text, SPEC) == expect


def test_parser_reads_the_final_channel_of_harmony():
    both = "<|channel|>analysis<|message|>maybe [0]?<|end|><|start|>assistant<|channel|>final<|message|>[1]<|return|>"
    assert tasks.parse_completion("decision", both, SPEC) == 1
    assert tasks.score_completion("decision", both, SPEC) == pytest.approx(0.7)
    only_analysis = "<|channel|>analysis<|message|>[1]<|end|>"
    assert tasks.parse_completion("decision", only_analysis, SPEC) == 1   # no final: everything
    assert tasks.score_completion("decision", "<|channel|>final<|message|>[5]<|return|>", SPEC) is None


def test_score_solved_and_spec_checks():
    fam = tasks.get("decision")
    assert fam.score("[1]", SPEC) == pytest.approx(0.7) and fam.solved(0.7, SPEC)
    assert fam.score("[0]", SPEC) == pytest.approx(0.1) and not fam.solved(0.1, SPEC)
    assert fam.score("[0]", {"q": [1, 2]}) is None          # no rewards yet (before the reward stage)
    assert not fam.solved(None, SPEC)
    tie = {"q": [2.0, 2.0, 1.0], "rewards": boltzmann([1.0, 1.0, 0.0], 0.05)}
    assert fam.solved(fam.score("[0]", tie), tie) and fam.solved(fam.score("[1]", tie), tie)
    for bad, field in [({}, "q"), ({"q": [1]}, "q"), ({"q": [1, "x"]}, "q"), ({"q": [1, float("nan")]}, "q"),
                       ({"q": [1, 2], "rewards": [1]}, "rewards")]:
        with pytest.raises(ValueError, match=f"^{field}:"):
            fam.check_spec(bad)


def test_metrics_best_action_regret_invalid():
    specs = [{"q": [-3.0, -1.0, -2.0]}] * 4
    m = decision.metrics([1, 2, None, 0], specs, 0.8)
    assert m["best_action_rate"] == 0.25 and m["invalid_rate"] == 0.25
    assert m["mean_regret"] == pytest.approx((0 + 1 + 2 + 2) / 4)       # invalid = the worst action
    assert m["mean_regret_valid"] == pytest.approx(1.0)
    assert 0 < m["best_action_ci_low"] < 0.25 < m["best_action_ci_high"] < 1


# --------------------------------------------------------------- the carbon generator

def cfg(**kw):
    p = config.load(ROOT / "params.yaml")["collect"]["decision"]
    return config.typed(decision.Config, {**p, **kw}, "collect.decision")


def test_generator_q_is_the_exact_co2_of_the_shown_intensities():
    c = cfg(source=str(ROOT / "data/sources/decision"))
    assert not decision.is_loaded(c)
    rows = decision.build(50, random.Random(3), c, tasks.BuildRequest(split="train", seed=0))
    for r in rows:
        energy = int(r["prompt"].split(" kWh")[0].split()[-1])
        shown = [int(line.split(": ")[1].split()[0]) for line in r["prompt"].splitlines() if line.startswith("[")]
        assert r["spec"]["q"] == pytest.approx([-energy * g / 1000 for g in shown])
        assert r["answer"] == f"[{shown.index(min(shown))}]"
        assert len(shown) == len(c.delays_h) == 4
    again = decision.build(50, random.Random(3), c, tasks.BuildRequest(split="train", seed=0))
    assert again == rows


# ------------------------------------------------------------------ CSV sources

def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def gpt_oss_rows(n):
    """The gpt-oss workflow's shape: 4 actions, Q in arbitrary (large, negative) units."""
    rng = random.Random(1)
    return [[f"Hour {i}: demand {rng.randint(1, 9)} MW. Schedule the battery: [0] idle [1] charge "
             f"[2] discharge [3] export."] + [round(rng.uniform(-5e4, -1e3), 2) for _ in range(4)]
            for i in range(n)]


HEADER = ["prompt", "q_action_0", "q_action_1", "q_action_2", "q_action_3"]


def collect_params(tmp_path, **decision_kw):
    p = tmp_path / "params.yaml"
    write_params(p, {**TINY_OVERRIDES, "collect.train": {"decision": None}, "collect.test": {"decision": None},
                     **{f"collect.decision.{k}": v for k, v in decision_kw.items()}})
    return config.load(p)


def test_csv_source_is_taken_as_given_and_split_by_prompt_hash(tmp_path):
    src = write_csv(tmp_path / "q.csv", HEADER, gpt_oss_rows(40))
    rows = collection.collect(collect_params(tmp_path, source=str(src), test_fraction=0.25))
    train, test = rows["train"], rows["test"]
    assert len(train) + len(test) == 40 and 3 <= len(test) <= 20
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in test}
    assert all(decision.in_test(r["prompt"], 0.25) for r in test)
    r = train[0]
    q = r["spec"]["q"]
    assert r["answer"] == f"[{q.index(max(q))}]" and r["id"] == "train-decision-00000"
    # a cap, and a separate test file
    write_params(tmp_path / "p2.yaml", {
        **TINY_OVERRIDES, "collect.train": {"decision": 5}, "collect.test": {"decision": None},
        "collect.decision.source": str(src),
        "collect.decision.test_file": str(write_csv(tmp_path / "t.csv", HEADER, gpt_oss_rows(43)[40:] + gpt_oss_rows(2)))})
    rows = collection.collect(config.load(tmp_path / "p2.yaml"))
    assert len(rows["train"]) == 5 and len(rows["test"]) == 5
    # the two test-file rows that are also in the source are never trained on
    assert not {r["prompt"] for r in rows["train"]} & {r["prompt"] for r in rows["test"]}
    assert rows["train"][0]["prompt"] == gpt_oss_rows(3)[2][0]


def test_a_directory_of_csvs_and_given_rewards(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    write_csv(d / "a.csv", HEADER, gpt_oss_rows(6))
    write_csv(d / "b.csv", HEADER + [f"reward_action_{i}" for i in range(4)],
              [r + [0.1, 0.2, 0.3, 0.4] for r in gpt_oss_rows(12)[6:]])
    rows = collection.collect(collect_params(tmp_path, source=str(d), test_fraction=0.0))
    assert len(rows["train"]) == 12 and rows["test"] == []
    given = [r for r in rows["train"] if "rewards" in r["spec"]]
    assert len(given) == 6
    assert decision.reward_spec(given[0]["spec"], decision.RewardConfig(tau=0.05, normalize="minmax"))["rewards"] == [0.1, 0.2, 0.3, 0.4]


@pytest.mark.parametrize("header, rows, expect", [
    (["text", "q_action_0", "q_action_1"], [["p", 1, 2]], "missing column 'prompt'"),
    (["prompt", "q_action_0"], [["p", 1]], "at least 2 columns q_action_0"),
    (["prompt", "q_action_0", "q_action_2"], [["p", 1, 2]], "missing column 'q_action_1'"),
    (HEADER, [["p", 1, 2, 3, 4], ["p2", 1, "abc", 3, 4]], ":3: column 'q_action_1': not a number ('abc')"),
    (HEADER, [["p", 1, 2, "nan", 4]], ":2: column 'q_action_2': not a finite number ('nan')"),
    (HEADER, [["p", 1, 2, "", 4]], ":2: column 'q_action_2': not a number ('')"),
    (HEADER, [["", 1, 2, 3, 4]], ":2: column 'prompt': empty"),
])
def test_csv_schema_errors_are_one_line_and_leave_no_outputs(tmp_path, header, rows, expect):
    src = write_csv(tmp_path / "bad.csv", header, rows)
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "collect.train": {"decision": None},
                                            "collect.test": {"decision": None},
                                            "collect.decision.source": str(src)})
    p = run([sys.executable, str(ROOT / "stages" / "collect.py"), "--params", "params.yaml",
             "--out", "data/collect"], tmp_path, check=False)
    assert p.returncode != 0
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.csv" in lines[0] and expect in lines[0], p.stderr
    assert not (tmp_path / "data" / "collect").exists()


def test_null_count_is_for_loaded_sources_only(tmp_path):
    with pytest.raises(TunepipeError, match="null .* a generated family needs a count"):
        collection.collect(collect_params(tmp_path))          # the default dir has no CSV: generated


# ---------------------------------------------------------- reward stage and GRPO glue

def test_reward_stage_writes_boltzmann_rewards_and_the_csv(tmp_path):
    from test_collect import stage

    params = tmp_path / "params.yaml"
    write_params(params, {**TINY_OVERRIDES, "collect.train": {"decision": 12}, "collect.test": {"decision": 4}})
    rows = collection.collect(config.load(params))
    for split in ("train", "test"):
        for r in rows[split]:
            r["prompt"] = [{"role": "user", "content": r["prompt"]}]
            r["prompt_text"] = harmony.render(r["prompt"], system_message=False)
            r["completion_text"] = harmony.render_completion(r["answer"])
        io.write_jsonl(tmp_path / "h" / f"{split}.jsonl", rows[split])
    stage("reward")(params=str(params), data=str(tmp_path / "h"), out=str(tmp_path / "r"))
    out = io.read_jsonl(tmp_path / "r" / "train.jsonl")
    for r in out:
        assert r["spec"]["rewards"] == pytest.approx(boltzmann(decision.normalized(r["spec"]["q"], "minmax"), 0.05))
    assert all("rewards" in r["spec"] for r in io.read_jsonl(tmp_path / "r" / "test.jsonl"))
    table = list(csv.DictReader(open(tmp_path / "r" / "decision.csv")))
    assert len(table) == 12 and float(table[0]["reward_action_0"]) == pytest.approx(out[0]["spec"]["rewards"][0])
    write_params(params, {**TINY_OVERRIDES, "reward.decision.tau": 0})
    with pytest.raises(TunepipeError, match=r"reward\.decision\.tau: expected a number > 0"):
        stage("reward")(params=str(params), data=str(tmp_path / "h"), out=str(tmp_path / "r2"))
    assert not (tmp_path / "r2").exists()


def test_grpo_reward_log_and_invalid_penalty():
    log = []
    primary = training.reward_function("strict", log)
    spec = json.dumps(SPEC)
    comps = ["[1]", "[0] [2]", "garbage"]
    out = primary(["p"] * 3, comps, task=["decision"] * 3, spec=[spec] * 3)
    assert out[0] == pytest.approx(0.7) and out[1] is None and out[2] is None
    assert [(row[1], row[4], row[6]) for row in log] == [("decision", "1", False), ("decision", "null", True),
                                                        ("decision", "null", True)]
    pen = training.invalid_penalty_function(0.5, primary)
    assert pen(["p"] * 3, comps, task=["decision"] * 3, spec=[spec] * 3) == [0.0, -0.5, -0.5]
    alone = training.invalid_penalty_function(0.5)
    assert alone(["p"], ["[2]"], task=["decision"], spec=[spec]) == [0.0]
    with pytest.raises(TunepipeError, match="strict\\+partial"):
        training.reward_function("strict+nothing", [])


# ------------------------------------------------------------ DVC: params and sources

@pytest.mark.slow
def test_a_user_csv_is_a_tracked_dep(project):
    """A user CSV named by `-S collect.decision.source=` goes through with no edit of dvc.yaml,
    and editing it reruns collect onward. (What `-S reward.decision.tau=` reruns -- reward and
    grpo onward, never sft -- is the reward-param sweep of tests/test_family_plugin.py; the
    decision numbers in eval.json, tests/test_pipeline.py.)"""
    from test_pipeline import DVC, ran_stages

    src = project / "data" / "sources" / "user_q.csv"
    write_csv(src, HEADER, gpt_oss_rows(30))
    # up to reward: the user's rows reach the reward table; training on them is the generic
    # path of every row
    p = run(DVC + ["exp", "run", "-S", f"collect.decision.source={src.relative_to(project)}", "reward"], project)
    assert ran_stages(p.stdout) == ["collect", "base", "harmony_convert", "reward"], p.stdout
    train = io.read_jsonl(project / "data" / "collect" / "train.jsonl")
    user = [r for r in train if r["task"] == "decision"]
    assert user and all(r["prompt"].startswith("Hour ") for r in user)
    table = list(csv.DictReader(open(project / "data" / "reward" / "decision.csv")))
    assert len(table) == len(user) and "reward_action_3" in table[0]
    assert not (project / "dvc.yaml").read_text().count("user_q.csv")     # no hand edit
    with open(src, "a", newline="") as f:
        csv.writer(f).writerow(["Hour 99: demand 1 MW. [0] idle [1] charge [2] discharge [3] export.", -1, -2, -3, -4])
    status = run(DVC + ["status", "collect"], project).stdout
    assert "collect" in status and "user_q.csv" in status and "modified" in status


# ------------------------------------------------------------- scorers never raise

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

TEXT = st.one_of(st.text(), st.text(alphabet="[]0123456789 ²٣\x00\n<>|/"),
                 st.builds(lambda d: f"[{d}]", st.integers(min_value=-10**30, max_value=10**30)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_the_protocol_never_raises_on_any_completion(text):
    for t in ("decision", "sat"):
        spec = SPEC if t == "decision" else {"n_vars": 2, "clauses": [[1, -2]]}
        errors: list = []
        out = tasks.score_batch([t, t], [text, "<|channel|>final<|message|>" + text], [spec, spec], errors)
        assert all(s is None or 0.0 <= s <= 1.0 for s in out) and errors == [False, False]
        tasks.parse_completion(t, text, spec)


def test_a_raising_scorer_is_an_invalid_counted_score(monkeypatch):
    import dataclasses

    fam = tasks.get("decision")
    boom = dataclasses.replace(fam, score=lambda text, spec: 1 / 0)
    monkeypatch.setattr(decision, "FAMILY", boom)
    errors: list = []
    assert tasks.score_batch(["decision", "sat"], ["[1]", "x1=True"], [SPEC, {"n_vars": 1, "clauses": [[1]]}],
                             errors) == [None, 1.0]
    assert errors == [True, False]


def test_task_summary_uses_solved_for_graded_scores_and_counts_errors():
    from tunepipe import evaluation

    rows = [{"task": "decision", "spec": SPEC}] * 2
    comps = [["[1]", "[2]"], ["[0]", "junk"]]
    scores = [[0.7, 0.2], [0.1, None]]
    s = evaluation.task_summary("decision", rows, comps, scores, [[False, False], [False, True]], 0.8, k=2)
    assert s["n"] == 4 and s["n_invalid"] == 1 and s["n_errors"] == 1
    assert s["accuracy"] == pytest.approx(0.25)            # mean reward, invalid = 0
    assert s["success_rate"] == 0.25 and s["best_action_rate"] == 0.25   # solved = a best action, not score > 0
    assert s["pass_at_k"] == 0.5                            # row 1 has a best action among its 2 samples
    assert s["mean_regret"] == pytest.approx((0 + 1 + 2 + 2) / 4)


def test_plain_prompts_become_chat_messages_from_params_templates():
    from tunepipe import templates

    conv = templates.chat_messages({"system": None, "developer": "You cut CO2. Answer [k].", "user": "Q: {prompt}"},
                                   "harmony_convert.prompt_templates")
    msgs = conv("pick one")
    assert msgs == [{"role": "developer", "content": "You cut CO2. Answer [k]."},
                    {"role": "user", "content": "Q: pick one"}]
    assert conv([{"role": "user", "content": "x"}]) == [{"role": "user", "content": "x"}]   # chat rows pass
    text = harmony.render(msgs, system_message=False)
    assert "<|start|>developer<|message|># Instructions\n\nYou cut CO2. Answer [k].<|end|>" in text
    with pytest.raises(TunepipeError, match=r"prompt_templates\.user: invalid str\.format"):
        templates.chat_messages({"system": None, "developer": None, "user": "{nope}"}, "harmony_convert.prompt_templates")
    with pytest.raises(TunepipeError, match="keys system, developer, user"):
        templates.chat_messages({"user": "{prompt}"}, "harmony_convert.prompt_templates")
