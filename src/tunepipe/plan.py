"""What a recipe would do, before running it: ``make plan NAME=<recipe>``.

    python -m tunepipe.plan --recipe params/recipes/affine-qwen3-4b.yaml [--full] [--prompt_tokens 512]

A recipe is a params overlay (``params/recipes/<name>.yaml``), applied on ``params.yaml`` the
way :func:`tunepipe.smoke.set_args` applies a profile (``collect.train``/``collect.test``
replaced whole, the open mappings merged). Prints

1. the keys the recipe changes, old -> new (``--full``: the whole resolved params);
2. the stages DVC would run: ``dvc status`` in a temporary workspace that holds the resolved
   params and links everything else to this repository (your ``params.yaml`` is never touched);
3. per device, a GPU memory estimate for sft, grpo and evaluate, term by term, with a WARNING
   where the total exceeds ``launch.gpu_memory_gb``. The formulas: docs/guides/plan.md.

Nothing is downloaded: the model's config comes from the local HF cache, a shipped
``configs/models/<org>--<name>.json``, ``base.tiny``, a local model dir or a .gguf file, and the
parameter count from an empty (meta-device) model built from it.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import yaml

from tunepipe import TunepipeError, cli, config, smoke

RECIPES_DIR = Path("params") / "recipes"
GiB = 1024 ** 3
#: vLLM's own default gpu_memory_utilization (evaluate.backend vllm passes none)
VLLM_DEFAULT_UTILIZATION = 0.9
#: what every estimate leaves out
IGNORED = ("the CUDA context (~1 GiB per process), allocator caching and fragmentation, temporary "
           "buffers (attention and matmul workspaces, NCCL buckets, the optimizer step's temporaries)")


# -- 1. the resolved params -------------------------------------------------------------------

def recipe_path(recipe: str, root: Path) -> Path:
    """``recipe``: a file, or a name under params/recipes/. A missing one is an error listing
    the recipes there."""
    p = Path(recipe)
    if not p.suffix and len(p.parts) == 1:
        p = RECIPES_DIR / f"{recipe}.yaml"
    full = p if p.is_absolute() else root / p
    if full.is_file():
        return full
    folder = full.parent
    names = sorted(f.stem for f in folder.glob("*.yaml")) if folder.is_dir() else []
    have = f"recipes in {p.parent}: {', '.join(names)}" if names else f"no recipes in {p.parent}"
    raise TunepipeError(f"recipe {p.stem!r} not found ({p}); {have}")


def overlay(base: dict, recipe: dict, where: str) -> tuple[dict, list[tuple[str, object, object]]]:
    """``base`` with ``recipe`` applied (a copy), and the (key, old, new) it changed. Every key
    must exist in ``base``; ``smoke.REPLACED`` mappings are replaced whole, ``smoke.OPEN`` ones
    take new keys."""
    merged = copy.deepcopy(base)
    changes = []
    for key, value in smoke.flatten({k: v for k, v in recipe.items() if k != "__file__"}):
        *path, last = key.split(".")
        node = merged
        for part in path:
            if not isinstance(node, dict) or not isinstance(node.get(part), dict):
                raise TunepipeError(f"{where}: {key} is not a key of {base.get('__file__', 'params.yaml')}")
            node = node[part]
        if last not in node:
            raise TunepipeError(f"{where}: {key} is not a key of {base.get('__file__', 'params.yaml')}"
                                f"{config.nearest(last, node, list_all=False)}")
        old = node[last]
        if key in smoke.REPLACED and not isinstance(value, dict):
            raise TunepipeError(f"{where}: {key} must map task names to counts")
        if key in smoke.OPEN and isinstance(value, dict):
            value = {**(old or {}), **value}
        node[last] = value
        if old != value:
            changes.append((key, old, value))
    return merged, changes


def _show(v) -> str:
    return json.dumps(v) if not isinstance(v, str) else v


def check_sections(params: dict) -> None:
    """The sections the estimate reads, typed as their stages type them (one-line errors)."""
    from tunepipe import evaluation, models
    from tunepipe.training import GRPOArgs, SFTArgs

    for name, cls in (("base", models.BaseArgs), ("launch", cli.LaunchArgs), ("sft", SFTArgs),
                      ("grpo", GRPOArgs), ("evaluate", evaluation.EvalArgs)):
        config.typed(cls, config.section(params, name), name)


# -- 2. the stages DVC would run --------------------------------------------------------------

def _cache_dir(root: Path) -> str:
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        return repo.cache.local_cache_dir   # the cache root (cache.dir), not its files/md5 store


def stale_stages(root: Path, params: dict) -> tuple[dict[str, list[str]], list[str]]:
    """``dvc status`` with ``params`` as params.yaml: {stage: reasons} of the stages out of date
    now, and the stages downstream of them (run by ``dvc repro`` when an upstream output changes).
    In a temporary workspace: the resolved params.yaml, a copy of .dvc/config pointing at this
    repository's cache, and a link to every other entry of ``root``."""
    from dvc.repo import Repo

    root = root.resolve()
    cache = _cache_dir(root)
    tmp = Path(tempfile.mkdtemp(prefix="tunepipe-plan-"))
    try:
        for entry in root.iterdir():
            if entry.name not in ("params.yaml", ".dvc", ".git"):
                (tmp / entry.name).symlink_to(entry)
        (tmp / ".dvc").mkdir()
        for f in (root / ".dvc").glob("config*"):
            shutil.copy(f, tmp / ".dvc" / f.name)
        (tmp / "params.yaml").write_text(yaml.safe_dump({k: v for k, v in params.items() if k != "__file__"},
                                                        sort_keys=False))
        with Repo(str(tmp), config={"core": {"no_scm": True}, "cache": {"dir": cache}}) as repo:
            status = repo.status()
            graph = repo.index.graph
            stale, down, order = {}, set(), []
            for s in repo.index.stages:
                order.append(s.name)
                if s.addressing in status:
                    stale[s.name] = _reasons(status[s.addressing])
                    # an edge runs from a stage to the stage whose output it depends on
                    down |= {a.name for a in _ancestors(graph, s)}
        return stale, [n for n in order if n in down and n not in stale]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _ancestors(graph, node):
    import networkx as nx

    return nx.ancestors(graph, node)


def _reasons(info) -> list[str]:
    out = []
    for item in info if isinstance(info, list) else [info]:
        if isinstance(item, dict):
            for kind, what in item.items():
                if isinstance(what, dict):
                    out += [f"{kind}: {k} ({v if isinstance(v, str) else ', '.join(sorted(map(str, v)))})"
                            for k, v in what.items()]
                    out.sort(key=lambda r: "params.yaml" not in r)   # what the recipe changed first
                else:
                    out.append(f"{kind}: {what}")
        else:
            out.append(str(item))
    return out


# -- 3. the memory estimate -------------------------------------------------------------------

def model_config(base: dict, root: Path):
    """(transformers config, where it came from) of ``base.model``, without the network."""
    from transformers import AutoConfig

    from tunepipe import models

    m = base["model"]
    if m == "tiny":
        return models.tiny_config(base["tiny"]), "base.tiny"
    p = Path(m).expanduser()
    p = p if p.is_absolute() else root / p
    if m.endswith(".gguf"):
        if not p.is_file():
            raise TunepipeError(f"base.model: GGUF file {m} not found")
        return AutoConfig.from_pretrained(str(p.parent), gguf_file=p.name), f"{m} (GGUF metadata)"
    if p.exists() or m.startswith((".", "/", "~")):
        if not (p / "config.json").is_file():
            raise TunepipeError(f"base.model: {m} is not a model directory (no config.json)")
        return AutoConfig.from_pretrained(str(p)), f"{p / 'config.json'}"
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", m):
        raise TunepipeError(f"base.model: {m!r} is neither 'tiny', a local path, a .gguf file nor an HF id")
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(m, "config.json", revision=base.get("revision"))
    if isinstance(cached, str):
        return AutoConfig.from_pretrained(str(Path(cached).parent)), f"{cached} (HF cache)"
    shipped = root / "configs" / "models" / f"{m.replace('/', '--')}.json"
    if shipped.is_file():
        return AutoConfig.from_pretrained(str(shipped)), str(shipped.relative_to(root))
    raise TunepipeError(f"base.model: no config for {m!r} in the HF cache nor {shipped.relative_to(root)} "
                        f"(offline; add its config.json there)")


@dataclasses.dataclass
class Shape:
    """What the estimate needs of a model."""
    params: int           # all parameters, tied ones once (MXFP4 experts counted dequantized)
    layers: int
    hidden: int
    mlp: int              # MLP width a token passes through: intermediate_size x experts per token
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    lora_params: int      # the LoRA adapter's parameters for sft.lora (0 when disabled)
    mxfp4: bool           # the checkpoint's experts are MXFP4 (gpt-oss)


def empty_model(cfg):
    """The model of ``cfg`` on the meta device (no memory, no download), embeddings tied as
    ``from_pretrained`` ties them."""
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    cfg = copy.deepcopy(cfg)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config   # from_config builds the plain (dequantized) modules anyway
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(cfg)
    model.tie_weights()
    return model


def lora_targets(model, target_modules) -> list[tuple[str, int, int]]:
    """(name, in, out) of the nn.Linear modules PEFT would wrap: ``all-linear`` = every Linear
    but the output layer; a list = modules whose name ends with an entry; a string = a regex
    matching the whole name."""
    import torch

    out_layer = model.get_output_embeddings()
    found = []
    for name, mod in model.named_modules():
        if not isinstance(mod, torch.nn.Linear):
            continue
        if target_modules == "all-linear":
            hit = mod is not out_layer
        elif isinstance(target_modules, str):
            hit = re.fullmatch(target_modules, name) is not None
        else:
            hit = any(name == t or name.endswith("." + t) for t in target_modules)
        if hit:
            found.append((name, mod.in_features, mod.out_features))
    return found


def shape(cfg, lora: dict) -> Shape:
    text = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    model = empty_model(cfg)
    params = sum(p.numel() for p in model.parameters())
    lora_params = 0
    if lora["enabled"]:
        targets = lora_targets(model, lora["target_modules"])
        if not targets:
            raise TunepipeError(f"sft.lora.target_modules: {lora['target_modules']!r} matches no Linear module")
        lora_params = sum(lora["r"] * (i + o) for _, i, o in targets)
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    per_token = (getattr(text, "num_experts_per_tok", None) or getattr(text, "experts_per_token", None) or 1)
    inter = getattr(text, "moe_intermediate_size", None) or text.intermediate_size
    quant = getattr(cfg, "quantization_config", None) or {}
    quant = quant if isinstance(quant, dict) else quant.to_dict()
    return Shape(params=params, layers=text.num_hidden_layers, hidden=text.hidden_size, mlp=inter * per_token,
                 heads=heads, kv_heads=getattr(text, "num_key_value_heads", None) or heads, head_dim=head_dim,
                 vocab=text.vocab_size, lora_params=lora_params, mxfp4=quant.get("quant_method") == "mxfp4")


def dtype_bytes(name: str) -> int:
    """auto = bf16: the estimate is for a GPU that supports it (models.torch_dtype's choice there)."""
    sizes = {"auto": 2, "bfloat16": 2, "float16": 2, "float32": 4}
    if name not in sizes:
        raise TunepipeError(f"dtype: unknown dtype {name!r} (auto, float32, bfloat16, float16)")
    return sizes[name]


@dataclasses.dataclass
class Engine:
    """How sft/grpo spread over the GPUs (launch)."""
    processes: int
    name: str             # single | ddp | zero2 | zero3 | fsdp
    shard_weights: int    # divisors of each state over the processes
    shard_grads: int
    shard_optim: int
    fp32_master: bool     # DeepSpeed's bf16/fp16 optimizer keeps an fp32 copy of the weights


def engine(launch: dict, root: Path) -> Engine:
    n = launch["num_processes"] if launch["launcher"] == "accelerate" else 1
    name = "single" if n == 1 else "ddp"
    if launch["launcher"] == "accelerate" and launch["config_file"]:
        f = Path(launch["config_file"])
        f = f if f.is_absolute() else root / f
        if not f.is_file():
            raise TunepipeError(f"launch.config_file: {launch['config_file']} not found")
        acc = yaml.safe_load(f.read_text()) or {}
        kind = str(acc.get("distributed_type", "")).upper()
        if kind == "DEEPSPEED":
            name = f"zero{(acc.get('deepspeed_config') or {}).get('zero_stage', 0)}"
        elif kind == "FSDP":
            name = "fsdp"
    w = n if name in ("zero3", "fsdp") else 1
    g = n if name in ("zero2", "zero3", "fsdp") else 1
    o = n if name in ("zero1", "zero2", "zero3", "fsdp") else 1
    return Engine(n, name, w, g, o, name.startswith("zero"))


def _gib(b: float) -> str:
    return f"{b / GiB:.2f}"


def activations(s: Shape, tokens: int, b: int, checkpointing: bool) -> tuple[float, str]:
    """Activation memory kept for backward, for ``tokens`` tokens (sequences x length)."""
    per_layer = b * (4 * s.hidden + 2 * (s.heads + s.kv_heads) * s.head_dim + 4 * s.mlp)
    if checkpointing:
        return (tokens * (s.layers * s.hidden * b + per_layer),
                f"{tokens} tok x ({s.layers} layers x {s.hidden} x {b} B + one layer {per_layer} B)")
    return tokens * s.layers * per_layer, f"{tokens} tok x {s.layers} layers x {per_layer} B"


def train_terms(s: Shape, eng: Engine, b: int, lora: bool) -> list[tuple[str, str, float]]:
    n = eng.processes
    terms = [("weights", f"{s.params:,} x {b} B" + (" (MXFP4 experts dequantized)" if s.mxfp4 else "")
              + (f" / {eng.shard_weights} ({eng.name})" if eng.shard_weights > 1 else ""),
              s.params * b / eng.shard_weights)]
    if lora:
        p = s.lora_params
        terms += [("LoRA adapter (fp32)", f"{p:,} x 4 B", p * 4), ("LoRA grads (fp32)", f"{p:,} x 4 B", p * 4),
                  ("AdamW m, v (fp32)", f"{p:,} x 8 B", p * 8)]
        return terms
    terms.append(("grads", f"{s.params:,} x {b} B" + (f" / {n} ({eng.name})" if eng.shard_grads > 1 else ""),
                  s.params * b / eng.shard_grads))
    ob = 4 if eng.fp32_master else b
    shard = f" / {n} ({eng.name})" if eng.shard_optim > 1 else ""
    terms.append((f"AdamW m, v ({'fp32' if ob == 4 else 'bf16'})", f"{s.params:,} x {2 * ob} B{shard}",
                  s.params * 2 * ob / eng.shard_optim))
    if eng.fp32_master and b < 4:
        terms.append(("fp32 master weights", f"{s.params:,} x 4 B{shard}", s.params * 4 / eng.shard_optim))
    return terms


def kv_bytes(s: Shape, b: int) -> int:
    """KV cache per token: K and V of every layer."""
    return 2 * s.layers * s.kv_heads * s.head_dim * b


def largest_budget(setting, families: list[str]) -> int:
    """The largest new-token budget among the single-turn ``families`` under a params budget
    (an int, null or a per-family mapping: :func:`tunepipe.tasks.budget`); the memory peak is
    the longest completion."""
    from tunepipe import tasks

    single = [t for t in families if t in tasks.names() and not tasks.multi_turn(t)]
    if not single:
        return setting if isinstance(setting, int) else max((v for v in (setting or {}).values() if v), default=1024)
    return max(tasks.budget(t, setting) for t in single)


def estimate(params: dict, s: Shape, root: Path, prompt_tokens: int | None = None) -> dict[str, dict]:
    """{stage: {"terms": [(term, formula, bytes)], "total": bytes, "notes": [...]}} per device."""
    sft, grpo, ev, launch = params["sft"], params["grpo"], params["evaluate"], params["launch"]
    eng = engine(launch, root)
    lora = bool(sft["lora"]["enabled"])
    out = {}

    # sft: one micro-batch of sft.batch_size / processes / micro_batches rows of sft.max_length tokens
    b = dtype_bytes(sft["dtype"])
    per = sft["batch_size"] / eng.processes / sft["micro_batches"]
    if per != int(per) or per < 1:
        raise TunepipeError(f"sft.batch_size: {sft['batch_size']} rows do not split into {eng.processes} "
                            f"process(es) x sft.micro_batches={sft['micro_batches']}")
    rows, length = int(per), sft["max_length"]
    act, act_f = activations(s, rows * length, b, sft["activation_checkpointing"])
    terms = train_terms(s, eng, b, lora)
    terms += [("activations" + (" (checkpointed)" if sft["activation_checkpointing"] else ""), act_f, act),
              ("logits (fp32)", f"{rows} x {length} x {s.vocab} x 4 B", rows * length * s.vocab * 4)]
    out["sft"] = {"terms": terms, "notes": [f"micro-batch {rows} rows x {length} tokens per device ({eng.name}, "
                                            f"{eng.processes} process(es)); rows are padded only to the longest"]}

    # grpo: prompts_per_step / processes prompts x num_generations completions
    b = dtype_bytes(grpo["dtype"])
    trained = [t for t in (params["collect"].get("train") or {}) if grpo["tasks"] is None or t in grpo["tasks"]]
    comp = largest_budget(grpo["max_completion_length"], trained)
    prompt = prompt_tokens or (sft["max_length"] - comp if sft["max_length"] > comp else sft["max_length"])
    prompts = grpo["prompts_per_step"] / eng.processes
    if prompts != int(prompts) or prompts < 1:
        raise TunepipeError(f"grpo.prompts_per_step: {grpo['prompts_per_step']} does not split over "
                            f"{eng.processes} processes (launch.num_processes)")
    prompts, g = int(prompts), grpo["num_generations"]
    seqs = prompts * g
    act, act_f = activations(s, seqs * (prompt + comp), b, grpo["activation_checkpointing"])
    terms = train_terms(s, eng, b, lora)
    if grpo["beta"] > 0 and not lora:
        terms.append(("reference model (beta > 0)", f"{s.params:,} x {b} B", s.params * b / eng.shard_weights))
    terms += [("activations" + (" (checkpointed)" if grpo["activation_checkpointing"] else ""), act_f, act),
              ("logits (fp32, completion positions)", f"{seqs} x {comp} x {s.vocab} x 4 B", seqs * comp * s.vocab * 4)]
    notes = [f"{prompts} prompts x {g} generations per device, {prompt} prompt + {comp} completion tokens"]
    gpu = float(launch["gpu_memory_gb"])
    if grpo["use_vllm"] and grpo["vllm_mode"] == "colocate":
        util = float(grpo["trl"].get("vllm_gpu_memory_utilization", _trl_default("vllm_gpu_memory_utilization")))
        terms.append(("vLLM colocate share", f"{util} x {gpu:g} GiB (its weights + KV cache)", util * gpu * GiB))
    elif grpo["use_vllm"]:
        notes.append("vllm_mode server: generation on the vLLM server's GPUs, not counted here")
    else:
        if eng.name == "zero3" and grpo["trl"].get("ds3_gather_for_generation",
                                                   _trl_default("ds3_gather_for_generation")):
            terms.append(("ZeRO-3 weights gathered for generation", f"{s.params:,} x {b} B x (1 - 1/{eng.processes})",
                          s.params * b * (1 - 1 / eng.processes)))
        kv = kv_bytes(s, b)
        terms.append(("KV cache (generation)", f"{prompts} x {g} x ({prompt} + {comp}) tok x {kv} B",
                      seqs * (prompt + comp) * kv))
    out["grpo"] = {"terms": terms, "notes": notes}

    # evaluate: one model at a time, one process, inference only
    b = dtype_bytes(ev["dtype"])
    new = largest_budget(ev["max_new_tokens"], list(params["collect"].get("test") or {}))
    if ev["backend"] == "vllm":
        terms = [("vLLM share", f"{VLLM_DEFAULT_UTILIZATION} x {gpu:g} GiB (weights + KV cache inside)",
                  VLLM_DEFAULT_UTILIZATION * gpu * GiB)]
        notes = ["vLLM takes its gpu_memory_utilization fraction of the GPU whatever the model"]
    else:
        seqs = ev["batch_size"] * (1 + ev["num_samples"])
        kv = kv_bytes(s, b)
        terms = [("weights", f"{s.params:,} x {b} B", s.params * b)]
        if lora:
            terms.append(("LoRA adapter (fp32)", f"{s.lora_params:,} x 4 B", s.lora_params * 4))
        terms += [("KV cache", f"{ev['batch_size']} x (1 + {ev['num_samples']}) x ({prompt} + {new}) tok x {kv} B",
                   seqs * (prompt + new) * kv),
                  ("logits (fp32, last position)", f"{seqs} x {s.vocab} x 4 B", seqs * s.vocab * 4)]
        notes = [f"{ev['batch_size']} prompts x (greedy + {ev['num_samples']} samples), {prompt} prompt + {new} new "
                 f"tokens; base, sft and grpo are evaluated one after another"]
    out["evaluate"] = {"terms": terms, "notes": notes}
    for st in out.values():
        st["total"] = sum(t[2] for t in st["terms"])
    return out


def _trl_default(field: str):
    from trl import GRPOConfig

    return GRPOConfig.__dataclass_fields__[field].default


def render(est: dict[str, dict], gpu_gb: float) -> list[str]:
    lines = []
    for stage, st in est.items():
        lines += ["", f"{stage} (per device):", "", "| term | formula | GiB |", "|---|---|---:|"]
        lines += [f"| {name} | {formula} | {_gib(v)} |" for name, formula, v in st["terms"]]
        lines.append(f"| **total** | | **{_gib(st['total'])}** |")
        lines += [f"  {n}" for n in st["notes"]]
        if st["total"] > gpu_gb * GiB:
            lines.append(f"WARNING: {stage} needs ~{_gib(st['total'])} GiB per device, more than "
                         f"launch.gpu_memory_gb={gpu_gb:g}")
    return lines


# -- the command ------------------------------------------------------------------------------

def plan(recipe: str, params: str = "params.yaml", full: bool = False, prompt_tokens: int | None = None,
         stages: bool = True) -> None:
    """``recipe``: params/recipes/<name>.yaml or a name there. ``prompt_tokens``: the prompt
    length for grpo and evaluate (default sft.max_length - grpo.max_completion_length).
    ``stages=False`` skips the DVC status."""
    base = config.load(params)
    root = Path(base["__file__"]).resolve().parent
    rpath = recipe_path(recipe, root)
    merged, changes = overlay(base, config.load(rpath), str(rpath.relative_to(root) if rpath.is_relative_to(root)
                                                              else rpath))
    check_sections(merged)
    print(f"# plan: {rpath.name} on {Path(params).name}")
    print("\n## resolved params" + (" (all)" if full else f" ({len(changes)} keys changed)"))
    if full:
        print(yaml.safe_dump({k: v for k, v in merged.items() if k != "__file__"}, sort_keys=False).rstrip())
    else:
        for key, old, new in changes:
            print(f"{key}: {_show(old)} -> {_show(new)}")
    if stages:
        print("\n## stages dvc repro would run")
        stale, down = stale_stages(root, merged)
        if not stale:
            print("none: every stage is up to date")
        for name, reasons in stale.items():
            print(f"{name}: " + ("; ".join(reasons[:4]) + (f"; +{len(reasons) - 4} more" if len(reasons) > 4 else "")))
        if down:
            print(f"then, when an upstream output changes: {', '.join(down)}")
    cfg, source = model_config(merged["base"], root)
    s = shape(cfg, merged["sft"]["lora"])
    gpu = float(merged["launch"]["gpu_memory_gb"])
    print(f"\n## GPU memory per device (estimate; launch.gpu_memory_gb={gpu:g})")
    print(f"model {merged['base']['model']}: {s.params:,} parameters (config: {source})"
          + (f", LoRA {s.lora_params:,}" if s.lora_params else ""))
    for line in render(estimate(merged, s, root, prompt_tokens), gpu):
        print(line)
    print(f"\nAn estimate, not a measurement: it ignores {IGNORED}.")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cli.run(plan)
