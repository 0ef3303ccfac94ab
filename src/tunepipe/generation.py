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


def stop_token_ids(model, tokenizer) -> set[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    ids |= {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    return ids


def hf_generate(model, tokenizer, prompts: list[str], *, max_new_tokens: int, batch_size: int,
                do_sample: bool, temperature: float, num_samples: int, seed: int, desc: str,
                top_p: float = 1.0) -> list[list[str]]:
    """``num_samples`` completions per prompt (1 for greedy). Left-padded batches, sorted
    by length so padding stays small; a progress bar per call. ``top_p`` < 1: nucleus
    sampling (the reward stage's selection samples at T 0.7, top-p 0.9)."""
    import torch
    from tqdm.auto import tqdm

    from tunepipe import prefix

    tokenizer.padding_side = "left"
    stop = stop_token_ids(model, tokenizer)
    model.eval()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[list[str]] = [[] for _ in prompts]
    torch.manual_seed(seed)
    per_batch = max(1, batch_size // max(num_samples, 1)) if do_sample else batch_size
    with torch.inference_mode():
        for start in tqdm(range(0, len(order), per_batch), desc=desc, unit="batch"):
            idx = order[start : start + per_batch]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(model.device) for k, v in enc.items()}
            kw = dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0) if do_sample else dict(do_sample=False)
            kw.update(max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, eos_token_id=sorted(stop))
            gen = None
            if do_sample and num_samples > 1:   # each prompt prefilled once for its samples (tunepipe.prefix)
                gen = prefix.generate(model, enc["input_ids"].repeat_interleave(num_samples, 0),
                                      enc["attention_mask"].repeat_interleave(num_samples, 0), **kw)
            if gen is None:
                out = model.generate(**enc, num_return_sequences=num_samples if do_sample else 1, **kw)
                gen = out[:, enc["input_ids"].shape[1]:]
            gen = gen.tolist()
            k = num_samples if do_sample else 1
            for j, i in enumerate(idx):
                results[i] = [decode(tokenizer, g, stop) for g in gen[j * k : (j + 1) * k]]
    return results


def vllm_generate(model_dir: str, prompts: list[str], *, max_new_tokens: int, do_sample: bool,
                  temperature: float, num_samples: int, seed: int) -> list[list[str]]:
    """Same contract with vLLM (GPU only; optional dependency)."""
    try:
        from vllm import LLM, SamplingParams
    except ImportError:
        from tunepipe import TunepipeError

        raise TunepipeError("evaluate.backend=vllm needs the 'vllm' package (pip install -e '.[gpu]')") from None
    llm = LLM(model=model_dir, seed=seed)
    sp = SamplingParams(n=num_samples if do_sample else 1, temperature=temperature if do_sample else 0.0,
                        max_tokens=max_new_tokens, seed=seed, skip_special_tokens=False)
    return [[o.text for o in r.outputs] for r in llm.generate(prompts, sp)]
