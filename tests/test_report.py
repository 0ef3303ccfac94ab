"""tunepipe.report: eval.json → Pareto analysis, baseline regressions, Markdown, PNG, DVC data;
and the evaluate stage's bad-input errors (no generation, no outputs)."""
import doctest
import json
import subprocess
import sys

import pytest

import tunepipe.report as report
from conftest import ROOT, write_params
from tunepipe import TunepipeError, metrics
from tunepipe.metrics import jeffreys_interval


def task(p_greedy, n, p_sampled=None, k=4):
    """A task entry as evaluate writes it: greedy (n prompts) and sampled (n * k samples)."""
    g = metrics.summarize([1.0] * round(p_greedy * n) + [0.0] * (n - round(p_greedy * n)))
    out = {"greedy": g}
    if p_sampled is not None:
        s = metrics.summarize([1.0] * round(p_sampled * n * k) + [0.0] * (n * k - round(p_sampled * n * k)))
        out["sampled"] = {**s, "pass_at_k": min(1.0, 2 * p_sampled), "k": k}
    return out


def model(**tasks):
    per = dict(tasks)
    per["overall"] = {"greedy": metrics.aggregate({t: e["greedy"] for t, e in tasks.items()})}
    return per


EVAL = {  # sft clearly beats base everywhere; grpo beats sft on sat, but not on abd
    "base": model(sat=task(0.12, 300, 0.10), abd=task(0.04, 50, 0.04)),
    "sft": model(sat=task(0.40, 300, 0.30), abd=task(0.30, 50, 0.25)),
    "grpo": model(sat=task(0.60, 300, 0.55), abd=task(0.02, 50, 0.03)),
}


def analyse(ev=EVAL, baseline=None, **kw):
    args = dict(rule="interval", mode="greedy", min_samples=50, level=0.8)
    args.update(kw)
    rows = report.rows_from_eval(ev, "eval.json", level=args["level"])
    brows = report.rows_from_eval(baseline, "baseline.json", source="baseline") if baseline else None
    return report.analyse(rows, baseline_rows=brows, baseline_path="baseline.json" if baseline else None,
                          temperature=1.0, **args)


def test_doctests():
    assert doctest.testmod(report).failed == 0


# ----------------------------------------------------------------------------- reading
def test_rows_from_eval_normalises_and_skips_overall():
    rows = report.rows_from_eval(EVAL, "eval.json")
    assert [r["name"] for r in rows] == ["base", "sft", "grpo"]
    assert set(rows[0]["envs"]) == {"sat", "abd"}                   # overall is not an env
    e = rows[2]["envs"]["sat"]["greedy"]
    assert (e["n"], e["successes"], e["accuracy"]) == (300, 180.0, 0.6)
    assert (e["ci_low"], e["ci_high"]) == pytest.approx(jeffreys_interval(180, 300))
    assert rows[2]["envs"]["sat"]["sampled"]["pass_at_k"] == pytest.approx(1.0)
    # overall recomputed from the tasks: pooled over 350 prompts
    assert rows[2]["overall"]["greedy"]["n"] == 350
    assert rows[2]["overall"]["greedy"]["accuracy"] == pytest.approx(181 / 350)
    named = report.rows_from_eval(EVAL, "x", source="HEAD~1", models=["grpo", "nope"])
    assert [(r["name"], r["model"], r["source"]) for r in named] == [("HEAD~1:grpo", "grpo", "HEAD~1")]


def test_rows_from_eval_accepts_an_old_or_hand_written_file():
    rows = report.rows_from_eval({"base": {"sat": {"greedy": {"n": 200, "accuracy": 0.25}}}}, "old.json", level=0.9)
    e = rows[0]["envs"]["sat"]["greedy"]
    assert e["successes"] == 50.0
    assert (e["ci_low"], e["ci_high"]) == pytest.approx(jeffreys_interval(50, 200, 0.9))


@pytest.mark.parametrize("ev, match", [
    ({}, "non-empty"),
    ([], "non-empty"),
    ({"base": 3}, "model 'base'"),
    ({"base": {"sat": {"oops": {}}}}, "base.sat: expected an object with 'greedy'"),
    ({"base": {"sat": {"greedy": {"n": -1, "successes": 0}}}}, r"base.sat.greedy.n"),
    ({"base": {"sat": {"greedy": {"n": 10, "successes": 11}}}}, r"base.sat.greedy: needs successes"),
    ({"base": {"sat": {"greedy": {"n": 10}}}}, r"base.sat.greedy: needs successes"),
])
def test_rows_from_eval_rejects_bad_files_in_one_line(ev, match):
    with pytest.raises(TunepipeError, match=match) as e:
        report.rows_from_eval(ev, "baseline_results.json")
    assert "\n" not in str(e.value) and "baseline_results.json" in str(e.value)


def test_read_eval_errors(tmp_path):
    with pytest.raises(TunepipeError, match="not found"):
        report.read_eval(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(TunepipeError, match="bad.json: not valid JSON"):
        report.read_eval(tmp_path / "bad.json")


# ----------------------------------------------------------------------------- analysis
def test_analyse_frontier_winners_and_scores():
    an = analyse()
    assert an["envs"] == ["abd", "sat"]
    assert an["winners"] == {"abd": "sft", "sat": "grpo"}
    assert an["frontier"] == ["sft", "grpo"]
    by = {m["name"]: m for m in an["models"]}
    assert by["base"]["dominated_by"] == ["sft"] and by["grpo"]["dominated_by"] == []
    h2h = {(p["earlier"], p["later"]): p for p in an["head_to_head"]}
    assert h2h["base", "grpo"]["later_takes"] == ["sat"] and h2h["base", "grpo"]["earlier_keeps"] == ["abd"]
    assert h2h["base", "sft"]["dominates"] == "sft" and h2h["sft", "grpo"]["dominates"] is None
    # {sat}: grpo; {abd}: sft; {abd, sat}: frontier sft, grpo -> the earlier, sft
    assert {m["name"]: m["subset_score"] for m in an["models"]} == {"base": 0.0, "sft": 3.0, "grpo": 1.0}
    assert an["regressions"] == 0 and an["vs_baseline"] == []
    assert json.loads(json.dumps(an)) == an


def test_analyse_min_samples_and_mode():
    an = analyse(min_samples=200)                 # abd has 50 samples: nobody can hold it
    assert an["winners"]["abd"] is None and an["eligible"]["abd"] == []
    assert an["frontier"] == ["base", "sft", "grpo"]
    s = analyse(mode="sampled", min_samples=200)  # 200 sampled abd results: eligible again
    assert s["eligible"]["abd"] == ["base", "sft", "grpo"] and s["winners"]["sat"] == "grpo"
    greedy_only = {m: {t: {"greedy": e["greedy"]} for t, e in per.items() if t != "overall"} for m, per in EVAL.items()}
    with pytest.raises(TunepipeError, match="no model has sampled results"):
        analyse(greedy_only, mode="sampled")


def test_baseline_regressions_by_name_and_single_model_fallback():
    base_file = {"grpo": {"sat": task(0.60, 300), "abd": task(0.20, 50), "ded": task(0.1, 50)},
                 "other": {"sat": task(0.9, 300)}}
    an = analyse(baseline=base_file)
    assert [m["name"] for m in an["models"][:2]] == ["baseline:grpo", "baseline:other"]
    assert an["models"][0]["baseline"] and not an["models"][2]["baseline"]
    verdicts = {(v["model"], v["env"], v["mode"]): v["verdict"] for v in an["vs_baseline"]}
    # two baseline models: only grpo has a same-named one
    assert verdicts == {("grpo", "abd", "greedy"): "regression",   # 0.02 vs 0.20 on 50: clearly worse
                        ("grpo", "ded", "greedy"): "missing",      # the baseline had ded
                        ("grpo", "sat", "greedy"): "same"}
    assert an["regressions"] == 2
    # a baseline with one model (the "evaluate the base model, keep its results" workflow)
    one = {"base": {"sat": task(0.30, 300)}}
    an = analyse(baseline=one)
    verdicts = {(v["model"], v["env"]): v["verdict"] for v in an["vs_baseline"]}
    assert verdicts == {("base", "sat"): "regression", ("sft", "sat"): "better", ("grpo", "sat"): "better"}
    assert an["frontier"][-1] == "grpo" and "baseline:base" in [m["name"] for m in an["models"]]


# ----------------------------------------------------------------------------- outputs
def test_markdown_says_the_frontier_first_and_marks_cells():
    an = analyse(baseline={"grpo": {"abd": task(0.20, 50)}}, min_samples=60)
    md = report.markdown(an)
    lines = md.splitlines()
    assert lines[2].startswith("**Pareto frontier: ") and "interval rule on greedy" in lines[2]
    assert lines[4].startswith("**Env winners:** ")
    # the baseline's only model is every model's reference: base and grpo regress on abd
    assert "2 regression(s) ▼" in md and "base on abd (greedy), grpo on abd (greedy)" in md
    assert "| grpo |" in md and "**0.600 [" in md and "★" in md        # grpo holds sat
    assert " †" in md                                                   # abd: 50 < 60 samples
    assert "nobody (no model has ≥ 60 samples)" in md
    assert "## Sampled accuracy at T=1" in md and "pass@4" in md
    assert "## Head to head" in md and "## vs baseline `baseline.json`" in md
    assert "▼ regression" in md


def test_headline_is_flat_for_dvc():
    h = report.headline(analyse())
    assert h["frontier"] == "sft grpo" and h["winner"] == {"abd": "sft", "sat": "grpo"}
    assert h["models"]["base"] == {"frontier": 0, "subset_score": 0.0}

    def leaves(d):
        for v in d.values():
            yield from leaves(v) if isinstance(v, dict) else [v]
    # dvc exp show / metrics diff drop lists and nulls: none here
    assert all(isinstance(v, (int, float, str)) for v in leaves(h))
    assert report.headline(analyse(min_samples=200))["winner"]["abd"] == "none"


#: dvclive summaries as the sft / grpo stages leave them (keys measured on a tiny run)
SFT_LIVE = {"loss": 5.579311370849609, "grad_norm": 1.59, "learning_rate": 0.002, "step": 2,
            "eval_loss": 5.569242000579834, "eval_runtime": 0.31, "train_runtime": 3.45, "train_loss": 5.641293}
GRPO_LIVE = {"loss": 0.0123456, "reward": 0.41666666, "reward_std": 0.2, "rewards_strict_partial_mean": 0.4,
             "completions_mean_length": 8.0, "step": 2, "train_loss": 0.01}


def test_headline_metrics_is_small_flat_and_rounded():
    craft = {"greedy": {**metrics.summarize([1.0, 0.0, 0.0]), "mean_reward": 0.333333, "mean_steps": 3.0}}
    ev = {m: {**per, "textcraft": craft} for m, per in EVAL.items()}
    h = report.headline_metrics(ev, {"sft": SFT_LIVE, "grpo": GRPO_LIVE}, ["sft", "grpo"])
    # the last model per family; the earlier trained ones pooled; base (not trained) left to eval.json
    assert list(h) == ["frontier", "grpo", "sft", "train"] and h["frontier"] == "sft grpo"
    assert h["grpo"] == {"sat": 0.6, "abd": round(EVAL["grpo"]["abd"]["greedy"]["accuracy"], 4), "textcraft": 0.3333}
    assert h["sft"] == {"overall": round(EVAL["sft"]["overall"]["greedy"]["accuracy"], 4)}
    assert h["train"] == {"sft_loss": 5.5793, "grpo_reward": 0.4167}

    def leaves(d, path=()):
        for k, v in d.items():
            yield from leaves(v, path + (k,)) if isinstance(v, dict) else [(".".join(path + (k,)), v)]
    got = dict(leaves(h))
    # what DVC shows: numbers and short strings only (it drops lists and nulls), at most 4 places
    assert all(isinstance(v, str) or round(v, 4) == v for v in got.values())
    assert len(got) == 3 + 1 + 2 + 1   # a column each: grpo x 3 tasks, sft overall, 2 train, frontier


def test_a_family_names_its_headline_number():
    """decision leads with its best-action rate (the same scale at every tau), not the mean
    Boltzmann reward at the current tau that its accuracy is."""
    ev = {"grpo": {"decision": {"greedy": {"accuracy": 0.41, "best_action_rate": 0.5, "mean_regret": 0.1}},
                   "gone": {"greedy": {"accuracy": 0.2}}}}   # a task this install does not know: accuracy
    assert report.headline_metrics(ev) == {"grpo": {"decision": 0.5, "gone": 0.2}}


def test_headline_metrics_without_logs_sampling_or_frontier():
    ev = {"base": {"sat": {"greedy": EVAL["base"]["sat"]["greedy"]}}}
    h = report.headline_metrics(ev, {"sft": {"train_loss": 1.5}})   # no grpo log; the mean loss when no step loss
    assert h == {"base": {"sat": 0.12}, "train": {"sft_loss": 1.5}}
    assert "train" not in report.headline_metrics(ev, {})
    with pytest.raises(TunepipeError, match="a model named 'train' clashes"):
        report.headline_metrics({"train": {}})


def test_read_train_logs(tmp_path):
    (tmp_path / "sft.json").write_text(json.dumps(SFT_LIVE))
    (tmp_path / "bad.json").write_text("{")
    assert report.read_train_logs(sft=tmp_path / "sft.json", grpo=tmp_path / "none.json") == {"sft": SFT_LIVE}
    with pytest.raises(TunepipeError, match="bad.json: not valid JSON"):
        report.read_train_logs(grpo=tmp_path / "bad.json")


def test_bar_rows_have_unique_labels():
    an = analyse()
    for mode, n_rows in (("greedy", 9), ("sampled", 9)):
        rows = report.bar_rows(an, mode)
        assert len(rows) == n_rows and len({r["label"] for r in rows}) == n_rows
        assert rows[0]["label"] == "overall · base"
        assert all(0 <= r["ci_low"] <= r["accuracy"] <= r["ci_high"] <= 1 for r in rows)


def test_write_eval_outputs(tmp_path):
    an = analyse(baseline={"grpo": {"abd": task(0.20, 50)}})
    report.write_eval_outputs(tmp_path, EVAL, an, train_logs={"grpo": GRPO_LIVE})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["eval.json", "eval.png", "eval_bars_greedy.json", "eval_bars_sampled.json",
                     "pareto.json", "report.md", "summary.json"]
    assert json.loads((tmp_path / "summary.json").read_text()) == report.headline_metrics(
        EVAL, {"grpo": GRPO_LIVE}, an["frontier"])
    assert json.loads((tmp_path / "eval.json").read_text()) == json.loads(json.dumps(EVAL))
    assert (tmp_path / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "eval.png").stat().st_size > 20_000
    assert json.loads((tmp_path / "pareto.json").read_text())["regressions"] == 2   # base, grpo on abd


# ----------------------------------------------------------------------------- evaluation.overall
def test_evaluation_overall_pools_tasks():
    from tunepipe import config, evaluation

    a = config.typed(evaluation.EvalArgs, config.load(ROOT / "params.yaml")["evaluate"], "evaluate")
    a.num_samples = 2
    greedy = [[1.0], [0.0], [0.5]]
    sampled = [[1.0, 1.0], [0.0, 0.0], [0.0, 1.0]]
    per = {"sat": {"greedy": metrics.summarize([1.0, 0.0]), "sampled": {**metrics.summarize([1, 1, 0, 0]),
                                                                       "pass_at_k": 0.5, "k": 2}},
           "abd": {"greedy": metrics.summarize([0.5]), "sampled": {**metrics.summarize([0, 1]),
                                                                   "pass_at_k": 1.0, "k": 2}}}
    o = evaluation.overall(per, greedy, sampled, a)
    assert o["greedy"]["n"] == 3 and o["greedy"]["accuracy"] == pytest.approx(0.5)
    assert o["greedy"]["median"] == 0.5
    assert o["sampled"]["pass_at_k"] == pytest.approx((0.5 * 2 + 1.0 * 1) / 3)   # weighted by prompts
    assert o["sampled"]["k"] == 2 and o["sampled"]["success_rate"] == pytest.approx(3 / 6)


# ----------------------------------------------------------------------------- the stage's errors
def _stage(tmp_path, **overrides):
    write_params(tmp_path / "params.yaml", overrides)
    for m in ("base", "sft", "grpo"):
        (tmp_path / "models" / m).mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, str(ROOT / "stages" / "evaluate.py"), "--params", "params.yaml",
                           "--data", "test.jsonl", "--models-dir", "models", "--out", "metrics"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("overrides, message", [
    ({"evaluate.baseline": "baseline_results.json"}, "baseline_results.json: eval results not found"),
    ({"evaluate.pareto.rule": "elo"}, "evaluate.pareto.rule: expected one of interval, epsilon, threshold"),
    ({"evaluate.extra_models": {"king": "no/such/dir"}}, "model 'king': no/such/dir not found"),
])
def test_evaluate_stage_bad_input_fails_before_generation(tmp_path, overrides, message):
    p = _stage(tmp_path, **overrides)
    assert p.returncode == 1, p.stderr
    err = [line for line in p.stderr.splitlines() if line.strip()]
    assert err == [f"error: {message}"] or (len(err) == 1 and message in err[0]), p.stderr
    assert not (tmp_path / "metrics").exists()
