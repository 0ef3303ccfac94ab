"""Export: a standalone model directory that loads with plain transformers, checked, documented
and ready for Ollama; pushed to the Hub only when asked and HF_TOKEN is set.

- A LoRA source is merged into its base weights (``merge_and_unload``); a full fine-tune is
  copied file by file (weights bit-identical).
- Logits check: on ``export.check_prompts`` held-out prompts, the logits of the exported
  model, reloaded from disk, must match the source model's (the unmerged PEFT model for an
  adapter) within ``export.check_atol[dtype]`` (max absolute difference). The figures are written
  to ``logits_check.json`` and the model card.
- Model card (``huggingface_hub.ModelCard``): base model, data, eval table with the Jeffreys
  intervals, the logits check, how to load it, and the params (the ``remote``/``publish``
  sections left out).
- Ollama ``Modelfile``: FROM the merged weights (or FROM an Ollama base + ADAPTER), the chat
  template in Ollama's Go syntax (Harmony or ChatML), the stop tokens.
- Harmony prompts: the exported tokenizer's chat template defaults to the rendering the model
  was trained on (``harmony_convert`` params), so ``apply_chat_template`` reproduces it.
- gpt-oss: ``export.keep_mxfp4_config`` copies the base's MXFP4 ``quantization_config`` into
  the exported config.json; otherwise an MXFP4 block is dropped (the merged weights are
  dequantized).
"""
from __future__ import annotations

import dataclasses
import gc
import json
import os
import re
import shutil
from pathlib import Path

from tunepipe import TunepipeError, models

#: files of a full fine-tune that are training leftovers, not part of the model
_SKIP = re.compile(r"(training_args\.bin|optimizer\.pt|scheduler\.pt|rng_state.*\.pth|trainer_state\.json)$")
#: params sections that do not describe the model (infrastructure) and stay out of the card
_CARD_SKIP = ("remote", "publish", "generate")


@dataclasses.dataclass
class ExportArgs:
    source: str
    dtype: str
    push_to_hub: bool
    repo_id: str | None
    private: bool
    check_prompts: int
    check_atol: dict[str, float]
    ollama_from: str | None
    keep_mxfp4_config: bool


# ----------------------------------------------------------------------------- logits check

def logits(model, tokenizer, prompts: list[str]) -> list:
    """fp32 logits of each prompt (one at a time: no padding in the comparison)."""
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for p in prompts:
            enc = tokenizer(p, return_tensors="pt", add_special_tokens=False).to(model.device)
            out.append(model(**enc).logits.float().cpu())
    return out


def max_abs_diff(a: list, b: list) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


# ----------------------------------------------------------------------------- model files

def copy_full(src: Path, dst: Path) -> None:
    """A full fine-tune: its top-level files, minus training leftovers."""
    for f in sorted(src.iterdir()):
        if f.is_file() and not _SKIP.search(f.name):
            shutil.copy2(f, dst / f.name)


def bake_chat_defaults(template: str, h: dict) -> str:
    """Prefix a Harmony chat template with the rendering params used in training (only for
    variables the template reads and the caller did not pass)."""
    sets = []
    for var in ("system_message", "reasoning_effort", "knowledge_cutoff", "current_date"):
        if var in h and re.search(rf"\b{var}\b", template):
            sets.append(f"{{%- if {var} is not defined %}}{{%- set {var} = {json.dumps(h[var])} %}}{{%- endif %}}")
    return "".join(sets) + template if sets else template


def base_config_path(src: str | Path) -> Path:
    return Path(models.adapter_base(src)) / "config.json" if models.is_adapter(src) else Path(src) / "config.json"


def base_config(src: str | Path) -> dict:
    """The base model's config.json, with the source checkpoint's MXFP4 ``quantization_config``
    that the base stage set aside when it dequantized a gpt-oss checkpoint (``models.SOURCE_QUANTIZATION``)."""
    path = base_config_path(src)
    cfg = json.loads(path.read_text()) if path.is_file() else {}
    source_q = path.parent / models.SOURCE_QUANTIZATION
    if "quantization_config" not in cfg and source_q.is_file():
        cfg["quantization_config"] = json.loads(source_q.read_text())
    return cfg


def fix_quantization_config(out_dir: Path, base_cfg: dict, keep: bool) -> str:
    """MXFP4 metadata of a gpt-oss base: keep it (copied from the base) or drop it. Returns
    what was done, for the log and the card."""
    cfg_path = out_dir / "config.json"
    cfg = json.loads(cfg_path.read_text())
    base_q = base_cfg.get("quantization_config") or {}
    ours = cfg.get("quantization_config") or {}
    if keep:
        q = ours if ours.get("quant_method") == "mxfp4" else base_q
        if q.get("quant_method") != "mxfp4":
            raise TunepipeError("export.keep_mxfp4_config is true but the base model's config.json has no "
                                "MXFP4 quantization_config (only gpt-oss checkpoints carry one)")
        cfg["quantization_config"] = q
        done = "MXFP4 quantization_config kept"
    elif ours.get("quant_method") == "mxfp4":
        del cfg["quantization_config"]
        done = "MXFP4 quantization_config dropped (weights are dequantized)"
    else:
        return ""
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return done


# ----------------------------------------------------------------------------- model card

def _ci(e: dict) -> str:
    return f"{e['accuracy']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"


def eval_table(eval_json: dict) -> str:
    lines = ["| model | task | greedy accuracy [80% CI] | sampled accuracy [80% CI] | pass@k | n |",
             "|---|---|---|---|---|---|"]
    for m, per_task in eval_json.items():
        for t, e in per_task.items():
            g, s = e["greedy"], e.get("sampled")
            samp = _ci(s) if s else "—"
            pk = f"{s['pass_at_k']:.3f} (k={s['k']})" if s and "pass_at_k" in s else "—"
            lines.append(f"| {m} | {t} | {_ci(g)} | {samp} | {pk} | {g['n']} |")
    return "\n".join(lines)


def _is_hub_id(name: str) -> bool:
    return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", name)) and not Path(name).exists()


def data_summary(params: dict) -> tuple[str, list[str]]:
    """(markdown lines describing the training data, HF dataset ids among the sources)."""
    c = params.get("collect", {})
    lines, hub = [], []
    for split in ("train", "test"):
        for task, n in (c.get(split) or {}).items():
            lines.append(f"- `{task}` {split}: {n} rows")
    for task in sorted({t for s in ("train", "test") for t in (c.get(s) or {})}):
        src = (c.get(task) or {}).get("source")
        if isinstance(src, str) and _is_hub_id(src):
            hub.append(src)
            lines.append(f"- `{task}` source: [{src}](https://huggingface.co/datasets/{src})")
        elif src:
            lines.append(f"- `{task}` source: {src}")
        else:
            lines.append(f"- `{task}`: generated locally by tunepipe (params `collect.{task}`)")
    return "\n".join(lines), sorted(set(hub))


def model_card(*, base_model: str, source: str, eval_json: dict, params: dict, check: dict,
               repo_id: str | None, notes: list[str]):
    """A ``huggingface_hub.ModelCard`` (metadata + body)."""
    import yaml
    from huggingface_hub import ModelCard, ModelCardData

    from tunepipe.report import task_metrics_markdown

    safe = {k: v for k, v in params.items() if not k.startswith("__") and k not in _CARD_SKIP}
    data_md, hub_datasets = data_summary(params)
    hub_base = base_model if _is_hub_id(base_model) else None
    meta = ModelCardData(library_name="transformers", pipeline_tag="text-generation",
                         base_model=hub_base, datasets=hub_datasets or None,
                         tags=["tunepipe", "sft", "grpo", "trl"] + (["lora-merged"] if check["merged"] else []))
    where = repo_id or "path/to/this/dir"
    base_line = (f"[`{base_model}`](https://huggingface.co/{base_model})" if hub_base else
                 "none: a tiny model trained from scratch by tunepipe" if base_model == "tiny" else f"`{base_model}`")
    body = f"""# tunepipe export ({Path(source).name})

Fine-tuned with tunepipe: SFT, then GRPO with verifiable task rewards (the validators' scorers).

- Base model: {base_line}
- Source: `{source}` ({"LoRA adapter merged into the base weights" if check["merged"] else "full fine-tune, copied"})
{"".join(f"- {n}" + chr(10) for n in notes)}
## Training data
{data_md}

## Evaluation (held-out split, validator scoring, Jeffreys 80% intervals)
{eval_table(eval_json)}

{chr(10).join(task_metrics_markdown(eval_json)).replace("## ", "### ")}

## Export check
Logits of this export (reloaded from disk) vs the source model on {check["prompts"]} held-out prompts:
max |difference| = {check["max_abs_diff"]:.3g} (tolerance {check["atol"]:g}, {check["dtype"]}).

## Load it
```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("{where}")
model = AutoModelForCausalLM.from_pretrained("{where}")
prompt = tok.apply_chat_template([{{"role": "user", "content": "..."}}], tokenize=False, add_generation_prompt=True)
ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
print(tok.decode(model.generate(**ids, max_new_tokens=64)[0][ids["input_ids"].shape[1]:]))
```
With Ollama: `ollama create my-model -f Modelfile` in this directory, then `ollama run my-model`.

## Params
```yaml
{yaml.safe_dump(safe, sort_keys=False, allow_unicode=True).strip()}
```
"""
    return ModelCard(f"---\n{meta.to_yaml()}\n---\n{body}")


# ----------------------------------------------------------------------------- Ollama

_HARMONY_GO = (
    '{{- range .Messages }}'
    '{{- if or (eq .Role "system") (eq .Role "developer") }}<|start|>developer<|message|># Instructions\n\n{{ .Content }}<|end|>'
    '{{- else if eq .Role "user" }}<|start|>user<|message|>{{ .Content }}<|end|>'
    '{{- else if eq .Role "assistant" }}<|start|>assistant<|channel|>final<|message|>{{ .Content }}<|end|>'
    '{{- end }}{{- end }}<|start|>assistant'
)
_CHATML_GO = '{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n'


def ollama_template(chat_template: str | None, h: dict) -> str | None:
    """The chat template in Ollama's Go syntax: Harmony (with the system message the model
    was trained with, if any) or ChatML; None for other templates."""
    tpl = chat_template or ""
    if "<|start|>" in tpl and "<|message|>" in tpl:
        from tunepipe import harmony

        system = ""
        if h.get("format") == "harmony" and h.get("system_message"):
            system = harmony.render([], reasoning_effort=h["reasoning_effort"], knowledge_cutoff=h["knowledge_cutoff"],
                                   current_date=h["current_date"], add_generation_prompt=False)
        return system + _HARMONY_GO
    if "<|im_start|>" in tpl:
        return _CHATML_GO
    return None


def stop_tokens(tokenizer, eos_ids=()) -> list[str]:
    vocab = tokenizer.get_vocab()
    cands = {tokenizer.eos_token, "<|return|>", "<|call|>", "<|end|>", "<|im_end|>", "<|endoftext|>"}
    cands |= {tokenizer.convert_ids_to_tokens(i) for i in eos_ids}
    return sorted(t for t in cands if t and t in vocab)


def modelfile(tokenizer, *, h: dict, eos_ids=(), ollama_from: str | None = None) -> str:
    lines = ["# Ollama: `ollama create <name> -f Modelfile` in this directory"]
    if ollama_from:
        lines += [f"FROM {ollama_from}", "ADAPTER ./adapter"]
    else:
        lines += ["FROM ."]
    tpl = ollama_template(getattr(tokenizer, "chat_template", None), h)
    if tpl is not None:
        lines.append(f'TEMPLATE """{tpl}"""')
    else:
        lines.append("# no TEMPLATE: this chat template has no Go translation here; write one by hand")
    lines += [f'PARAMETER stop "{s}"' for s in stop_tokens(tokenizer, eos_ids)]
    lines.append("PARAMETER temperature 0.7")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- export

#: what a merge writes besides the card and the Modelfile (the model card is metrics, the
#: Modelfile is rewritten from the tokenizer: neither is part of a merge's identity)
_NOT_MERGED = ("README.md", "Modelfile")


def merge_fingerprint(src: str, a: ExportArgs, h: dict, prompts: list[str]) -> str:
    """The identity of a merge: the source model's files, what shapes the exported weights and
    tokenizer (dtype, ollama_from, the MXFP4 metadata, the Harmony defaults baked into the chat
    template), the check prompts, and tunepipe's own code."""
    from tunepipe.io import fingerprint

    files = sorted(f for f in Path(src).rglob("*") if f.is_file())
    return fingerprint([str(f.relative_to(src)) for f in files], *files, a.dtype, a.ollama_from, a.keep_mxfp4_config,
                       a.check_atol, {k: v for k, v in h.items() if k != "prompt_templates"}, prompts)


def _copy_tree(src: Path, dst: Path, skip=()) -> None:
    """Files of ``src`` into ``dst`` (hard links where the filesystem allows: a merged 20B model
    is not copied twice)."""
    for f in sorted(src.rglob("*")):
        if f.is_file() and f.name not in skip:
            t = dst / f.relative_to(src)
            t.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(f, t)
            except OSError:
                shutil.copy2(f, t)


def merged(src: str, out_dir: Path, *, a: ExportArgs, h: dict, prompts: list[str], cache: str | Path | None) -> dict:
    """The merged (or copied) weights, tokenizer and ``logits_check.json`` in ``out_dir``;
    returns the check record. With ``cache`` (``models/checkpoints/export``, persisted, not in
    DVC's cache), a merge with the same :func:`merge_fingerprint` is reused instead of redone:
    a change of the metrics the model card shows reruns export without re-merging."""
    fp = merge_fingerprint(src, a, h, prompts) if cache else None
    hit = Path(cache) / fp if cache else None
    if hit is not None and (hit / "logits_check.json").is_file():
        _copy_tree(hit, out_dir)
        print(f"export: merge {fp} reused from {cache} (same source, settings and code)")
        return json.loads((hit / "logits_check.json").read_text())
    check = _merge(src, out_dir, a=a, h=h, prompts=prompts)
    if hit is not None:
        shutil.rmtree(cache, ignore_errors=True)   # the latest merge only
        tmp = Path(cache) / f".{fp}.tmp"
        _copy_tree(out_dir, tmp, skip=_NOT_MERGED)
        tmp.rename(hit)
    return check


def _merge(src: str, out_dir: Path, *, a: ExportArgs, h: dict, prompts: list[str]) -> dict:
    from transformers import AutoModelForCausalLM

    adapter = models.is_adapter(src)
    dname = str(models.torch_dtype(a.dtype)).replace("torch.", "")
    base_cfg = base_config(src)
    tok = models.load_tokenizer(src)
    model = models.load_model(src, dtype=a.dtype)
    ref = logits(model, tok, prompts)
    if adapter:
        if a.ollama_from:
            model.save_pretrained(out_dir / "adapter")
        model = model.merge_and_unload()
        model.save_pretrained(out_dir)
    else:
        copy_full(Path(src), out_dir)
    del model
    gc.collect()
    if h.get("format") == "harmony" and tok.chat_template:
        tok.chat_template = bake_chat_defaults(tok.chat_template, h)
    tok.save_pretrained(out_dir)
    mx = fix_quantization_config(out_dir, base_cfg, a.keep_mxfp4_config)

    dtype, atol = models.torch_dtype(a.dtype), a.check_atol[dname]
    exported = AutoModelForCausalLM.from_pretrained(out_dir, dtype=dtype)
    diff = max_abs_diff(ref, logits(exported, tok, prompts))
    del exported
    check = {"prompts": len(prompts), "max_abs_diff": diff, "atol": atol, "merged": adapter, "dtype": dname,
             "passed": diff <= atol, "notes": [mx] if mx else []}
    if not check["passed"]:
        raise TunepipeError(f"export: logits of the exported model differ from {src} by {diff:.3g} "
                            f"> export.check_atol.{dname} {atol:g} on {len(prompts)} prompts")
    (out_dir / "logits_check.json").write_text(json.dumps(check, indent=2) + "\n")
    return check


def export(src: str, out_dir: Path, *, a: ExportArgs, h: dict, prompts: list[str], eval_json: dict,
           params: dict, base_model: str, cache: str | Path | None = None) -> dict:
    """Write the export into ``out_dir`` (an empty temp dir; the caller makes it atomic): the
    merge (:func:`merged`, reused from ``cache`` when it is the same merge), then the model
    card and the Modelfile. Returns the logits-check record."""
    if not Path(src).is_dir():
        raise TunepipeError(f"export.source: {src} not found (run the {a.source} stage first)")
    if not prompts:
        raise TunepipeError("export: no prompts for the logits check (export.check_prompts must be > 0)")
    dname = str(models.torch_dtype(a.dtype)).replace("torch.", "")
    if dname not in a.check_atol:
        raise TunepipeError(f"export.check_atol: no tolerance for dtype {dname} (export.dtype {a.dtype!r})")
    if a.ollama_from and not models.is_adapter(src):
        raise TunepipeError(f"export.ollama_from needs a LoRA source, but {src} is a full model "
                            "(set export.ollama_from: null to use the merged weights)")
    check = merged(src, out_dir, a=a, h=h, prompts=prompts, cache=cache)
    tok = models.load_tokenizer(out_dir)
    gen, cfg = out_dir / "generation_config.json", out_dir / "config.json"   # as the model's generation_config
    eos = json.loads((gen if gen.is_file() else cfg).read_text()).get("eos_token_id")
    eos_ids = eos if isinstance(eos, list) else [eos] if eos is not None else []
    model_card(base_model=base_model, source=src, eval_json=eval_json, params=params, check=check,
               repo_id=a.repo_id, notes=check.get("notes", [])).save(out_dir / "README.md")
    (out_dir / "Modelfile").write_text(modelfile(tok, h=h, eos_ids=eos_ids, ollama_from=a.ollama_from))
    return check


# ----------------------------------------------------------------------------- Hub

def push(out_dir: Path, repo_id: str | None, private: bool) -> str:
    """Create (or reuse) ``repo_id`` and upload ``out_dir``; the token comes from HF_TOKEN only."""
    if not repo_id:
        raise TunepipeError("export.push_to_hub is true but export.repo_id is not set")
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise TunepipeError("export.push_to_hub is true but HF_TOKEN is not set in the environment")
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        raise TunepipeError("export.push_to_hub needs the network but HF_HUB_OFFLINE is set: "
                            "run with HF_HUB_OFFLINE=0")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        info = api.upload_folder(folder_path=str(out_dir), repo_id=repo_id, repo_type="model",
                                 commit_message="tunepipe export")
    except HfHubHTTPError as e:
        raise TunepipeError(f"export: push to {repo_id} failed: {' '.join(str(e).split())[:300]}") from None
    return str(getattr(info, "commit_url", info))
