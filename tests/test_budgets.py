"""Generation budgets per task family (``evaluate.max_new_tokens``, ``grpo.max_completion_length``,
``*.episode.turn_tokens``: an int, null or a mapping task -> int | null) and the truncation
counts evaluate writes to eval.json and report.md: completions that reached their budget
without a stop token are counted and warned about, never silently scored 0."""
import dataclasses
import importlib
import json
import random

import pytest

from tunepipe import TunepipeError, config, evaluation, generation, io, models, prefix, report, tasks
from tunepipe.episodes import EpisodeArgs
from tunepipe.report import ParetoArgs
from tunepipe.tasks.protocol import DEFAULT_BUDGET, Family

TRL_OVERRIDES = importlib.import_module("tunepipe.training.trl_overrides")


@dataclasses.dataclass
class _Cfg:
    pass


def _echo(budget=None) -> Family:
    """A family of one's own with no budget of its own (or ``budget``): the answer is the
    spec's ``want`` string."""
    kw = {} if budget is None else {"budget": budget}
    return Family(name="echo", config=_Cfg, build=lambda n, rng, cfg, req: [], parse=lambda t, s: t,
                  score=lambda t, s: 1.0 if t.strip() == s["want"] else 0.0, check_spec=lambda s: None, **kw)


@pytest.fixture
def echo(monkeypatch):
    monkeypatch.setitem(tasks._PLUGINS, "echo", _echo())
    return tasks.get("echo")


def test_budget_resolution_int_null_mapping(echo):
    assert tasks.budget("sat", 16) == 16 and tasks.budget("textcraft", 56) == 56      # an int: every family
    own = {n: tasks.get(n).budget for n in ("sat", "abd", "ded", "decision", "reference", "textcraft", "webshop")}
    assert own == {"sat": 4096, "abd": 4096, "ded": 8192, "decision": 1024, "reference": 512, "textcraft": 1024,
                   "webshop": 1024}
    assert all(tasks.budget(n, None) == b for n, b in own.items())                # null: the family's own
    setting = {"sat": 64, "ded": None}
    assert [tasks.budget(n, setting) for n in ("sat", "ded", "abd")] == [64, 8192, 4096]   # left out / null: own
    assert echo.budget == DEFAULT_BUDGET == tasks.budget("echo", None)            # a plugin: the fallback
    assert tasks.budget("echo", {"echo": 7}) == 7
    for s in (16, None, setting, {"echo": None}):
        tasks.check_budget(s, "evaluate.max_new_tokens", turns=False, other="evaluate.episode.turn_tokens")
    tasks.check_budget({"babyai": 80}, "grpo.episode.turn_tokens", turns=True, other="grpo.max_completion_length")
    with pytest.raises(ValueError, match="budget must be an int >= 1"):
        _echo(budget=0)


@pytest.mark.parametrize("setting, turns, message", [
    ({"sta": 8}, False, r"^evaluate\.max_new_tokens\.sta: unknown task; did you mean sat\?$"),
    ({"textcrafts": 8}, True, r"^evaluate\.max_new_tokens\.textcrafts: unknown task; did you mean textcraft\?$"),
    ({"textcraft": 8}, False, r"^evaluate\.max_new_tokens\.textcraft: textcraft is a multi-turn environment: its budget is "
                          r"OTHER\.textcraft$"),
    ({"sat": 8}, True, r"^evaluate\.max_new_tokens\.sat: sat is a single-turn task: its budget is OTHER\.sat$"),
    ({"sat": 0}, False, r"^evaluate\.max_new_tokens\.sat: expected an int >= 1 or null"),
    (0, False, r"^evaluate\.max_new_tokens: expected an int >= 1, null or a mapping"),
    (True, False, r"^evaluate\.max_new_tokens: expected an int >= 1"),
])
def test_bad_budgets_are_one_line_errors_naming_the_key(setting, turns, message):
    with pytest.raises(TunepipeError, match=message):
        tasks.check_budget(setting, "evaluate.max_new_tokens", turns=turns, other="OTHER")


def test_params_sections_accept_int_null_and_mapping():
    from conftest import ROOT
    from tunepipe import training

    p = config.load(str(ROOT / "params.yaml"))
    ev, gr = p["evaluate"], p["grpo"]
    assert (ev["max_new_tokens"], gr["max_completion_length"]) == (16, 16)          # the tiny default keeps its ints
    assert (ev["episode"]["turn_tokens"], gr["episode"]["turn_tokens"]) == (80, 80)
    for value in (None, {"sat": 32, "ded": None}):
        a = config.typed(evaluation.EvalArgs, {**ev, "max_new_tokens": value}, "evaluate")
        evaluation.check_budgets(a)
        g = config.typed(training.GRPOArgs, {**gr, "max_completion_length": value}, "grpo")
        training.check_budgets(g)
    with pytest.raises(TunepipeError, match=r"^grpo\.max_completion_length\.dde: unknown task; did you mean ded\?$"):
        training.check_budgets(config.typed(training.GRPOArgs, {**gr, "max_completion_length": {"dde": 9}}, "grpo"))
    with pytest.raises(TunepipeError, match=r"^evaluate\.episode\.turn_tokens\.sat: sat is a single-turn task"):
        evaluation.check_budgets(config.typed(evaluation.EvalArgs, {**ev, "episode": {**ev["episode"],
                                                                                      "turn_tokens": {"sat": 9}}},
                                              "evaluate"))


def test_grpo_gives_trl_the_largest_budget_and_cuts_each_family_to_its_own():
    from test_training import grpo_args
    from tunepipe import training

    assert training.trl_completion_length(grpo_args(max_completion_length=16), ["sat", "ded"]) == 16
    assert training.trl_completion_length(grpo_args(max_completion_length=None), ["sat", "decision"]) == 4096
    a = grpo_args(max_completion_length={"sat": 64, "decision": None}, tasks=["sat", "decision", "textcraft"])
    assert training.trl_completion_length(a) == 1024                         # grpo.tasks; textcraft is per turn
    assert training.completion_budgets(a, ["sat", "decision", "textcraft"]) == {"sat": 64, "decision": 1024}
    assert training.trl_completion_length(grpo_args(max_completion_length=None,
                                                    episode=EpisodeArgs(turn_tokens={"babyai": 99}, max_length=None)),
                                          ["textcraft", "babyai"]) == 1024
    assert training.grpo_config(a, ckpt_dir="/tmp/unused-ckpt", seed=0).max_completion_length == 1024
    ids, lps = TRL_OVERRIDES.cut_to_budgets([[1, 2, 3, 4], [5, 6, 7, 8], [9]], [[.1, .2, .3, .4], [.5] * 4, [.9]],
                                            ["sat", "decision", "sat"], {"sat": 2})
    assert ids == [[1, 2], [5, 6, 7, 8], [9]] and lps == [[.1, .2], [.5] * 4, [.9]]
    assert TRL_OVERRIDES.cut_to_budgets([[1, 2, 3]], None, ["sat"], {"sat": 1}) == ([[1]], None)


def test_truncated_means_the_budget_reached_without_a_stop_token():
    assert generation.truncated([5, 6, 7], {1}, 3)
    assert not generation.truncated([5, 6, 1], {1}, 3)        # the last allowed token is the stop token
    assert not generation.truncated([5, 1, 0], {0, 1}, 3)     # stopped, then padded
    assert not generation.truncated([5, 1], {1}, 3)


@pytest.mark.parametrize("fast", [True, False])
def test_generation_flags_cut_completions_on_both_paths(tiny_model, monkeypatch, fast):
    """prefix.decode's path and generate's: a completion cut at the budget is flagged, one that
    reached a stop token is not (the stop token forced: the model's own first greedy token)."""
    model = models.load_model(tiny_model / "base", dtype="float32")
    tok = models.load_tokenizer(tiny_model / "base")
    if not fast:
        monkeypatch.setattr(prefix, "supported", lambda m: False)
    texts = [r["prompt_text"] for r in io.read_jsonl(tiny_model / "train.jsonl")[:5]]
    kw = dict(max_new_tokens=6, batch_size=2, num_samples=3, temperature=1.0, seed=0, desc="t")
    cut: list = []
    greedy, sampled = generation.hf_generate_both(model, tok, texts, truncated=cut, **kw)
    stop = generation.stop_token_ids(model, tok)
    enc = tok(texts[:1], return_tensors="pt", add_special_tokens=False)
    raw = model.generate(**enc, max_new_tokens=6, do_sample=False, pad_token_id=tok.pad_token_id,
                         eos_token_id=sorted(stop))[0, enc["input_ids"].size(1):].tolist()
    assert cut[0][0] == generation.truncated(raw, stop, 6)
    assert len(cut[0]) == 5 and [len(c) for c in cut[1]] == [3] * 5
    assert any(cut[0]), "a random tiny model runs to the budget"
    first = raw[0]
    monkeypatch.setattr(generation, "stop_token_ids", lambda m, t: stop | {first})
    cut2: list = []
    g2 = generation.hf_generate(model, tok, texts[:1], max_new_tokens=6, batch_size=2, do_sample=False,
                                temperature=1.0, num_samples=1, seed=0, desc="t", truncated=cut2)
    assert g2 == [[""]] and cut2 == [[False]]


def _rows(tiny_model, n_sat=6, n_echo=4):
    sat = io.read_jsonl(tiny_model / "train.jsonl")[:n_sat]
    rng = random.Random(0)
    echo = [{"id": f"e{i}", "task": "echo", "prompt_text": f"<|start|>user<|message|>Say {w}<|end|><|start|>assistant",
             "spec": {"want": w}} for i, w in enumerate(rng.choice(["x1", "x2", "UNSAT"]) for _ in range(n_echo))]
    return sat + echo


def _args(budget, **kw):
    base = dict(models=["base"], extra_models={}, baseline=None, max_rows=None, max_new_tokens=budget, batch_size=4,
                backend="hf", dtype="float32", temperature=1.0, num_samples=2, level=0.8,
                pareto=ParetoArgs(rule="interval", mode="greedy", min_samples=1),
                episode=EpisodeArgs(turn_tokens=6, max_length=None))
    base.update(kw)
    return evaluation.EvalArgs(**base)


def test_one_int_budget_generates_as_one_call_over_all_rows(tiny_model, echo, monkeypatch):
    """With one int for every family (the default params) evaluate's generation is the single
    call over all rows it was before budgets per family: the same batches, the same greedy and
    sampled completions."""
    rows = _rows(tiny_model)
    model = models.load_model(tiny_model / "base", dtype="float32")
    tok = models.load_tokenizer(tiny_model / "base")
    want_g, want_s = generation.hf_generate_both(model, tok, [r["prompt_text"] for r in rows], max_new_tokens=5,
                                                 batch_size=4, num_samples=2, temperature=1.0, seed=0, desc="t")
    calls = []
    real = generation.hf_generate_both
    monkeypatch.setattr(generation, "hf_generate_both",
                        lambda m, t, prompts, **k: calls.append((list(prompts), k["max_new_tokens"])) or real(m, t, prompts, **k))
    samples: list = []
    res = evaluation.evaluate_model("base", str(tiny_model / "base"), rows, _args(5), 0, samples)
    assert calls == [([r["prompt_text"] for r in rows], 5)]
    assert [s["greedy"] for s in samples] == want_g and [s["sampled"] for s in samples] == want_s
    for task, n in (("sat", 6), ("echo", 4)):
        g, s = res[task]["greedy"], res[task]["sampled"]
        assert g["budget"] == s["budget"] == 5
        assert g["truncated"] == sum(x["greedy_truncated"] for x in samples if x["task"] == task)
        assert g["truncated_share"] == pytest.approx(g["truncated"] / n)
        assert s["truncated_share"] == pytest.approx(s["truncated"] / (2 * n))
    assert "truncated" not in res["overall"]["greedy"]


def test_each_family_generates_with_its_own_budget(tiny_model, echo, monkeypatch):
    rows = _rows(tiny_model)
    calls = []
    real = generation.hf_generate_both
    monkeypatch.setattr(generation, "hf_generate_both",
                        lambda m, t, prompts, **k: calls.append((len(prompts), k["max_new_tokens"])) or real(m, t, prompts, **k))
    monkeypatch.setitem(tasks._PLUGINS, "echo", _echo(budget=3))
    samples: list = []
    res = evaluation.evaluate_model("base", str(tiny_model / "base"), rows, _args({"sat": 7}), 0, samples)
    assert sorted(calls) == [(4, 3), (6, 7)]               # one generation per budget, each family's own rows
    assert res["sat"]["greedy"]["budget"] == 7 and res["echo"]["greedy"]["budget"] == 3
    for task in ("sat", "echo"):
        assert res[task]["sampled"]["truncated"] == sum(sum(s["sampled_truncated"]) for s in samples
                                                        if s["task"] == task)


def test_report_shows_shares_and_warns_above_the_threshold(tmp_path):
    def entry(n, cut, budget, **kw):
        return {"n": n, "successes": 0.0, "accuracy": 0.0, "ci_low": 0.0, "ci_high": 0.5, "n_errors": 0,
                "budget": budget, "truncated": cut, "truncated_share": cut / n, **kw}

    results = {"base": {"sat": {"greedy": entry(50, 19, 16), "sampled": entry(200, 4, 16, pass_at_k=0.0, k=4)},
                        "textcraft": {"greedy": entry(20, 3, 56, truncated_episodes=2, mean_reward=0.1, mean_steps=4.0,
                                                  n_truncated=0)}},
               "grpo": {"sat": {"greedy": entry(50, 2, 16)}}}
    for model in results.values():
        model["overall"] = {"greedy": {"n": 70, "successes": 0.0, "accuracy": 0.0, "ci_low": 0.0, "ci_high": 0.1}}
    warnings = report.truncation_warnings(results)
    assert warnings == [
        "WARNING base: sat: 38% of greedy completions hit max_new_tokens=16: raise evaluate.max_new_tokens.sat",
        "WARNING base: textcraft: 15% of greedy turns hit turn_tokens=56 (2 of 20 episodes): "
        "raise evaluate.episode.turn_tokens.textcraft",
    ]                                                       # 2% (sampled sat, grpo's sat) stays under 5%
    an = report.analyse(report.rows_from_eval(results, "eval.json"), rule="interval", mode="greedy", min_samples=1,
                        level=0.8)
    report.write_eval_outputs(tmp_path, results, an)
    md = (tmp_path / "report.md").read_text()
    assert all(f"**{w}**" in md for w in warnings)
    assert "| base | sat | 16 | 38.0% (19) | 2.0% (4) |" in md
    assert "| grpo | sat | 16 | 4.0% (2) | — |" in md
    metrics = md.split("## textcraft: task metrics")[-1].split("\n\n")[1]
    assert "| mean_reward | mean_steps | n_truncated |" in metrics and "truncated_share" not in metrics
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "truncated" not in json.dumps(summary)          # summary.json stays narrow
    older = {"base": {"sat": {"greedy": {"n": 5, "accuracy": 0.2}}}}   # a stored eval.json without the counts
    assert report.truncation_warnings(older) == [] and report.truncation_markdown(older) == []


def test_grpo_cuts_each_family_to_its_budget(tiny_model, tmp_path, monkeypatch, echo):
    """Two families with different budgets: TRL generates up to the larger, and each completion
    reaching the loss is at most its family's budget."""
    from test_training import grpo_args, reward_length
    from tunepipe import training

    monkeypatch.setitem(tasks._PLUGINS, "echo", _echo(budget=3))
    data = tmp_path / "rows.jsonl"
    io.write_jsonl(data, _rows(tiny_model, n_sat=4, n_echo=4))
    seen = []
    real = TRL_OVERRIDES.cut_to_budgets

    def spy(ids, lps, names, budgets):
        out = real(ids, lps, names, budgets)
        seen.extend((t, len(x), budgets[t]) for t, x in zip(names, out[0]))
        return out

    monkeypatch.setattr(TRL_OVERRIDES, "cut_to_budgets", spy)
    reward_length(monkeypatch)
    a = grpo_args(max_steps=2, prompts_per_step=4, num_generations=2, max_completion_length={"sat": 8},
                  reward="strict")
    training.grpo(a, data=str(data), init=str(tiny_model / "base"), out=str(tmp_path / "grpo"),
                  ckpt_dir=str(tmp_path / "ckpt"), live_dir=str(tmp_path / "live"),
                  completions_csv=str(tmp_path / "c.csv"), seed=0)
    assert seen and all(n <= b for _t, n, b in seen)
    assert {b for _t, _n, b in seen} <= {3, 8} and any(t == "echo" for t, _n, _b in seen)


def test_vllm_backend_gets_one_engine_call_with_a_budget_per_prompt(tiny_model, echo, monkeypatch):
    """vLLM: no batches per budget (each would load the engine again): one call per mode, one
    budget per prompt, and its finish reason ``length`` counted as truncated."""
    monkeypatch.setitem(tasks._PLUGINS, "echo", _echo(budget=3))
    calls = []

    def fake(model_dir, prompts, *, max_new_tokens, do_sample, temperature, num_samples, seed, truncated=None, seeds=None):
        calls.append((do_sample, list(max_new_tokens)))
        if truncated is not None:
            truncated[:] = [[b > 5] * num_samples for b in max_new_tokens]   # pretend: the long budgets ran out
        return [["x"] * num_samples for _ in prompts]

    monkeypatch.setattr(generation, "vllm_generate", fake)
    rows = _rows(tiny_model)
    res = evaluation.evaluate_model("base", str(tiny_model / "base"), rows, _args({"sat": 9}, backend="vllm"), 0)
    budgets = [9 if r["task"] == "sat" else 3 for r in rows]
    assert calls == [(False, budgets), (True, budgets)]
    assert res["sat"]["greedy"]["truncated_share"] == 1.0 and res["echo"]["sampled"]["truncated"] == 0
    assert res["sat"]["sampled"]["truncated"] == 12
