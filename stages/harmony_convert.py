"""harmony_convert: render prompts (and SFT targets) in the target chat format.

``format: harmony`` uses :func:`tunepipe.harmony.render` (gpt-oss); ``format: model`` uses
the base model's own chat template. Rows of multi-turn environments also get ``obs_wrap``
(the text around an observation between turns) and ``sft_turns`` (the expert episode's
later turns as prompt/completion pairs, the environment's turns being prompt only) and
``prompt_text_agentgym`` (AgentGym's conversation start, rendered).  Legacy plain-text prompts (a row whose ``prompt`` is a
string, e.g. a decision CSV's) first become chat messages from
``harmony_convert.prompt_templates`` (system / developer / user, ``{prompt}`` = the text).

    python stages/harmony_convert.py --params params.yaml --data data/collect --model models/base --out data/harmony
"""
from __future__ import annotations

from pathlib import Path

from tunepipe import cli, config, io, models, tasks, templates


def harmony_convert(params: str = "params.yaml", data: str = "data/collect", model: str = "models/base",
                    out: str = "data/harmony") -> None:
    h = config.typed(templates.ConvertArgs, config.section(config.load(params), "harmony_convert"),
                     f"{params}: harmony_convert").as_dict()
    to_messages = templates.chat_messages(h.get("prompt_templates"), f"{params}: harmony_convert.prompt_templates")
    tokenizer = models.load_tokenizer(model) if h["format"] == "model" else None
    renderer = templates.renderer(h, tokenizer)
    wrap = None
    with io.atomic_dir(out) as tmp:
        for split in ("train", "test"):
            rows = io.read_jsonl(Path(data) / f"{split}.jsonl", required=io.ROW_FIELDS)
            for r in rows:
                r["prompt"] = to_messages(r["prompt"])
                r["prompt_text"], r["completion_text"] = renderer(r["prompt"], r["answer"])
                if tasks.multi_turn(r["task"]):   # environments: the expert's later turns, as SFT rows
                    wrap = wrap or templates.observation_wrap(h, tokenizer)
                    r["obs_wrap"] = list(wrap)
                    r["sft_turns"] = templates.episode_rows(r, renderer, wrap)
                    if r.get("agentgym_prompt"):   # AgentGym's layout (evaluate.episode.layout: agentgym)
                        r["prompt_text_agentgym"] = templates.agentgym_prompt_text(r["agentgym_prompt"], renderer, wrap)
            io.write_jsonl(tmp / f"{split}.jsonl", rows)
            print(f"{split}: {len(rows)} rows rendered ({h['format']})")


if __name__ == "__main__":
    cli.run(harmony_convert)
