"""Tests for tunepipe.harmony. Expected renderings are literal strings transcribed from
openai/harmony v0.0.8 ``test-data/*.txt`` (cited per case) or derived by hand from its
``src/encoding.rs`` rules; the reference's own tests render some conversations without a
system message, so for those the default system message (SYS) is prepended."""

import jinja2
import jinja2.sandbox
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunepipe.harmony import CHAT_TEMPLATE, SPECIAL_TOKENS, parse, render, render_completion

CHANNELS = (
    "# Valid channels: analysis, commentary, final. Channel must be included for every message."
)
SYS = (
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
    f"Knowledge cutoff: 2024-06\n\nReasoning: medium\n\n{CHANNELS}<|end|>"
)
U = {"role": "user", "content": "What is 2 + 2?"}

# (id, messages, render kwargs, expected)
CASES = [
    # test-data/test_simple_convo.txt
    ("user_only", [U], {},
     SYS + "<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant"),
    # test-data/test_simple_convo_high_effort.txt (developer instructions via a system role)
    ("system_user_high",
     [{"role": "system", "content": "Answer the user's questions like a robot."},
      {"role": "user", "content": "What is the capital of the largest country in the world?"}],
     {"reasoning_effort": "high"},
     "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
     f"Knowledge cutoff: 2024-06\n\nReasoning: high\n\n{CHANNELS}<|end|>"
     "<|start|>developer<|message|># Instructions\n\n"
     "Answer the user's questions like a robot.<|end|>"
     "<|start|>user<|message|>What is the capital of the largest country in the world?<|end|>"
     "<|start|>assistant"),
    ("developer_role",
     [{"role": "developer", "content": "Be brief."}, U], {},
     SYS + "<|start|>developer<|message|># Instructions\n\nBe brief.<|end|>"
     "<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant"),
    # test-data/test_simple_convo_low_effort_no_instruction.txt
    ("low_effort",
     [{"role": "user", "content": "What is the capital of the largest country in the world?"}],
     {"reasoning_effort": "low"},
     "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
     f"Knowledge cutoff: 2024-06\n\nReasoning: low\n\n{CHANNELS}<|end|>"
     "<|start|>user<|message|>What is the capital of the largest country in the world?<|end|>"
     "<|start|>assistant"),
    # test-data/test_no_tools.txt (current date present, no other messages)
    ("current_date", [], {"current_date": "2025-06-28"},
     "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
     "Knowledge cutoff: 2024-06\nCurrent date: 2025-06-28\n\n"
     f"Reasoning: medium\n\n{CHANNELS}<|end|>"
     "<|start|>assistant"),
    ("cutoff_and_date", [U], {"knowledge_cutoff": "2021-01", "current_date": "2021-01-01"},
     "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
     "Knowledge cutoff: 2021-01\nCurrent date: 2021-01-01\n\n"
     f"Reasoning: medium\n\n{CHANNELS}<|end|>"
     "<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant"),
    # test-data/test_dropping_cot_by_default.txt: earlier turn's analysis dropped
    ("drop_cot",
     [U, {"role": "assistant", "channel": "analysis",
          "content": "User asks: “What is 2 + 2?” Simple arithmetic. Provide answer."},
      {"role": "assistant", "channel": "final", "content": "2 + 2 equals 4."},
      {"role": "user", "content": "What about 9 / 2?"}], {},
     SYS + "<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant<|channel|>final"
     "<|message|>2 + 2 equals 4.<|end|><|start|>user<|message|>What about 9 / 2?<|end|>"
     "<|start|>assistant"),
    ("drop_thinking", [U, {"role": "assistant", "content": "4", "thinking": "easy"}, U], {},
     SYS + "<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant<|channel|>final"
     "<|message|>4<|end|><|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant"),
    # test-data/test_keep_analysis_between_finals.txt (render_conversation: no generation
    # prompt; analysis before the FIRST final dropped, later analysis kept, <|end|> not <|return|>)
    ("keep_between_finals",
     [U, {"role": "assistant", "channel": "analysis", "content": "thinking 2+2"},
      {"role": "assistant", "channel": "final", "content": "4"},
      {"role": "user", "content": "What is 3 + 5?"},
      {"role": "assistant", "content": "8", "thinking": "thinking 3+5"}],
     {"add_generation_prompt": False},
     SYS + "<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant<|channel|>final"
     "<|message|>4<|end|><|start|>user<|message|>What is 3 + 5?<|end|><|start|>assistant"
     "<|channel|>analysis<|message|>thinking 3+5<|end|><|start|>assistant<|channel|>final"
     "<|message|>8<|end|>"),
    # last assistant message not final -> nothing dropped (encoding.rs last_assistant_is_final)
    ("ongoing_analysis",
     [U, {"role": "assistant", "channel": "analysis", "content": "hmm"}], {},
     SYS + "<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant<|channel|>analysis"
     "<|message|>hmm<|end|><|start|>assistant"),
    ("commentary_channel",
     [U, {"role": "assistant", "channel": "commentary", "content": "Let me check."}],
     {"add_generation_prompt": False},
     SYS + "<|start|>user<|message|>What is 2 + 2?<|end|><|start|>assistant<|channel|>commentary"
     "<|message|>Let me check.<|end|>"),
    ("no_generation_prompt", [U], {"add_generation_prompt": False},
     SYS + "<|start|>user<|message|>What is 2 + 2?<|end|>"),
]


@pytest.mark.parametrize("msgs,kwargs,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_render(msgs, kwargs, expected):
    assert render(msgs, **kwargs) == expected


def test_render_rejects_bad_input():
    with pytest.raises(ValueError):
        render([{"role": "tool", "content": "x"}])
    with pytest.raises(ValueError):
        render([U], reasoning_effort="max")


def test_prompt_plus_completion_matches_reference_training_ending():
    # docs/format.md "Example output" / encoding.rs render_conversation_for_training
    assert render_completion("4") == "<|channel|>final<|message|>4<|return|>"
    assert render_completion("4", thinking="easy") == (
        "<|channel|>analysis<|message|>easy<|end|><|start|>assistant<|channel|>final"
        "<|message|>4<|return|>")
    assert render_completion("x", channel="commentary") == (
        "<|channel|>commentary<|message|>x<|end|>")
    full = render([U, {"role": "assistant", "content": "4"}], add_generation_prompt=False)
    assert render([U]) + render_completion("4") == full[: -len("<|end|>")] + "<|return|>"


@pytest.mark.parametrize(
    "answer,thinking", [("4", None), ("x = 1\ny = 2", "a\nb"), ("", ""), ("ok", "t")])
def test_parse_roundtrip(answer, thinking):
    done = render_completion(answer, thinking=thinking)
    expected = {"final": answer} | ({} if thinking is None else {"analysis": thinking})
    assert parse(done) == expected
    assert parse("<|start|>assistant" + done) == expected
    assert parse(render([U]) + done) == expected  # whole transcript: last assistant turn


PARSE_CASES = [
    ("", {}),
    ("42", {"final": "42"}),
    ("42<|return|>", {"final": "42"}),
    ("<|channel|>analysis<|message|>thinking abo", {"analysis": "thinking abo"}),
    ("<|channel|>analysis<|message|>t<|end|><|start|>assistant<|channel|>fin", {"analysis": "t"}),
    ("<|channel|>final<|message|>4", {"final": "4"}),
    ("<|channel|>final<|message|>4<|end|>", {"final": "4"}),
    ("<|channel|>final<|message|>4<|return|>junk<|channel|>final<|message|>5", {"final": "4"}),
    ("<|channel|>analysis<|message|>a<|end|><|channel|>final<|message|>b",
     {"analysis": "a", "final": "b"}),
    ("<|channel|>analysis<|message|>a<|start|>assistant<|channel|>final<|message|>b",
     {"analysis": "a", "final": "b"}),
    ("<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>analysis<|message|>b",
     {"analysis": "a\nb"}),
    # docs/format.md tool-call example: recipient in the channel section, constrained type
    ("<|channel|>analysis<|message|>Need to use function get_weather.<|end|><|start|>assistant"
     "<|channel|>commentary to=functions.get_weather <|constrain|>json"
     '<|message|>{"location":"SF"}<|call|>',
     {"analysis": "Need to use function get_weather.", "commentary": '{"location":"SF"}'}),
    (' to=functions.x<|channel|>commentary json<|message|>{}<|call|>', {"commentary": "{}"}),
    ("<|start|>assistant<|message|>no channel<|end|>", {"final": "no channel"}),
    ("<|channel|>final<|message|>4<|end|><|start|>user<|message|>thanks<|end|>", {}),
    ("<|channel|>final<|message|>a <|message|> b<|end|>", {"final": "a <|message|> b"}),
    ("<|end|><|end|><|message|><|constrain|>", {}),
    ("<|start|><|start|>", {}),
    ("<|reserved_200013|> text", {"final": "<|reserved_200013|> text"}),
    ("hello<|endoftext|>", {"final": "hello"}),
    ("<|channel|> final <|message|>x", {"final": "x"}),
]


@pytest.mark.parametrize("text,expected", PARSE_CASES)
def test_parse_table(text, expected):
    assert parse(text) == expected


def test_parse_non_string():
    assert parse(None) == {}
    assert parse(b"<|channel|>final") == {}


_WORDS = ["assistant", "final", "analysis", " to=f.x", "user", " "]
_pieces = st.one_of(st.sampled_from(SPECIAL_TOKENS + _WORDS), st.text(max_size=8))


@settings(max_examples=300, deadline=None)
@given(st.lists(_pieces, max_size=20).map("".join))
def test_parse_never_raises(text):
    out = parse(text)
    assert isinstance(out, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in out.items())


def test_special_tokens():
    for tok in ["<|start|>", "<|end|>", "<|message|>", "<|channel|>", "<|constrain|>",
                "<|return|>", "<|call|>", "<|endoftext|>", "<|startoftext|>"]:
        assert tok in SPECIAL_TOKENS
    assert len(set(SPECIAL_TOKENS)) == len(SPECIAL_TOKENS)


def _raise(msg):
    raise jinja2.TemplateError(msg)


def _template_render(msgs, **kwargs):
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = _raise
    kwargs.setdefault("add_generation_prompt", True)
    return env.from_string(CHAT_TEMPLATE).render(messages=msgs, **kwargs)


@pytest.mark.parametrize("msgs,kwargs,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_chat_template_matches_render(msgs, kwargs, expected):
    assert _template_render(msgs, **kwargs) == expected
    msgs2 = msgs + [{"role": "assistant", "content": "z", "thinking": "t"}, U]
    for extra in ({}, {"reasoning_effort": None, "knowledge_cutoff": None},
                  {"current_date": "2025-01-01"}):
        assert _template_render(msgs2, **extra) == render(msgs2, **extra)


def test_chat_template_unknown_role():
    with pytest.raises(jinja2.TemplateError):
        _template_render([{"role": "tool", "content": "x"}])


def test_chat_template_through_transformers():
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, **{t: i + 1 for i, t in enumerate(SPECIAL_TOKENS)}}
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, chat_template=CHAT_TEMPLATE)
    for _, msgs, kwargs, expected in CASES:
        if not msgs:  # transformers refuses an empty conversation
            continue
        kw = dict(kwargs)
        gen = kw.pop("add_generation_prompt", True)
        text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen, **kw)
        assert text == expected
