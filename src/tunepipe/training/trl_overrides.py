"""Everything that overrides or patches TRL's private API (names with a leading underscore,
which TRL changes without notice between releases): the GRPOTrainer subclass behind
``grpo.shared_prefix`` / ``grpo.greedy_in_group`` and environment rollouts, and the CPU
decision of TRL's fused LM head. Upgrading TRL means re-checking this module, then adding
its version to :data:`TESTED_TRL`."""
from __future__ import annotations

from tunepipe import TunepipeError

#: the TRL versions the private-method overrides below were written and tested against
#: (``GRPOTrainer._generate_single_turn``, ``_get_per_token_logps_and_entropies``,
#: ``_generate_and_score_completions``; pyproject.toml pins the last one)
TESTED_TRL = ("1.16.0",)


def check_trl_version(what: str = "grpo.shared_prefix", off: str = "set grpo.shared_prefix: false") -> None:
    """``grpo.shared_prefix`` (``what``) replaces private GRPOTrainer methods, whose signatures and
    return values another TRL may change without notice (a silent wrong loss, not an error): with
    a TRL not in :data:`TESTED_TRL`, fail with a one-line :class:`~tunepipe.TunepipeError` (``off``:
    how to do without)."""
    import trl

    if trl.__version__ not in TESTED_TRL:
        tested = " or ".join(TESTED_TRL)
        raise TunepipeError(f"{what} overrides private methods of trl {trl.__version__}; tested with "
                            f"trl {tested}: pin trl=={TESTED_TRL[-1]} or {off}")


def score_target_positions_only() -> None:
    """Make TRL's fused LM head score only the positions that have a label on the CPU too.

    TRL 1.16 (``trl.trainer.utils``, ``add_fused_lm_head``) projects through the LM head only the
    positions whose label is not -100 where Triton runs (GPUs), and every position elsewhere,
    so that compilers such as Neuron's see fixed tile shapes. On the CPU, in eager mode, that is
    pure waste: a SAT row has 13 target tokens among ~190, so most of the head's forward and
    backward went to positions whose loss is masked. The numbers are the same either way
    (``tests/test_training.py`` checks the loss); an SFT step of 32 SAT rows took 0.21 s instead
    of 0.29 s. Only the CPU's decision changes; the kernels are TRL's."""
    try:
        import trl.trainer.utils as tu
    except ImportError:   # pragma: no cover
        return
    orig = getattr(tu, "_use_triton", None)
    if orig is None or getattr(orig, "tunepipe", False):
        return

    def use(device):
        return device.type == "cpu" or orig(device)

    use.tunepipe = True
    use.original = orig
    tu._use_triton = use


def _decode_groups(model, ids, mask, generation_config, greedy_first: bool, eos_ids, pad_id):
    """GRPO's completions through ``prefix.decode``: each distinct prompt of the batch prefilled
    once and decoded for all its rows (row ``i`` gets its prompt's next completion in batch
    order; with ``greedy_first`` a prompt's first row is greedy decoding's). None where decode
    does not sample as ``generate`` would with this config (top-k, min-p, a repetition
    penalty), the model is not ``prefix.supported``, or no rows share a prompt."""
    import torch

    from tunepipe import prefix

    cfg = generation_config
    fast = prefix.decode_kwargs({"do_sample": bool(cfg.do_sample), "temperature": cfg.temperature,
                                   "top_p": cfg.top_p, "top_k": cfg.top_k, "min_p": cfg.min_p,
                                   "repetition_penalty": cfg.repetition_penalty})
    g = prefix.groups(ids, mask) if fast is not None and prefix.supported(model) else None
    if g is None:
        return None
    first, index = g
    counts = torch.bincount(index)
    rows = int(counts.max())
    fast["greedy_first"] = greedy_first or fast["greedy_first"]
    out = prefix.decode(model, ids[first], mask[first], rows=rows, max_new_tokens=cfg.max_new_tokens,
                        stop_ids=set(eos_ids), pad_id=pad_id, **fast)
    rank = torch.zeros_like(index)
    seen = torch.zeros_like(counts)
    for i, j in enumerate(index.tolist()):   # the k-th row of a prompt (batch order) takes its k-th completion
        rank[i] = seen[j]
        seen[j] += 1
    return out[index * rows + rank]


def cut_to_budgets(completion_ids: list, logprobs: list | None, task_names: list[str], budgets: dict[str, int]):
    """GRPO's completions (and their sampling log-probabilities, when given) each cut to its
    family's budget (``budgets``: task -> new tokens; a task not in it is left whole). TRL
    generates every row up to its one ``max_completion_length``, the largest budget; a token
    sequence cut at n is what a generation of n tokens would have sampled, and without its stop
    token TRL counts it clipped (``completions/clipped_ratio``, ``mask_truncated_completions``)."""
    if len(completion_ids) != len(task_names):
        raise ValueError(f"cut_to_budgets: {len(completion_ids)} completions for {len(task_names)} rows")
    n = [budgets.get(t) for t in task_names]
    ids = [c if b is None else c[:b] for c, b in zip(completion_ids, n)]
    if logprobs is not None:
        logprobs = [lp if b is None or lp is None else lp[:b] for lp, b in zip(logprobs, n)]
    return ids, logprobs


def _grpo_trainer(rows: bool, shared_prefix: bool, greedy_in_group: bool = False, budgets: dict | None = None):
    """GRPOTrainer, with ``rows``: the batch's rows kept where :func:`rollout_function` finds
    them (TRL passes the prompts only); with ``shared_prefix``: each group's prompt runs once
    in generation and in the loss (:mod:`tunepipe.prefix`), where TRL's path allows it
    (a TRL not in :data:`TESTED_TRL` is then an error: :func:`check_trl_version`); with
    ``budgets`` (task -> completion budget, when the trained families' differ): each
    single-turn completion cut to its family's (:func:`cut_to_budgets`)."""
    from trl import GRPOTrainer

    if shared_prefix or greedy_in_group:
        check_trl_version()
    if budgets:
        check_trl_version("grpo.max_completion_length per family (completions cut to each family's budget)",
                          "give grpo.max_completion_length one int")
    if not rows and not shared_prefix and not greedy_in_group and not budgets:
        return GRPOTrainer

    class _Trainer(GRPOTrainer):
        def _generate_and_score_completions(self, inputs):
            self.tunepipe_inputs = inputs
            return super()._generate_and_score_completions(inputs)

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations,
                                  has_tool_images=False):
            ids, logprobs = self._tunepipe_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                       has_tool_images)
            if budgets:
                ids, logprobs = cut_to_budgets(ids, logprobs, [x["task"] for x in self.tunepipe_inputs], budgets)
            return ids, logprobs

        def _shared_prefix_ok(self) -> bool:
            from accelerate.utils import DistributedType

            return (shared_prefix and not self.use_vllm and not self.is_deepspeed_enabled
                    and not self.is_fsdp_enabled
                    and self.accelerator.distributed_type in (DistributedType.NO, DistributedType.MULTI_CPU,
                                                              DistributedType.MULTI_GPU)
                    and not self.args.activation_checkpointing)   # a checkpointed layer would fill the cache twice

        def _tunepipe_single_turn(self, prompt_ids, images, multimodal_fields, num_generations,
                                  has_tool_images=False):
            if (not self._shared_prefix_ok() or self.use_transformers_continuous_batching or images
                    or multimodal_fields or has_tool_images):
                return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                     has_tool_images)
            import torch
            from trl.models import unwrap_model_for_generation
            from trl.trainer.utils import pad

            from tunepipe import prefix

            device = self.accelerator.device
            tensors = [torch.tensor(ids) for ids in prompt_ids]
            ids = pad(tensors, padding_value=self._tokenizer.pad_token_id, padding_side="left",
                      pad_to_multiple_of=self.pad_to_multiple_of).to(device)
            mask = pad([torch.ones_like(t) for t in tensors], padding_value=0, padding_side="left",
                       pad_to_multiple_of=self.pad_to_multiple_of).to(device)
            with (
                unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                            generation_kwargs=self.generation_kwargs,
                                            gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs)
                as unwrapped,
                torch.no_grad(),
            ):
                gen = _decode_groups(unwrapped, ids, mask, self.generation_config, greedy_in_group,
                                     self.eos_token_ids, self._tokenizer.pad_token_id)   # greedy rows included
                if gen is None:
                    gen = prefix.generate(unwrapped, ids, mask, generation_config=self.generation_config)
                    if gen is not None and greedy_in_group:   # each group's first row: greedy decoding's completion
                        import copy

                        first, _ = prefix.groups(ids, mask)
                        cfg = copy.deepcopy(self.generation_config)
                        cfg.do_sample, cfg.temperature, cfg.top_p, cfg.top_k, cfg.min_p = False, None, None, None, None
                        greedy = unwrapped.generate(input_ids=ids[first], attention_mask=mask[first],
                                                    generation_config=cfg)[:, ids.size(1):]
                        width = max(gen.size(1), greedy.size(1))
                        pad_id = self._tokenizer.pad_token_id
                        gen = torch.nn.functional.pad(gen, (0, width - gen.size(1)), value=pad_id)
                        gen[first] = torch.nn.functional.pad(greedy, (0, width - greedy.size(1)), value=pad_id)
            if gen is None:   # every prompt distinct
                return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                     has_tool_images)
            is_eos = torch.isin(gen, torch.tensor(self.eos_token_ids, device=device))
            out = []
            for row, eos in zip(gen.cpu().tolist(), is_eos.cpu().tolist()):
                cut = eos.index(True) if True in eos else len(row) - 1
                out.append(row[: cut + 1])
            return out, None

        def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                               batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                               **multimodal):
            if (not self._shared_prefix_ok() or compute_aux_loss
                    or any(v is not None for v in multimodal.values())):
                return super()._get_per_token_logps_and_entropies(
                    model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy,
                    compute_aux_loss, **multimodal)
            import torch

            from tunepipe import prefix

            inner = self.accelerator.unwrap_model(model)
            size = batch_size or input_ids.size(0)
            logps, ents = [], []
            for start in range(0, input_ids.size(0), size):
                sl = slice(start, start + size)
                with self.accelerator.autocast():
                    res = prefix.logps(model, input_ids[sl], attention_mask[sl], logits_to_keep,
                                       compute_entropy=compute_entropy, prefill_model=inner)
                if res is None:
                    res = super()._get_per_token_logps_and_entropies(
                        model, input_ids[sl], attention_mask[sl], logits_to_keep, None, compute_entropy)[:2]
                logps.append(res[0])
                ents.append(res[1])
            return torch.cat(logps), (torch.cat(ents) if compute_entropy else None), None

    return _Trainer
