"""Chat-format rendering for harmony_convert: Harmony, or the model's own chat template."""
from __future__ import annotations

from pathlib import Path

from tunepipe import TunepipeError


def renderer(h: dict, tokenizer=None):
    """Return ``fn(messages, answer) -> (prompt_text, completion_text)`` for params section ``h``.

    ``completion_text`` is exactly what the model should generate after ``prompt_text``
    (answer plus the format's end-of-turn marker), used as the SFT target."""
    fmt = h["format"]
    if fmt == "harmony":
        from tunepipe import harmony

        kw = dict(reasoning_effort=h["reasoning_effort"], knowledge_cutoff=h["knowledge_cutoff"],
                  current_date=h["current_date"], system_message=h["system_message"])
        return lambda messages, answer: (harmony.render(messages, **kw), harmony.render_completion(answer))
    if fmt != "model":
        raise TunepipeError(f"harmony_convert.format: expected 'harmony' or 'model', got {fmt!r}")
    template = h.get("chat_template")
    if template:
        p = Path(template)
        tokenizer.chat_template = p.read_text() if p.is_file() else template
    if not getattr(tokenizer, "chat_template", None):
        raise TunepipeError(
            "harmony_convert.format=model but the base model's tokenizer has no chat template "
            "(a base, non-instruct checkpoint?): set harmony_convert.chat_template to a Jinja template "
            "or file, or harmony_convert.format: harmony"
        )

    def render(messages, answer):
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(
            messages + [{"role": "assistant", "content": answer}], tokenize=False
        )
        if full.startswith(prompt):
            completion = full[len(prompt):]
        else:  # templates that rewrite earlier turns: fall back to answer + end of turn
            completion = answer + tokenizer.eos_token
        # keep the end-of-turn marker, drop trailing newlines after it
        return prompt, completion.rstrip("\n")

    return render
