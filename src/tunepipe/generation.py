"""Batched generation for evaluation (HF ``generate``; a vLLM backend is selected by params)."""
from __future__ import annotations


def require_vllm(param: str, off: str) -> None:
    """Fail early, in one line naming ``param``, where vLLM cannot run: the package (GPU extra)
    is not installed, or no CUDA GPU is visible. Stages call it before loading any model;
    ``off`` is the setting that runs without vLLM."""
    import importlib.util

    from tunepipe import TunepipeError

    if importlib.util.find_spec("vllm") is None:
        raise TunepipeError(f"{param} needs the 'vllm' package, not installed here (GPU extra: "
                            f"pip install -e '.[gpu]'); or set {off}")
    import torch

    if not torch.cuda.is_available():
        raise TunepipeError(f"{param} needs a CUDA GPU and none is visible here; set {off}")


def decode(tokenizer, ids, stop_ids: set[int]) -> str:
    """Decode generated ids up to (not including) the first stop token; other specials
    (Harmony channel markup) are kept so the scorers can parse channels."""
    keep = []
    for t in ids:
        if t in stop_ids:
            break
        keep.append(t)
    return tokenizer.decode(keep, skip_special_tokens=False)


def truncated(ids, stop_ids: set[int], max_new_tokens: int) -> bool:
    """Whether generated ``ids`` were cut by the budget: ``max_new_tokens`` of them and no stop
    token among them (a completion whose last allowed token is its stop token is not)."""
    return len(ids) >= max_new_tokens and not any(t in stop_ids for t in ids)


def stop_token_ids(model, tokenizer) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    ids |= {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    return ids


def hf_generate(model, tokenizer, prompts: list[str], *, max_new_tokens: int, batch_size: int,
                do_sample: bool, temperature: float, num_samples: int, seed: int, desc: str,
                top_p: float = 1.0, truncated: list | None = None, seeds: list[int] | None = None) -> list[list[str]]:
    """``num_samples`` completions per prompt (1 for greedy). Left-padded batches of
    ``batch_size`` prompts, sorted by length so padding stays small; a progress bar per call.
    ``top_p`` < 1: nucleus sampling (the reward stage's selection samples at T 0.7, top-p 0.9).
    When ``truncated`` is a list, it receives per prompt one bool per completion: True where the
    completion hit ``max_new_tokens`` without a stop token (:func:`truncated`).
    ``seeds``: one seed per prompt (``evaluate.seed: per_task``), see :func:`_generate`."""
    greedy, sampled, g_cut, s_cut = _generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                                              batch_size=batch_size, greedy=not do_sample,
                                              samples=num_samples if do_sample else 0, temperature=temperature,
                                              top_p=top_p, seed=seed, desc=desc, seeds=seeds)
    if truncated is not None:
        truncated[:] = s_cut if do_sample else [[c] for c in g_cut]
    return sampled if do_sample else [[g] for g in greedy]


def hf_generate_both(model, tokenizer, prompts: list[str], *, max_new_tokens: int, batch_size: int,
                     num_samples: int, temperature: float, seed: int, desc: str,
                     truncated: list | None = None, seeds: list[int] | None = None) -> tuple[list[str], list[list[str]]]:
    """evaluate's two passes in one: per prompt the greedy completion and ``num_samples``
    samples at ``temperature``, all from one prefill of the prompt (``tunepipe.prefix.decode``).
    When ``truncated`` is a list, it receives ``[greedy_flags, sampled_flags]`` shaped as the
    two results: True where a completion hit ``max_new_tokens`` without a stop token."""
    greedy, sampled, g_cut, s_cut = _generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                                              batch_size=batch_size, greedy=True, samples=num_samples,
                                              temperature=temperature, top_p=1.0, seed=seed, desc=desc, seeds=seeds)
    if truncated is not None:
        truncated[:] = [g_cut, s_cut]
    return greedy, sampled


def _generate(model, tokenizer, prompts, *, max_new_tokens, batch_size, greedy, samples, temperature, top_p, seed,
              desc, seeds=None) -> tuple[list[str], list[list[str]], list[bool], list[list[bool]]]:
    """Greedy completions (``greedy``) and ``samples`` sampled ones per prompt, and whether each
    was cut by ``max_new_tokens`` (:func:`truncated`), shaped alike. A model
    ``prefix.supported`` runs ``prefix.decode`` (each prompt prefilled once for all its rows);
    others run ``generate`` (a pass per mode; samples via ``num_return_sequences``).
    ``seeds`` (one per prompt): a prompt's samples are drawn after ``torch.manual_seed`` of its
    own seed, one prompt per batch, so they do not depend on the batch (slower; greedy
    completions are the same either way)."""
    import torch
    from tqdm.auto import tqdm

    from tunepipe import prefix

    tokenizer.padding_side = "left"
    stop = stop_token_ids(model, tokenizer)
    model.eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    if seeds is not None:
        if len(seeds) != len(prompts):
            raise ValueError(f"seeds: {len(seeds)} for {len(prompts)} prompts")
        if samples:
            batch_size = 1
    g_out: list[str] = [""] * len(prompts) if greedy else []
    s_out: list[list[str]] = [[] for _ in prompts]
    g_cut: list[bool] = [False] * len(prompts) if greedy else []
    s_cut: list[list[bool]] = [[] for _ in prompts]
    cut = lambda x: truncated(x, stop, max_new_tokens)  # noqa: E731
    torch.manual_seed(seed)
    fast = prefix.supported(model)
    rows = int(greedy) + samples
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch"):
            idx = order[start : start + batch_size]
            if seeds is not None and samples:
                torch.manual_seed(seeds[idx[0]])
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            ids, mask = enc["input_ids"].to(model.device), enc["attention_mask"].to(model.device)
            if fast:
                gen = prefix.decode(model, ids, mask, rows=rows, greedy_first=greedy, max_new_tokens=max_new_tokens,
                                    stop_ids=stop, pad_id=tokenizer.pad_token_id, temperature=temperature,
                                    top_p=top_p).tolist()
                for j, i in enumerate(idx):
                    mine = gen[j * rows : (j + 1) * rows]
                    texts, cuts = [decode(tokenizer, x, stop) for x in mine], [cut(x) for x in mine]
                    if greedy:
                        g_out[i], g_cut[i] = texts.pop(0), cuts.pop(0)
                    s_out[i], s_cut[i] = texts, cuts
                continue
            kw = dict(max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, eos_token_id=sorted(stop))
            if greedy:
                out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, **kw)[:, ids.size(1):]
                for i, x in zip(idx, out.tolist()):
                    g_out[i], g_cut[i] = decode(tokenizer, x, stop), cut(x)
            step = max(1, batch_size // max(samples, 1))   # rows per generate call stay <= batch_size
            for sub in range(0, len(idx) if samples else 0, step):
                sl = slice(sub, sub + step)
                out = model.generate(input_ids=ids[sl], attention_mask=mask[sl], do_sample=True, temperature=temperature,
                                     top_p=top_p, top_k=0, num_return_sequences=samples, **kw)[:, ids.size(1):].tolist()
                for j, i in enumerate(idx[sl]):
                    mine = out[j * samples : (j + 1) * samples]
                    s_out[i], s_cut[i] = [decode(tokenizer, x, stop) for x in mine], [cut(x) for x in mine]
    return g_out, s_out, g_cut, s_cut


def vllm_generate(model_dir: str, prompts: list[str], *, max_new_tokens: int | list[int], do_sample: bool,
                  temperature: float, num_samples: int, seed: int, truncated: list | None = None,
                  seeds: list[int] | None = None) -> list[list[str]]:
    """Same contract with vLLM (GPU only; optional dependency); ``max_new_tokens`` may be one
    per prompt (one engine, per-prompt sampling params). ``truncated``: as :func:`hf_generate`'s
    (vLLM's finish reason ``length``). ``seeds``: vLLM's per-request seed, one per prompt
    (``evaluate.seed: per_task``)."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError:
        from tunepipe import TunepipeError

        raise TunepipeError("evaluate.backend=vllm needs the 'vllm' package (pip install -e '.[gpu]')") from None
    llm = LLM(model=model_dir, seed=seed)
    budgets = max_new_tokens if isinstance(max_new_tokens, list) else [max_new_tokens] * len(prompts)
    sp = [SamplingParams(n=num_samples if do_sample else 1, temperature=temperature if do_sample else 0.0,
                         max_tokens=b, seed=s, skip_special_tokens=False)
          for b, s in zip(budgets, seeds if seeds is not None else [seed] * len(prompts))]
    res = llm.generate(prompts, sp)
    if truncated is not None:
        truncated[:] = [[o.finish_reason == "length" for o in r.outputs] for r in res]
    return [[o.text for o in r.outputs] for r in res]
