"""prefix.decode: each prompt prefilled once for all its rows, the new tokens' keys and values in
row buffers, the prompt's shared. Greedy rows are generate's tokens exactly; sampled rows follow
the model's distribution (temperature, nucleus)."""
import pytest
import torch

from tunepipe import generation, prefix


def tiny(kind: str, kv_heads: int):
    """A random model with distinct logits (large init), so greedy ties do not decide tokens."""
    import transformers

    cfg_cls, model_cls = {"qwen3": (transformers.Qwen3Config, transformers.Qwen3ForCausalLM),
                          "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM)}[kind]
    cfg = cfg_cls(vocab_size=96, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=kv_heads, head_dim=16, max_position_embeddings=128, initializer_range=0.3,
                  pad_token_id=0, eos_token_id=1, bos_token_id=2, attn_implementation="sdpa")
    torch.manual_seed(0)
    return model_cls(cfg).eval()


def prompts(n=5, seed=0):
    """Left-padded prompts of different lengths (ids >= 3: no pad/eos/bos)."""
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(3, 96, (4 + 3 * i,), generator=g).tolist() for i in range(n)]
    width = max(map(len, seqs))
    ids = torch.tensor([[0] * (width - len(s)) + s for s in seqs])
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs])
    return ids, mask


@pytest.mark.parametrize("kind,kv_heads", [("qwen3", 4), ("qwen3", 2), ("llama", 1)])
def test_greedy_rows_are_generates_tokens(kind, kv_heads):
    model = tiny(kind, kv_heads)
    ids, mask = prompts()
    with torch.no_grad():
        want = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False,
                              pad_token_id=0, eos_token_id=[1])[:, ids.size(1):]
        alone = prefix.decode(model, ids, mask, rows=1, greedy_first=True, max_new_tokens=12, stop_ids={1}, pad_id=0)
        mixed = prefix.decode(model, ids, mask, rows=4, greedy_first=True, max_new_tokens=12, stop_ids={1}, pad_id=0,
                              temperature=1.0)
    assert torch.equal(alone[:, : want.size(1)], want)
    assert torch.equal(mixed[::4, : want.size(1)], want)      # each prompt's first row, among sampled rows
    assert len({tuple(r) for r in mixed.tolist()}) > ids.size(0)   # the other rows are samples


def test_rows_stop_at_their_stop_token_and_pad_after():
    model = tiny("qwen3", 2)
    ids, mask = prompts()
    with torch.no_grad():
        out = prefix.decode(model, ids, mask, rows=8, greedy_first=False, max_new_tokens=10, stop_ids={5, 7},
                            pad_id=0, temperature=3.0)
    for row in out.tolist():
        cut = next((i for i, t in enumerate(row) if t in (5, 7)), None)
        if cut is not None:
            assert all(t == 0 for t in row[cut + 1:])
    assert any(t in (5, 7) for row in out.tolist() for t in row)


def test_samples_follow_the_models_distribution_and_the_nucleus():
    """20,000 draws of the first two tokens of one prompt: the first token's frequencies match
    softmax(logits / T), the second's match the model's conditional given the first (so the
    attention over a sampled token is right too); at top-p 0.5 nothing outside the nucleus."""
    model = tiny("qwen3", 2)
    ids, mask = prompts(1)
    T = 0.8
    torch.manual_seed(0)
    with torch.no_grad():
        out = prefix.decode(model, ids, mask, rows=20000, greedy_first=False, max_new_tokens=2, stop_ids={1},
                            pad_id=0, temperature=T)
        p1 = torch.softmax(model(input_ids=ids).logits[0, -1] / T, -1)
        freq = torch.bincount(out[:, 0], minlength=96) / 20000
        assert 0.5 * (freq - p1).abs().sum() < 0.04          # total variation distance (sampling noise ~.02)
        top = int(freq.argmax())
        rows = out[:, 0] == top
        p2 = torch.softmax(model(input_ids=torch.cat([ids, torch.tensor([[top]])], 1)).logits[0, -1] / T, -1)
        f2 = torch.bincount(out[rows, 1], minlength=96) / int(rows.sum())
        assert 0.5 * (f2 - p2).abs().sum() < 0.1            # noise ~.05 at >= 2,000 rows
        p2_alone = torch.softmax(model(input_ids=ids).logits[0, -1] / T, -1)
        assert 0.5 * (f2 - p2_alone).abs().sum() > 0.2      # the first token mattered
        nuc = prefix.decode(model, ids, mask, rows=2000, greedy_first=False, max_new_tokens=1, stop_ids={1},
                            pad_id=0, temperature=T, top_p=0.5)
    srt, order = p1.sort(descending=True)
    keep = set(order[: int((srt.cumsum(0) < 0.5).sum()) + 1].tolist())
    assert set(nuc[:, 0].tolist()) <= keep and len(keep) < 96


def test_evaluate_generation_uses_one_prefill_per_prompt_and_falls_back(tiny_model, monkeypatch):
    """hf_generate_both: greedy completions as generate's; an unsupported model runs generate
    (the same greedy text, samples of the same count)."""
    from tunepipe import models

    model = models.load_model(tiny_model / "base", dtype="float32")
    tok = models.load_tokenizer(tiny_model / "base")
    texts = [f"Solve {'x1 ' * (2 + i)}now" for i in range(5)]
    kw = dict(max_new_tokens=6, batch_size=3, num_samples=4, temperature=1.0, seed=3, desc="t")
    calls = []
    real = prefix.decode
    monkeypatch.setattr(prefix, "decode", lambda *a, **k: calls.append(1) or real(*a, **k))
    greedy, sampled = generation.hf_generate_both(model, tok, texts, **kw)
    assert len(calls) == 2                                   # 5 prompts in batches of 3: one call per batch
    monkeypatch.setattr(prefix, "supported", lambda m: False)
    g2, s2 = generation.hf_generate_both(model, tok, texts, **kw)
    assert len(calls) == 2 and g2 == greedy
    assert [len(s) for s in sampled] == [len(s) for s in s2] == [4] * 5
    only = generation.hf_generate(model, tok, texts, max_new_tokens=6, batch_size=8, do_sample=False,
                                  temperature=1.0, num_samples=1, seed=0, desc="t")
    assert [g for (g,) in only] == greedy


def test_unsupported_models_are_left_to_generate():
    model = tiny("qwen3", 2)
    assert prefix.supported(model)
    model.config.layer_types = ["sliding_attention", "full_attention"]
    assert not prefix.supported(model)
    ids, mask = prompts()
    assert prefix.decode(model, ids, mask, rows=2, greedy_first=True, max_new_tokens=3, stop_ids={1}, pad_id=0) is None


def test_keys_and_values_carried_to_the_next_turn_give_the_same_tokens():
    """An episode's next turn: the sequence so far (prompt, the turn's tokens, an observation)
    prefilled with the earlier call's keys and values (kv_out -> past) decodes the same greedy
    tokens as prefilling it whole; rows without a past mix in the same batch."""
    model = tiny("qwen3", 2)
    ids, mask = prompts()
    kv = []
    with torch.no_grad():
        first = prefix.decode(model, ids, mask, rows=1, greedy_first=True, max_new_tokens=6, stop_ids={1}, pad_id=0,
                              kv_out=kv)
        g = torch.Generator().manual_seed(1)
        seqs = []
        for i, row in enumerate(first.tolist()):
            real = ids[i][mask[i].bool()].tolist()
            cut = row.index(1) + 1 if 1 in row else len(row)
            assert kv[i][0][0].size(1) == len(real) + min(cut, first.size(1) - 1)   # the last new token was not read
            seqs.append(real + row[:cut] + torch.randint(3, 96, (2 + i,), generator=g).tolist())
        width = max(map(len, seqs))
        ids2 = torch.tensor([[0] * (width - len(s)) + s for s in seqs])
        mask2 = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs])
        past = [k if i % 2 == 0 else None for i, k in enumerate(kv)]
        whole = prefix.decode(model, ids2, mask2, rows=1, greedy_first=True, max_new_tokens=8, stop_ids={1}, pad_id=0)
        carried = prefix.decode(model, ids2, mask2, rows=1, greedy_first=True, max_new_tokens=8, stop_ids={1}, pad_id=0,
                                past=past)
    assert torch.equal(whole, carried)
