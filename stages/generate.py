"""generate (not in the DAG): text generation with the exported model on a prompt file.

    python stages/generate.py --params params.yaml --model models/export --prompts prompts.txt \
        --out data/generate/completions.jsonl

Prompt file: ``.txt`` (one prompt per line) or ``.jsonl`` (``prompt_text``, or ``prompt`` as a
string or chat messages; rows with ``task`` and ``spec`` are scored, e.g.
data/harmony/test.jsonl). Plain prompts are rendered as in training (``harmony_convert``).
Settings: the ``generate:`` params section (temperature 0 = greedy).
"""
from __future__ import annotations

from pathlib import Path

from tunepipe import cli, config, generate as gen, io

DEFAULT_OUT = "data/generate/completions.jsonl"


def generate(params: str = "params.yaml", model: str = "models/export", prompts: str = "prompts.txt",
             out: str = DEFAULT_OUT) -> None:
    p = config.load(params)
    g = config.typed(gen.GenerateArgs, config.section(p, "generate"), "generate")
    rows = gen.read_prompts(prompts)
    results = gen.generate(model, rows, g=g, h=config.section(p, "harmony_convert"),
                           seed=config.section(p, "base")["seed"])
    io.write_jsonl(out, results)
    if out == DEFAULT_OUT:  # the default folder holds artifacts only
        (Path(out).parent / ".gitignore").write_text("*\n")
    scored = [r["score"] for r in results if r.get("score") is not None]
    print(f"{len(results)} completions -> {out}"
          + (f"; mean score {sum(scored) / len(scored):.3f} on {len(scored)} scored rows" if scored else ""))
    for r in results[:3]:
        print(f"  {r['completion']!r}")


if __name__ == "__main__":
    cli.run(generate)
