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


def chat_messages(t: dict | None, where: str):
    """``fn(prompt) -> messages``: a legacy plain-text prompt becomes chat messages from the
    templates ``t`` = ``{system, developer, user}`` (each a ``str.format`` template with the
    field ``{prompt}``, or null: no such message); chat prompts (lists) pass unchanged."""
    if not isinstance(t, dict) or set(t) != {"system", "developer", "user"}:
        raise TunepipeError(f"{where}: expected a mapping with keys system, developer, user")
    for role, tpl in t.items():
        if tpl is not None and not isinstance(tpl, str):
            raise TunepipeError(f"{where}.{role}: expected a string or null")
        if tpl is not None:
            try:
                tpl.format(prompt="")
            except (KeyError, IndexError, ValueError) as e:
                raise TunepipeError(f"{where}.{role}: invalid str.format template ({e}); field: {{prompt}}") from None
    if not t["user"]:
        raise TunepipeError(f"{where}.user: a user template is required (e.g. '{{prompt}}')")

    def convert(prompt):
        if not isinstance(prompt, str):
            return prompt
        return [{"role": role, "content": t[role].format(prompt=prompt)}
                for role in ("system", "developer", "user") if t[role] is not None]

    return convert
