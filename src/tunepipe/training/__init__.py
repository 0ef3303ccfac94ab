"""Training glue: TRL SFTTrainer / GRPOTrainer configured from params.

The stage scripts call :func:`sft` and :func:`grpo`; everything tunable arrives as a
typed dataclass built from ``params.yaml`` (see :mod:`tunepipe.config`).

- :mod:`.common`: what both share (TRL fields, dvclive, resume fingerprint and checkpoints, saving)
- :mod:`.sft`: the SFT examples, sampler and :func:`sft`
- :mod:`.grpo`: rewards, rollouts and :func:`grpo`
- :mod:`.trl_overrides`: whatever overrides TRL's private methods

The submodules ``sft`` and ``grpo`` are shadowed here by the functions of the same name:
reach a submodule itself with ``importlib.import_module("tunepipe.training.grpo")``.
"""
from __future__ import annotations

from tunepipe.training.common import (LiveCallback, fingerprint, finished, load_trainable, per_device,
                                      prepare_checkpoints, trainable, world_size)
from tunepipe.training.grpo import (LOG_COLUMNS, GRPOArgs, check_budgets, completion_budgets, completion_decoder,
                                    ema_callback, grpo, grpo_config, grpo_trl_kwargs, invalid_penalty_function,
                                    reward_function, rollout_function, trl_completion_length)
from tunepipe.training.sft import (LoraArgs, SFTArgs, micro_batch, oversample, sft, sft_config, sft_examples,
                                   sft_trl_kwargs, tokenize_examples)
from tunepipe.training.trl_overrides import score_target_positions_only

__all__ = ["LOG_COLUMNS", "GRPOArgs", "LiveCallback", "LoraArgs", "SFTArgs", "check_budgets", "completion_budgets",
           "completion_decoder",
           "ema_callback", "fingerprint", "finished", "grpo", "grpo_config", "grpo_trl_kwargs",
           "invalid_penalty_function", "load_trainable", "micro_batch", "oversample", "per_device",
           "prepare_checkpoints", "reward_function", "rollout_function", "score_target_positions_only", "sft",
           "sft_config", "sft_examples", "sft_trl_kwargs", "tokenize_examples", "trainable", "trl_completion_length",
           "world_size"]
