"""export: merge LoRA into the base weights (or copy a full fine-tune), check the exported
logits against the source model's, write a model card and an Ollama Modelfile; push to the
Hub only when ``export.push_to_hub`` is true and HF_TOKEN is set.

    python stages/export.py --params params.yaml --models-dir models --metrics metrics/eval.json \
        --data data/harmony/test.jsonl --out models/export --cache models/checkpoints/export

``--cache``: the last merge, persisted (not in DVC's cache) and reused when the source, the
export settings and the code are the same: new metrics in the model card do not re-merge.
"""
from __future__ import annotations

import json
from pathlib import Path

from tunepipe import TunepipeError, cli, config, export as ex, io


def export(params: str = "params.yaml", models_dir: str = "models", metrics: str = "metrics/eval.json",
           data: str = "data/harmony/test.jsonl", out: str = "models/export", cache: str | None = None) -> None:
    p = config.load(params)
    a = config.typed(ex.ExportArgs, config.section(p, "export"), "export")
    h = config.section(p, "harmony_convert")
    if a.source not in ("grpo", "sft"):
        raise TunepipeError(f"export.source: expected 'grpo' or 'sft', got {a.source!r}")
    if a.check_prompts < 1:
        raise TunepipeError(f"export.check_prompts: must be >= 1, got {a.check_prompts}")
    src = str(Path(models_dir) / a.source)
    try:
        eval_json = json.loads(Path(metrics).read_text())
    except (OSError, ValueError) as e:
        raise TunepipeError(f"{metrics}: cannot read eval metrics: {e}") from None
    prompts = [r["prompt_text"] for r in io.read_jsonl(data, required=("prompt_text",))[: a.check_prompts]]
    with io.atomic_dir(out) as tmp:
        check = ex.export(src, tmp, a=a, h=h, prompts=prompts, eval_json=eval_json, params=p,
                          base_model=str(config.section(p, "base")["model"]), cache=cache)
    print(f"exported {src} -> {out}; logits check: max |diff| {check['max_abs_diff']:.3g} "
          f"<= {check['atol']:g} on {check['prompts']} prompts")
    if a.push_to_hub:
        print("pushed:", ex.push(Path(out), a.repo_id, a.private))


if __name__ == "__main__":
    cli.run(export)
