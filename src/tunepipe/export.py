"""Export: a standalone model dir (LoRA merged), a model card with the eval metrics and
params, and an Ollama Modelfile. Push to the Hub only when asked and HF_TOKEN is set."""
from __future__ import annotations

import json
import os
from pathlib import Path

from tunepipe import TunepipeError, models


def merged_model(src: str, dtype: str):
    """The model with any LoRA adapter merged into its base weights."""
    m = models.load_model(src, dtype=dtype)
    if models.is_adapter(src):
        m = m.merge_and_unload()
    return m


def eval_table(eval_json: dict) -> str:
    lines = ["| model | task | greedy accuracy [80% CI] | sampled accuracy | n |", "|---|---|---|---|---|"]
    for m, per_task in eval_json.items():
        for t, e in per_task.items():
            g, s = e["greedy"], e.get("sampled")
            samp = f"{s['accuracy']:.3f}" if s else "—"
            lines.append(f"| {m} | {t} | {g['accuracy']:.3f} [{g['ci_low']:.3f}, {g['ci_high']:.3f}] | {samp} | {g['n']} |")
    return "\n".join(lines)


def model_card(*, base_model: str, source: str, eval_json: dict, params: dict) -> str:
    import yaml

    safe = {k: v for k, v in params.items() if not k.startswith("__")}
    return f"""---
library_name: transformers
base_model: {base_model if base_model != "tiny" else "none (tiny model trained from scratch)"}
tags: [tunepipe, grpo, sft, trl]
---
# tunepipe export ({source})

Fine-tuned with [tunepipe](https://github.com/) (SFT, then GRPO with verifiable task rewards).
Base model: `{base_model}`.

## Evaluation (held-out split, validator scoring)
{eval_table(eval_json)}

## Load it
```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("path/to/this/dir")
model = AutoModelForCausalLM.from_pretrained("path/to/this/dir")
```

## Params
```yaml
{yaml.safe_dump(safe, sort_keys=False).strip()}
```
"""


def modelfile(tokenizer) -> str:
    stops = sorted({t for t in (tokenizer.eos_token, "<|return|>", "<|call|>", "<|end|>", "<|im_end|>")
                    if t and t in tokenizer.get_vocab()})
    lines = ["FROM .", "PARAMETER temperature 0.7"] + [f'PARAMETER stop "{s}"' for s in stops]
    return "\n".join(lines) + "\n"


def export(src: str, out_dir: Path, *, dtype: str, eval_json: dict, params: dict, base_model: str) -> None:
    m = merged_model(src, dtype)
    tok = models.load_tokenizer(src)
    m.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    (out_dir / "README.md").write_text(model_card(base_model=base_model, source=src, eval_json=eval_json, params=params))
    (out_dir / "Modelfile").write_text(modelfile(tok))


def push(out_dir: Path, repo_id: str | None, private: bool) -> str:
    if not repo_id:
        raise TunepipeError("export.push_to_hub is true but export.repo_id is not set")
    if not os.environ.get("HF_TOKEN"):
        raise TunepipeError("export.push_to_hub is true but HF_TOKEN is not set in the environment")
    from huggingface_hub import HfApi

    api = HfApi(token=os.environ["HF_TOKEN"])
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(folder_path=str(out_dir), repo_id=repo_id)
    return str(info)
