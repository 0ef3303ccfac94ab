"""The reward model of the ``reference`` family's ``rm`` and ``bleu+rm`` metrics
(:mod:`tunepipe.tasks.reference`): loading a sequence-classification model (cached per
process) and its batched, cached logits on prompt + completion."""
from __future__ import annotations

import json
import math
from pathlib import Path

from tunepipe import TunepipeError

_RM: dict = {}          # (model, dtype) -> (model, tokenizer)
_LOGITS: dict = {}      # (model, dtype, max_length, prompt json, text) -> logit
_LOGITS_MAX = 200_000


def load_reward_model(name: str, dtype: str = "auto"):
    """A sequence-classification reward model with one output (a local dir or an HF id),
    cached per process. Anything that does not load is a one-line :class:`TunepipeError`."""
    key = (name, dtype)
    if key in _RM:
        return _RM[key]
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tunepipe import models

    if not isinstance(name, str) or not name:
        raise TunepipeError(f"reward.reference.rm.model: expected a local model dir or an HF id, got {name!r}")
    local = Path(name).expanduser().exists() or name.startswith((".", "/", "~"))
    src = str(Path(name).expanduser()) if local else name
    dt = models.torch_dtype(dtype)
    try:
        tok = AutoTokenizer.from_pretrained(src)
        model = AutoModelForSequenceClassification.from_pretrained(src, dtype=dt)
    except Exception as e:   # not a dir, no weights, not a classifier, offline hub...
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        hint = "" if local else " (an HF id needs the hub: HF_HUB_OFFLINE=0 and the network, or a local dir)"
        raise TunepipeError(f"reward.reference.rm.model: cannot load {name!r} as a sequence-classification reward "
                            f"model{hint}: {msg}") from None
    if model.config.num_labels != 1:
        raise TunepipeError(f"reward.reference.rm.model: {name!r} has {model.config.num_labels} outputs; a reward model "
                            "has one (num_labels=1)")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    if tok.pad_token is None:
        raise TunepipeError(f"reward.reference.rm.model: {name!r}: its tokenizer has no pad, eos or unk token to pad with")
    model.config.pad_token_id = tok.pad_token_id
    tok.truncation_side = "left"     # keep the end of the response: the score is read at the last token
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    _RM[key] = (model, tok)
    return model, tok


def _conversation_text(tok, prompt: list[dict], response: str) -> str:
    conv = [*prompt, {"role": "assistant", "content": response}]
    if getattr(tok, "chat_template", None):
        return tok.apply_chat_template(conv, tokenize=False)
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in conv)


def rm_logits(answers: list[str], specs: list[dict]) -> list[float | None]:
    """The reward model's logit for each (prompt, answer) pair, batched per reward model
    (``spec.rm``: model, dtype, max_length, batch_size); None for an empty answer. Cached
    per process, so evaluate's extra metrics do not run the model twice."""
    import torch

    out: list[float | None] = [None] * len(answers)
    todo: dict[tuple, list[int]] = {}
    for i, (a, s) in enumerate(zip(answers, specs)):
        if not a or not a.strip():
            continue
        rm = s["rm"]
        k = (rm["model"], rm["dtype"], rm["max_length"], json.dumps(s["prompt"], sort_keys=True), a)
        if k in _LOGITS:
            out[i] = _LOGITS[k]
        else:
            todo.setdefault(k[:3], []).append(i)
    for (name, dtype, max_length), idx in todo.items():
        model, tok = load_reward_model(name, dtype)
        bs = max(1, int(specs[idx[0]]["rm"]["batch_size"]))
        for start in range(0, len(idx), bs):
            chunk = idx[start:start + bs]
            texts = [_conversation_text(tok, specs[i]["prompt"], answers[i]) for i in chunk]
            enc = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length,
                      add_special_tokens=False)
            enc = {k: v.to(model.device) for k, v in enc.items()}
            with torch.inference_mode():
                logits = model(**enc).logits[:, 0].float().tolist()
            if len(_LOGITS) > _LOGITS_MAX:
                _LOGITS.clear()
            for i, x in zip(chunk, logits):
                out[i] = float(x)
                prompt = json.dumps(specs[i]["prompt"], sort_keys=True)
                _LOGITS[(name, dtype, max_length, prompt, answers[i])] = float(x)
    return out


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))

