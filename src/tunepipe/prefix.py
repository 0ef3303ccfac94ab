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
        cache.batch_select_indices(index)
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
