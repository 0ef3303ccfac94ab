"""base: materialise ``base.model`` as a plain HF model dir (tiny / HF id / local dir / .gguf).

    python stages/base.py --params params.yaml --data data/collect --out models/base
"""
from __future__ import annotations

from pathlib import Path

from tunepipe import cli, config, harmony, io, models


def corpus_texts(data: str) -> list[str]:
    """What the tiny tokenizer is trained on: the rendered train prompts and answers."""
    rows = io.read_jsonl(Path(data) / "train.jsonl", required=("prompt", "answer"))
    return [harmony.render(r["prompt"]) + harmony.render_completion(r["answer"]) for r in rows]


def base(params: str = "params.yaml", data: str = "data/collect", out: str = "models/base") -> None:
    b = config.section(config.load(params), "base")
    model = b["model"]
    texts = corpus_texts(data) if model == "tiny" else None
    with io.atomic_dir(out) as tmp:
        kind = models.resolve_base(
            str(model), tmp, dtype=b["dtype"], revision=b["revision"], texts=texts, seed=b["seed"], tiny=b["tiny"]
        )
    print(f"base model ({kind}) -> {out}")


if __name__ == "__main__":
    cli.run(base)
