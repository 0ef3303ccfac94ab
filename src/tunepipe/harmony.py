"""OpenAI Harmony chat format (gpt-oss), on text: render, parse, special tokens, chat template.

Written from the published format, not from a tokenizer. Sources (openai/harmony v0.0.8):
``docs/format.md``, ``src/encoding.rs`` (renderer and StreamableParser), ``src/chat.rs``
(``SystemContent::default``), ``src/registry.rs`` and ``src/tiktoken_ext/public_encodings.rs``
(special tokens), and the literal renderings in ``test-data/*.txt``. Where the gpt-oss Hugging
Face chat template disagrees with the reference renderer, the reference wins (noted below).

Input messages are ``{"role": system|developer|user|assistant, "content": str}``; assistant
messages may also carry ``"channel"`` (analysis|commentary|final, default final) and
``"thinking"`` (an analysis message rendered just before the message).
"""

from __future__ import annotations

import re

__all__ = ["SPECIAL_TOKENS", "CHAT_TEMPLATE", "render", "render_completion", "parse"]

START, END, MESSAGE, CHANNEL = "<|start|>", "<|end|>", "<|message|>", "<|channel|>"
CONSTRAIN, RETURN, CALL = "<|constrain|>", "<|return|>", "<|call|>"
STARTOFTEXT, ENDOFTEXT = "<|startoftext|>", "<|endoftext|>"

#: Named special tokens of ``o200k_harmony`` in id order (199998..200012; the
#: ``<|reserved_N|>`` fillers are omitted) -- public_encodings.rs ``special_tokens``.
SPECIAL_TOKENS: list[str] = [
    STARTOFTEXT, ENDOFTEXT, RETURN, CONSTRAIN, CHANNEL, START, END, MESSAGE, CALL,
]

MODEL_IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
# chat.rs SystemContent::default: require_channels(["analysis", "commentary", "final"]).
VALID_CHANNELS = (
    "# Valid channels: analysis, commentary, final. Channel must be included for every message."
)
_EFFORTS = ("low", "medium", "high")


def _system_text(reasoning_effort, knowledge_cutoff, current_date) -> str:
    """encoding.rs ``Render<SystemContent>``: identity / cutoff / date lines joined by "\\n",
    sections joined by "\\n\\n". No "Current date" unless given (test_simple_convo.txt vs
    test_no_tools.txt); the HF template always prints ``strftime_now`` -- not followed."""
    top = [MODEL_IDENTITY]
    if knowledge_cutoff:
        top.append(f"Knowledge cutoff: {knowledge_cutoff}")
    if current_date:
        top.append(f"Current date: {current_date}")
    sections = ["\n".join(top)]
    if reasoning_effort:
        sections.append(f"Reasoning: {reasoning_effort}")
    sections.append(VALID_CHANNELS)
    return "\n\n".join(sections)


def _expand(messages) -> list[tuple[str, str | None, str]]:
    """Messages -> reference messages ``(role, channel, text)``.

    system/developer -> a developer message ``# Instructions\\n\\n{content}`` (encoding.rs
    ``Render<DeveloperContent>``; test_simple_convo_high_effort.txt). The HF template maps only a
    leading system/developer message and appends a trailing "\\n\\n" -- not followed.
    ``thinking`` -> an analysis message before the assistant message (HF template convention)."""
    out: list[tuple[str, str | None, str]] = []
    for m in messages:
        role, content = m.get("role"), m.get("content") or ""
        if role in ("system", "developer"):
            out.append(("developer", None, "# Instructions\n\n" + content))
        elif role == "user":
            out.append(("user", None, content))
        elif role == "assistant":
            if m.get("thinking") is not None:
                out.append(("assistant", "analysis", m["thinking"]))
            out.append(("assistant", m.get("channel") or "final", content))
        else:
            raise ValueError(f"harmony: unsupported role {role!r}")
    return out


def _drop_analysis(msgs):
    """encoding.rs ``render_conversation_into`` with ``auto_drop_analysis=True`` (the Python
    binding's default): if the LAST assistant message is on ``final``, drop the analysis
    messages that come before the FIRST ``final`` message. Later analysis is kept (reference
    test_keep_analysis_between_finals.txt), unlike the HF template, which drops every thinking
    except the last turn's; and, as in the reference, it drops the current turn's analysis when
    the conversation ends with a final answer (use :func:`render_completion` for targets)."""
    last = next((ch for role, ch, _ in reversed(msgs) if role == "assistant"), None)
    first = next((i for i, (_, ch, _) in enumerate(msgs) if ch == "final"), None)
    if last != "final" or first is None:
        return msgs
    return [m for i, m in enumerate(msgs) if not (i < first and m[1] == "analysis")]


def render(messages, *, reasoning_effort="medium", knowledge_cutoff="2024-06",
           current_date=None, add_generation_prompt=True, system_message=True) -> str:
    """Render a conversation exactly as openai-harmony's ``render_conversation_for_completion``
    (next role assistant, default config) decodes to text; with ``add_generation_prompt=False``
    as ``render_conversation`` (same text without the trailing ``<|start|>assistant``).

    Every message ends in ``<|end|>``, including a trailing assistant one: ``<|return|>`` is a
    decode-time stop token, history is normalised to ``<|end|>`` (docs/format.md
    "Implementation note"; test_keep_analysis_between_finals.txt). The HF template ends a last
    assistant message with ``<|return|>`` when add_generation_prompt is false -- not followed.

    ``system_message=False`` renders no system message, as the reference does for a
    conversation that holds none (saves ~47 tokens a prompt for small from-scratch models).
    """
    if reasoning_effort is not None and reasoning_effort not in _EFFORTS:
        raise ValueError(f"harmony: reasoning_effort must be one of {_EFFORTS}")
    msgs = [("system", None, _system_text(reasoning_effort, knowledge_cutoff, current_date))] if system_message else []
    msgs += _drop_analysis(_expand(messages))
    text = "".join(
        f"{START}{role}" + (f"{CHANNEL}{ch}" if ch else "") + f"{MESSAGE}{body}{END}"
        for role, ch, body in msgs
    )
    return text + (f"{START}assistant" if add_generation_prompt else "")


def render_completion(answer: str, *, channel: str = "final", thinking: str | None = None) -> str:
    """The text a model should generate after ``render(..., add_generation_prompt=True)``: the
    training target. Ends with ``<|return|>`` on the final channel, otherwise ``<|end|>`` (the
    rule of encoding.rs ``render_conversation_for_training``); the first message has no
    ``<|start|>assistant`` since the prompt already holds it (docs/format.md "Example output")."""
    head = "" if thinking is None else (
        f"{CHANNEL}analysis{MESSAGE}{thinking}{END}{START}assistant")
    return f"{head}{CHANNEL}{channel}{MESSAGE}{answer}{RETURN if channel == 'final' else END}"


_TOKEN_RE = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")
_STOP = (RETURN, CALL, ENDOFTEXT)  # stop tokens (docs/format.md token table) + tokenizer EOS


def _header(parts: list[str]) -> tuple[str, str]:
    """Header pieces -> (author, channel). Like encoding.rs ``parse_header_from_string``: the
    channel is the text after ``<|channel|>`` up to whitespace or ``<``; the author is the first
    word before it (recipients ``to=...`` and ``<|constrain|>`` types are ignored)."""
    text = "".join(parts)
    before, _, after = text.partition(CHANNEL)
    words = [w for w in before.split() if not w.startswith("to=")]
    channel = re.match(r"[^\s<]*", after.lstrip()).group() if CHANNEL in text else ""
    return (words[0] if words else ""), (channel or "final")


def parse(completion: str) -> dict[str, str]:
    """Map channel -> text for a (possibly partial or garbage) assistant completion. Never raises.

    Accepts text that starts right after ``<|start|>assistant`` (``<|channel|>...``), full
    ``<|start|>assistant...`` messages, several messages, a whole rendered transcript, and
    truncated output. Rules (decided here; the reference parser is strict and token-based):

    * messages end at ``<|end|>``, at a stop token or at the next ``<|start|>``/``<|channel|>``
      (a missing ``<|end|><|start|>assistant``); text of a message cut off by EOF is kept;
    * parsing stops at the first stop token ``<|return|>``, ``<|call|>``, ``<|endoftext|>``;
    * a message by another author (system/developer/user/tool) discards what was collected:
      the result describes the LAST assistant turn (a transcript gives its completion);
    * several messages on one channel are joined with "\\n"; a header without a channel, and
      text with no markup before the first special token or end (``"42"``, ``"42<|return|>"``)
      count as ``final``; a header cut off before ``<|message|>`` yields nothing;
    * non-string input -> ``{}``. Scorers read ``parse(c).get("final")``: a completion that
      never reached the final channel (truncated in analysis) has no answer.
    """
    if not isinstance(completion, str):
        return {}
    out: dict[str, list[str]] = {}
    state, header, body, initial = "header", [], [], True
    channel = "final"

    def plain_header() -> None:  # initial text with no markup is the answer itself
        if initial and header and not any(p in SPECIAL_TOKENS for p in header):
            out.setdefault("final", []).append("".join(header))

    for i, piece in enumerate(_TOKEN_RE.split(completion)):
        if i % 2 == 0:  # text between special tokens
            if piece and state == "header":
                header.append(piece)
            elif piece and state == "body":
                body.append(piece)
            continue
        if state == "body" and piece in (MESSAGE, CONSTRAIN, STARTOFTEXT):
            body.append(piece)
            continue
        if state == "body":
            out.setdefault(channel, []).append("".join(body))
        elif state == "header" and piece == MESSAGE:
            author, channel = _header(header)
            if not initial and author not in ("", "assistant"):
                out, state = {}, "skip"
            else:
                state, body = "body", []
            continue
        elif state == "header" and piece in (CHANNEL, CONSTRAIN):
            header.append(piece)
            continue
        elif state == "header":
            plain_header()
        if piece in _STOP:
            return {k: "\n".join(v) for k, v in out.items()}
        if piece in (START, CHANNEL):
            state, header, initial = "header", ([piece] if piece == CHANNEL else []), False
        elif state != "skip" or piece == END:
            state = "outside"
    if state == "body":
        out.setdefault(channel, []).append("".join(body))
    elif state == "header":
        plain_header()
    return {k: "\n".join(v) for k, v in out.items()}


# Jinja2 twin of render() for HF tokenizers (trim_blocks/lstrip_blocks safe: all output comes
# from {{- }} expressions). Variables: reasoning_effort, knowledge_cutoff, current_date,
# add_generation_prompt, system_message (same defaults as render()). The drop rule is _drop_analysis's.
CHAT_TEMPLATE = r"""
{%- if reasoning_effort is not defined %}{% set reasoning_effort = "medium" %}{% endif %}
{%- if knowledge_cutoff is not defined %}{% set knowledge_cutoff = "2024-06" %}{% endif %}
{%- if system_message is not defined or system_message %}
{{- "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI." }}
{%- if knowledge_cutoff %}{{- "\nKnowledge cutoff: " + knowledge_cutoff }}{% endif %}
{%- if current_date is defined and current_date %}
{{- "\nCurrent date: " + current_date }}
{%- endif %}
{%- if reasoning_effort %}{{- "\n\nReasoning: " + reasoning_effort }}{% endif %}
{{- "\n\n# Valid channels: analysis, commentary, final."
    + " Channel must be included for every message.<|end|>" }}
{%- endif %}
{%- set ns = namespace(last_final=false, seen_final=false) %}
{%- for message in messages if message.role == "assistant" %}
{%- set ns.last_final = (message.channel or "final") == "final" %}
{%- endfor %}
{%- for message in messages %}
{%- set content = message.content or "" %}
{%- if message.role == "system" or message.role == "developer" %}
{{- "<|start|>developer<|message|># Instructions\n\n" + content + "<|end|>" }}
{%- elif message.role == "user" %}
{{- "<|start|>user<|message|>" + content + "<|end|>" }}
{%- elif message.role == "assistant" %}
{%- set channel = message.channel or "final" %}
{%- set drop = ns.last_final and not ns.seen_final %}
{%- if message.thinking is defined and message.thinking is not none and not drop %}
{{- "<|start|>assistant<|channel|>analysis<|message|>" + message.thinking + "<|end|>" }}
{%- endif %}
{%- if not (drop and channel == "analysis") %}
{{- "<|start|>assistant<|channel|>" + channel + "<|message|>" + content + "<|end|>" }}
{%- endif %}
{%- if channel == "final" %}{% set ns.seen_final = true %}{% endif %}
{%- else %}
{{- raise_exception("harmony: unsupported role " + message.role|string) }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- "<|start|>assistant" }}{% endif %}"""
