"""Multi-turn environments wired into the pipeline: collect's expert episodes, the SFT rows
harmony_convert renders from them, the batched episode engine (grpo's rollouts, evaluate),
GRPO through TRL's rollout_func with the environment's tokens masked, and evaluate's
per-environment results."""
import json
import random

import pytest

from conftest import tiny_atoms
from tunepipe import TunepipeError, episodes, harmony, io, models, tasks, templates, training
from tunepipe.tasks import BuildRequest
from tunepipe.tasks.envs.base import EnvConfig

ENVS = ("babyai", "textcraft", "webshop", "alfworld")   # sciworld (a JVM): tests/test_engine_sciworld.py
CFG = EnvConfig(difficulty=[1, 1], max_steps=10, server=None, train_reward="success")
H = {"format": "harmony", "reasoning_effort": "low", "knowledge_cutoff": "2024-06", "current_date": None,
     "system_message": False}


def env_rows(name, n, split="train", cfg=CFG, seed=0):
    family = tasks.get(name)
    rows = family.build(n, random.Random(f"{seed}/{split}"), cfg, BuildRequest(split=split, seed=seed))
    render = templates.renderer(H)
    wrap = templates.observation_wrap(H)
    for i, r in enumerate(rows):
        r["id"] = f"{split}-{name}-{i}"
        r["prompt_text"], r["completion_text"] = render(r["prompt"], r["answer"])
        r["obs_wrap"] = list(wrap)
        r["sft_turns"] = templates.episode_rows(r, render, wrap)
    return rows


@pytest.mark.parametrize("name", ENVS)
def test_collect_rows_carry_the_oracle_episode_which_the_family_scores_solved(name):
    rows = env_rows(name, 5, cfg=EnvConfig(difficulty=[1, 1], max_steps=30, server=None, train_reward="success"))
    family = tasks.get(name)
    for r in rows:
        tasks.check_rows([r], "t")
        transcript = "\n\n".join([r["answer"], *(t["answer"] for t in r["turns"])])
        assert family.score(transcript, r["spec"]) == 1.0        # the whole expert episode solves it
        assert family.score("Thought:\nno\n\nAction:\ninventory", r["spec"]) == 0.0
        assert family.parse(r["answer"], r["spec"]) == r["answer"].split("Action:\n")[1].strip()
        assert r["prompt"][0]["content"].startswith(family.episode(r["spec"])[0].instruction)
    assert len({family.key(r) for r in rows}) == len(rows)


def test_sft_turns_are_the_episode_so_far_with_only_the_model_turn_as_target():
    r = env_rows("textcraft", 1)[0]
    before, after = r["obs_wrap"]
    prefix = r["prompt_text"] + r["completion_text"]
    for (p, c), t in zip(r["sft_turns"], r["turns"]):
        assert p == prefix + before + t["observation"] + after      # the observation is context
        assert c == harmony.render_completion(t["answer"])          # the target is the model's turn
        prefix = p + c
    examples = training.sft_examples([r, {**r, "turns": None, "sft_turns": []}])
    assert len(examples) == 1                                       # a server instance (no expert) is skipped
    segments = examples[0]["segments"]                              # the whole episode is one example
    assert "".join(t for t, _ in segments) == prefix
    assert [t for t, target in segments if target] == [r["completion_text"], *(c for _, c in r["sft_turns"])]
    assert [t for t, target in segments if not target] == [r["prompt_text"], *(before + t["observation"] + after
                                                                                for t in r["turns"])]
    with pytest.raises(TunepipeError, match="does not extend the episode so far"):
        training.sft_examples([{**r, "sft_turns": [["elsewhere", "c"]]}])


def test_whole_episode_tokens_are_the_rollouts_and_only_model_turns_are_targets(env_model):
    """The SFT example of an expert episode tokenizes as the rollout builds it (prompt ids,
    then turn and observation ids appended), and its target mask is exactly the model turns."""
    d, rows = env_model
    tok = models.load_tokenizer(d / "base")
    r = rows[0]
    t = training.tokenize_examples(training.sft_examples([r]), tok)
    ids, mask = t["input_ids"][0], t["completion_mask"][0]
    before, after = r["obs_wrap"]
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]
    want_ids, want_mask = enc(r["prompt_text"]), [0] * len(enc(r["prompt_text"]))
    for i, c in enumerate([r["completion_text"], *(c for _, c in r["sft_turns"])]):
        if i:
            obs = enc(before + r["turns"][i - 1]["observation"] + after)
            want_ids, want_mask = want_ids + obs, want_mask + [0] * len(obs)
        want_ids, want_mask = want_ids + enc(c), want_mask + [1] * len(enc(c))
    assert (ids, mask) == (want_ids, want_mask)
    assert tok.decode([i for i, m in zip(ids, mask) if m]).count("Action:") == 1 + len(r["turns"])


def test_observation_wrap_of_a_model_chat_template():
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models as tm

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(tm.WordLevel({"<unk>": 0}, unk_token="<unk>")),
                                  eos_token="<|im_end|>")
    tok.chat_template = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                         "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    h = {"format": "model", "chat_template": None}
    before, after = templates.observation_wrap(h, tok)
    assert (before, after) == ("\n<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def env_model(tmp_path_factory):
    """A tiny model whose tokenizer knows the environments' text, and textcraft/babyai rows."""
    d = tmp_path_factory.mktemp("envmodel")
    rows = env_rows("textcraft", 6) + env_rows("babyai", 6)
    texts = [r["prompt_text"] + r["completion_text"] + "".join(p + c for p, c in r["sft_turns"]) for r in rows]
    tiny = dict(vocab_size=400, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048)   # BabyAI prompts
    models.build_tiny(d / "base", texts, seed=0, tiny=tiny, atoms=tiny_atoms())
    io.write_jsonl(d / "train.jsonl", rows)
    return d, rows


def test_episode_engine_masks_environment_tokens_and_replays_exactly(env_model):
    from tunepipe import generation

    d, rows = env_model
    model, tok = models.load_model(d / "base", dtype="float32"), models.load_tokenizer(d / "base")
    args = episodes.EpisodeArgs(turn_tokens=6, max_length=None)
    stop = generation.stop_token_ids(model, tok)
    res = episodes.run(model, tok, rows, args=args, gen_kwargs={"do_sample": False}, stop_ids=stop, batch_size=5,
                       progress=False)
    again = episodes.run(model, tok, rows, args=args, gen_kwargs={"do_sample": False}, stop_ids=stop, batch_size=3,
                         progress=False)
    assert [r["completion_ids"] for r in res] == [r["completion_ids"] for r in again]   # batching-independent
    for row, r in zip(rows, res):
        assert len(r["env_mask"]) == len(r["completion_ids"]) and 1 <= r["steps"] <= row["spec"]["max_steps"]
        # the tokens marked 0 are exactly the wrapped observations, in order
        env_text, model_tokens, chunks = [], [], []
        for t, m in zip(r["completion_ids"], r["env_mask"]):
            if m == 0:
                env_text.append(t)
            elif env_text:
                chunks.append(tok.decode(env_text, skip_special_tokens=False))
                env_text = []
        before, after = row["obs_wrap"]
        assert chunks == [before + t["observation"] + after for t in r["turns"][: len(chunks)]]
        assert len(chunks) == r["steps"] - 1 or r["truncated"]
        # replaying the turns in a fresh instance gives the same observations and rewards
        env, _ = tasks.get(row["task"]).episode(row["spec"])
        with env:
            for t in r["turns"]:
                obs, rew, done = env.turn(tasks.response_text(t["turn"], "final"))
                assert obs == t["observation"] and rew == t["reward"]
            assert env.final == r["validator_score"] and env.completed == r["success"]
            assert r["reward"] == (1.0 if r["success"] else 0.0)   # train_reward: success
    assert all(r["steps"] == row["spec"]["max_steps"] or r["truncated"] for row, r in zip(rows, res))  # random model


def test_episode_turns_decode_as_generate_does(env_model, monkeypatch):
    """Episode turns run through prefix.decode (new tokens' keys and values in buffers): the
    same greedy episodes as generate gives; top-k (which decode does not do) goes to generate
    (prefix.decode_kwargs)."""
    from tunepipe import generation, prefix

    d, rows = env_model
    model, tok = models.load_model(d / "base", dtype="float32"), models.load_tokenizer(d / "base")
    args = episodes.EpisodeArgs(turn_tokens=6, max_length=None)
    stop = generation.stop_token_ids(model, tok)
    calls = []
    real = prefix.decode
    monkeypatch.setattr(prefix, "decode", lambda *a, **k: calls.append(1) or real(*a, **k))
    run = lambda: episodes.run(model, tok, rows, args=args, gen_kwargs={"do_sample": False}, stop_ids=stop,  # noqa: E731
                               batch_size=4, progress=False)
    fast = run()
    assert calls
    monkeypatch.setattr(prefix, "supported", lambda m: False)
    assert [r["completion_ids"] for r in run()] == [r["completion_ids"] for r in fast]
    assert prefix.decode_kwargs({"do_sample": True, "temperature": 0.7, "top_k": 0}) == \
        {"greedy_first": False, "temperature": 0.7, "top_p": 1.0}
    assert prefix.decode_kwargs({"do_sample": True, "top_k": 50}) is None
    assert prefix.decode_kwargs({"do_sample": True, "repetition_penalty": 1.2}) is None


def test_grpo_trains_on_episodes_through_rollout_func(env_model, tmp_path, monkeypatch):
    d, rows = env_model
    data = tmp_path / "rows.jsonl"
    io.write_jsonl(data, rows + [{"id": "s", "task": "sat", "prompt_text": "x", "completion_text": "y",
                                  "spec": {"n_vars": 1, "clauses": [[1]]}, "obs_wrap": None}])
    from test_training import GRPO_MODULE

    seen = {}
    real = training.rollout_function

    def spy(a, tok, stop):
        fn = real(a, tok, stop)

        def rollout(prompts, trainer):
            out = fn(prompts, trainer)
            seen.setdefault("masks", []).extend(out["env_mask"])
            seen.setdefault("tasks", []).extend(x["task"] for x in trainer.tunepipe_inputs)
            return out
        return rollout

    monkeypatch.setattr(GRPO_MODULE, "rollout_function", spy)
    real_reward = training.reward_function   # a random model never succeeds: vary the rewards by length

    def varied(name, log, **kw):
        fn = real_reward(name, log, **kw)
        return lambda prompts, completions, **k: [r + 0.01 * len(c) for r, c in zip(fn(prompts, completions, **k),
                                                                                    completions)]

    monkeypatch.setattr(GRPO_MODULE, "reward_function", varied)
    from test_training import changed, grpo_args, weights

    out, csv_path = tmp_path / "grpo", tmp_path / "completions.csv"
    a = grpo_args(max_steps=2, prompts_per_step=4, num_generations=2,
                  episode=episodes.EpisodeArgs(turn_tokens=6, max_length=None))
    res = training.grpo(a, data=str(data), init=str(d / "base"), out=str(out), ckpt_dir=str(tmp_path / "ckpt"),
                        live_dir=str(tmp_path / "live"), completions_csv=str(csv_path), seed=0)
    assert res["steps"] == 2 and changed(weights(d / "base"), weights(out)) > 0
    assert any(0 in m for m in seen["masks"])                 # environment tokens were masked
    import csv

    log = list(csv.DictReader(csv_path.open()))
    env_log = [r for r in log if r["task"] in ("textcraft", "babyai")]
    assert env_log and all(set(json.loads(r["parsed"])) == {"success", "steps"} for r in env_log)
    assert any("<|start|>user<|message|>" in r["completion"] for r in env_log)   # whole episodes logged


def test_evaluate_reports_success_reward_and_steps_per_environment(env_model):
    from tunepipe import evaluation, report
    from tunepipe.report import ParetoArgs

    d, rows = env_model
    test = env_rows("textcraft", 4, split="test") + env_rows("babyai", 4, split="test")
    a = evaluation.EvalArgs(models=["base"], extra_models={}, baseline=None, max_rows=None, max_new_tokens=4,
                            batch_size=8, backend="hf", dtype="float32", temperature=1.0, num_samples=2, level=0.8,
                            pareto=ParetoArgs(rule="interval", mode="greedy", min_samples=1),
                            episode=episodes.EpisodeArgs(turn_tokens=6, max_length=None))
    samples = []
    res = evaluation.evaluate_model("base", str(d / "base"), test, a, 0, samples)
    for name in ("textcraft", "babyai"):
        g = res[name]["greedy"]
        assert g["n"] == 4 and {"mean_reward", "mean_steps", "n_truncated", "ci_low", "ci_high"} <= set(g)
        assert "sampled" not in res[name]
        cut = [s["episode"]["turns_truncated"] for s in samples if s["task"] == name]
        assert [len(c) for c in cut] == [s["episode"]["steps"] for s in samples if s["task"] == name]
        assert g["budget"] == 6 and g["truncated"] == sum(map(sum, cut))      # turns cut by turn_tokens
        assert g["truncated_share"] == pytest.approx(g["truncated"] / (g["mean_steps"] * 4))
        assert g["truncated_episodes"] == sum(any(c) for c in cut)
    assert res["overall"]["greedy"]["n"] == 8
    assert {s["task"] for s in samples} == {"textcraft", "babyai"} and all(s["episode"]["turns"] for s in samples)
    md = "\n".join(report.episodes_markdown(samples))
    assert "### textcraft · base" in md and "### babyai · base" in md and "< " in md
    assert all(0 <= res[n]["greedy"]["validator_score"] for n in ("textcraft", "babyai"))


def test_collect_evaluate_and_grpo_rollouts_against_a_server_leave_nothing_open(env_model):
    """Every environment opened on a server is closed: collect's rows, evaluate's episodes (both
    layouts) and a GRPO rollout batch; the server counts its open ids."""
    import threading

    from tunepipe import evaluation, generation
    from tunepipe.report import ParetoArgs
    from tunepipe.tasks.envs.server import serve

    d, rows = env_model
    srv = serve("babyai")
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        served = env_rows("babyai", 3, split="test", cfg=EnvConfig(**{**CFG.__dict__, "server": url}))
        assert srv.service.open_ids() == [] and all(r["turns"] is None for r in served)
        render = templates.renderer(H)
        for r in served:
            r["prompt_text_agentgym"] = templates.agentgym_prompt_text(r["agentgym_prompt"], render, tuple(r["obs_wrap"]))
        model, tok = models.load_model(d / "base", dtype="float32"), models.load_tokenizer(d / "base")
        for layout in ("tunepipe", "agentgym"):
            a = evaluation.EvalArgs(models=["base"], extra_models={}, baseline=None, max_rows=None, max_new_tokens=4,
                                    batch_size=8, backend="hf", dtype="float32", temperature=1.0, num_samples=0,
                                    level=0.8, pareto=ParetoArgs(rule="interval", mode="greedy", min_samples=1),
                                    episode=episodes.EpisodeArgs(turn_tokens=6, max_length=None, layout=layout))
            res, _ = evaluation.episode_results("base", model, tok, served, a, None)
            assert "validator_score" in res["babyai"]["greedy"] and srv.service.open_ids() == []
        res = episodes.run(model, tok, served, args=episodes.EpisodeArgs(turn_tokens=6, max_length=None),
                           gen_kwargs={"do_sample": True, "temperature": 1.0},
                           stop_ids=generation.stop_token_ids(model, tok), batch_size=2, progress=False)
        assert all(r["reward"] in (0.0, 1.0) for r in res) and srv.service.open_ids() == []
    finally:
        srv.shutdown()
        srv.server_close()


def test_env_params_are_all_required_and_bad_values_name_the_section():
    from conftest import ROOT
    from tunepipe import TunepipeError, collection, config

    def collect_with(**kw):
        p = config.load(str(ROOT / "params.yaml"))
        p["collect"]["train"], p["collect"]["test"] = {"textcraft": 2}, {"textcraft": 1}
        p["collect"]["textcraft"].update(kw)
        for k in [k for k, v in kw.items() if v is None and k != "server"]:
            del p["collect"]["textcraft"][k]
        return collection.collect(p)

    with pytest.raises(TunepipeError, match=r"collect\.textcraft\.max_steps: missing key"):
        collect_with(max_steps=None)
    with pytest.raises(TunepipeError, match=r"collect\.textcraft: env difficulty must be"):
        collect_with(difficulty=[0, 2])
    with pytest.raises(TunepipeError, match=r"collect\.textcraft: max_steps: 1 is fewer turns than the oracle needs"):
        collect_with(max_steps=1)



def test_episode_turns_take_their_family_budget(env_model, monkeypatch):
    """turn_tokens as a mapping: each environment's turns generate with its own budget (a batch
    per budget), and a turn is counted cut only when it reached its own budget unstopped."""
    from tunepipe import generation, prefix

    d, rows = env_model
    model, tok = models.load_model(d / "base", dtype="float32"), models.load_tokenizer(d / "base")
    stop = generation.stop_token_ids(model, tok)
    calls = []
    real = prefix.decode
    monkeypatch.setattr(prefix, "decode", lambda *a, **k: calls.append(k["max_new_tokens"]) or real(*a, **k))
    args = episodes.EpisodeArgs(turn_tokens={"textcraft": 3, "babyai": 5}, max_length=None)
    res = episodes.run(model, tok, rows, args=args, gen_kwargs={"do_sample": False}, stop_ids=stop,
                       batch_size=8, progress=False)
    assert set(calls) == {3, 5}
    for row, r in zip(rows, res):
        b = 3 if row["task"] == "textcraft" else 5
        turns = [t["turn"] for t in r["turns"]]
        assert len(r["turns_truncated"]) == r["steps"] == len(turns)
        segments, prev = [], 0   # the model's turns: the runs of env_mask 1
        for i, m in zip(r["completion_ids"], r["env_mask"]):
            if m and not prev:
                segments.append([])
            if m:
                segments[-1].append(i)
            prev = m
        assert len(segments) == r["steps"]
        assert all(len(x) <= b for x in segments)
        assert r["turns_truncated"] == [len(x) == b and not set(x) & stop for x in segments]
    assert any(any(r["turns_truncated"]) for r in res)
