"""Chat-format rendering for harmony_convert: Harmony, or the model's own chat template."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from tunepipe import TunepipeError


@dataclass
class PromptTemplates:
    """``harmony_convert.prompt_templates``: a plain-text prompt (a decision CSV's) -> chat
    messages; ``{prompt}`` is the text; null: no such message."""
    system: str | None
    developer: str | None
    user: str | None


@dataclass
class ConvertArgs:
    """The ``harmony_convert`` params section."""
    format: str                 # harmony (gpt-oss) | model (the base model's own chat template)
    chat_template: str | None   # format model: a Jinja template (or a file of one) for a model without one
    reasoning_effort: str | None   # harmony: low | medium | high (null: no Reasoning line)
    knowledge_cutoff: str       # harmony system message
    current_date: str | None    # harmony system message (null: none)
    system_message: bool        # harmony: render the gpt-oss system message
    prompt_templates: PromptTemplates

    def __post_init__(self):
        if self.format not in ("harmony", "model"):
            raise ValueError(f"format: expected 'harmony' or 'model', got {self.format!r}")
        if self.reasoning_effort not in ("low", "medium", "high", None):
            raise ValueError(f"reasoning_effort: expected low, medium, high or null, got {self.reasoning_effort!r}")

    def as_dict(self) -> dict:
        return asdict(self)


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


_SENT_A, _SENT_O = "\x00TUNEPIPE_TURN\x00", "\x00TUNEPIPE_OBSERVATION\x00"


def observation_wrap(h: dict, tokenizer=None) -> tuple[str, str]:
    """``(before, after)``: the text around an environment observation between two model
    turns of a multi-turn episode. ``before`` follows the model's completion (its
    end-of-turn marker included, as in ``completion_text``) and opens a user message;
    ``after`` closes it and opens the next assistant turn. Harmony:
    ``<|start|>user<|message|>`` / ``<|end|><|start|>assistant``; a model template: read off
    the template by rendering a conversation with placeholder turns."""
    if h["format"] == "harmony":
        from tunepipe import harmony

        return f"{harmony.START}user{harmony.MESSAGE}", f"{harmony.END}{harmony.START}assistant"
    render = renderer(h, tokenizer)
    user = [{"role": "user", "content": "Q"}]
    _prompt, completion = render(user, _SENT_A)
    end_marker = completion[completion.index(_SENT_A) + len(_SENT_A):]
    full = tokenizer.apply_chat_template(
        user + [{"role": "assistant", "content": _SENT_A}, {"role": "user", "content": _SENT_O}],
        tokenize=False, add_generation_prompt=True)
    if _SENT_A not in full or _SENT_O not in full:
        raise TunepipeError("harmony_convert.format=model: the chat template drops earlier turns; it cannot "
                            "render multi-turn episodes (use format: harmony or another chat_template)")
    tail = full[full.index(_SENT_A) + len(_SENT_A):]
    before, _, after = tail.partition(_SENT_O)
    if end_marker and before.startswith(end_marker):
        before = before[len(end_marker):]
    return before, after


def episode_rows(row: dict, render, wrap: tuple[str, str]) -> list[list[str]]:
    """``[[prompt_text, completion_text], ...]`` for the expert turns after the first of a
    multi-turn row (``row["turns"]``): each prompt is the episode so far, built exactly as
    :mod:`tunepipe.episodes` builds it at rollout and evaluation time."""
    before, after = wrap
    prefix, last = row["prompt_text"], row["completion_text"]
    out = []
    for t in row.get("turns") or []:
        prefix = prefix + last + before + t["observation"] + after
        last = render(row["prompt"], t["answer"])[1]
        out.append([prefix, last])
    return out


def agentgym_prompt_text(messages: list[dict], render, wrap: tuple[str, str]) -> str:
    """AgentGym's conversation start (``[user instruction, assistant acknowledgement, user
    observation]``) rendered as an episode prompt: the instruction as the prompt, the
    acknowledgement as the assistant's completed turn, then the observation wrapped as every
    later observation is (:func:`observation_wrap`)."""
    if [m.get("role") for m in messages] != ["user", "assistant", "user"]:
        raise TunepipeError("agentgym_prompt: expected [user, assistant, user] messages")
    prompt, ack = render(messages[:1], messages[1]["content"])
    before, after = wrap
    return prompt + ack + before + messages[2]["content"] + after
