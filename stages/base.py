"""base: materialise ``base.model`` as a plain HF model dir (tiny / HF id / local dir / .gguf).

    python stages/base.py --params params.yaml --data data/collect --out models/base
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from tunepipe import cli, config, harmony, io, models, tasks


def corpus(data: str) -> tuple[list[str], list[str]]:
    """What the tiny tokenizer is trained on: the rendered train prompts and answers; and
    the pre-tokenizer atoms of the task families in them (in name order)."""
    rows = io.read_jsonl(Path(data) / "train.jsonl", required=("task", "prompt", "answer"))
    as_messages = lambda p: [{"role": "user", "content": p}] if isinstance(p, str) else p  # noqa: E731
    texts = [harmony.render(as_messages(r["prompt"])) + harmony.render_completion(r["answer"])
             + "".join(t["observation"] + harmony.render_completion(t["answer"]) for t in r.get("turns") or [])
             for r in rows]   # environments: the expert episode's later turns too
    present = sorted({r["task"] for r in rows} & set(tasks.names()))
    return texts, [a for name in present for a in tasks.get(name).atoms]


def base(params: str = "params.yaml", data: str = "data/collect", out: str = "models/base") -> None:
    b = config.typed(models.BaseArgs, config.section(config.load(params), "base"), f"{params}: base")
    texts, atoms = corpus(data) if b.model == "tiny" else (None, ())
    with io.atomic_dir(out) as tmp:
        kind = models.resolve_base(b.model, tmp, dtype=b.dtype, revision=b.revision, texts=texts,
                                   seed=b.seed, tiny=asdict(b.tiny), atoms=atoms)
    print(f"base model ({kind}) -> {out}")


if __name__ == "__main__":
    cli.run(base)
