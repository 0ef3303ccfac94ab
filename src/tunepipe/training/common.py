"""What SFT and GRPO share: the TRL config fields common to both, the dvclive callback,
the resume fingerprint and checkpoints, the process count, and saving the trained model."""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

from tunepipe import TunepipeError, config, io, models
from tunepipe.io import fingerprint  # noqa: F401 (re-export: sft, grpo)


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
        lr_scheduler_type=a.lr_scheduler_type,
        warmup_steps=a.warmup_steps,
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


#: the TRL config fields :func:`_common` sets, and from what: ``{s}`` is the section (sft, grpo).
#: A source naming a params key is "ours"; one in parentheses is fixed by tunepipe.
COMMON_SOURCES = {
    "output_dir": "(the stage's --ckpt directory)",
    "seed": "base.seed",
    "learning_rate": "{s}.learning_rate",
    "lr_scheduler_type": "{s}.lr_scheduler_type",
    "warmup_steps": "{s}.warmup_steps",
    "max_grad_norm": "{s}.max_grad_norm",
    "max_steps": "{s}.max_steps",
    "logging_steps": "{s}.logging_steps",
    "save_strategy": "{s}.save_steps",
    "save_steps": "{s}.save_steps",
    "save_total_limit": "(2: the resumable checkpoints under --ckpt)",
    "activation_checkpointing": "{s}.activation_checkpointing",
    "gradient_checkpointing": "{s}.activation_checkpointing",   # transformers 5's deprecated alias
    "bf16": "{s}.dtype",
    "fp16": "{s}.dtype",
    "report_to": "(none: dvclive writes the curves)",
    "disable_tqdm": "(false)",
    "dataloader_num_workers": "(0)",
    "dataloader_pin_memory": "(on with CUDA only)",
}


def trl_kwargs(extra: dict, section: str, cfg_cls, sources: dict[str, str], where: str | None = None) -> dict:
    """``<section>.trl``: further ``cfg_cls`` (SFTConfig / GRPOConfig) fields passed straight
    through, checked against TRL's own dataclass fields. An unknown name, or a field tunepipe
    already sets (``sources``: from one of our keys, or fixed), is a one-line
    :class:`~tunepipe.TunepipeError` (``where``: the params file, its prefix). Returns them."""
    import dataclasses

    fields = sorted(f.name for f in dataclasses.fields(cfg_cls) if f.init)
    at = f"{where}: " if where else ""
    for key in extra:
        if key not in fields:
            raise TunepipeError(f"{at}{section}.trl.{key}: not a {cfg_cls.__name__} field"
                                f"{config.nearest(key, fields, list_all=False)}")
        src = sources.get(key)
        if src is not None and src.startswith("("):
            raise TunepipeError(f"{at}{section}.trl.{key}: tunepipe sets {key} itself {src}")
        if src is not None:
            src = src.format(s=section)
            raise TunepipeError(f"{at}{section}.trl.{key}: set from {src} (one source of truth): set {src} instead")
    return dict(extra)


def build_config(cfg_cls, section: str, ours: dict, extra: dict):
    """``cfg_cls(**ours, **extra)``, ``extra`` checked by :func:`trl_kwargs`; TRL's own rejection
    of a passed-through value becomes a one-line error naming ``<section>.trl``."""
    if not extra:
        return cfg_cls(**ours)
    try:
        return cfg_cls(**ours, **extra)
    except (TypeError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TunepipeError(f"{section}.trl: {cfg_cls.__name__} rejected {sorted(extra)}: {first}") from None


def trainable(model) -> dict:
    """The parameters an optimizer step changes, by name."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def load_trainable(model, values: dict) -> None:
    import torch

    with torch.no_grad():
        for n, p in trainable(model).items():
            p.copy_(values[n])
