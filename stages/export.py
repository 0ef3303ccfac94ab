"""export: merge LoRA into the base weights, write a model card and an Ollama Modelfile;
push to the Hub only when ``export.push_to_hub`` and HF_TOKEN are set.

    python stages/export.py --params params.yaml --models-dir models --metrics metrics/eval.json --out models/export
"""
from __future__ import annotations

import json
from pathlib import Path

from tunepipe import cli, config, export as ex, io


def export(params: str = "params.yaml", models_dir: str = "models", metrics: str = "metrics/eval.json",
           out: str = "models/export") -> None:
    p = config.load(params)
    e = config.section(p, "export")
    src = str(Path(models_dir) / e["source"])
    eval_json = json.loads(Path(metrics).read_text())
    with io.atomic_dir(out) as tmp:
        ex.export(src, tmp, dtype=e["dtype"], eval_json=eval_json, params=p,
                  base_model=str(config.section(p, "base")["model"]))
    print(f"exported {src} -> {out}")
    if e["push_to_hub"]:
        print("pushed:", ex.push(Path(out), e["repo_id"], e["private"]))


if __name__ == "__main__":
    cli.run(export)
