"""Export: LoRA merge checked by logits, model card, Ollama Modelfile, push to a local fake Hub,
generation with the exported model; MXFP4 config handling; a corrupted export leaves nothing."""
import base64
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from conftest import ROOT, TINY_OVERRIDES, run, write_params
from fixtures_s3 import DUMMY_ENV, Recorder, grep_secrets
from tunepipe import TunepipeError, export as ex, generate as gen, harmony

PY = sys.executable
EVAL = {m: {"sat": {"greedy": {"accuracy": acc, "ci_low": acc / 2, "ci_high": min(1.0, acc + 0.2), "n": 8},
                    "sampled": {"accuracy": acc, "ci_low": acc / 3, "ci_high": acc + 0.1, "n": 16,
                                "pass_at_k": acc, "k": 2}}}
        for m, acc in (("base", 0.125), ("sft", 0.25), ("grpo", 0.375))}
EVAL["grpo"]["decision"] = {"greedy": {"accuracy": 0.5, "ci_low": 0.4, "ci_high": 0.6, "n": 8, "best_action_rate": 0.625,
                                       "mean_regret": 1.25, "invalid_rate": 0.0}}
REPO_ID = "someone/tunepipe-tiny"


def fake_hub():
    """Enough of the Hub API for create_repo + upload_folder (all files 'regular')."""
    def respond(h, body):
        path = h.path.split("?")[0]
        if path == "/api/repos/create":
            return 200, {"url": f"{hub.url}/{REPO_ID}", "name": REPO_ID}
        if path == "/api/validate-yaml":  # the Hub checks the model card's metadata
            return 200, {"errors": [], "warnings": []}
        if "/preupload/" in path:
            files = json.loads(body)["files"]
            return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}
        if "/commit/" in path:
            return 200, {"commitUrl": f"{hub.url}/{REPO_ID}/commit/{'a' * 40}", "commitOid": "a" * 40,
                         "pullRequestUrl": None}
        return 404, {"error": f"not faked: {h.command} {path}"}

    hub = Recorder(respond)
    return hub


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    """A LoRA adapter on the tiny model (random, non-zero B: the merge matters), exported by
    the real stage script with push_to_hub to a fake Hub, and an ADAPTER Modelfile."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    d = tmp_path_factory.mktemp("export")
    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_model / "base")
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    peft.save_pretrained(d / "models" / "grpo")
    (d / "metrics").mkdir()
    (d / "metrics" / "eval.json").write_text(json.dumps(EVAL))
    (d / "data" / "harmony").mkdir(parents=True)
    (d / "data" / "harmony" / "test.jsonl").write_text((tiny_model / "train.jsonl").read_text())
    write_params(d / "params.yaml", {**TINY_OVERRIDES, "export.push_to_hub": True, "export.repo_id": REPO_ID,
                                     "export.ollama_from": "qwen3:0.6b", "export.check_prompts": 3})
    hub = fake_hub()
    try:
        p = run([PY, str(ROOT / "stages" / "export.py"), "--params", "params.yaml"], d,
                env={**DUMMY_ENV, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"})
    finally:
        hub.close()
    return d, p, hub.requests


def test_merged_export_matches_adapter_logits_and_loads_in_a_fresh_process(exported, tiny_model):
    d, p, _ = exported
    out = d / "models" / "export"
    check = json.loads((out / "logits_check.json").read_text())
    assert check["passed"] and check["merged"] and check["prompts"] == 3
    assert check["atol"] == 1e-3 and check["max_abs_diff"] <= 1e-4  # params tolerance; tiny merges are ~1e-6
    assert "logits check: max |diff|" in p.stdout
    assert not (out / "adapter_config.json").exists(), "the export is merged, not an adapter"
    # plain transformers, fresh process: loads, generates; and the merge changed the base's logits
    code = f"""
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
t = AutoTokenizer.from_pretrained('models/export'); m = AutoModelForCausalLM.from_pretrained('models/export')
b = AutoModelForCausalLM.from_pretrained({str(tiny_model / 'base')!r})
ids = t(t.apply_chat_template([{{'role': 'user', 'content': 'Solve (x1 ∨ x2)'}}], tokenize=False,
        add_generation_prompt=True), return_tensors='pt', add_special_tokens=False)
out = m.generate(**ids, max_new_tokens=4, do_sample=False)
assert out.shape[1] > ids['input_ids'].shape[1]
with torch.no_grad():
    print('DIFF', float((m(**ids).logits - b(**ids).logits).abs().max()))
print('GENERATED')
"""
    r = run([PY, "-c", code], d)
    assert "GENERATED" in r.stdout
    assert float(r.stdout.split("DIFF")[1].split()[0]) > 1e-3, "the adapter made no difference: a vacuous check"


def test_chat_template_defaults_to_the_training_rendering(exported):
    from transformers import AutoTokenizer

    d, _, _ = exported
    tok = AutoTokenizer.from_pretrained(d / "models" / "export")
    msgs = [{"role": "user", "content": "Solve (x1 ∨ ¬x2)"}]
    # TINY_OVERRIDES keep params.yaml's harmony_convert: system_message false, reasoning_effort low
    want = harmony.render(msgs, reasoning_effort="low", knowledge_cutoff="2024-06", system_message=False)
    assert tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == want
    # an explicit argument still wins
    assert tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True,
                                   system_message=True).startswith("<|start|>system")


def test_model_card(exported):
    from huggingface_hub import ModelCard

    d, _, _ = exported
    card = ModelCard.load(d / "models" / "export" / "README.md")
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-generation"
    assert card.data.base_model is None  # tiny: no hub base model to link
    text = card.text
    assert "| grpo | sat | 0.375 [0.188, 0.575] | 0.375 [0.125, 0.475] | 0.375 (k=2) | 8 |" in text
    assert "Jeffreys 80% intervals" in text and "AutoModelForCausalLM.from_pretrained" in text
    assert "max |difference| =" in text and "tolerance 0.001" in text
    assert "`sat` train: 48 rows" in text
    # a family's own metrics (decision: best-action rate, regret) are in the card too
    assert "### decision: task metrics" in text and "| grpo | greedy | 0.625 | 1.250 | 0.000 |" in text
    assert "remote:" not in text and "publish:" not in text and "grpo:" in text


def test_modelfile(exported, tiny_model):
    d, _, _ = exported
    out = d / "models" / "export"
    mf = (out / "Modelfile").read_text()
    assert "FROM qwen3:0.6b\nADAPTER ./adapter\n" in mf
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    for stop in ("<|return|>", "<|call|>", "<|endoftext|>"):
        assert f'PARAMETER stop "{stop}"' in mf
    tpl = mf.split('TEMPLATE """')[1].split('"""')[0]
    # one user message through the Go template == the training rendering (system message off)
    one = tpl.split("{{- range .Messages }}")[0] + "<|start|>user<|message|>HI<|end|>" + "<|start|>assistant"
    assert one == harmony.render([{"role": "user", "content": "HI"}], system_message=False)
    assert '{{- else if eq .Role "user" }}<|start|>user<|message|>{{ .Content }}<|end|>' in tpl
    assert tpl.endswith("{{- end }}{{- end }}<|start|>assistant")

    # merged-weights form, and the system message when training rendered one
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    h = {"format": "harmony", "system_message": True, "reasoning_effort": "low", "knowledge_cutoff": "2024-06",
         "current_date": None}
    mf2 = ex.modelfile(tok, h=h)
    assert "\nFROM .\n" in mf2 and "ADAPTER" not in mf2
    assert 'TEMPLATE """<|start|>system<|message|>You are ChatGPT' in mf2 and "Reasoning: low" in mf2


def test_push_to_fake_hub(exported):
    d, p, reqs = exported
    out = d / "models" / "export"
    assert "pushed:" in p.stdout and f"{REPO_ID}/commit/" in p.stdout
    auth = {r["path"].split("?")[0]: r["headers"].get("Authorization") or r["headers"].get("authorization")
            for r in reqs}
    writes = ("/api/repos/create", f"/api/models/{REPO_ID}/preupload/main", f"/api/models/{REPO_ID}/commit/main")
    assert {auth.get(k) for k in writes} == {f"Bearer {DUMMY_ENV['HF_TOKEN']}"}, auth
    assert set(auth.values()) <= {None, f"Bearer {DUMMY_ENV['HF_TOKEN']}"}
    create = [r for r in reqs if r["path"] == "/api/repos/create"]
    assert len(create) == 1
    body = json.loads(create[0]["body"])
    assert body["name"] == "tunepipe-tiny" and body["organization"] == "someone"
    assert body.get("visibility", "private" if body.get("private") else None) == "private"
    commits = [r for r in reqs if f"/api/models/{REPO_ID}/commit/main" in r["path"]]
    assert len(commits) == 1
    lines = [json.loads(x) for x in commits[0]["body"].decode().splitlines() if x.strip()]
    uploaded = {x["value"]["path"]: base64.b64decode(x["value"]["content"]) for x in lines if x["key"] == "file"}
    local = {str(f.relative_to(out)): f.read_bytes() for f in out.rglob("*") if f.is_file()}
    assert uploaded == local, "every exported file uploaded, byte for byte"
    validated = [json.loads(r["body"]) for r in reqs if r["path"] == "/api/validate-yaml"]
    assert validated and validated[0]["content"] == (out / "README.md").read_text()
    assert grep_secrets([out], [p.stdout, p.stderr]) == []


def test_push_refuses_without_token_or_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(TunepipeError, match="HF_TOKEN is not set"):
        ex.push(tmp_path, "a/b", True)
    with pytest.raises(TunepipeError, match="export.repo_id is not set"):
        ex.push(tmp_path, None, True)
    monkeypatch.setenv("HF_TOKEN", "x")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TunepipeError, match="HF_HUB_OFFLINE"):
        ex.push(tmp_path, "a/b", True)


def test_generate_stage_on_the_export(exported):
    """Plain prompts are rendered as in training; task rows (prompt_text + spec) are scored."""
    d, _, _ = exported
    (d / "prompts.txt").write_text("Solve (x1 ∨ x2) ∧ (¬x1 ∨ x2)\n\nSolve (x1)\n")
    assert gen.read_prompts(d / "prompts.txt") == [{"prompt": "Solve (x1 ∨ x2) ∧ (¬x1 ∨ x2)"}, {"prompt": "Solve (x1)"}]
    tasks_rows = (d / "data" / "harmony" / "test.jsonl").read_text().splitlines()[:6]
    plain = [json.dumps({"prompt": "Solve (x1 ∨ x2)"}), json.dumps({"prompt": [{"role": "user", "content": "Solve (x1)"}]})]
    (d / "prompts.jsonl").write_text("\n".join(plain + tasks_rows) + "\n")
    p = run([PY, str(ROOT / "stages" / "generate.py"), "--params", "params.yaml", "--model", "models/export",
             "--prompts", "prompts.jsonl", "--out", "gen/out.jsonl"], d)
    rows = [json.loads(x) for x in (d / "gen" / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(isinstance(r["completion"], str) for r in rows)
    assert rows[0]["prompt_text"] == harmony.render([{"role": "user", "content": "Solve (x1 ∨ x2)"}],
                                                    system_message=False)
    assert rows[1]["prompt_text"] == harmony.render([{"role": "user", "content": "Solve (x1)"}], system_message=False)
    assert "score" not in rows[0] and all(r["score"] in (0.0, 1.0) for r in rows[2:])
    assert rows[2]["prompt_text"] == json.loads(tasks_rows[0])["prompt_text"]
    assert "8 completions -> gen/out.jsonl; mean score" in p.stdout
    bad = run([PY, str(ROOT / "stages" / "generate.py"), "--params", "params.yaml", "--model", "models/export",
               "--prompts", "nope.txt", "--out", "gen/bad.jsonl"], d, check=False)
    assert bad.returncode == 1 and bad.stderr.strip() == "error: nope.txt: prompt file not found"


def test_mxfp4_config_kept_or_dropped(tmp_path):
    q = {"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn", "lm_head"]}
    base = {"model_type": "gpt_oss", "quantization_config": q}
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt_oss"}))
    assert ex.fix_quantization_config(tmp_path, base, keep=True) == "MXFP4 quantization_config kept"
    assert json.loads((tmp_path / "config.json").read_text())["quantization_config"] == q
    assert "dropped" in ex.fix_quantization_config(tmp_path, base, keep=False)
    assert "quantization_config" not in json.loads((tmp_path / "config.json").read_text())
    with pytest.raises(TunepipeError, match="no MXFP4 quantization_config"):
        ex.fix_quantization_config(tmp_path, {"model_type": "qwen3"}, keep=True)
    assert ex.fix_quantization_config(tmp_path, {"model_type": "qwen3"}, keep=False) == ""


def test_corrupted_export_fails_the_logits_check_and_leaves_nothing(tiny_model, tmp_path, monkeypatch):
    """A full fine-tune whose copied weights get perturbed: the check catches it, one-line
    error, no models/export and no temp dir left."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    shutil.copytree(tiny_model / "base", tmp_path / "models" / "grpo")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "eval.json").write_text(json.dumps(EVAL))
    (tmp_path / "data" / "harmony").mkdir(parents=True)
    (tmp_path / "data" / "harmony" / "test.jsonl").write_text((tiny_model / "train.jsonl").read_text())
    write_params(tmp_path / "params.yaml", TINY_OVERRIDES)
    real_copy = ex.copy_full

    def broken_copy(src, dst):
        real_copy(src, dst)
        w = load_file(dst / "model.safetensors")
        k = next(k for k in w if "mlp" in k)
        w[k] = w[k] + 0.5 * torch.randn_like(w[k])
        save_file(w, dst / "model.safetensors", metadata={"format": "pt"})

    monkeypatch.setattr(ex, "copy_full", broken_copy)
    monkeypatch.chdir(tmp_path)
    spec = importlib.util.spec_from_file_location("export_stage", ROOT / "stages" / "export.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    with pytest.raises(TunepipeError, match=r"logits of the exported model differ .* > export.check_atol.float32 0.001"):
        stage.export(params="params.yaml")
    assert not (tmp_path / "models" / "export").exists()
    assert sorted(x.name for x in (tmp_path / "models").iterdir()) == ["grpo"]
    # and the unbroken copy passes, bit-identical (difference exactly 0)
    monkeypatch.setattr(ex, "copy_full", real_copy)
    stage.export(params="params.yaml")
    assert json.loads((tmp_path / "models" / "export" / "logits_check.json").read_text())["max_abs_diff"] == 0.0


def test_gpt_oss_lora_export_keeps_the_mxfp4_config(tiny_model, tmp_path):
    """A tiny gpt-oss whose config carries the MXFP4 block (as openai/gpt-oss-* do): the LoRA
    merge, with export.keep_mxfp4_config, keeps it in the exported config.json, and the export
    (bf16 weights) still reloads with plain transformers on this CPU machine, where transformers
    dequantizes MXFP4 anyway; the logits check passes."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, GptOssConfig, GptOssForCausalLM

    from tunepipe import models

    tok = models.load_tokenizer(tiny_model / "base")
    cfg = GptOssConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=16, num_local_experts=4,
                       num_experts_per_tok=2, max_position_embeddings=256, sliding_window=32,
                       layer_types=["sliding_attention", "full_attention"], eos_token_id=tok.eos_token_id,
                       pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    GptOssForCausalLM(cfg).save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    q = {"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                                             "model.embed_tokens", "lm_head"]}
    c = json.loads((tmp_path / "base" / "config.json").read_text())
    (tmp_path / "base" / "config.json").write_text(json.dumps({**c, "quantization_config": q}))
    base = AutoModelForCausalLM.from_pretrained(tmp_path / "base", dtype=torch.float32)
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                                           init_lora_weights=False))
    peft.save_pretrained(tmp_path / "grpo")
    rows = [json.loads(x) for x in (tiny_model / "train.jsonl").read_text().splitlines()[:3]]
    a = ex.ExportArgs(source="grpo", dtype="float32", push_to_hub=False, repo_id=None, private=True, check_prompts=3,
                      check_atol={"float32": 1e-4}, ollama_from=None, keep_mxfp4_config=True)
    h = {"format": "harmony", "system_message": False, "reasoning_effort": "low", "knowledge_cutoff": "2024-06",
         "current_date": None}
    out = tmp_path / "export"
    out.mkdir()
    check = ex.export(str(tmp_path / "grpo"), out, a=a, h=h, prompts=[r["prompt_text"] for r in rows],
                      eval_json=EVAL, params={}, base_model="openai/gpt-oss-20b")
    assert check["passed"] and check["merged"]
    assert json.loads((out / "config.json").read_text())["quantization_config"] == q
    card = (out / "README.md").read_text()
    assert "base_model: openai/gpt-oss-20b" in card and "MXFP4 quantization_config kept" in card
    # without the option the block is dropped
    out2 = tmp_path / "export2"
    out2.mkdir()
    ex.export(str(tmp_path / "grpo"), out2, a=ex.ExportArgs(**{**a.__dict__, "keep_mxfp4_config": False}), h=h,
              prompts=[rows[0]["prompt_text"]], eval_json=EVAL, params={}, base_model="openai/gpt-oss-20b")
    assert "quantization_config" not in json.loads((out2 / "config.json").read_text())


def test_new_metrics_rerun_export_without_re_merging(tiny_model, tmp_path, monkeypatch):
    """The model card shows the metrics, so new metrics rerun export; the merge is reused from
    the persisted cache (same source, settings and code) and only the card is rewritten. A
    change that shapes the weights (export.dtype) merges again."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(2)
    base = AutoModelForCausalLM.from_pretrained(tiny_model / "base")
    get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
                   ).save_pretrained(tmp_path / "grpo")
    prompts = [json.loads(x)["prompt_text"] for x in (tiny_model / "train.jsonl").read_text().splitlines()[:2]]
    a = ex.ExportArgs(source="grpo", dtype="float32", push_to_hub=False, repo_id=None, private=True, check_prompts=2,
                      check_atol={"float32": 1e-3, "bfloat16": 0.5}, ollama_from=None, keep_mxfp4_config=False)
    h = {"format": "harmony", "system_message": False, "reasoning_effort": "low", "knowledge_cutoff": "2024-06",
         "current_date": None}
    cache = tmp_path / "cache"
    merges = []
    real = ex._merge
    monkeypatch.setattr(ex, "_merge", lambda *args, **kw: merges.append(1) or real(*args, **kw))

    def run_export(name, eval_json, args=a):
        out = tmp_path / name
        out.mkdir()
        ex.export(str(tmp_path / "grpo"), out, a=args, h=h, prompts=prompts, eval_json=eval_json, params={},
                  base_model="tiny", cache=cache)
        return out

    first = run_export("e1", EVAL)
    better = json.loads(json.dumps(EVAL))
    better["grpo"]["sat"]["greedy"]["accuracy"] = 0.99
    second = run_export("e2", better)
    assert len(merges) == 1                                           # reused, not re-merged
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in second.iterdir())
    for f in files:
        same = (first / f).read_bytes() == (second / f).read_bytes()
        assert same == (f != "README.md"), f                          # only the card changed
    run_export("e3", EVAL, ex.ExportArgs(**{**a.__dict__, "dtype": "bfloat16"}))
    assert len(merges) == 2 and len(list(cache.iterdir())) == 1       # merged again; the latest kept


def test_base_stage_dequantizes_an_mxfp4_checkpoint_and_export_can_restore_its_metadata(tiny_model, tmp_path):
    """A gpt-oss checkpoint with an MXFP4 quantization_config: the base stage loads it with
    Mxfp4Config(dequantize=True), saves plain weights without the block (a reload must not try to
    quantize again), and sets the source's block aside, where export.keep_mxfp4_config finds it."""
    import torch
    from transformers import GptOssConfig, GptOssForCausalLM

    from tunepipe import models

    tok = models.load_tokenizer(tiny_model / "base")
    cfg = GptOssConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=32, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1, head_dim=16, num_local_experts=2,
                       num_experts_per_tok=1, max_position_embeddings=128, sliding_window=16,
                       layer_types=["full_attention"], eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    GptOssForCausalLM(cfg).save_pretrained(tmp_path / "src")
    tok.save_pretrained(tmp_path / "src")
    q = {"quant_method": "mxfp4", "modules_to_not_convert": ["model.layers.*.self_attn", "lm_head"]}
    c = json.loads((tmp_path / "src" / "config.json").read_text())
    (tmp_path / "src" / "config.json").write_text(json.dumps({**c, "quantization_config": q}))

    assert models.mxfp4_config(str(tmp_path / "src"), {})["quant_method"] == "mxfp4"
    models.resolve_base(str(tmp_path / "src"), tmp_path / "base", dtype="float32", revision=None, texts=[], seed=0,
                        tiny={})
    saved = json.loads((tmp_path / "base" / "config.json").read_text())
    assert "quantization_config" not in saved
    assert json.loads((tmp_path / "base" / models.SOURCE_QUANTIZATION).read_text())["quant_method"] == "mxfp4"
    assert ex.base_config(tmp_path / "base")["quantization_config"]["quant_method"] == "mxfp4"
    models.load_model(tmp_path / "base", dtype="float32")        # reloads as plain weights
    assert models.mxfp4_config(str(tiny_model / "base"), {}) is None
