"""Training glue: TRL SFTTrainer / GRPOTrainer configured from params.

The stage scripts call :func:`sft` and :func:`grpo`; everything tunable arrives as a
typed dataclass built from ``params.yaml`` (see :mod:`tunepipe.config`).
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from tunepipe import TunepipeError, io, models, tasks
from tunepipe.episodes import EpisodeArgs


@dataclass
class LoraArgs:
    enabled: bool
    r: int
    alpha: int
    dropout: float
    target_modules: str | list[str]


@dataclass
class SFTArgs:
    max_steps: int
    epochs: float
    batch_size: int
    grad_accum: int
    learning_rate: float
    lr_scheduler: str
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    max_length: int
    eval_fraction: float
    eval_steps: int
    logging_steps: int
    save_steps: int
    activation_checkpointing: bool   # recompute activations in backward (transformers 5 name)
    group_by_length: bool            # batches of similar length (less padding): transformers' group_by_length sampling
    micro_batches: int               # each step's batch in this many micro-batches of similar length (batch_rebalance)
    oversample: dict[str, int] | None   # task -> times each of its train rows (an episode: whole) is seen per epoch
    dtype: str
    lora: LoraArgs

    def __post_init__(self):
        for task, n in (self.oversample or {}).items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"oversample.{task}: expected a whole number >= 1, got {n!r}")
        if self.micro_batches < 1:
            raise ValueError(f"micro_batches: expected a whole number >= 1, got {self.micro_batches}")
        if self.micro_batches > 1 and self.group_by_length:
            raise ValueError("micro_batches > 1 and group_by_length both pick the sampler: set one of them")


@dataclass
class GRPOArgs:
    max_steps: int
    prompts_per_step: int
    num_generations: int
    max_completion_length: int
    learning_rate: float
    lr_scheduler: str
    warmup_ratio: float
    max_grad_norm: float
    beta: float
    epsilon: float
    loss_type: str
    scale_rewards: str
    temperature: float
    num_iterations: int
    mask_truncated_completions: bool
    reward: str
    partial_weight: float
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


class LiveCallback:
    """Training curves to dvclive (``dvc plots show`` / ``dvc exp show``), written by the
    main process only: the others never open the dvclive directory (a fresh ``Live`` wipes it)."""

    def __new__(cls, live_dir: str, resume: bool):
        from transformers import TrainerCallback

        class _CB(TrainerCallback):
            live = None

            def on_train_begin(self, args, state, control, **kw):
                if state.is_world_process_zero and self.live is None:
                    from dvclive import Live

                    self.live = Live(live_dir, resume=resume, dvcyaml=False, save_dvc_exp=False, report=None)

            def _log(self, step: int, logs: dict) -> None:
                self.live.step = step   # before logging: the first entry was at step 0
                for k, v in logs.items():
                    if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                        self.live.log_metric(k.replace("/", "_"), v)
                self.live.next_step()

            def on_log(self, args, state, control, logs=None, **kw):
                if self.live is not None and logs:
                    self._log(state.global_step, logs)

            def on_train_end(self, args, state, control, **kw):
                if self.live is not None:
                    self.live.end()

            def replay(self, history: list[dict]) -> None:
                """Write a finished checkpoint's logged history (outputs lost, nothing to train):
                the stage's metrics and plots are outputs too."""
                from dvclive import Live

                self.live = Live(live_dir, resume=False, dvcyaml=False, save_dvc_exp=False, report=None)
                for logs in history:
                    self._log(int(logs.get("step", 0)), logs)
                self.live.end()

        return _CB()


def fingerprint(*parts) -> str:
    """A run's identity for resuming: its args, data and starting weights, and tunepipe's own
    code (a checkpoint trained by other code is not this run's: DVC reruns the stage because
    that code changed, so resuming it would hand back the old result)."""
    h = hashlib.sha256()
    code = sorted(Path(__file__).resolve().parent.rglob("*.py"))
    for p in (*parts, *code):
        if isinstance(p, Path):
            h.update(p.read_bytes())
        else:
            h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def prepare_checkpoints(ckpt_dir: str | Path, fp: str, state=None) -> str | None:
    """Checkpoints of the same run (same fingerprint) are resumed; others are wiped.
    Returns the checkpoint to resume from, or None.

    ``state``: the run's ``accelerate.PartialState`` (``TrainingArguments.distributed_state``)
    when several processes train: the main process alone wipes and stamps, the others wait,
    then every process resumes from the same checkpoint. The process layout (engine and
    process count) is part of the fingerprint: DDP, FSDP and ZeRO checkpoints of another
    layout are not resumable, so a layout change starts afresh."""
    d = Path(ckpt_dir)
    stamp = d / "fingerprint.txt"
    if state is not None and state.num_processes > 1:
        fp = f"{fp}-{str(state.distributed_type).rsplit('.', 1)[-1].lower()}x{state.num_processes}"
    if state is None or state.is_main_process:
        if d.exists() and (not stamp.is_file() or stamp.read_text().strip() != fp):
            shutil.rmtree(d)
        d.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fp + "\n")
    if state is not None:
        state.wait_for_everyone()
    ckpts = sorted(d.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    if ckpts:
        if state is None or state.is_main_process:
            print(f"resuming from {ckpts[-1]}")
        return str(ckpts[-1])
    return None


def finished(resume: str | None) -> dict | None:
    """The trainer state of ``resume`` when that checkpoint already reached its run's last
    step (a rerun after the outputs were lost), else None. Resuming a finished checkpoint
    would make the Trainer take one step more than ``max_steps``."""
    if resume is None:
        return None
    state = json.loads((Path(resume) / "trainer_state.json").read_text())
    return state if state["global_step"] >= state["max_steps"] else None


def _train_and_save(trainer, resume: str | None, tokenizer, out: str) -> dict:
    """Train (resuming from ``resume``), then write the model and tokenizer atomically to
    ``out``. With several processes every one trains and takes part in ``save_model`` (FSDP
    and ZeRO-3 gather the sharded weights there); the main process alone writes ``out``."""
    main = trainer.is_world_process_zero()
    done = finished(resume)
    if done:
        if main:
            print(f"{resume} is the last step of this run: saving it without training")
            for cb in trainer.callback_handler.callbacks:
                if hasattr(cb, "replay"):
                    cb.replay(done["log_history"])
        ema = Path(resume) / "ema.pt"
        if ema.is_file():   # grpo.ema_decay: the run's model is the average, not the checkpoint's weights
            import torch

            load_trainable(trainer.model, torch.load(ema, map_location="cpu"))
            _save(trainer, tokenizer, out)
        elif main:
            weights = ("config.json", "generation_config.json", "adapter_config.json", "*.safetensors")
            with io.atomic_dir(out) as tmp:
                for pattern in weights:
                    for f in Path(resume).glob(pattern):
                        shutil.copy2(f, tmp / f.name)
                tokenizer.save_pretrained(str(tmp))
        trainer.accelerator.wait_for_everyone()
        losses = [h["loss"] for h in done["log_history"] if "loss" in h]  # last logged loss
        return {"train_loss": losses[-1] if losses else None, "steps": done["global_step"]}
    result = trainer.train(resume_from_checkpoint=resume)
    _save(trainer, tokenizer, out)
    return {"train_loss": result.training_loss, "steps": result.global_step}


def _save(trainer, tokenizer, out: str) -> None:
    """``trainer.save_model`` (collective) into one temp dir that every process names alike,
    renamed to ``out`` by the main process."""
    main = trainer.is_world_process_zero()
    tmp = Path(out).parent / f".{Path(out).name}.saving"
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    try:
        trainer.save_model(str(tmp))
        trainer.accelerator.wait_for_everyone()
        if main:
            tokenizer.save_pretrained(str(tmp))
            with io.atomic_dir(out) as final:
                final.rmdir()
                tmp.rename(final)
    finally:
        if main:
            shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()


def world_size() -> int:
    """Processes of this run, from the launcher's environment (torch.distributed.run,
    DeepSpeed, MPI); 1 when run as plain ``python``."""
    for var in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 1


def per_device(total: int, key: str) -> int:
    """``total`` (a per-optimizer-step batch from params) split evenly over the processes:
    the training recipe stays the same whatever ``launch.num_processes`` is."""
    n = world_size()
    if total % n:
        raise TunepipeError(f"{key}: {total} does not split evenly over {n} processes (launch.num_processes)")
    return total // n


def _common(a, out: Path, seed: int) -> dict:
    import torch

    dt = models.torch_dtype(a.dtype)
    return dict(
        output_dir=str(out),
        seed=seed,
        learning_rate=a.learning_rate,
        lr_scheduler_type=a.lr_scheduler,
        warmup_steps=a.warmup_ratio,
        max_grad_norm=a.max_grad_norm,
        max_steps=a.max_steps,
        logging_steps=a.logging_steps,
        save_strategy="steps" if a.save_steps > 0 else "no",
        save_steps=max(a.save_steps, 1),
        save_total_limit=2,
        activation_checkpointing=a.activation_checkpointing,
        bf16=dt == torch.bfloat16,
        fp16=dt == torch.float16,
        report_to="none",
        disable_tqdm=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),   # pinning only helps host->GPU copies (and warns without one)
    )


def _peft_config(lora: LoraArgs):
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )


def sft_examples(rows: list[dict]) -> list[dict]:
    """The SFT examples of the rows, one per row: ``{"task", "segments": [(text, is_target),
    ...]}``, the prompt (context) then the completion (target). An environment row's expert
    episode (``sft_turns``) is ONE example: every model turn a target, the environment's
    observations context, the text exactly as :mod:`tunepipe.episodes` builds it at rollout.
    So the episode's prefix is computed once, not once per turn. Environment instances
    without an expert episode (a real server's: ``turns`` null) are skipped."""
    out = []
    for r in rows:
        if "sft_turns" in r and r.get("turns") is None:
            continue
        segments = [(r["prompt_text"], False), (r["completion_text"], True)]
        so_far = r["prompt_text"] + r["completion_text"]
        for prompt, completion in r.get("sft_turns") or []:
            if not prompt.startswith(so_far):
                raise TunepipeError(f"{r.get('id', '?')}: an expert turn's prompt does not extend the episode "
                                    f"so far (sft_turns out of step with prompt_text): rerun harmony_convert")
            segments += [(prompt[len(so_far):], False), (completion, True)]
            so_far = prompt + completion
        out.append({"task": r.get("task"), "segments": segments})
    return out


def tokenize_examples(examples: list[dict], tokenizer) -> dict[str, list[list[int]]]:
    """``input_ids`` and ``completion_mask`` (1: a target token) of :func:`sft_examples`,
    each segment tokenized on its own (no special tokens added) and concatenated, as the
    model sees its prompt and turns at generation time. A target not ending in the eos
    token gets it appended, as TRL does to a completion."""
    eos = tokenizer.eos_token
    ids_all, masks = [], []
    for ex in examples:
        ids, mask = [], []
        for text, target in ex["segments"]:
            if target and eos and not text.endswith(eos):
                text += eos
            t = tokenizer(text, add_special_tokens=False)["input_ids"]
            ids += t
            mask += [int(target)] * len(t)
        ids_all.append(ids)
        masks.append(mask)
    return {"input_ids": ids_all, "completion_mask": masks}


def oversample(rows: list[dict], times: dict[str, int] | None) -> list[dict]:
    """Each row of a task in ``times`` repeated that many times (the others once), order kept.
    A task with no row is an error: a misspelt name would silently change nothing."""
    if not times:
        return rows
    missing = sorted(set(times) - {r.get("task") for r in rows})
    if missing:
        raise TunepipeError(f"sft.oversample: no train rows of task(s) {', '.join(missing)}")
    return [r for r in rows for _ in range(times.get(r.get("task"), 1))]


def micro_batch(a: SFTArgs) -> int:
    """Rows per process per micro-batch: ``sft.batch_size`` rows per optimizer step over all
    processes, in ``micro_batches`` micro-batches (the step's gradient is still that of the
    whole batch: the loss is normalised over all its target tokens)."""
    per = per_device(a.batch_size, "sft.batch_size")
    if per % a.micro_batches:
        raise TunepipeError(f"sft.batch_size: {per} rows per process do not split into sft.micro_batches="
                            f"{a.micro_batches} micro-batches")
    return per // a.micro_batches


def _seeded_sampler_sft():
    from transformers.trainer_pt_utils import BatchRebalanceSampler
    from trl import SFTTrainer

    class TrainerEpochSampler(BatchRebalanceSampler):
        """Shuffles by the trainer's epoch. The Trainer's ``set_epoch`` does not reach a batch
        sampler under accelerate's shard and skip wrappers, which a resumed multi-process run
        has, so that run would replay epoch 0's order in a later epoch."""

        def __iter__(self):
            self.epoch = self.trainer_epoch()
            return super().__iter__()

    class SeededSamplerSFT(SFTTrainer):
        """transformers' BatchRebalanceSampler shuffles with a fixed seed (42); ours follows
        ``base.seed`` like the random sampler does, so two seeds see different batches."""

        def _get_train_sampler(self, *a, **kw):
            sampler = super()._get_train_sampler(*a, **kw)
            if isinstance(sampler, BatchRebalanceSampler):
                sampler.__class__ = TrainerEpochSampler
                sampler.seed = self.args.seed
                sampler.trainer_epoch = lambda: int(self.state.epoch + 1e-9) if self.state.epoch else 0
            return sampler

    return SeededSamplerSFT


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


def sft(a: SFTArgs, *, data: str, base: str, out: str, ckpt_dir: str, live_dir: str, seed: int,
        callbacks: tuple = ()) -> dict:
    """Supervised fine-tuning on ``prompt_text`` -> ``completion_text`` (loss on the completion;
    an environment row's whole expert episode, loss on every model turn: :func:`sft_examples`).
    ``callbacks``: more transformers ``TrainerCallback``s."""
    import random

    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig

    _SeededSamplerSFT = _seeded_sampler_sft()
    rows = sft_examples(io.read_jsonl(data, required=("prompt_text", "completion_text")))
    if not rows:
        raise TunepipeError(f"{data}: no training rows")
    score_target_positions_only()
    set_seed(seed)
    rng = random.Random(seed)
    rows = rows[:]
    rng.shuffle(rows)
    n_eval = int(len(rows) * a.eval_fraction)
    tokenizer = models.load_tokenizer(base)
    to_ds = lambda rs: Dataset.from_dict(tokenize_examples(rs, tokenizer))
    train = oversample(rows[n_eval:], a.oversample)   # after the eval carve: no row on both sides
    train_ds, eval_ds = to_ds(train), (to_ds(rows[:n_eval]) if n_eval else None)
    fp = fingerprint(asdict(a), seed, Path(data), Path(base) / "config.json")
    cfg = SFTConfig(
        **{**_common(a, Path(ckpt_dir), seed),
           "max_steps": a.max_steps if a.max_steps > 0 else -1},   # <= 0: sft.epochs decides (transformers: 0 steps)
        num_train_epochs=a.epochs,
        per_device_train_batch_size=micro_batch(a),
        per_device_eval_batch_size=max(1, a.batch_size // world_size()),
        gradient_accumulation_steps=a.grad_accum * a.micro_batches,
        weight_decay=a.weight_decay,
        max_length=a.max_length,
        completion_only_loss=True,
        train_sampling_strategy=("batch_rebalance" if a.micro_batches > 1 else
                                 "group_by_length" if a.group_by_length else "random"),
        eval_strategy="steps" if eval_ds is not None and a.eval_steps > 0 else "no",
        eval_steps=max(a.eval_steps, 1),
    )
    resume = prepare_checkpoints(ckpt_dir, fp, cfg.distributed_state)
    model = models.load_model(base, dtype=a.dtype)   # after the config: ZeRO-3 loads it sharded
    trainer = _SeededSamplerSFT(
        model=model,
        args=cfg,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=_peft_config(a.lora) if a.lora.enabled else None,
        callbacks=[LiveCallback(live_dir, resume=resume is not None), *callbacks],
    )
    return _train_and_save(trainer, resume, tokenizer, out)


LOG_COLUMNS = ["call", "task", "prompt", "completion", "parsed", "reward", "invalid", "error"]


def reward_function(name: str, partial_weight: float, log: list, decode=None):
    """The GRPO reward: the task's own scorer (``strict``: the evaluator's scorer), optionally
    plus one of the family's training-only shaping terms (``strict+<term>``, e.g.
    ``strict+partial``: SAT's share of satisfied clauses) weighted by ``partial_weight``.
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
                    out[i] += partial_weight * float(family.shaping[term](tasks.response_text(completion, family.reads), s))
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
    i.e. no penalty at all for invalid output (FACTS.md). ``primary``: the
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


def trainable(model) -> dict:
    """The parameters an optimizer step changes, by name."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model, values: dict) -> None:
    import torch

    with torch.no_grad():
        for n, p in trainable(model).items():
            p.copy_(values[n])


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


def _grpo_trainer(rows: bool, shared_prefix: bool, greedy_in_group: bool = False):
    """GRPOTrainer, with ``rows``: the batch's rows kept where :func:`rollout_function` finds
    them (TRL passes the prompts only); with ``shared_prefix``: each group's prompt runs once
    in generation and in the loss (:mod:`tunepipe.prefix`), where TRL's path allows it."""
    from trl import GRPOTrainer

    if not rows and not shared_prefix and not greedy_in_group:
        return GRPOTrainer

    class _Trainer(GRPOTrainer):
        def _generate_and_score_completions(self, inputs):
            self.tunepipe_inputs = inputs
            return super()._generate_and_score_completions(inputs)

        def _shared_prefix_ok(self) -> bool:
            from accelerate.utils import DistributedType

            return (shared_prefix and not self.use_vllm and not self.is_deepspeed_enabled
                    and not self.is_fsdp_enabled
                    and self.accelerator.distributed_type in (DistributedType.NO, DistributedType.MULTI_CPU,
                                                              DistributedType.MULTI_GPU)
                    and not self.args.activation_checkpointing)   # a checkpointed layer would fill the cache twice

        def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations,
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


def grpo(a: GRPOArgs, *, data: str, init: str, out: str, ckpt_dir: str, live_dir: str, completions_csv: str, seed: int,
         callbacks: tuple = ()) -> dict:
    """GRPO from the SFT model, rewarded by the task scorers (the evaluator's scorers).
    ``callbacks``: more transformers ``TrainerCallback``s (benchmarks/sat_recipe.py's
    checkpoint trajectory)."""
    from datasets import Dataset
    from transformers import set_seed
    from trl import GRPOConfig

    if a.greedy_in_group and (not a.shared_prefix or a.use_vllm):
        raise TunepipeError("grpo.greedy_in_group needs grpo.shared_prefix: true and grpo.use_vllm: false")
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
    cfg = GRPOConfig(
        **_common(a, Path(ckpt_dir), seed),
        per_device_train_batch_size=per_device(a.prompts_per_step * a.num_generations,
                                               "grpo.prompts_per_step x grpo.num_generations"),
        num_generations=a.num_generations,
        max_completion_length=a.max_completion_length,
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
    trainer = _grpo_trainer(multi, a.shared_prefix, a.greedy_in_group)(
        model=model,
        reward_funcs=[primary := reward_function(a.reward, a.partial_weight, log, decode=completion_decoder(model, tokenizer))]
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
