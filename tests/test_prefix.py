"""Shared-prompt GRPO computation (tunepipe.prefix) gives TRL's numbers: log-probabilities,
entropies and gradients of the loss, generated tokens, and a whole 2-step GRPO run."""
import pytest
import torch

from tunepipe import models, prefix, training

from test_training import grpo_args, reward_length, weights


@pytest.fixture(scope="module")
def lm(tiny_model):
    from trl.trainer.utils import add_fused_lm_head

    tok = models.load_tokenizer(tiny_model / "base")
    model = models.load_model(tiny_model / "base", dtype="float32")
    add_fused_lm_head(model, temperature=0.7, outputs=("log_probs", "entropy"))
    return model, tok


def batch(tok, *, groups=(3, 4, 1), completion=6, pad_extra=0, seed=0):
    """Left-padded prompts of different lengths, each repeated per group; random completions,
    some ending early (completion mask 0 after them)."""
    g = torch.Generator().manual_seed(seed)
    prompts = [tok(f"Solve {'x1 ' * (3 + 2 * i)}now", add_special_tokens=False)["input_ids"]
               for i in range(len(groups))]
    width = max(map(len, prompts)) + pad_extra
    ids, mask = [], []
    for p, n in zip(prompts, groups):
        ids += [[tok.pad_token_id] * (width - len(p)) + p] * n
        mask += [[0] * (width - len(p)) + [1] * len(p)] * n
    ids, mask = torch.tensor(ids), torch.tensor(mask)
    comp = torch.randint(5, 250, (len(ids), completion), generator=g)
    cmask = torch.ones_like(comp)
    cmask[::2, completion - 2:] = 0
    return torch.cat([ids, comp], 1), torch.cat([mask, cmask], 1), completion


def trl_logps(model, ids, mask, c):
    """TRL 1.16's computation (GRPOTrainer._get_per_token_logps_and_entropies, text only)."""
    labels = ids.masked_fill(mask == 0, -100)
    labels[:, :-c] = -100
    out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True)
    return out.log_probs[:, -c:], out.entropy[:, -c:]


@pytest.mark.parametrize("pad_extra", [0, 3])   # 3: columns of padding shared by every row (trimmed)
def test_logps_entropies_and_gradients_match_trl(lm, pad_extra):
    model, tok = lm
    model.train()
    ids, mask, c = batch(tok, pad_extra=pad_extra)
    keep = mask[:, -c:].bool()
    grads = []
    for fn in (lambda: trl_logps(model, ids, mask, c),
               lambda: prefix.logps(model, ids, mask, c, compute_entropy=True)):
        model.zero_grad()
        lp, ent = fn()
        (lp * keep).sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
        if len(grads) == 1:
            want = (lp.detach(), ent.detach())
    assert lp.shape == want[0].shape
    assert torch.allclose(lp[keep], want[0][keep], atol=1e-5)
    assert torch.allclose(ent[keep], want[1][keep], atol=1e-5)
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
    assert any(g.abs().sum() > 0 for g in grads[1])


def test_groups_finds_repeated_prompts_anywhere_and_declines_distinct_ones(lm):
    _, tok = lm
    ids, mask, c = batch(tok, groups=(2, 1, 3))
    order = torch.tensor([3, 0, 5, 2, 1, 4])        # TRL shuffles a generation batch: groups not adjacent
    ids, mask = ids[order], mask[order]
    first, index = prefix.groups(ids[:, :-c], mask[:, :-c])
    assert len(first) == 3 and torch.equal(ids[first][index][:, :-c], ids[:, :-c])
    assert sorted(index.bincount().tolist()) == [1, 2, 3]
    model = lm[0]
    model.train()
    lp, _ = prefix.logps(model, ids, mask, c, compute_entropy=False)
    keep = mask[:, -c:].bool()
    assert torch.allclose(lp[keep], trl_logps(model, ids, mask, c)[0][keep], atol=1e-5)
    ids, mask, c = batch(tok, groups=(1, 1, 1))
    assert prefix.groups(ids[:, :-c], mask[:, :-c]) is None
    assert prefix.logps(model, ids, mask, c, compute_entropy=False) is None


def test_generate_matches_generate_on_every_row(lm):
    from transformers import GenerationConfig

    model, tok = lm
    model.eval()
    ids, mask, c = batch(tok, groups=(3, 2, 2))
    ids, mask = ids[:, :-c], mask[:, :-c]
    cfg = GenerationConfig(max_new_tokens=7, do_sample=False, pad_token_id=tok.pad_token_id,
                           eos_token_id=tok.eos_token_id)
    with torch.no_grad():
        want = model.generate(input_ids=ids, attention_mask=mask, generation_config=cfg)[:, ids.size(1):]
        got = prefix.generate(model, ids, mask, generation_config=cfg)
    assert torch.equal(got, want)


def test_grpo_with_shared_prefix_trains_as_trl_does(tiny_model, tmp_path, monkeypatch):
    """Two GRPO steps from the same seed, with and without the shared prefix: the same samples
    and rewards, so the same weights (to float rounding). ``prefix.decode`` (the default's
    sampler, which draws other random numbers than generate) is off here: ``prefix.generate``
    samples as TRL does."""
    reward_length(monkeypatch)
    calls = []
    from tunepipe import prefix as prefix_mod

    monkeypatch.setattr(prefix_mod, "supported", lambda model: False)
    for name in ("logps", "generate"):
        fn = getattr(prefix_mod, name)
        monkeypatch.setattr(prefix_mod, name, lambda *a, _fn=fn, _n=name, **k: calls.append(_n) or _fn(*a, **k))
    out = {}
    for shared in (False, True):
        d = tmp_path / str(shared)
        training.grpo(grpo_args(shared_prefix=shared, learning_rate=1e-3), data=str(tiny_model / "train.jsonl"),
                      init=str(tiny_model / "base"), out=str(d / "grpo"), ckpt_dir=str(d / "ckpt"),
                      live_dir=str(d / "live"), completions_csv=str(d / "c.csv"), seed=0)
        out[shared] = weights(d / "grpo"), (d / "c.csv").read_text()
        if not shared:
            assert calls == []
    assert "generate" in calls and "logps" in calls
    assert out[True][1] == out[False][1]             # the same completions and rewards, in order
    before = weights(tiny_model / "base")
    for k in before:
        assert torch.allclose(out[True][0][k], out[False][0][k], atol=1e-5), k
    assert any(not torch.equal(before[k], out[True][0][k]) for k in before)


def test_greedy_in_group_puts_the_greedy_completion_in_every_group(tiny_model, tmp_path):
    """grpo.greedy_in_group: one completion of each group is greedy decoding's. At T 100 the
    samples are noise, so the greedy one is the only completion the base model's greedy pass
    reproduces."""
    import csv
    from collections import defaultdict

    from tunepipe import TunepipeError, generation

    csv_path = tmp_path / "c.csv"
    training.grpo(grpo_args(greedy_in_group=True, temperature=100.0, max_steps=1), data=str(tiny_model / "train.jsonl"),
                  init=str(tiny_model / "base"), out=str(tmp_path / "grpo"), ckpt_dir=str(tmp_path / "ckpt"),
                  live_dir=str(tmp_path / "live"), completions_csv=str(csv_path), seed=0)
    groups = defaultdict(list)
    for r in csv.DictReader(csv_path.open()):
        groups[r["prompt"]].append(r["completion"])
    assert len(groups) == 2 and all(len(g) == 4 for g in groups.values())
    model, tok = models.load_model(tiny_model / "base", dtype="float32"), models.load_tokenizer(tiny_model / "base")
    greedy = generation.hf_generate(model, tok, list(groups), max_new_tokens=8, batch_size=8, do_sample=False,
                                    temperature=1.0, num_samples=1, seed=0, desc="t")
    for (prompt, comps), (g,) in zip(groups.items(), greedy):
        assert comps.count(g) == 1, (g, comps)
    with pytest.raises(TunepipeError, match="greedy_in_group needs grpo.shared_prefix: true"):
        training.grpo(grpo_args(greedy_in_group=True, shared_prefix=False), data=str(tiny_model / "train.jsonl"),
                      init=str(tiny_model / "base"), out=str(tmp_path / "g2"), ckpt_dir=str(tmp_path / "c2"),
                      live_dir=str(tmp_path / "l2"), completions_csv=str(tmp_path / "c2.csv"), seed=0)


def test_grpo_samples_through_decode_one_prefill_per_group(tiny_model, tmp_path, monkeypatch):
    """By default GRPO's groups are sampled by prefix.decode: one call per generation batch, every
    group complete (4 completions per prompt in the completion log), and the step trains."""
    import csv
    from collections import Counter

    reward_length(monkeypatch)
    calls = []
    real = prefix.decode
    monkeypatch.setattr(prefix, "decode", lambda *a, **k: calls.append(k["rows"]) or real(*a, **k))
    d = tmp_path / "g"
    training.grpo(grpo_args(learning_rate=1e-3), data=str(tiny_model / "train.jsonl"), init=str(tiny_model / "base"),
                  out=str(d / "grpo"), ckpt_dir=str(d / "ckpt"), live_dir=str(d / "live"),
                  completions_csv=str(d / "c.csv"), seed=0)
    assert calls and all(r == 4 for r in calls)
    per_prompt = Counter(r["prompt"] for r in csv.DictReader((d / "c.csv").open()))
    assert set(per_prompt.values()) == {4}
    before, after = weights(tiny_model / "base"), weights(d / "grpo")
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_rows_copy_of_the_prompt_cache_has_a_fixed_order_backward():
    """The loss's copy of each prompt's keys/values to its group's rows: indexing's backward
    (index_put_ accumulation) sums a group's gradients in thread order, so with 2 threads two
    GRPO runs from one seed parted in the last bits of every weight. The one-hot product gives
    the same values and the same gradient bits every time."""
    from types import SimpleNamespace

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(4, 4, 180, 32, generator=g, requires_grad=True)
        index = torch.arange(4).repeat_interleave(16)[torch.randperm(64, generator=g)]
        up = torch.randn(64, 4, 180, 32, generator=g)
        grads = set()
        for _ in range(10):
            x.grad = None
            layer = SimpleNamespace(keys=x, values=x * 2.0)
            prefix._copy_to_rows(SimpleNamespace(layers=[layer]), index)
            assert torch.equal(layer.keys, x[index]) and torch.equal(layer.values, (x * 2.0)[index])
            ((layer.keys * up).sum() + (layer.values * up).sum()).backward()
            grads.add(x.grad.numpy().tobytes())
        assert len(grads) == 1
    finally:
        torch.set_num_threads(threads)
