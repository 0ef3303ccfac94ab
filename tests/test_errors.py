"""Bad input: a one-line error, a non-zero exit, and no partial outputs."""
import dataclasses
import json
import sys
from pathlib import Path

import pytest

from conftest import ROOT, TINY_OVERRIDES, run, write_params
from tunepipe import TunepipeError, config

PY = sys.executable


def stage(name, *args, cwd):
    return run([PY, str(ROOT / "stages" / f"{name}.py"), *args], cwd, check=False)


def assert_one_line_error(p, *needles):
    assert p.returncode != 0
    lines = [l for l in p.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr[-2000:]
    for n in needles:
        assert n in lines[0], lines[0]


def test_unknown_task_name(tmp_path):
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "collect.train": {"sta": 4}})
    p = stage("collect", "--params", "params.yaml", "--out", "data/collect", cwd=tmp_path)
    assert_one_line_error(p, "unknown task 'sta'", "sat")
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.jsonl"))


def test_params_value_of_the_wrong_type(tmp_path):
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "sft.learning_rate": "fast"})
    p = stage("sft", "--params", "params.yaml", "--out", "models/sft", cwd=tmp_path)
    assert_one_line_error(p, "sft.learning_rate", "expected float")
    assert not (tmp_path / "models").exists()


def test_unknown_trl_field_names_the_nearest(tmp_path):
    """grpo.trl passes GRPOConfig fields through: a misspelt one is a one-line error naming the
    nearest field, before the stage loads anything."""
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "grpo.trl": {"loss_typ": "grpo"}})
    p = stage("grpo", "--params", "params.yaml", "--out", "models/grpo", cwd=tmp_path)
    assert_one_line_error(p, "params.yaml: grpo.trl.loss_typ: not a GRPOConfig field; did you mean loss_type?")
    assert not (tmp_path / "models").exists()


@dataclasses.dataclass
class Args:  # the shapes params sections use
    models: list[str]
    max_rows: int | None
    batch_size: int
    temperature: float


GOOD = dict(models=["base"], max_rows=None, batch_size=2, temperature=1.0)


def test_params_missing_and_unknown_keys():
    with pytest.raises(TunepipeError, match="sft.lora: missing key"):
        from tunepipe import training

        config.typed(training.SFTArgs, {k: 1 for k in training.SFTArgs.__dataclass_fields__ if k != "lora"}, "sft")
    assert config.typed(Args, GOOD, "evaluate").max_rows is None
    with pytest.raises(TunepipeError, match="unknown key"):
        config.typed(Args, {**GOOD, "tempreature": 1.0}, "evaluate")
    with pytest.raises(TunepipeError, match="evaluate.models\\[0\\]: expected str"):
        config.typed(Args, {**GOOD, "models": [1]}, "evaluate")
    with pytest.raises(TunepipeError, match="expected int, got bool"):
        config.typed(Args, {**GOOD, "batch_size": True}, "evaluate")


def test_missing_model_path(tmp_path):
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "base.model": str(tmp_path / "no-such-model")})
    (tmp_path / "data" / "collect").mkdir(parents=True)
    (tmp_path / "data" / "collect" / "train.jsonl").write_text("")
    p = stage("base", "--params", "params.yaml", "--data", "data/collect", "--out", "models/base", cwd=tmp_path)
    assert_one_line_error(p, "base.model", "no-such-model")
    assert not (tmp_path / "models" / "base").exists()
    assert not list((tmp_path / "models").glob(".base*")), "temp output left behind"


def test_model_dir_without_tokenizer_files(tmp_path):
    """A dir of weights saved without the tokenizer: transformers builds an empty tokenizer
    from config.json alone (every prompt tokenises to nothing); ours says what is missing."""
    from tunepipe import models

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    with pytest.raises(TunepipeError, match=r"m: no tokenizer files \(tokenizer.json, "):
        models.load_tokenizer(tmp_path / "m")


def test_missing_gguf_file(tmp_path):
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "base.model": "nothere/model.Q4.gguf"})
    p = stage("base", "--params", "params.yaml", "--out", "models/base", cwd=tmp_path)
    assert_one_line_error(p, "GGUF file nothere/model.Q4.gguf not found")
    assert not (tmp_path / "models" / "base").exists()


def test_jsonl_row_without_spec(tmp_path):
    write_params(tmp_path / "params.yaml", TINY_OVERRIDES)
    d = tmp_path / "data" / "harmony"
    d.mkdir(parents=True)
    row = {"id": "r1", "task": "sat", "prompt": [], "answer": "x1=True", "prompt_text": "p", "completion_text": "c"}
    (d / "train.jsonl").write_text(json.dumps(row) + "\n")
    p = stage("reward", "--params", "params.yaml", "--data", "data/harmony", "--out", "data/reward", cwd=tmp_path)
    assert_one_line_error(p, "train.jsonl:1", "'r1'", "'spec'")
    assert not (tmp_path / "data" / "reward").exists()


def test_reference_that_does_not_score_one(tmp_path):
    write_params(tmp_path / "params.yaml", TINY_OVERRIDES)
    d = tmp_path / "data" / "harmony"
    d.mkdir(parents=True)
    row = {"id": "r7", "task": "sat", "prompt": [], "answer": "x1=False", "spec": {"n_vars": 1, "clauses": [[1]]},
           "prompt_text": "p", "completion_text": "<|channel|>final<|message|>x1=False<|return|>"}
    (d / "train.jsonl").write_text(json.dumps(row) + "\n")
    p = stage("reward", "--params", "params.yaml", "--data", "data/harmony", "--out", "data/reward", cwd=tmp_path)
    assert_one_line_error(p, "r7", "scores 0.0")
    assert not (tmp_path / "data" / "reward").exists()


def test_exponent_floats_without_a_dot_are_floats():
    """PyYAML reads `1e-5` as a string; a float field accepts it, and only it."""
    assert config.typed(Args, {**GOOD, "temperature": "1e-1"}, "evaluate").temperature == 0.1
    with pytest.raises(TunepipeError, match="evaluate.temperature: expected float, got str"):
        config.typed(Args, {**GOOD, "temperature": "1e"}, "evaluate")
    with pytest.raises(TunepipeError, match="evaluate.batch_size: expected int"):
        config.typed(Args, {**GOOD, "batch_size": "1e3"}, "evaluate")


@pytest.mark.parametrize("spec, needles", [
    ({"n_vars": 2}, ("row 1 (r1)", "field 'spec.clauses': missing")),
    ({"n_vars": 2, "clauses": [[1, "x"]]}, ("row 1 (r1)", "field 'spec.clauses'")),
])
def test_reward_stage_refuses_a_bad_spec_a_user_brings(tmp_path, spec, needles):
    """A SAT row without clauses used to die with a KeyError traceback, and a clause
    holding "x" passed verification: both are bad input, named in one line."""
    write_params(tmp_path / "params.yaml", TINY_OVERRIDES)
    d = tmp_path / "data" / "harmony"
    d.mkdir(parents=True)
    row = {"id": "r1", "task": "sat", "prompt": [], "answer": "x1=True", "spec": spec, "prompt_text": "p",
           "completion_text": "<|channel|>final<|message|>x1=True<|return|>"}
    (d / "train.jsonl").write_text(json.dumps(row) + "\n")
    (d / "test.jsonl").write_text("")
    p = stage("reward", "--params", "params.yaml", "--data", "data/harmony", "--out", "data/reward", cwd=tmp_path)
    assert_one_line_error(p, "train.jsonl", *needles)
    assert not (tmp_path / "data" / "reward").exists()


@pytest.mark.parametrize("dotted, value, expect", [
    ("collect.satt", {}, r"collect\.satt: unknown key; did you mean sat\?"),
    ("base.modl", "tiny", r"base\.modl: unknown key; did you mean model\?"),
    ("base.tiny.hidden_sise", 64, r"base\.tiny\.hidden_sise: unknown key; did you mean hidden_size\?"),
    ("collect.import.min_scor", 1.0, r"collect\.import\.min_scor: unknown key; did you mean min_score\?"),
    ("harmony_convert.formt", "model", r"harmony_convert\.formt: unknown key; did you mean format\?"),
    ("harmony_convert.prompt_templates.usr", "{prompt}",
     r"harmony_convert\.prompt_templates\.usr: unknown key; did you mean user\?"),
    ("reward.decison", {"tau": 1.0}, r"reward\.decison: unknown key; did you mean decision\?"),
    ("reward.decision.taus", 1.0, r"reward\.decision\.taus: unknown key; did you mean tau\?"),
    ("reward.reference.selection.modes", "hard", r"reward\.reference\.selection\.modes: unknown key; did you mean mode\?"),
])
def test_a_misspelt_key_in_any_section_names_the_nearest_valid_one(tmp_path, dotted, value, expect):
    """Every params section is typed: an unknown key is a one-line error naming it and the
    nearest valid key, before any work is done (no outputs)."""
    from test_collect import stage as in_process

    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    *parents, last = dotted.split(".")
    d = params
    for part in parents:
        d = d[part]
    d[last] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    name = dotted.split(".")[0]
    with pytest.raises(TunepipeError, match=expect):
        in_process(name)(params=str(tmp_path / "params.yaml"), out=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
