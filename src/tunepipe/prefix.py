"""Shared-prompt computation for GRPO groups.

GRPO samples ``num_generations`` completions of every prompt, and TRL runs each of them as a
whole sequence: the prompt is prefilled once per completion in generation, and forwarded and
back-propagated once per completion in the loss. Here each distinct prompt of a batch runs
once; its key/value cache is then copied to the rows of its group, and only the completion
tokens run per row. The numbers are those of the full sequences (same positions, same
attention; ``tests/test_prefix.py`` checks log-probabilities, entropies and gradients against
TRL's own computation), the arithmetic is a fraction of it: on the default SAT group (16
completions of 16 tokens after a ~178-token prompt) about a seventh of the tokens (449 of
3,104).

A batch whose prompts are all distinct gains nothing, and the callers fall back to TRL's path.
"""
from __future__ import annotations


def groups(ids, mask):
    """``(first, index)`` for a left-padded prompt batch: ``first[j]`` a row holding the j-th
    distinct prompt, ``index[i]`` the distinct prompt of row ``i`` (rows of a group need not be
    adjacent: TRL shuffles a generation batch before splitting it into micro-batches). None
    when every prompt is distinct (nothing to share)."""
    import torch

    n = ids.size(0)
    uniq, index = torch.unique(torch.cat([ids, mask], 1), dim=0, return_inverse=True)
    if uniq.size(0) == n:
        return None
    first = torch.full((uniq.size(0),), n, dtype=torch.long, device=ids.device)
    first = first.scatter_reduce(0, index, torch.arange(n, device=ids.device), reduce="amin")
    return first, index


def _trim(ids, mask):
    """Drop the columns that are padding in every row (left padding)."""
    keep = int(mask.sum(1).max())
    return ids[:, ids.size(1) - keep:], mask[:, mask.size(1) - keep:]


def _copy_to_rows(cache, index) -> None:
    """Each row's copy of its prompt's keys and values (``index``: the row's distinct prompt).
    Where gradients flow (the loss), through a one-hot matrix product instead of
    ``batch_select_indices``' indexing: the same values, but the backward sums a group's
    gradients in a fixed order. Indexing's backward accumulates them in whatever order the
    CPU threads run (``index_put_``), and with 2 threads two GRPO runs from the same seed
    parted in the last bits of every weight after their first step."""
    import torch

    if not torch.is_grad_enabled():
        cache.batch_select_indices(index)
        return
    for layer in cache.layers:
        if layer.keys is None or layer.keys.numel() == 0:
            continue
        onehot = torch.nn.functional.one_hot(index, layer.keys.size(0)).to(layer.keys.dtype)   # [rows, prompts]
        for name in ("keys", "values"):
            t = getattr(layer, name)
            setattr(layer, name, (onehot @ t.reshape(t.size(0), -1)).reshape(index.size(0), *t.shape[1:]))


def prefill(model, ids, mask, *, first, index, positions: str):
    """The cache of ``ids[:, :-1]`` computed on the distinct prompts only, copied to every row.
    ``positions``: ``"arange"`` (column index: the model's default, as TRL's loss runs it) or
    ``"mask"`` (cumsum of the attention mask: as ``generate`` numbers a left-padded prompt)."""
    from transformers import DynamicCache

    u_ids, u_mask = _trim(ids[first, :-1], mask[first, :-1])
    pad = ids.size(1) - 1 - u_ids.size(1)    # columns of shared left padding dropped above
    cache = DynamicCache(config=getattr(model, "config", None))
    kw = {}
    if positions == "mask":
        kw["position_ids"] = (u_mask.long().cumsum(-1) - 1).masked_fill(u_mask == 0, 0)
    elif pad:
        import torch

        kw["position_ids"] = torch.arange(pad, pad + u_ids.size(1), device=u_ids.device).unsqueeze(0)
    if u_ids.size(1):
        model(input_ids=u_ids, attention_mask=u_mask, past_key_values=cache, use_cache=True, logits_to_keep=1, **kw)
        _copy_to_rows(cache, index)
    return cache, pad


def logps(model, input_ids, attention_mask, logits_to_keep: int, *, compute_entropy: bool, prefill_model=None):
    """Per-token log-probabilities (and entropies) of the last ``logits_to_keep`` tokens, as
    TRL's ``_get_per_token_logps_and_entropies`` returns them, or None when the rows share no
    prompt. ``model`` must carry TRL's fused LM head (``fused_lm_head=True``: its temperature
    and scaling); ``prefill_model`` runs the prompts (the unwrapped module under DDP, so the
    wrapper sees one forward per backward)."""
    import torch

    c = logits_to_keep
    p_ids, p_mask = input_ids[:, :-c], attention_mask[:, :-c]
    if p_ids.size(1) < 1:
        return None
    g = groups(p_ids, p_mask)
    if g is None:
        return None
    first, index = g
    cache, pad = prefill(prefill_model or model, p_ids, p_mask, first=first, index=index, positions="arange")
    x = torch.cat([p_ids[:, -1:], input_ids[:, -c:]], 1)   # the prompt's last token scores the first completion token
    labels = x.masked_fill(attention_mask[:, -c - 1:] == 0, -100)
    labels[:, 0] = -100
    kw = {}
    if pad:
        start = input_ids.size(1) - c - 1
        kw["position_ids"] = torch.arange(start, start + c + 1, device=x.device).unsqueeze(0)
    out = model(input_ids=x, attention_mask=attention_mask[:, pad:], past_key_values=cache, labels=labels,
                fused_lm_head=True, **kw)
    return out.log_probs, (out.entropy if compute_entropy else None)


def generate(model, ids, mask, **generate_kwargs):
    """``model.generate`` of a left-padded batch whose rows repeat prompts, each
    distinct prompt prefilled once. Returns the generated columns (as ``generate`` would,
    without the prompt), or None when no rows share a prompt."""
    g = groups(ids, mask)
    if g is None:
        return None
    first, index = g
    cache, pad = prefill(model, ids, mask, first=first, index=index, positions="mask")
    out = model.generate(input_ids=ids[:, pad:], attention_mask=mask[:, pad:], past_key_values=cache,
                         **generate_kwargs)
    return out[:, ids.size(1) - pad:]


# --- decoding with the prompt's keys and values shared by its rows -------------------------------
#
# ``generate`` on a batch whose rows repeat prompts (evaluate: a greedy row and k samples per
# prompt; GRPO: a group) copies each prompt's cache to every row and grows it by concatenation,
# so every decoding step reads (and copies) the whole prompt cache once per row: on the tiny
# model that memory traffic, not arithmetic, is a step's cost. ``decode`` keeps one copy of each
# prompt's keys and values and writes the new tokens' into a preallocated buffer per row; its
# attention scores a group's queries against the prompt's keys in one product.

_ATTN = "tunepipe_shared_prefix"
_PLAIN = {"qwen3", "qwen2", "llama", "mistral"}   # plain softmax attention: no sinks, soft-capping or windows
_STATE: dict = {}


def supported(model) -> bool:
    """Whether :func:`decode` runs this model: a decoder of a plain-attention family, every
    layer full attention, with the sdpa or eager implementation (else the callers use
    ``generate``)."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) not in _PLAIN:
        return False
    if getattr(cfg, "_attn_implementation", None) not in ("sdpa", "eager"):
        return False
    if getattr(cfg, "use_sliding_window", False) or any(t != "full_attention" for t in getattr(cfg, "layer_types", None) or ()):
        return False
    return getattr(cfg, "attn_logit_softcapping", None) is None


def decode_kwargs(gen_kwargs: dict) -> dict | None:
    """``prefix.decode``'s settings for ``generate``'s ``gen_kwargs``, or None where it does not
    decode the same way (top-k, min-p, a repetition penalty: ``generate`` runs those)."""
    extra = set(gen_kwargs) - {"do_sample", "temperature", "top_p", "top_k", "min_p", "repetition_penalty"}
    if (extra or gen_kwargs.get("top_k") not in (None, 0) or gen_kwargs.get("min_p") is not None
            or gen_kwargs.get("repetition_penalty") not in (None, 1.0)):
        return None
    if not gen_kwargs.get("do_sample"):
        return {"greedy_first": True}
    return {"greedy_first": False, "temperature": float(gen_kwargs.get("temperature") or 1.0),
            "top_p": float(gen_kwargs.get("top_p") or 1.0)}


class _Buffers:
    """The stand-in cache of a decoding step: ``update`` writes the step's keys and values into
    row buffers; the attention below reads them with the prompt's."""

    def __init__(self, prompt_kv, rows: int, width: int, bias):
        self.prompt_kv, self.rows, self.bias, self.t = prompt_kv, rows, bias, 0
        k0 = prompt_kv[0][0]
        n = k0.size(0) * rows
        self.gen = [(k.new_empty(n, k.size(1), width, k.size(3)), v.new_empty(n, v.size(1), width, v.size(3)))
                    for k, v in prompt_kv]

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.prompt_kv[0][0].size(2) + self.t

    def update(self, key, value, layer_idx, cache_kwargs=None):
        gk, gv = self.gen[layer_idx]
        gk[:, :, self.t] = key[:, :, 0]
        gv[:, :, self.t] = value[:, :, 0]
        return key, value


def _shared_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention of one new token per row over its prompt's keys (shared by the ``rows`` rows of
    a prompt) and its own generated keys: one softmax over both, as the full sequence gives."""
    import torch

    buf: _Buffers = _STATE["buffers"]
    kp, vp = buf.prompt_kv[module.layer_idx]                  # [P, Hkv, L, D]
    gk, gv = buf.gen[module.layer_idx]
    t = buf.t + 1
    P, hkv, L, d = kp.shape
    R, h = query.size(0), query.size(1)
    g, rep = buf.rows, h // hkv
    scaling = d ** -0.5 if scaling is None else scaling
    q = query[:, :, 0].reshape(P, g, hkv, rep, d).permute(0, 2, 3, 1, 4).reshape(P, hkv, rep * g, d)
    s1 = torch.matmul(q, kp.transpose(-1, -2)) * scaling + buf.bias                  # [P, Hkv, rep*g, L]
    s1 = s1.reshape(P, hkv, rep, g, L).permute(0, 3, 1, 2, 4).reshape(R, hkv, rep, L)
    q2 = query[:, :, 0].reshape(R, hkv, rep, d)
    s2 = torch.matmul(q2, gk[:, :, :t].transpose(-1, -2)) * scaling                 # [R, Hkv, rep, t]
    p = torch.softmax(torch.cat([s1, s2], -1).float(), -1).to(query.dtype)
    p1 = p[..., :L].reshape(P, g, hkv, rep, L).permute(0, 2, 3, 1, 4).reshape(P, hkv, rep * g, L)
    o1 = torch.matmul(p1, vp).reshape(P, hkv, rep, g, d).permute(0, 3, 1, 2, 4).reshape(R, hkv, rep, d)
    o2 = torch.matmul(p[..., L:], gv[:, :, :t])
    return (o1 + o2).reshape(R, 1, h, d), None


def _register() -> None:
    from transformers import AttentionInterface

    if _ATTN not in AttentionInterface._global_mapping:
        AttentionInterface.register(_ATTN, _shared_attention)


def _choose(logits, greedy_rows, temperature: float, top_p: float, generator):
    """Next tokens: argmax on ``greedy_rows``, else a draw from softmax(logits / T), nucleus-cut
    at ``top_p`` (as ``generate``'s temperature and top-p warpers)."""
    import torch

    pick = logits.argmax(-1)
    if greedy_rows is not None and bool(greedy_rows.all()):
        return pick
    x = logits.float() / temperature
    if top_p < 1.0:
        srt, idx = torch.sort(x, descending=False, dim=-1)
        cum = srt.softmax(-1).cumsum(-1)
        drop = cum <= 1 - top_p
        drop[..., -1:] = False
        x = x.masked_fill(drop.scatter(1, idx, drop), float("-inf"))
    # a draw from softmax(x) by inverting its CDF with one uniform number per row (multinomial's
    # distribution; the CPU generator's cost per number made multinomial a third of a step here)
    cum = torch.softmax(x, -1).cumsum(-1)
    u = torch.rand(cum.size(0), 1, generator=generator, device=cum.device, dtype=cum.dtype) * cum[:, -1:]
    draw = torch.searchsorted(cum, u, right=True).squeeze(1).clamp(max=cum.size(1) - 1)
    return draw if greedy_rows is None else torch.where(greedy_rows, pick, draw)


def _prefill(model, ids, mask, past):
    """The prompts' last logits, keys and values (per layer ``[P, Hkv, L, D]``) and the mask
    of those L columns. ``past``: per prompt None or the keys/values of its first n real
    tokens (per layer ``(K, V)`` of ``[Hkv, n, D]``): only the rest of the prompt runs, after
    its past in the cache (padding between the two is masked, positions are the tokens' own)."""
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    if past is None or all(p is None for p in past):
        ids, mask = _trim(ids, mask)
        pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True,
                       logits_to_keep=1).logits[:, -1]
        return logits, [(layer.keys, layer.values) for layer in cache.layers], mask
    real = [row[m.bool()] for row, m in zip(ids, mask)]
    n_past = [0 if p is None else min(p[0][0].size(1), len(r) - 1) for p, r in zip(past, real)]   # >= 1 new token
    new = [r[n:] for r, n in zip(real, n_past)]
    P, pm, nm = ids.size(0), max(n_past), max(len(x) for x in new)
    like = next(p for p in past if p is not None)
    new_ids = ids.new_zeros(P, nm)   # padding: masked
    new_mask, pos = mask.new_zeros(P, nm), ids.new_zeros(P, nm)
    past_mask = mask.new_zeros(P, pm)
    for i, (x, n) in enumerate(zip(new, n_past)):
        new_ids[i, nm - len(x):] = x
        new_mask[i, nm - len(x):] = 1
        pos[i, nm - len(x):] = torch.arange(n, n + len(x), device=ids.device)
        past_mask[i, pm - n:] = 1
    for layer, (k0, v0) in enumerate(like):
        k = k0.new_zeros(P, k0.size(0), pm, k0.size(2))
        v = v0.new_zeros(P, v0.size(0), pm, v0.size(2))
        for i, (p, n) in enumerate(zip(past, n_past)):
            if n:
                k[i, :, pm - n:] = p[layer][0][:, :n]
                v[i, :, pm - n:] = p[layer][1][:, :n]
        cache.update(k, v, layer)
    full = torch.cat([past_mask, new_mask], 1)
    logits = model(input_ids=new_ids, attention_mask=full, position_ids=pos, past_key_values=cache, use_cache=True,
                   logits_to_keep=1).logits[:, -1]
    return logits, [(layer.keys, layer.values) for layer in cache.layers], full


def decode(model, ids, mask, *, rows: int, greedy_first: bool, max_new_tokens: int, stop_ids, pad_id: int,
           temperature: float = 1.0, top_p: float = 1.0, generator=None, past=None, kv_out: list | None = None):
    """``rows`` completions of each prompt of a left-padded batch of distinct prompts, each
    prompt prefilled once: row ``i * rows + j`` is prompt ``i``'s j-th. ``greedy_first``: each
    prompt's first row is greedy decoding's, the others are sampled (at ``temperature``,
    ``top_p``); with ``rows`` 1 and ``greedy_first`` it is greedy decoding. Returns the new
    tokens ``[P * rows, n]`` (``pad_id`` after a row's stop token), or None when the model is
    not :func:`supported`.

    With ``rows`` 1, a prompt's keys and values can be carried from an earlier call (the
    episodes' turns): ``past`` gives per prompt None or those of its first tokens (as ``kv_out``
    returned them) and only the rest is prefilled; ``kv_out`` receives per row those of every
    token the model read (its prompt, then its new tokens up to the stop token, except the last
    new token, which no step read)."""
    import torch

    if not supported(model):
        return None
    if max_new_tokens < 1:
        return ids.new_empty(ids.size(0) * rows, 0)
    if (past is not None or kv_out is not None) and rows != 1:
        raise ValueError("prefix.decode: past/kv_out need rows=1")
    _register()
    logits, prompt_kv, mask = _prefill(model, ids, mask, past)
    P = mask.size(0)
    pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
    bias = torch.zeros(mask.shape, dtype=prompt_kv[0][0].dtype, device=mask.device)
    bias = bias.masked_fill(mask == 0, torch.finfo(bias.dtype).min)[:, None, None, :]
    index = torch.arange(P, device=mask.device).repeat_interleave(rows)
    logits, nxt = logits[index], pos[index, -1:] + 1
    R = P * rows
    greedy = (torch.arange(R, device=mask.device) % rows == 0) if greedy_first else None
    stop = torch.tensor(sorted(stop_ids), device=mask.device)
    buf = _Buffers(prompt_kv, rows, max_new_tokens, bias)
    done = torch.zeros(R, dtype=torch.bool, device=mask.device)
    out = []
    saved = model.config._attn_implementation
    _STATE["buffers"] = buf
    try:
        for step in range(max_new_tokens):
            tok = _choose(logits, greedy, temperature, top_p, generator).masked_fill(done, pad_id)
            out.append(tok)
            done |= torch.isin(tok, stop)
            if step == max_new_tokens - 1 or bool(done.all()):
                break
            model.config._attn_implementation = _ATTN
            try:
                logits = model(input_ids=tok[:, None], position_ids=nxt, past_key_values=buf, use_cache=True,
                               attention_mask={"full_attention": None}).logits[:, -1]
            finally:
                model.config._attn_implementation = saved
            buf.t += 1
            nxt = nxt + 1
    finally:
        _STATE.pop("buffers", None)
    out = torch.stack(out, 1)
    if kv_out is not None:
        hit = torch.isin(out, stop)
        length = torch.where(hit.any(1), hit.int().argmax(1) + 1, out.size(1))   # up to the stop token
        for i in range(R):
            real, fed = mask[i].bool(), min(int(length[i]), buf.t)
            kv_out.append([(torch.cat([k[i][:, real], gk[i, :, :fed]], 1), torch.cat([v[i][:, real], gv[i, :, :fed]], 1))
                           for (k, v), (gk, gv) in zip(prompt_kv, buf.gen)])
    return out
