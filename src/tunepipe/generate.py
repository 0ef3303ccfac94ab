"""generate (not in the DAG, ``make generate``): completions of a model directory (the
export, by default) for the prompts of a file, scored where a row names its task and spec.

The batched decoding itself is :mod:`tunepipe.generation`'s (shared with evaluate, reward
and training); this module is the job around it: the prompt file read, the prompts rendered
as in training, the completions scored.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from tunepipe import TunepipeError, models


@dataclasses.dataclass
class GenerateArgs:
    max_new_tokens: int
    temperature: float
    batch_size: int
    dtype: str


def read_prompts(path: str | Path) -> list[dict]:
    """Rows of a prompt file: ``.txt`` (one prompt per non-empty line) or ``.jsonl`` (rows
    with ``prompt_text`` (rendered, used as is) or ``prompt`` (a string or chat messages);
    ``task`` + ``spec`` make a row scored)."""
    from tunepipe import io

    p = Path(path)
    if not p.is_file():
        raise TunepipeError(f"{p}: prompt file not found")
    if p.suffix == ".jsonl":
        rows = io.read_jsonl(p)
        for i, r in enumerate(rows, 1):
            if "prompt_text" not in r and not isinstance(r.get("prompt"), (str, list)):
                raise TunepipeError(f"{p}:{i}: row needs 'prompt_text' or 'prompt' (a string or chat messages)")
    else:
        rows = [{"prompt": line.rstrip("\n")} for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows:
        raise TunepipeError(f"{p}: no prompts")
    return rows


def render_prompts(rows: list[dict], tokenizer, h: dict) -> list[str]:
    """The text each row is fed as: ``prompt_text`` as is; otherwise the prompt as chat
    messages, rendered as in training (``harmony_convert`` params)."""
    from tunepipe import templates

    render = templates.renderer(h, tokenizer if h["format"] == "model" else None)
    out = []
    for r in rows:
        if "prompt_text" in r:
            out.append(r["prompt_text"])
        else:
            msgs = [{"role": "user", "content": r["prompt"]}] if isinstance(r["prompt"], str) else r["prompt"]
            out.append(render(msgs, "")[0])
    return out


def generate(model_dir: str, rows: list[dict], *, g: GenerateArgs, h: dict, seed: int) -> list[dict]:
    """Completions of the exported model for ``rows``; scored when a row has task + spec."""
    from tunepipe import generation, tasks

    if g.max_new_tokens < 1 or g.batch_size < 1 or g.temperature < 0:
        raise TunepipeError("generate: max_new_tokens and batch_size must be >= 1 and temperature >= 0")
    tok = models.load_tokenizer(model_dir)
    model = models.load_model(model_dir, dtype=g.dtype)
    texts = render_prompts(rows, tok, h)
    sample = g.temperature > 0
    outs = generation.hf_generate(model, tok, texts, max_new_tokens=g.max_new_tokens, batch_size=g.batch_size,
                                  do_sample=sample, temperature=g.temperature if sample else 1.0,
                                  num_samples=1, seed=seed, desc="generate")
    results = []
    for r, text, o in zip(rows, texts, outs):
        res = {"id": r.get("id"), "prompt_text": text, "completion": o[0]}
        if "task" in r and "spec" in r:
            res["task"] = r["task"]
            res["score"] = tasks.score_completion(r["task"], o[0], r["spec"])
        results.append(res)
    return results
