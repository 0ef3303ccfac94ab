"""Evaluation generation speed: our batched generation (as evaluate calls it: left-padded
batches of ``evaluate.batch_size`` prompts sorted by length, ``evaluate.max_new_tokens``,
``tunepipe.prefix.decode``) against a naive loop of one ``model.generate`` per prompt (same
max_new_tokens, same stop tokens, same decoding), in the same invocation. Both passes evaluate
runs: greedy, and ``evaluate.num_samples`` samples per prompt at ``evaluate.temperature``
(the loop: one ``generate(num_return_sequences=k)`` per prompt). Timed three ways: greedy
alone (``hf_generate``), samples alone, and both as evaluate runs them
(``hf_generate_both``: one prefill per prompt for its greedy row and its samples; the loop's
figure for both is its two passes); ``--no-sampled`` times greedy only.

    python benchmarks/evaluate_speed.py --project /tmp/benchproj              # 300 SAT prompts
    python benchmarks/evaluate_speed.py --project /tmp/benchproj --n 100 --model models/sft --json out.json

The prompts are the first ``--n`` SAT rows of ``data/reward/test.jsonl``; the model is
``--model`` (default ``models/base``, relative to ``--project``). The sides alternate
``--rounds`` times over the whole set (the batched side's grouping depends on the whole set).
The decoded outputs are compared: fp32 greedy decoding of a left-padded batch can break
near-ties differently from an unpadded prompt, so a few may differ; their count is reported.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import benchutil as bu  # noqa: E402


def naive(model, tok, prompts: list[str], max_new_tokens: int, samples: int = 0, temperature: float = 1.0):
    """Greedy: one decoded string per prompt; ``samples`` > 0: a list of that many samples."""
    import torch

    from tunepipe import generation

    stop = generation.stop_token_ids(model, tok)
    model.eval()
    out = []
    kw = (dict(do_sample=True, temperature=temperature, top_k=0, num_return_sequences=samples) if samples
          else dict(do_sample=False))
    with torch.inference_mode():
        for p in prompts:
            enc = tok(p, return_tensors="pt", add_special_tokens=False)
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id,
                                 eos_token_id=sorted(stop), **kw)
            dec = [generation.decode(tok, g[enc["input_ids"].shape[1]:].tolist(), stop) for g in ids]
            out.append(dec if samples else dec[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", default=".", help="a pipeline built up to the reward stage")
    ap.add_argument("--model", default="models/base", help="model dir (relative to --project)")
    ap.add_argument("--n", type=int, default=300, help="SAT test prompts")
    ap.add_argument("--rounds", type=int, default=2, help="alternate the sides this many times")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--no-sampled", action="store_true", help="time the greedy pass only")
    a = ap.parse_args()
    from tunepipe import generation, io, models

    project = Path(a.project).resolve()
    params = bu.load_params(project)
    ev, seed = params["evaluate"], params["base"]["seed"]
    rows = [r for r in io.read_jsonl(project / "data/reward/test.jsonl") if r["task"] == "sat"][: a.n]
    prompts = [r["prompt_text"] for r in rows]
    path = project / a.model
    model, tok = models.load_model(path, dtype=ev["dtype"]), models.load_tokenizer(path)

    k = 0 if a.no_sampled else int(ev["num_samples"])
    b_s = n_s = bs_s = ns_s = both_s = 0.0
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        batched = [c[0] for c in generation.hf_generate(model, tok, prompts, max_new_tokens=ev["max_new_tokens"],
                                                        batch_size=ev["batch_size"], do_sample=False, temperature=1.0,
                                                        num_samples=1, seed=seed, desc="batched")]
        b_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        loop = naive(model, tok, prompts, ev["max_new_tokens"])
        n_s += time.perf_counter() - t0
        if k:
            t0 = time.perf_counter()
            generation.hf_generate(model, tok, prompts, max_new_tokens=ev["max_new_tokens"],
                                   batch_size=ev["batch_size"], do_sample=True, temperature=ev["temperature"],
                                   num_samples=k, seed=seed, desc="batched sampled")
            bs_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            naive(model, tok, prompts, ev["max_new_tokens"], samples=k, temperature=ev["temperature"])
            ns_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            generation.hf_generate_both(model, tok, prompts, max_new_tokens=ev["max_new_tokens"],
                                        batch_size=ev["batch_size"], num_samples=k, temperature=ev["temperature"],
                                        seed=seed, desc="batched both")
            both_s += time.perf_counter() - t0
    differ = sum(x != y for x, y in zip(batched, loop))
    n = len(prompts) * a.rounds
    fig = {"machine": bu.machine(), "model": str(path), "prompts": len(prompts), "rounds": a.rounds,
           "batch_size": ev["batch_size"], "max_new_tokens": ev["max_new_tokens"],
           "batched_s": b_s / a.rounds, "batched_prompts_per_s": n / b_s,
           "naive_s": n_s / a.rounds, "naive_prompts_per_s": n / n_s, "speedup": n_s / b_s,
           "outputs_differ": differ,
           "generated_tokens_batched": sum(len(tok(x, add_special_tokens=False)["input_ids"]) for x in batched),
           "examples": [{"batched": x, "naive": y} for x, y in zip(batched, loop) if x != y][:3]}
    if k:
        fig.update(samples=k, temperature=ev["temperature"], sampled_batched_s=bs_s / a.rounds,
                   sampled_naive_s=ns_s / a.rounds, sampled_speedup=ns_s / bs_s,
                   both_batched_s=both_s / a.rounds, both_naive_s=(n_s + ns_s) / a.rounds,
                   both_speedup=(n_s + ns_s) / both_s, separate_passes_batched_s=(b_s + bs_s) / a.rounds)
    m = fig["machine"]
    print(f"machine: {m['processor']}, {m['cpu_count']} cores, torch {m['torch']} with {m['torch_threads']} threads")
    print(f"{len(prompts)} SAT prompts, greedy, max_new_tokens {ev['max_new_tokens']}, model {path}, {a.rounds} rounds")
    print(f"  {'hf_generate, batch ' + str(ev['batch_size']):28s}{fig['batched_prompts_per_s']:8.1f} prompts/s  ({fig['batched_s']:.2f} s per pass)")
    print(f"  {'one generate per prompt':28s}{fig['naive_prompts_per_s']:8.1f} prompts/s  ({fig['naive_s']:.2f} s per pass)")
    print(f"  speed-up {fig['speedup']:.2f} x; decoded outputs differing: {differ} of {len(prompts)}")
    if k:
        print(f"{k} samples per prompt at T {ev['temperature']}: ours {fig['sampled_batched_s']:.2f} s, "
              f"one generate(num_return_sequences={k}) per prompt {fig['sampled_naive_s']:.2f} s: "
              f"{fig['sampled_speedup']:.2f} x")
        print(f"both passes as evaluate runs them (one prefill per prompt): {fig['both_batched_s']:.2f} s vs "
              f"{fig['both_naive_s']:.2f} s: {fig['both_speedup']:.2f} x (our two passes apart: "
              f"{fig['separate_passes_batched_s']:.2f} s)")
    bu.dump(fig, a.json)


if __name__ == "__main__":
    main()
