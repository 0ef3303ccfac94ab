"""The reference family (BLEUBERI): BLEU as evaluate/TF-NMT compute it, ROUGE-L, the reward
model metrics and their per-group z-scores, pool sources and their errors, the reward
stage's difficulty selection, and (slow) a DVC experiment that switches to hard selection."""
from __future__ import annotations

import json
import math
import sys

import pytest

from conftest import ROOT, TINY_OVERRIDES, run, write_params
from tunepipe import TunepipeError, collection, config, harmony, io, rewarding, tasks, training
from tunepipe.tasks import reference
from tunepipe.tasks.reference import bleu, rouge_l

E = math.exp


# ----------------------------------------------------------------------------- BLEU

# Expected values computed by hand from the published compute_bleu (TF NMT, smooth=True):
# p_n = (clipped matches_n + 1) / (max(0, c - n + 1) + 1), geometric mean of p_1..p_4,
# BP = 1 if c > r else exp(1 - r / c), r = the SHORTEST reference (13a tokens).
@pytest.mark.parametrize("hyp, refs, expect", [
    ("the cat sat on the mat", ["the cat sat on the mat"], 1.0),                       # exact match
    ("", ["the cat"], 0.0),                                                             # empty hypothesis
    ("   \n ", ["the cat"], 0.0),                                                       # nothing after 13a
    ("the cat", ["the cat sat on the mat"], E(1 - 6 / 2)),                              # shorter: p = 1, BP e^-2
    ("the cat sat on the mat today", ["the cat sat on the mat"],                        # longer: BP 1
     (7 / 8 * 6 / 7 * 5 / 6 * 4 / 5) ** 0.25),
    ("x y", ["a b"], (1 / 3 * 1 / 2 * 1 * 1) ** 0.25),                                  # no match: smoothing only
    ("the the the", ["the cat", "the the dog"], (3 / 4 * 2 / 3 * 1 / 2 * 1) ** 0.25),  # clip by MAX over refs
    ("a b c d", ["a b c d e f", "x"], 1.0),                                             # BP vs the SHORTEST ref
    ("a b", ["a b c", "a b c d e"], E(1 - 3 / 2)),                                      # shorter than every ref
    ("a b c d e f", ["q r s", "a b c d e f"], 1.0),                                     # match of the 2nd ref
    ("Hello, world.", ["Hello , world ."], 1.0),                                        # 13a splits punctuation
    ("it costs 3.5 euros", ["it costs 3 . 5 euros"],                                    # ...but not 3.5:
     (4 / 5 * 2 / 4 * 1 / 3 * 1 / 2) ** 0.25 * E(1 - 6 / 4)),                          # 3 + 1 + 0 + 0 matches
    ("dog cat", ["cat dog"], (3 / 3 * 1 / 2 * 1 * 1) ** 0.25),                          # order matters (2-grams)
])
def test_bleu_table(hyp, refs, expect):
    assert bleu(hyp, refs) == pytest.approx(expect, abs=1e-12)


def test_bleu_is_not_sacrebleu_sentence_bleu():
    """sacrebleu's default sentence BLEU (0-100, exp smoothing, effective order, CLOSEST
    reference length) agrees on the simple cases and differs where those choices bite."""
    import sacrebleu

    agree = [("the cat sat on the mat", ["the cat sat on the mat"]), ("the cat", ["the cat sat on the mat"])]
    for hyp, refs in agree:
        assert sacrebleu.sentence_bleu(hyp, refs).score / 100 == pytest.approx(bleu(hyp, refs), abs=1e-9)
    # closest reference (6 tokens) vs shortest (1 token): sacrebleu applies BP exp(1 - 6/4)
    assert sacrebleu.sentence_bleu("a b c d", ["a b c d e f", "x"]).score / 100 == pytest.approx(E(1 - 6 / 4))
    assert bleu("a b c d", ["a b c d e f", "x"]) == 1.0
    # no matching unigram: add-one smoothing on every order gives .639; sacrebleu's exp smoothing far less
    assert bleu("x y", ["a b"]) == pytest.approx((1 / 6) ** 0.25)
    assert sacrebleu.sentence_bleu("x y", ["a b"]).score / 100 < 0.1
    # a partial 4-gram match
    hyp, refs = "the quick brown fox jumps", ["the quick brown dog jumps high"]
    assert abs(sacrebleu.sentence_bleu(hyp, refs).score / 100 - bleu(hyp, refs)) > 0.01


def test_rouge_equals_rouge_score():
    from rouge_score import rouge_scorer

    sc = rouge_scorer.RougeScorer(["rougeL"])
    for hyp, refs in [("the cat sat", ["the cat sat on the mat"]), ("a b c", ["c b a", "a x b y c"]),
                      ("Hello, World!", ["hello world"]), ("nothing alike", ["qq rr"])]:
        assert rouge_l(hyp, refs) == sc.score_multi(refs, hyp)["rougeL"].fmeasure
        assert rouge_l(hyp, refs) == max(sc.score(r, hyp)["rougeL"].fmeasure for r in refs)
    assert rouge_l("", ["x"]) == 0.0


# -------------------------------------------------------------------- parse / score

SPEC = {"references": ["0, 2, 4, 6, 8"], "prompt": [{"role": "user", "content": "List the even numbers below 9."}],
        "source_id": "s1", "answer_index": 0, "metric": "bleu", "answer_tag": "answer"}


@pytest.mark.parametrize("text, expect", [
    ("0, 2, 4, 6, 8", "0, 2, 4, 6, 8"),
    ("  0, 2, 4, 6, 8<|im_end|>\n", "0, 2, 4, 6, 8"),                 # a model template's end of turn
    ("thinking... <answer>0, 2, 4</answer> and <answer> 0, 2, 4, 6, 8 </answer>", "0, 2, 4, 6, 8"),
    ("<answer>unclosed", "<answer>unclosed"),
    ("", ""), (None, None), (3, None),
])
def test_parse_table(text, expect):
    assert reference.parse(text, SPEC) == expect


def test_score_reads_the_final_channel_answer_tags_and_empty_is_zero():
    final = ("<|channel|>analysis<|message|>hmm 1 3 5<|end|><|start|>assistant"
             "<|channel|>final<|message|>0, 2, 4, 6, 8<|return|>")
    assert tasks.score_completion("reference", final, SPEC) == 1.0
    assert tasks.score_completion("reference", "<answer>0, 2, 4, 6, 8</answer>", SPEC) == 1.0
    assert tasks.score_completion("reference", "<answer>0, 2, 4, 6, 8</answer>", {**SPEC, "answer_tag": None}) < 1
    assert tasks.score_completion("reference", "", SPEC) == 0.0
    assert tasks.solved("reference", 1.0, SPEC) and not tasks.solved("reference", 0.99, SPEC)
    rouge = {**SPEC, "metric": "rouge"}
    assert tasks.score_completion("reference", "0 2 4", rouge) == pytest.approx(rouge_l("0 2 4", SPEC["references"]))


def test_check_spec():
    fam = tasks.get("reference")
    fam.check_spec(SPEC)
    for bad, fld in [({**SPEC, "references": []}, "references"), ({**SPEC, "references": ["ok", " "]}, "references"),
                     ({**SPEC, "prompt": "text"}, "prompt"), ({**SPEC, "source_id": 3}, "source_id"),
                     ({**SPEC, "metric": "bertscore"}, "metric"), ({**SPEC, "metric": "rm"}, "rm")]:
        with pytest.raises(ValueError, match=f"^{fld}:"):
            fam.check_spec(bad)


def test_metrics_components_and_t_interval():
    specs = [SPEC] * 4
    m = reference.metrics(["0, 2, 4, 6, 8", "0, 2, 4", None, "0,  2, 4, 6,  8"], specs, 0.8)
    scores = [1.0, bleu("0, 2, 4", SPEC["references"]), 0.0, 1.0]
    assert m["bleu"] == pytest.approx(sum(scores) / 4) and m["exact_match"] == 0.5
    assert m["rouge_l"] == pytest.approx((1 + rouge_l("0, 2, 4", SPEC["references"]) + 0 + 1) / 4)
    from scipy.stats import t
    import statistics
    half = t.ppf(0.9, 3) * statistics.stdev(scores) / 2
    assert m["mean_t_low"] == pytest.approx(max(0, sum(scores) / 4 - half))
    assert m["mean_t_high"] == pytest.approx(min(1, sum(scores) / 4 + half))
    assert "rm_logit" not in m


# ------------------------------------------------------------------- reward models

@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory):
    """A tiny Qwen3 sequence classifier (num_labels=1) with a corpus tokenizer, saved."""
    import torch
    from transformers import Qwen3Config, Qwen3ForSequenceClassification

    from tunepipe import models
    from tunepipe.tasks import reference_pool

    texts = [r["messages"][0]["content"] + " " + r["ref_output_gold"] for r in reference_pool.pool(100, 0)]
    tok = models.train_tokenizer(texts, vocab_size=300, special_tokens=harmony.SPECIAL_TOKENS,
                                 chat_template=harmony.CHAT_TEMPLATE)
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, head_dim=16, num_labels=1,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("rm") / "rm"
    Qwen3ForSequenceClassification(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return d


RM_SELECTION = {"mode": "hard", "num_examples": None, "max_new_tokens": 8, "temperature": 0.0, "top_p": 1.0,
                "batch_size": 4}


def rm_cfg(path, metric="rm"):
    """A typed ``reward.reference`` with a reward model."""
    return config.typed(reference.RewardConfig, {
        "metric": metric, "answer_tag": "answer", "selection": RM_SELECTION,
        "rm": {"model": str(path), "dtype": "float32", "max_length": 1024, "batch_size": 3, "scale": 1.0}},
        "reward.reference")


def rm_spec(spec, path, metric="rm", split="test"):
    return reference.reward_spec(spec, rm_cfg(path, metric), split)


def test_rm_scores_batched_equal_one_by_one_and_match_the_model(tiny_rm):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    spec = rm_spec({k: v for k, v in SPEC.items() if k not in ("metric", "answer_tag")}, tiny_rm)
    answers = ["0, 2, 4, 6, 8", "1 3 5", "a much longer answer that is not a list at all", "8"]
    reference._LOGITS.clear()
    batched = reference.rm_logits(answers, [spec] * 4)
    reference._LOGITS.clear()
    single = [reference.rm_logits([a], [spec])[0] for a in answers]
    assert batched == pytest.approx(single, abs=1e-5) and len(set(batched)) == 4
    tok, model = AutoTokenizer.from_pretrained(tiny_rm), AutoModelForSequenceClassification.from_pretrained(tiny_rm)
    text = tok.apply_chat_template([*spec["prompt"], {"role": "assistant", "content": answers[1]}], tokenize=False)
    with torch.no_grad():
        direct = model(**tok(text, return_tensors="pt", add_special_tokens=False)).logits[0, 0].item()
    assert batched[1] == pytest.approx(direct, abs=1e-5)
    scores = tasks.score_batch(["reference"] * 5, answers + [""], [spec] * 5)
    assert scores[:4] == pytest.approx([1 / (1 + math.exp(-x)) for x in batched]) and scores[4] == 0.0


def test_group_z_scores_in_grpo_and_absolute_scores_in_evaluate(tiny_rm):
    base = {k: v for k, v in SPEC.items() if k not in ("metric", "answer_tag")}
    train = rm_spec(base, tiny_rm, "bleu+rm", "train")
    test = rm_spec(base, tiny_rm, "bleu+rm", "test")
    assert train["group_z"] is True and "group_z" not in test
    other = {**train, "source_id": "s2", "references": ["1, 3, 5"]}
    comps = ["0, 2, 4, 6, 8", "0, 2", "hello", "0, 2, 4", "1, 3, 5", "1 3"]
    specs = [train] * 4 + [other] * 2
    got = tasks.score_batch(["reference"] * 6, comps, specs)
    b = [bleu(c, s["references"]) for c, s in zip(comps, specs)]
    r = reference.rm_logits(comps, specs)

    def z(xs):
        mu, sd = sum(xs) / len(xs), (sum((x - sum(xs) / len(xs)) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5
        return [(x - mu) / sd for x in xs]

    expect = [(p + q) / 2 for p, q in zip(z(b[:4]), z(r[:4]))] + [(p + q) / 2 for p, q in zip(z(b[4:]), z(r[4:]))]
    assert got == pytest.approx(expect, abs=1e-9)
    assert sum(got[:4]) == pytest.approx(0.0, abs=1e-9)
    # the same completions on test rows (evaluate): (BLEU + sigmoid(logit)) / 2, in [0, 1]
    ev = tasks.score_batch(["reference"] * 4, comps[:4], [test] * 4)
    assert ev == pytest.approx([(p + 1 / (1 + math.exp(-q))) / 2 for p, q in zip(b[:4], r[:4])])
    # the GRPO reward function of the pipeline calls the same scorer
    out = training.reward_function("strict", [])(["p"] * 6, comps, task=["reference"] * 6,
                                                      spec=[json.dumps(s) for s in specs])
    assert out == pytest.approx(expect, abs=1e-9)
    # rm alone: z-scores of the logit in GRPO
    rm_train = rm_spec(base, tiny_rm, "rm", "train")
    assert tasks.score_batch(["reference"] * 4, comps[:4], [rm_train] * 4) == pytest.approx(z(r[:4]), abs=1e-9)


def test_reference_scores_make_solved_mean_as_good_as_a_reference(tiny_rm):
    rows = [{"id": f"r{i}", "task": "reference", "prompt": SPEC["prompt"], "answer": a,
             "spec": {"references": ["0, 2, 4, 6, 8", "0 2 4 6 8"], "prompt": SPEC["prompt"], "source_id": "s1",
                      "answer_index": i}} for i, a in enumerate(["0, 2, 4, 6, 8", "0 2 4 6 8"])]
    out = rewarding.rewarded(rows, {"reference": rm_cfg(tiny_rm)}, "x", "train")
    logits = reference.rm_logits(["0, 2, 4, 6, 8", "0 2 4 6 8"], [out[0]["spec"]] * 2)
    assert out[0]["spec"]["ref_score"] == pytest.approx(1 / (1 + math.exp(-min(logits))))
    for r in out:
        r["completion_text"] = harmony.render_completion(r["answer"])
    rewarding.verify(out, "x")   # both references count as solved (groups of one: absolute scores)


def test_a_reward_model_that_does_not_load_is_one_line_and_no_outputs(tmp_path, tiny_rm):
    h = tmp_path / "h"
    rows = reward_stage_input(h, n=6)
    assert rows
    for bad in [tmp_path / "nope", ROOT / "data", "someone/missing-rm"]:
        write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "reward.reference.metric": "rm", "reward.reference.rm.model": str(bad)})
        p = run([sys.executable, str(ROOT / "stages" / "reward.py"), "--params", "params.yaml", "--data", str(h),
                 "--out", "data/reward"], tmp_path, check=False)
        lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
        assert p.returncode == 1 and len(lines) == 1, p.stderr
        assert lines[0].startswith("error: reward.reference.rm.model: cannot load") and str(bad) in lines[0]
        assert ("HF_HUB_OFFLINE" in lines[0]) == (bad == "someone/missing-rm")
        assert not (tmp_path / "data" / "reward").exists()
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "reward.reference.metric": "rm"})
    p = run([sys.executable, str(ROOT / "stages" / "reward.py"), "--params", "params.yaml", "--data", str(h),
             "--out", "data/reward"], tmp_path, check=False)
    assert p.returncode == 1 and "reward.reference.rm.model: expected a reward model" in p.stderr
    # a real (tiny) reward model goes through, references verified against their own RM score
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "reward.reference.metric": "bleu+rm",
                                            "reward.reference.rm.model": str(tiny_rm)})
    run([sys.executable, str(ROOT / "stages" / "reward.py"), "--params", "params.yaml", "--data", str(h),
         "--out", "data/reward"], tmp_path)
    train = io.read_jsonl(tmp_path / "data" / "reward" / "train.jsonl")
    assert all(r["spec"]["group_z"] and "ref_score" in r["spec"] for r in train)


# ------------------------------------------------------------------------- sources

def pool_rows(n, models=("claude",)):
    rows = []
    for i in range(n):
        r = {"id": f"tulu-{i}", "source": "test", "messages": [
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Say the number {i} twice."},
            {"role": "assistant", "content": f"{i} {i}"}], "ref_output_gold": f"{i} {i}"}
        for m in models:
            r[f"ref_output_{m}"] = f"{i}, {i}" if i % 3 else None   # every third row lacks it
        rows.append(r)
    return rows


def write_pool(path, rows):
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def collect_params(tmp_path, **kw):
    p = tmp_path / "params.yaml"
    write_params(p, {**TINY_OVERRIDES, "collect.train": {"reference": None}, "collect.test": {"reference": None},
                     **{f"collect.reference.{k}": v for k, v in kw.items()}})
    return config.load(p)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_bleuberi_pool_file_with_two_reference_columns(tmp_path, suffix):
    src = write_pool(tmp_path / f"pool{suffix}", pool_rows(30))
    rows = collection.collect(collect_params(tmp_path, source=str(src), ref_models=["gold", "claude"],
                                             test_fraction=0.3))
    train, test = rows["train"], rows["test"]
    kept = {f"tulu-{i}" for i in range(30) if i % 3}                       # rows without claude dropped
    assert {r["spec"]["source_id"] for r in train + test} == kept
    assert not {r["spec"]["source_id"] for r in train} & {r["spec"]["source_id"] for r in test}
    assert len(train) == 2 * len({r["spec"]["source_id"] for r in train})  # a train row per reference
    assert len(test) == len({r["spec"]["source_id"] for r in test})        # a test row per prompt
    r = train[0]
    i = int(r["spec"]["source_id"].split("-")[1])
    assert r["prompt"] == [{"role": "system", "content": "Be brief."},
                           {"role": "user", "content": f"Say the number {i} twice."}]
    assert r["spec"]["references"] == [f"{i} {i}", f"{i}, {i}"]
    assert r["answer"] == r["spec"]["references"][r["spec"]["answer_index"]]


def test_builtin_pool_default_source(tmp_path):
    rows = collection.collect(collect_params(tmp_path, source=str(ROOT / "data/sources/reference"), pool_size=120,
                                             ref_models=["gold", "alt"]))
    train, test = rows["train"], rows["test"]
    assert 10 <= len(test) <= 50 and train
    assert all(len(r["spec"]["references"]) == 2 for r in train + test)
    again = collection.collect(collect_params(tmp_path, source=str(ROOT / "data/sources/reference"), pool_size=120,
                                              ref_models=["gold", "alt"]))
    assert again == rows
    for r in train:   # every reference is scored 1.0 by BLEU against its row's references
        assert tasks.score_completion("reference", r["answer"], r["spec"]) == 1.0


def stage_error(tmp_path, **kw):
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "collect.train": {"reference": None},
                                            "collect.test": {"reference": None},
                                            **{f"collect.reference.{k}": v for k, v in kw.items()}})
    p = run([sys.executable, str(ROOT / "stages" / "collect.py"), "--params", "params.yaml", "--out", "data/collect"],
            tmp_path, check=False)
    lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
    assert p.returncode == 1 and len(lines) == 1, p.stderr
    assert not (tmp_path / "data" / "collect").exists()
    return lines[0]


def test_missing_column_empty_pool_and_offline_hub_are_one_line_errors(tmp_path):
    src = write_pool(tmp_path / "pool.jsonl", pool_rows(5))
    line = stage_error(tmp_path, source=str(src), ref_models=["gold", "gemini"])
    assert "pool.jsonl: missing column 'ref_output_gemini'" in line and "ref_output_claude" in line
    blank = write_pool(tmp_path / "blank.jsonl", [{**r, "ref_output_gold": " "} for r in pool_rows(5)])
    line = stage_error(tmp_path, source=str(blank), ref_models=["gold"])
    assert "no rows left (5 read, 5 dropped" in line
    line = stage_error(tmp_path, source="yapeichang/BLEUBERI-Tulu3-50k")
    assert "HF_HUB_OFFLINE" in line and "yapeichang/BLEUBERI-Tulu3-50k" in line
    line = stage_error(tmp_path, source=str(tmp_path / "missing.jsonl"))
    assert "no such file" in line
    bad = write_pool(tmp_path / "bad.jsonl", [{"id": 1, "messages": [{"role": "assistant", "content": "x"}],
                                               "ref_output_gold": "y"}])
    line = stage_error(tmp_path, source=str(bad))
    assert "bad.jsonl: row 1: field 'messages': no user message" in line


# ---------------------------------------------------------------- reward + selection

@pytest.mark.parametrize("mode, expect", [
    ("hard", [1, 3, 5]),          # the 3 lowest: .1, .2 (row 3), .2 (row 5; ties keep pool order)
    ("easy", [0, 2, 4]),
    ("medium", [0, 3, 5]),        # ascending 1,3,5,0,4,2; window from (6 - 3) // 2 = 1
])
def test_select_table(mode, expect):
    scores = [0.5, 0.1, 0.9, 0.2, 0.7, 0.2]
    assert reference.select(scores, mode, 3, seed=0) == expect
    assert reference.select(scores, mode, 10, seed=0) == list(range(6))


def test_select_random_is_seeded():
    a = reference.select([None] * 50, "random", 10, seed=1)
    assert a == reference.select([None] * 50, "random", 10, seed=1) != reference.select([None] * 50, "random", 10, 2)
    assert len(set(a)) == 10


def reward_stage_input(h, n=12, extra=()):
    """collect (built-in pool) + harmony rendering, written as the reward stage's input."""
    params = h.parent / "in.yaml"
    write_params(params, {**TINY_OVERRIDES, "collect.train": {"reference": n, **dict(extra)},
                          "collect.test": {"reference": 4}, "collect.reference.pool_size": 60})
    rows = collection.collect(config.load(params))
    for split in ("train", "test"):
        for r in rows[split]:
            r["prompt_text"] = harmony.render(r["prompt"], system_message=False)
            r["completion_text"] = harmony.render_completion(r["answer"])
        io.write_jsonl(h / f"{split}.jsonl", rows[split])
    return rows


def test_reward_stage_hard_selection_keeps_the_lowest_base_scores(tmp_path, tiny_model):
    from test_collect import stage

    h = tmp_path / "h"
    rows = reward_stage_input(h, n=20, extra={"sat": 5})
    params = tmp_path / "params.yaml"
    write_params(params, {**TINY_OVERRIDES, "reward.reference.selection.mode": "hard", "reward.reference.selection.num_examples": 6,
                          "reward.reference.selection.max_new_tokens": 6, "reward.reference.selection.temperature": 0.0})
    stage("reward")(params=str(params), data=str(h), base=str(tiny_model / "base"), out=str(tmp_path / "r"))
    sel = io.read_jsonl(tmp_path / "r" / "reference_selection.jsonl")
    assert len(sel) == 20 and sum(s["selected"] for s in sel) == 6
    kept = [s["score"] for s in sel if s["selected"]]
    assert max(kept) <= min(s["score"] for s in sel if not s["selected"])
    assert sorted(s["rank"] for s in sel if s["selected"]) == list(range(6))
    # the score is the family's scorer of that completion
    specs = {r["spec"]["source_id"]: r["spec"] for r in rows["train"] if r["task"] == "reference"}
    for s in sel[:5]:
        spec = {**specs[s["source_id"]], "metric": "bleu", "answer_tag": "answer"}
        assert s["score"] == tasks.score_completion("reference", s["completion"], spec)
    train = io.read_jsonl(tmp_path / "r" / "train.jsonl")
    chosen = {s["source_id"] for s in sel if s["selected"]}
    assert {r["spec"]["source_id"] for r in train if r["task"] == "reference"} == chosen
    assert sum(r["task"] == "sat" for r in train) == 5                   # other families untouched
    assert all(r["spec"]["metric"] == "bleu" for r in train if r["task"] == "reference")
    # num_examples null: no selection, no generation, no selection file
    write_params(params, {**TINY_OVERRIDES})
    stage("reward")(params=str(params), data=str(h), base=str(tmp_path / "no-model"), out=str(tmp_path / "r2"))
    assert not (tmp_path / "r2" / "reference_selection.jsonl").exists()
    assert sum(r["task"] == "reference" for r in io.read_jsonl(tmp_path / "r2" / "train.jsonl")) == 20
    # bad selection params fail before any work
    write_params(params, {**TINY_OVERRIDES, "reward.reference.selection.mode": "hardest"})
    with pytest.raises(TunepipeError, match=r"reward\.reference\.selection\.mode: expected all, random"):
        stage("reward")(params=str(params), data=str(h), base=str(tiny_model / "base"), out=str(tmp_path / "r3"))
    assert not (tmp_path / "r3").exists()


# ------------------------------------------------------------------------- DVC e2e

@pytest.mark.slow
def test_hard_selection_experiment_reruns_reward_not_upstream(tmp_path):
    """`dvc exp run -S reward.selection.mode=hard reward` reruns reward and nothing upstream,
    and leaves sft onward stale; the selected rows are exactly the lowest-scoring ones;
    evaluate reports the family."""
    from conftest import make_project
    from test_pipeline import DVC, ran_stages

    project = make_project(tmp_path / "proj", {
        **TINY_OVERRIDES, "collect.train": {"sat": 24, "reference": 30}, "collect.test": {"sat": 8, "reference": 8},
        "collect.reference.pool_size": 60, "reward.reference.selection.mode": "random", "reward.reference.selection.num_examples": 10,
        "reward.reference.selection.max_new_tokens": 6, "grpo.tasks": ["sat", "reference"]})
    run(DVC + ["repro"], project)
    sel = io.read_jsonl(project / "data" / "reward" / "reference_selection.jsonl")
    assert sum(s["selected"] for s in sel) == 10 and all(s["score"] is None for s in sel)
    ev = json.loads((project / "metrics" / "eval.json").read_text())
    g = ev["grpo"]["reference"]["greedy"]
    assert g["n"] == 8 and {"bleu", "rouge_l", "exact_match", "mean_t_low", "mean_t_high"} <= set(g)
    assert 0 <= g["ci_low"] <= g["accuracy"] <= g["ci_high"] <= 1
    assert "reference" in (project / "metrics" / "pareto.json").read_text()      # an env of the comparison
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "random selection"], project)

    # up to reward, where the selection happens (that a reward change carries on through evaluate
    # is test_decision's tau experiment; the status check below shows sft onward are now stale)
    p = run(DVC + ["exp", "run", "-S", "reward.reference.selection.mode=hard", "reward"], project)
    assert ran_stages(p.stdout) == ["reward"], p.stdout
    assert {"sft", "grpo"} <= set(json.loads(run(DVC + ["status", "--json"], project).stdout or "{}"))
    sel = io.read_jsonl(project / "data" / "reward" / "reference_selection.jsonl")
    chosen = [s for s in sel if s["selected"]]
    assert len(chosen) == 10 and all(s["mode"] == "hard" for s in sel)
    order = sorted(range(len(sel)), key=lambda i: (sel[i]["score"], i))
    assert {sel[i]["source_id"] for i in order[:10]} == {s["source_id"] for s in chosen}
    train = io.read_jsonl(project / "data" / "reward" / "train.jsonl")
    assert {r["spec"]["source_id"] for r in train if r["task"] == "reference"} == {s["source_id"] for s in chosen}


def test_doctests():
    import doctest

    from tunepipe.tasks import reference_pool
    from tunepipe.tasks.reference import rewarding as reference_rewarding

    for module in (reference, reference_rewarding, reference_pool):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
