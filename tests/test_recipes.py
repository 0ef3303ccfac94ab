"""The three recipes (params/recipes/), how a rehearsal derives from a recipe, and -- slow --
each recipe's CPU rehearsal end to end on the shipped SmolLM2 GGUF (`make rehearse NAME=...`)."""
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from conftest import ROOT, make_project, run
from tunepipe import TunepipeError, config, plan, recipes, smoke

RECIPES = ("affine-qwen3-4b", "tes-gpt-oss-20b", "bleuberi-qwen2.5-7b")
VENV = Path(sys.executable).parent.parent


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="module")
def params():
    return config.load(ROOT / "params.yaml")


def test_the_recipes_are_the_three_workflows():
    assert recipes.names() == sorted(RECIPES)
    with pytest.raises(TunepipeError, match=r"recipe 'qwen' not found in params/recipes/: one of affine-qwen3-4b"):
        recipes.path("qwen")
    with pytest.raises(TunepipeError, match="not found"):
        recipes.path("rehearsal")     # the shared budgets are not a recipe


@pytest.mark.parametrize("name", RECIPES)
def test_a_recipe_resolves_to_typed_params_and_dvc_arguments(name, params):
    merged = recipes.resolved(name, params)
    plan.check_sections(merged)          # base, launch, sft, grpo, evaluate as their stages type them
    args = smoke.overlay_args(recipes.load(name), params, name)
    assert args and all(a == "-S" for a in args[::2])


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_setting_names_where_it_comes_from(name):
    """Each key: value line carries a [source] tag, follows a comment block with one, or sits
    under a key whose line does."""
    lines = recipes.path(name).read_text().splitlines()
    tags = set(re.findall(r"^#\s+\[([a-z]{2,})\]", "\n".join(lines), re.M))
    assert tags, "the header names the sources"
    stack: list[tuple[int, bool]] = []
    above = False      # the comment lines right above the key carry a tag
    for line in lines:
        if line.strip().startswith("#"):
            above = above or bool(re.search(r"\[([a-z]{2,})\]", line))
            continue
        m = re.match(r"^(\s*)([\w.-]+):(.*)$", line)
        if not m:
            above = False
            continue
        indent, rest = len(m.group(1)), m.group(3)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        tagged = bool(re.search(r"#.*\[([a-z]{2,})\]", line)) or above or any(t for _, t in stack)
        above = False
        leaf = rest.split("#")[0].strip() != ""
        if leaf:
            assert tagged, f"{name}: {line.strip()!r} names no source"
            used = re.findall(r"\[([a-z]{2,})\]", line.split("#", 1)[1]) if "#" in line else []
            assert set(used) <= tags, f"{name}: {line.strip()!r}: tag not in the header"
        stack.append((indent, tagged))


GPU_SWITCHES = {"grpo.use_vllm", "evaluate.backend", "launch.launcher", "launch.num_processes", "launch.config_file",
                "export.keep_mxfp4_config", *recipes.DTYPE_KEYS}


def _flat(d: dict) -> dict:
    return dict(smoke.flatten({k: v for k, v in d.items() if k != "__file__"}))


def _le(a, b) -> bool:
    """a is b capped: smaller or equal, element by element (None: unbounded)."""
    if b is None:
        return True
    if isinstance(a, dict):
        return all(_le(v, b.get(k) if isinstance(b, dict) else b) for k, v in a.items())
    if isinstance(a, list):
        return all(_le(x, y) for x, y in zip(a, b if isinstance(b, list) else [b] * len(a)))
    return a <= b or (b <= 0 and a > 0)     # max_steps <= 0 (epochs decide) capped to a step count


@pytest.mark.parametrize("name", RECIPES)
def test_a_rehearsal_changes_only_the_model_budgets_sources_and_gpu_switches(name, params):
    over, notes = recipes.rehearsal(name, params, model="stand-in.gguf")
    recipe = _flat(recipes.resolved(name, params))
    rehearsed = _flat(plan.overlay(params, over, "rehearsal")[0])
    caps = _flat(yaml.safe_load((ROOT / recipes.REHEARSAL).read_text()))
    changed = {k for k in recipe if recipe[k] != rehearsed[k]}
    assert rehearsed["base.model"] == "stand-in.gguf"
    for key in changed - {"base.model"}:
        if key in caps:
            assert _le(rehearsed[key], recipe[key]), (key, recipe[key], rehearsed[key])
        elif key in recipes.LOCAL_SOURCES:
            assert rehearsed[key] == recipes.LOCAL_SOURCES[key] and any(key in n for n in notes)
        elif key in GPU_SWITCHES:
            assert any(key in n or key.split(".")[0] in n for n in notes), (key, notes)
        else:
            pytest.fail(f"{name}: the rehearsal changed {key}: {recipe[key]!r} -> {rehearsed[key]!r}")
    # what must stay the recipe's (the reasons to rehearse at all)
    for key in ("sft.lora.enabled", "sft.lora.r", "sft.lora.alpha", "sft.lora.target_modules", "harmony_convert.format",
                "harmony_convert.system_message", "reward.reference.metric", "reward.reference.selection.mode",
                "reward.decision.tau", "grpo.learning_rate", "grpo.temperature", "grpo.tasks", "export.ollama_from",
                "collect.sat.generator", "sft.activation_checkpointing"):
        assert rehearsed[key] == recipe[key], key
    assert all(n.startswith("rehearsal: ") and "\n" not in n for n in notes)


def test_rehearsal_notices_name_each_gpu_switch(params):
    _, aff = recipes.rehearsal("affine-qwen3-4b", params, model="m.gguf")
    _, tes = recipes.rehearsal("tes-gpt-oss-20b", params, model="m.gguf")
    _, bleu = recipes.rehearsal("bleuberi-qwen2.5-7b", params, model="m.gguf")
    assert any("grpo.use_vllm true -> false" in n for n in aff)
    assert any("evaluate.backend vllm -> hf" in n for n in tes)
    assert any("keep_mxfp4_config true -> false" in n for n in tes)
    assert any("configs/accelerate/zero3.yaml -> one python process" in n for n in bleu)
    assert any("-> float32" in n for n in aff + tes + bleu)
    assert any("yapeichang/BLEUBERI-Tulu3-50k -> data/sources/rehearsal/tulu3-50k.parquet" in n for n in bleu)


def test_a_preset_lays_over_the_recipe(params):
    merged = recipes.resolved("affine-qwen3-4b", params, preset="validators")
    assert merged["evaluate"]["seed"] == "per_task" and merged["sft"]["lora"]["r"] == 64
    with pytest.raises(TunepipeError, match="preset 'nope' not found in params/presets/: one of validators"):
        recipes.load("affine-qwen3-4b", preset="nope")


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.text(), st.lists(st.text(max_size=8), max_size=3),
                 st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True),
                                 st.one_of(st.text(max_size=8), st.floats(allow_nan=False, allow_infinity=False),
                                           st.integers(), st.booleans(), st.none()), max_size=3)))
def test_overlay_values_reach_params_yaml_verbatim(tmp_path_factory, value):
    """What `make recipe/rehearse/smoke` pass as `-S key=value` arrives in params.yaml as the
    overlay holds it (prompt templates with newlines, quotes, emoji, backslashes, ${...})."""
    from dvc.utils.hydra import apply_overrides

    p = tmp_path_factory.mktemp("hy") / "params.yaml"
    p.write_text(yaml.safe_dump({"a": {"v": "x"}}))
    try:
        arg = smoke.hydra(value)
    except TunepipeError:
        return      # a mapping key Hydra cannot take: refused with a one-line error
    apply_overrides(str(p), [f"a.v={arg}"])
    assert _floats(yaml.safe_load(p.read_text())["a"]["v"], value) == value


def _floats(got, want):
    """DVC writes 1e-09 as ``1e-09``, which YAML 1.1 (PyYAML) reads as a string; tunepipe's typed
    params read it as the float (config.typed): compare the way the stages read it."""
    if isinstance(want, float) and isinstance(got, str):
        return float(got)
    if isinstance(want, dict) and isinstance(got, dict):
        return {k: _floats(got.get(k), v) for k, v in want.items()} if set(got) == set(want) else got
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        return [_floats(g, w) for g, w in zip(got, want)]
    return got


def test_the_one_character_params_yaml_cannot_hold_is_refused():
    """NEL (U+0085) is a line break to YAML: it came back as a space (found by the property test)."""
    with pytest.raises(TunepipeError, match="U\\+0085"):
        smoke.hydra("a\x85b")
    assert smoke.hydra("a\u2028b\x00") == '"a\u2028b\x00"'


def test_the_validators_prompts_arrive_verbatim(tmp_path):
    from dvc.utils.hydra import apply_overrides

    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    preset = config.load(ROOT / "params/presets/validators.yaml")
    args = smoke.set_args(str(ROOT / "params/presets/validators.yaml"), str(ROOT / "params.yaml"))
    apply_overrides(str(tmp_path / "params.yaml"), [a for a in args if a != "-S"])
    got = yaml.safe_load((tmp_path / "params.yaml").read_text())["collect"]
    for task in ("sat", "abd", "ded"):
        assert got[task]["prompt_template"] == preset["collect"][task]["prompt_template"], task


# ------------------------------------------------------------------ the rehearsals (slow)

def _rehearse(tmp_path, name: str, args: str = "") -> tuple[Path, str]:
    proj = make_project(tmp_path / "proj", {})
    for rel in ("Makefile", "params", "pyproject.toml", "requirements.lock", "data/sources/rehearsal"):
        src, dst = ROOT / rel, proj / rel
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst) if src.is_dir() else shutil.copy2(src, dst)
    run(["git", "add", "-A"], proj)
    run(["git", "commit", "-qm", "recipes"], proj)
    # -o: the venv is this one, already set up
    p = run(["make", "-o", f"{VENV}/.installed", "rehearse", f"VENV={VENV}", f"NAME={name}", f"ARGS={args}"], proj,
            timeout=1500)
    return proj, p.stdout


def _eval(proj: Path) -> dict:
    return json.loads((proj / "metrics" / "eval.json").read_text())


@pytest.mark.slow
def test_rehearse_affine_qwen3_4b(tmp_path):
    proj, out = _rehearse(tmp_path, "affine-qwen3-4b")
    assert "rehearsal: grpo.use_vllm true -> false" in out
    ev = _eval(proj)
    assert {"base", "sft", "grpo"} <= set(ev)
    assert {"sat", "abd", "ded", "textcraft", "babyai"} <= set(ev["grpo"])   # rehearsal.yaml holds out two environments
    # the recipe's LoRA on the real model's own modules, its own chat template, the validators' SAT generator
    ad = json.loads((proj / "models" / "sft" / "adapter_config.json").read_text())
    assert (ad["r"], ad["lora_alpha"]) == (64, 128)
    assert set(ad["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert (proj / "models" / "checkpoints" / "sft" / "checkpoint-1").is_dir()   # resumable
    rows = [json.loads(x) for x in (proj / "data" / "harmony" / "test.jsonl").read_text().splitlines()]
    sat = [r for r in rows if r["task"] == "sat"]
    assert sat[0]["prompt_text"].startswith("<|im_start|>") and sat[0]["task_id"] == 0
    assert "<|channel|>" not in sat[0]["prompt_text"]
    # the exported model loads and generates; the Modelfile builds on the recipe's Ollama base
    assert "FROM qwen3:4b" in (proj / "models" / "export" / "Modelfile").read_text()
    code = ("from transformers import AutoModelForCausalLM, AutoTokenizer\n"
            "t = AutoTokenizer.from_pretrained('models/export'); m = AutoModelForCausalLM.from_pretrained('models/export')\n"
            "ids = t('Hello', return_tensors='pt'); out = m.generate(**ids, max_new_tokens=4, do_sample=False)\n"
            "print('GENERATED', out.shape[1] > ids['input_ids'].shape[1])\n")
    assert "GENERATED True" in run([sys.executable, "-c", code], proj).stdout


@pytest.mark.slow
def test_rehearse_tes_gpt_oss_20b(tmp_path):
    proj, out = _rehearse(tmp_path, "tes-gpt-oss-20b")
    assert "rehearsal: export.keep_mxfp4_config true -> false" in out
    ev = _eval(proj)
    assert ev["grpo"]["decision"]["greedy"]["n"] == 2      # rehearsal.yaml: evaluate.max_rows 2
    rows = [json.loads(x) for x in (proj / "data" / "harmony" / "train.jsonl").read_text().splitlines()]
    assert rows[0]["prompt_text"].startswith("<|start|>system<|message|>")    # Harmony, the gpt-oss system message
    assert rows[0]["completion_text"].startswith("<|channel|>final<|message|>[")   # bracketed actions
    head = (proj / "metrics" / "grpo_completions.csv").read_text().splitlines()[0]
    assert head.startswith("call,task,prompt,completion")                     # the completion CSV
    assert (proj / "models" / "export" / "Modelfile").is_file()


@pytest.mark.slow
def test_rehearse_bleuberi_qwen2_5_7b(tmp_path):
    proj, out = _rehearse(tmp_path, "bleuberi-qwen2.5-7b")
    assert "reward.reference.selection: hard: kept 8 of" in out
    assert "sft: 0 steps" in out                       # GRPO starts from the base model
    ev = _eval(proj)
    assert set(ev) >= {"base", "grpo"} and "sft" not in ev
    assert ev["grpo"]["reference"]["greedy"]["n"] > 0
