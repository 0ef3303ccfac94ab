"""SFT: TRL SFTTrainer configured from the ``sft`` params (:func:`sft`, the stage's work)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunepipe import TunepipeError, io, models
from tunepipe.training.common import COMMON_SOURCES, LiveCallback, _common, _train_and_save, build_config, \
    fingerprint, per_device, prepare_checkpoints, trl_kwargs, world_size
from tunepipe.training.trl_overrides import score_target_positions_only


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
    num_train_epochs: float
    batch_size: int
    grad_accum: int
    learning_rate: float
    lr_scheduler_type: str
    warmup_steps: float              # < 1: a share of the steps, >= 1: a number of steps (TrainingArguments)
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
    # further SFTConfig fields, passed straight through (checked against TRL's: :func:`sft_trl_kwargs`)
    trl: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for task, n in (self.oversample or {}).items():
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"oversample.{task}: expected a whole number >= 1, got {n!r}")
        if self.micro_batches < 1:
            raise ValueError(f"micro_batches: expected a whole number >= 1, got {self.micro_batches}")
        if self.micro_batches > 1 and self.group_by_length:
            raise ValueError("micro_batches > 1 and group_by_length both pick the sampler: set one of them")


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
    A name with no row that is no task family is an error (a misspelt name would silently
    change nothing); a family the run holds no rows of is skipped (e.g. a recipe that leaves
    out the default's environments)."""
    if not times:
        return rows
    from tunepipe import tasks
    missing = sorted(set(times) - {r.get("task") for r in rows} - set(tasks.names()))
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


#: the SFTConfig fields tunepipe sets (:func:`sft_config`), and from what (see ``COMMON_SOURCES``)
SFT_SOURCES = {
    **COMMON_SOURCES,
    "num_train_epochs": "sft.num_train_epochs",
    "per_device_train_batch_size": "sft.batch_size and sft.micro_batches",
    "per_device_eval_batch_size": "sft.batch_size",
    "gradient_accumulation_steps": "sft.grad_accum and sft.micro_batches",
    "weight_decay": "sft.weight_decay",
    "max_length": "sft.max_length",
    "completion_only_loss": "(true: the loss is on the completion and the model's turns only)",
    "train_sampling_strategy": "sft.micro_batches and sft.group_by_length",
    "eval_strategy": "sft.eval_steps and sft.eval_fraction",
    "eval_steps": "sft.eval_steps",
}


def sft_trl_kwargs(a: SFTArgs, where: str | None = None) -> dict:
    """``sft.trl``, checked against SFTConfig's fields (``where``: the params file)."""
    from trl import SFTConfig

    return trl_kwargs(a.trl, "sft", SFTConfig, SFT_SOURCES, where)


def sft_config(a: SFTArgs, *, ckpt_dir: str, seed: int, evaluate: bool):
    """The run's SFTConfig: our keys' fields, then ``sft.trl``'s (``evaluate``: there is a
    validation split). Builds no model: tests read it without training."""
    from trl import SFTConfig

    ours = dict(
        **{**_common(a, Path(ckpt_dir), seed),
           "max_steps": a.max_steps if a.max_steps > 0 else -1},   # <= 0: sft.num_train_epochs decides (transformers: 0 steps)
        num_train_epochs=a.num_train_epochs,
        per_device_train_batch_size=micro_batch(a),
        per_device_eval_batch_size=max(1, a.batch_size // world_size()),
        gradient_accumulation_steps=a.grad_accum * a.micro_batches,
        weight_decay=a.weight_decay,
        max_length=a.max_length,
        completion_only_loss=True,
        train_sampling_strategy=("batch_rebalance" if a.micro_batches > 1 else
                                 "group_by_length" if a.group_by_length else "random"),
        eval_strategy="steps" if evaluate and a.eval_steps > 0 else "no",
        eval_steps=max(a.eval_steps, 1),
    )
    return build_config(SFTConfig, "sft", ours, sft_trl_kwargs(a))


def sft(a: SFTArgs, *, data: str, base: str, out: str, ckpt_dir: str, live_dir: str, seed: int,
        callbacks: tuple = ()) -> dict:
    """Supervised fine-tuning on ``prompt_text`` -> ``completion_text`` (loss on the completion;
    an environment row's whole expert episode, loss on every model turn: :func:`sft_examples`).
    ``callbacks``: more transformers ``TrainerCallback``s."""
    import random

    from datasets import Dataset
    from transformers import set_seed
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
    cfg = sft_config(a, ckpt_dir=ckpt_dir, seed=seed, evaluate=eval_ds is not None)
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
