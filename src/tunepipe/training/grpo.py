"""GRPO: TRL GRPOTrainer configured from the ``grpo`` params (:func:`grpo`, the stage's work),
rewarded by the task scorers; environment rows roll out through TRL's ``rollout_func``."""
from __future__ import annotations

import csv
import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunepipe import TunepipeError, io, models, tasks
from tunepipe.episodes import EpisodeArgs
from tunepipe.training.common import COMMON_SOURCES, LiveCallback, _common, _train_and_save, build_config, \
    fingerprint, load_trainable, per_device, prepare_checkpoints, trainable, trl_kwargs
from tunepipe.training.trl_overrides import _grpo_trainer, check_trl_version, score_target_positions_only


@dataclass
class GRPOArgs:
    max_steps: int                   # > 0: optimizer steps; <= 0: num_train_epochs decides
    num_train_epochs: float
    prompts_per_step: int            # prompts per batch over all processes (each with num_generations completions)
    grad_accum: int                  # batches of prompts_per_step prompts per optimizer step
    num_generations: int
    max_completion_length: int | None | dict[str, int | None]   # tasks.budget: per family (null: its own)
    learning_rate: float
    lr_scheduler_type: str
    warmup_steps: float              # < 1: a share of the steps, >= 1: a number of steps (TrainingArguments)
    max_grad_norm: float
    beta: float
    epsilon: float
    loss_type: str
    scale_rewards: str
    temperature: float
    num_iterations: int
    mask_truncated_completions: bool
    reward: str
    invalid_penalty: float   # > 0: a second reward function, -invalid_penalty for an invalid completion
    logging_steps: int
    save_steps: int
    activation_checkpointing: bool   # recompute activations in backward (transformers 5 name)
    dtype: str
    use_vllm: bool
    vllm_mode: str
    tasks: list[str] | None  # train on rows of these tasks only (null: all); stages/grpo.py filters
    episode: EpisodeArgs     # multi-turn environments: tokens per turn, episode length
    # each group's prompt prefilled and back-propagated once, not once per completion
    # (tunepipe.prefix); TRL's own path where it cannot apply (vLLM, DeepSpeed/FSDP, images)
    shared_prefix: bool = True
    # one completion of each group is the greedy one (the rest sampled at temperature), so the group's
    # advantages say whether greedy decoding's answer beats the samples (shared_prefix path only)
    greedy_in_group: bool = False
    # > 0: the saved model is the exponential moving average of the weights over the steps
    # (ema <- decay * ema + (1 - decay) * weights after each step), not the last step's weights
    ema_decay: float = 0.0
    # further GRPOConfig fields, passed straight through (checked against TRL's: :func:`grpo_trl_kwargs`)
    trl: dict[str, Any] = field(default_factory=dict)


LOG_COLUMNS = ["call", "task", "prompt", "completion", "parsed", "reward", "invalid", "error"]


def reward_function(name: str, log: list, decode=None):
    """The GRPO reward: the task's own scorer (``strict``: the evaluator's scorer), optionally
    plus one of the family's training-only shaping terms (``strict+<term>``, e.g.
    ``strict+partial``: SAT's share of satisfied clauses, weighted by ``reward.sat.partial_weight``,
    which the reward stage put into the train specs: the family weighs its own term).
    Returns None for a sample its task cannot score (TRL masks it). Each sample is logged
    as a :data:`LOG_COLUMNS` row (the parsed answer as JSON, invalid = unscorable).

    ``decode(ids) -> text``: how the completion's token ids become the text scored. TRL's
    ``completions`` drop special tokens (Harmony's ``<|channel|>final<|message|>`` becomes
    ``final`` glued to the answer); with ``decode`` the scorer sees exactly what evaluate
    decodes (:func:`tunepipe.generation.decode`: specials kept, cut at the first stop token)."""
    base, _, term = name.partition("+")
    shaped = sorted({t for n in tasks.names() for t in tasks.get(n).shaping})
    if base != "strict" or (term and term not in shaped):
        raise TunepipeError(f"grpo.reward: expected 'strict' or one of "
                            f"{', '.join(f'strict+{t}' for t in shaped)}, got {name!r}")

    calls = [0]

    def reward(prompts, completions, task, spec, **kw):
        calls[0] += 1
        raw = list(completions)
        if decode is not None and kw.get("completion_ids") is not None:
            completions = [decode(ids) for ids in kw["completion_ids"]]
        specs = [json.loads(s) for s in spec]
        # environment episodes were rewarded by their environment during the rollout (tunepipe.episodes)
        episodic = kw.get("episode_reward") or [None] * len(specs)
        single = [i for i, r in enumerate(episodic) if r is None]
        out: list = [None] * len(specs)
        errors = [False] * len(specs)
        sub_err: list[bool] = []
        scores = tasks.score_batch([task[i] for i in single], [completions[i] for i in single],
                                   [specs[i] for i in single], sub_err)   # ABD/DED programs run in parallel
        for i, sc, e in zip(single, scores, sub_err):
            out[i], errors[i] = sc, e
        for i, (prompt, completion, t, s) in enumerate(zip(prompts, completions, task, specs)):
            family = tasks.get(t)
            if episodic[i] is not None:   # logged whole, with its outcome as the parsed answer
                out[i] = float(episodic[i])
                parsed = {"success": kw["episode_success"][i], "steps": kw["episode_steps"][i]}
                log.append((calls[0], t, prompt, kw["episode_text"][i], json.dumps(parsed), out[i], False, False))
                continue
            if out[i] is not None and term in family.shaping:
                try:
                    out[i] += float(family.shaping[term](tasks.response_text(completion, family.reads), s))
                except Exception:
                    errors[i] = True
            parsed = tasks.parse_completion(t, completion, s)
            log.append((calls[0], t, prompt, completion, json.dumps(parsed, default=str), out[i],
                        out[i] is None, errors[i]))
        reward.last = (raw, [s is None for s in out])
        return out

    reward.last = ([], [])
    reward.__name__ = name.replace("+", "_")
    return reward


def completion_decoder(model, tokenizer):
    """``ids -> text`` as evaluate decodes generated ids (see :func:`reward_function`)."""
    from tunepipe import generation

    stop = generation.stop_token_ids(model, tokenizer)
    return lambda ids: generation.decode(tokenizer, list(ids), stop)


def invalid_penalty_function(penalty: float, primary=None):
    """A second GRPO reward: ``-penalty`` for a completion its task scores None (invalid:
    no parseable answer), else 0. Without it TRL gives an all-invalid sample advantage 0,
    i.e. no penalty at all for invalid output (docs/reference/validators.md). ``primary``: the
    :func:`reward_function` called just before on the same batch, whose verdicts are reused
    (no second run of ABD/DED programs)."""

    def invalid_penalty(prompts, completions, task, spec, **kw):
        if primary is not None and primary.last[0] == list(completions):
            invalid = primary.last[1]
        else:
            invalid = [s is None for s in tasks.score_batch(list(task), list(completions), [json.loads(s) for s in spec])]
            episodic = kw.get("episode_reward") or [None] * len(invalid)   # episodes are never invalid
            invalid = [bad and ep is None for bad, ep in zip(invalid, episodic)]
        return [-penalty if bad else 0.0 for bad in invalid]

    return invalid_penalty


def rollout_function(a: GRPOArgs, tokenizer, stop_ids: set[int]):
    """TRL's ``rollout_func`` for batches holding environment rows: every row of the batch
    goes through :func:`tunepipe.episodes.run` (episodes for environment rows, one
    generation of ``max_completion_length`` for the others), sampled with the trainer's
    own generation settings. Returns the token ids, ``env_mask`` (the environment's tokens
    are left out of the loss) and the episodes' reward, success, steps and text, which TRL
    hands to :func:`reward_function` as columns. The rows themselves come from
    :class:`_RowsTrainer` (TRL passes the prompts only)."""
    from tunepipe import episodes

    def rollout(prompts, trainer):
        from trl.models import unwrap_model_for_generation

        inputs = trainer.tunepipe_inputs
        rows = [{"prompt_text": p, "task": x["task"], "spec": json.loads(x["spec"]),
                 "obs_wrap": json.loads(x["obs_wrap"])} for p, x in zip(prompts, inputs)]
        gk = trainer.generation_kwargs
        gen_kwargs = {"do_sample": True, **{k: gk[k] for k in ("temperature", "top_p", "top_k", "min_p",
                                                                 "repetition_penalty") if gk.get(k) is not None}}
        with unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator) as model:
            res = episodes.run(model, tokenizer, rows, args=a.episode, gen_kwargs=gen_kwargs, stop_ids=stop_ids,
                               batch_size=len(rows), single_tokens=a.max_completion_length, progress=False)
        pick = lambda key: [r.get(key) for r in res]  # noqa: E731
        return {"prompt_ids": pick("prompt_ids"), "completion_ids": pick("completion_ids"), "logprobs": None,
                "env_mask": pick("env_mask"), "episode_reward": pick("reward"), "episode_success": pick("success"),
                "episode_steps": pick("steps"), "episode_text": pick("text")}

    return rollout


def ema_callback(decay: float):
    """Keeps an exponential moving average of the trainable weights (after every optimizer
    step) and puts it into the model when training ends, so the saved model is the average.
    The average is saved with each checkpoint (``ema.pt``): a resumed run continues it, and a
    finished checkpoint whose outputs were lost saves it (:func:`_train_and_save`)."""
    import torch
    from transformers import TrainerCallback

    class _EMA(TrainerCallback):
        ema: dict | None = None

        def on_train_begin(self, args, state, control, model=None, **kw):
            if self.ema is None:
                self.ema = {n: p.detach().clone() for n, p in trainable(model).items()}
                path = Path(args.output_dir) / f"checkpoint-{state.global_step}" / "ema.pt"
                if state.global_step and path.is_file():
                    self.ema = torch.load(path, map_location="cpu")

        def on_step_end(self, args, state, control, model=None, **kw):
            with torch.no_grad():
                for n, p in trainable(model).items():
                    self.ema[n].mul_(decay).add_(p.detach(), alpha=1 - decay)

        def on_save(self, args, state, control, **kw):
            if state.is_world_process_zero:
                d = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if d.is_dir():
                    torch.save(self.ema, d / "ema.pt")

        def on_train_end(self, args, state, control, model=None, **kw):
            load_trainable(model, self.ema)

    return _EMA()


#: the GRPOConfig fields tunepipe sets (:func:`grpo_config`), and from what (see ``COMMON_SOURCES``)
GRPO_SOURCES = {
    **COMMON_SOURCES,
    "per_device_train_batch_size": "grpo.prompts_per_step and grpo.num_generations",
    "gradient_accumulation_steps": "grpo.grad_accum",
    "num_train_epochs": "grpo.num_train_epochs",
    **{name: f"grpo.{name}" for name in ("num_generations", "max_completion_length", "beta", "epsilon", "loss_type",
                                         "scale_rewards", "temperature", "num_iterations",
                                         "mask_truncated_completions", "use_vllm", "vllm_mode")},
}


def grpo_trl_kwargs(a: GRPOArgs, where: str | None = None) -> dict:
    """``grpo.trl``, checked against GRPOConfig's fields (``where``: the params file)."""
    from trl import GRPOConfig

    return trl_kwargs(a.trl, "grpo", GRPOConfig, GRPO_SOURCES, where)


def check_budgets(a: GRPOArgs) -> None:
    """``grpo.max_completion_length`` and ``grpo.episode.turn_tokens`` as budgets per family
    (:func:`tunepipe.tasks.check_budget`), or a one-line error."""
    tasks.check_budgets("grpo", "max_completion_length", a.max_completion_length, a.episode.turn_tokens)
    if a.episode.layout != "tunepipe":
        raise TunepipeError("grpo.episode.layout: only tunepipe (the agentgym layout is evaluate's)")


def completion_budgets(a: GRPOArgs, families) -> dict[str, int]:
    """Each trained single-turn family's completion budget (``grpo.max_completion_length``)."""
    return {t: tasks.budget(t, a.max_completion_length) for t in sorted(families) if not tasks.multi_turn(t)}


def trl_completion_length(a: GRPOArgs, families=None) -> int:
    """TRL's one ``max_completion_length``: the int as given, else the largest budget of the
    trained single-turn families (``families``; None: ``grpo.tasks``, or every task), whose
    completions :func:`~tunepipe.training.trl_overrides.cut_to_budgets` then cuts to their own
    budget. With environments only: their largest turn budget (their rollouts set their own)."""
    if isinstance(a.max_completion_length, int):
        return a.max_completion_length
    families = list(families if families is not None else a.tasks or tasks.names())
    budgets = completion_budgets(a, families)
    if budgets:
        return max(budgets.values())
    return max(tasks.budget(t, a.episode.turn_tokens) for t in families)


def grpo_config(a: GRPOArgs, *, ckpt_dir: str, seed: int, families=None):
    """The run's GRPOConfig: our keys' fields, then ``grpo.trl``'s. Builds no model: tests
    read it without training. ``families``: the trained tasks (:func:`trl_completion_length`)."""
    from trl import GRPOConfig

    if a.grad_accum < 1:
        raise TunepipeError(f"grpo.grad_accum: expected an int >= 1, got {a.grad_accum}")
    ours = dict(
        **{**_common(a, Path(ckpt_dir), seed),
           "max_steps": a.max_steps if a.max_steps > 0 else -1},   # <= 0: grpo.num_train_epochs decides
        num_train_epochs=a.num_train_epochs,
        per_device_train_batch_size=per_device(a.prompts_per_step * a.num_generations,
                                               "grpo.prompts_per_step x grpo.num_generations"),
        gradient_accumulation_steps=a.grad_accum,
        num_generations=a.num_generations,
        max_completion_length=trl_completion_length(a, families),
        beta=a.beta,
        epsilon=a.epsilon,
        loss_type=a.loss_type,
        scale_rewards=a.scale_rewards,
        temperature=a.temperature,
        num_iterations=a.num_iterations,
        mask_truncated_completions=a.mask_truncated_completions,
        use_vllm=a.use_vllm,
        vllm_mode=a.vllm_mode,
    )
    return build_config(GRPOConfig, "grpo", ours, grpo_trl_kwargs(a))


def grpo(a: GRPOArgs, *, data: str, init: str, out: str, ckpt_dir: str, live_dir: str, completions_csv: str, seed: int,
         callbacks: tuple = ()) -> dict:
    """GRPO from the SFT model, rewarded by the task scorers (the evaluator's scorers).
    ``callbacks``: more transformers ``TrainerCallback``s (benchmarks/sat_recipe.py's
    checkpoint trajectory)."""
    from datasets import Dataset
    from transformers import set_seed

    check_budgets(a)
    if a.greedy_in_group and (not a.shared_prefix or a.use_vllm):
        raise TunepipeError("grpo.greedy_in_group needs grpo.shared_prefix: true and grpo.use_vllm: false")
    if a.shared_prefix:
        check_trl_version()   # before any work: the overrides are tested with one TRL
    rows = io.read_jsonl(data, required=("prompt_text", "task", "spec"))
    if not rows:
        raise TunepipeError(f"{data}: no training rows")
    for r in rows:
        tasks.get(r["task"])
    score_target_positions_only()
    set_seed(seed)
    ds = Dataset.from_dict(
        {
            "prompt": [r["prompt_text"] for r in rows],
            "task": [r["task"] for r in rows],
            "spec": [json.dumps(r["spec"]) for r in rows],
            "obs_wrap": [json.dumps(r.get("obs_wrap")) for r in rows],
        }
    )
    multi = any(tasks.multi_turn(r["task"]) for r in rows)
    # TRL 1.16's generation helper reads model.is_gradient_checkpointing, which transformers 5 deprecates
    # (a FutureWarning every generation step): TRL's call, not a setting of ours
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    tokenizer = models.load_tokenizer(init)
    fp = fingerprint(asdict(a), seed, Path(data), *(sorted(Path(init).glob("*.safetensors"))))
    families = sorted({r["task"] for r in rows})
    cfg = grpo_config(a, ckpt_dir=ckpt_dir, seed=seed, families=families)
    budgets = completion_budgets(a, families)   # TRL generates up to the largest; each family is cut to its own
    budgets = budgets if len(set(budgets.values())) > 1 else None
    resume = prepare_checkpoints(ckpt_dir, fp, cfg.distributed_state)
    model = models.load_model(init, dtype=a.dtype, trainable_adapter=True)   # after the config: ZeRO-3 shards it
    log: list = []
    if multi and a.use_vllm:
        raise TunepipeError("grpo.use_vllm: environment episodes run with transformers' generate; "
                            "set grpo.use_vllm: false or leave the environments out of grpo.tasks")
    extra = {}
    if multi:   # environment rows: episodes through TRL's rollout_func
        import os

        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
        from tunepipe import generation

        extra["rollout_func"] = rollout_function(a, tokenizer, generation.stop_token_ids(model, tokenizer))
    trainer = _grpo_trainer(multi, a.shared_prefix, a.greedy_in_group, budgets)(
        model=model,
        reward_funcs=[primary := reward_function(a.reward, log, decode=completion_decoder(model, tokenizer))]
        + ([invalid_penalty_function(a.invalid_penalty, primary)] if a.invalid_penalty > 0 else []),
        args=cfg,
        train_dataset=ds,
        processing_class=tokenizer,
        callbacks=[LiveCallback(live_dir, resume=resume is not None), *callbacks,
                   *([ema_callback(a.ema_decay)] if a.ema_decay > 0 else [])],
        **extra,
    )
    res = _train_and_save(trainer, resume, tokenizer, out)
    from accelerate.utils import gather_object

    log = gather_object(log)   # each process scored its own completions; collective, so on all
    if trainer.is_world_process_zero():
        with io.atomic_file(completions_csv) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(LOG_COLUMNS)
            w.writerows(sorted(log, key=lambda r: r[0]))   # by reward call, the processes' rows in turn
    return res
