"""Tiny 2-step SFT (full and LoRA) and GRPO runs through the real training glue: the
weights must change, outputs must load, and an interrupted run resumes."""
import importlib
from pathlib import Path

import pytest
import torch

from tunepipe.episodes import EpisodeArgs
from tunepipe import TunepipeError, io, models, training

#: the module behind training.grpo (the package's ``grpo`` attribute is the function): patch names here
GRPO_MODULE = importlib.import_module("tunepipe.training.grpo")


def sft_args(**kw):
    lora = training.LoraArgs(enabled=kw.pop("lora", False), r=4, alpha=8, dropout=0.0, target_modules="all-linear")
    base = dict(max_steps=2, num_train_epochs=1.0, batch_size=8, grad_accum=1, learning_rate=1e-2,
                lr_scheduler_type="constant", warmup_steps=0.0, weight_decay=0.0, max_grad_norm=1.0, max_length=256, eval_fraction=0.25,
                eval_steps=1, logging_steps=1, save_steps=1, activation_checkpointing=False, group_by_length=False, micro_batches=1, oversample=None, dtype="float32", lora=lora)
    base.update(kw)
    return training.SFTArgs(**base)


def grpo_args(**kw):
    base = dict(max_steps=2, num_train_epochs=1.0, prompts_per_step=2, grad_accum=1, num_generations=4, max_completion_length=8, learning_rate=1e-2,
                lr_scheduler_type="constant", warmup_steps=0.0, max_grad_norm=1.0, beta=0.0, epsilon=0.2,
                loss_type="dapo", scale_rewards="group", temperature=1.0, num_iterations=1,
                mask_truncated_completions=False, reward="strict+partial", invalid_penalty=0.0,
                logging_steps=1,
                save_steps=0, activation_checkpointing=False, dtype="float32", use_vllm=False, vllm_mode="colocate",
                tasks=None, episode=EpisodeArgs(turn_tokens=24, max_length=None))
    base.update(kw)
    return training.GRPOArgs(**base)


def reward_length(monkeypatch) -> None:
    """A random-init model never writes a parseable answer, so every group would score the same
    and GRPO's advantages would be zero: add a length bonus to the real reward."""
    real = training.reward_function

    def varied(name, log, **kw):
        fn = real(name, log, **kw)
        return lambda prompts, completions, **k: [r + 0.1 * len(c) for r, c in zip(fn(prompts, completions, **k),
                                                                                    completions)]

    monkeypatch.setattr(GRPO_MODULE, "reward_function", varied)


def weights(path) -> dict:
    m = models.load_model(path, dtype="float32")
    if models.is_adapter(path):
        m = m.merge_and_unload()
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def changed(a: dict, b: dict) -> int:
    return sum(not torch.equal(a[k], b[k]) for k in a)


def test_sft_full_changes_weights_and_logs(tiny_model, tmp_path):
    out, live = tmp_path / "sft", tmp_path / "live"
    res = training.sft(sft_args(), data=str(tiny_model / "train.jsonl"), base=str(tiny_model / "base"),
                       out=str(out), ckpt_dir=str(tmp_path / "ckpt"), live_dir=str(live), seed=0)
    assert res["steps"] == 2
    assert changed(weights(tiny_model / "base"), weights(out)) > 0
    assert (live / "metrics.json").is_file() and any((live / "plots" / "metrics").glob("*.tsv"))
    assert (out / "tokenizer.json").is_file()


def test_sft_lora_writes_an_adapter_that_changes_the_model(tiny_model, tmp_path):
    out = tmp_path / "sft"
    training.sft(sft_args(lora=True), data=str(tiny_model / "train.jsonl"), base=str(tiny_model / "base"),
                 out=str(out), ckpt_dir=str(tmp_path / "ckpt"), live_dir=str(tmp_path / "live"), seed=0)
    assert models.is_adapter(out)
    assert changed(weights(tiny_model / "base"), weights(out)) > 0


@pytest.mark.parametrize("group", [False, True])
def test_sft_group_by_length_picks_the_length_grouped_sampler(tiny_model, tmp_path, monkeypatch, group):
    from transformers import Trainer
    from transformers.trainer_pt_utils import LengthGroupedSampler

    seen = []
    orig = Trainer._get_train_sampler

    def spy(self, *a, **kw):
        seen.append(orig(self, *a, **kw))
        return seen[-1]

    monkeypatch.setattr(Trainer, "_get_train_sampler", spy)
    training.sft(sft_args(group_by_length=group, save_steps=0, eval_fraction=0.0),
                 data=str(tiny_model / "train.jsonl"), base=str(tiny_model / "base"), out=str(tmp_path / "sft"),
                 ckpt_dir=str(tmp_path / "ckpt"), live_dir=str(tmp_path / "live"), seed=0)
    assert seen and isinstance(seen[0], LengthGroupedSampler) == group


def test_sft_micro_batches_keep_the_whole_batch_gradient(tiny_model, tmp_path):
    """sft.micro_batches splits a step's rows into micro-batches of similar length (less
    padding); the step's gradient must stay that of the whole batch."""
    from transformers import TrainerCallback

    rows = io.read_jsonl(tiny_model / "train.jsonl")
    short = "<|start|>user<|message|>x1<|end|><|start|>assistant"
    rows = [dict(r, prompt_text=short) if i % 3 == 0 else r for i, r in enumerate(rows)]   # lengths vary
    io.write_jsonl(tmp_path / "train.jsonl", rows)

    class Grab(TrainerCallback):
        subs = 0

        def on_substep_end(self, *a, **kw):   # a micro-batch before the step's last
            self.subs += 1

        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            self.grad = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).clone()

    grads = {}
    for micro in (1, 4):
        grab = Grab()
        training.sft(sft_args(batch_size=len(rows), max_steps=1, micro_batches=micro, eval_fraction=0.0, save_steps=0),
                     data=str(tmp_path / "train.jsonl"), base=str(tiny_model / "base"), out=str(tmp_path / f"o{micro}"),
                     ckpt_dir=str(tmp_path / f"c{micro}"), live_dir=str(tmp_path / f"l{micro}"), seed=0, callbacks=(grab,))
        grads[micro] = grab.grad
        assert grab.subs == micro - 1
    assert torch.allclose(grads[1], grads[4], rtol=1e-4, atol=1e-7)
    with pytest.raises(TunepipeError, match="do not split into sft.micro_batches=3"):
        training.micro_batch(sft_args(batch_size=8, micro_batches=3))
    with pytest.raises(ValueError, match="micro_batches > 1 and group_by_length"):
        sft_args(micro_batches=2, group_by_length=True)


def test_sft_resumes_from_its_checkpoint_and_restarts_on_new_params(tiny_model, tmp_path, capsys):
    import shutil

    kw = dict(data=str(tiny_model / "train.jsonl"), base=str(tiny_model / "base"), out=str(tmp_path / "sft"),
              ckpt_dir=str(tmp_path / "ckpt"), live_dir=str(tmp_path / "live"), seed=0)
    training.sft(sft_args(max_steps=2), **kw)
    assert (tmp_path / "ckpt" / "checkpoint-2").is_dir()
    final = weights(tmp_path / "sft")
    # interrupted after step 1: the rerun continues from checkpoint-1 and ends at step 2
    shutil.rmtree(tmp_path / "ckpt" / "checkpoint-2")
    shutil.rmtree(tmp_path / "sft")
    capsys.readouterr()
    res = training.sft(sft_args(max_steps=2), **kw)
    assert "resuming from" in capsys.readouterr().out and res["steps"] == 2
    # outputs lost after a finished run: the last checkpoint is saved as is, no extra step, and
    # its logged curves are written again (DVC declares them as outputs)
    shutil.rmtree(tmp_path / "sft")
    shutil.rmtree(tmp_path / "live")
    res = training.sft(sft_args(max_steps=2), **kw)
    assert "without training" in capsys.readouterr().out and res["steps"] == 2
    assert (tmp_path / "live" / "metrics.json").is_file() and any((tmp_path / "live" / "plots" / "metrics").glob("*.tsv"))
    assert isinstance(res["train_loss"], float)
    assert changed(final, weights(tmp_path / "sft")) == 0
    # different params: old checkpoints are not reused
    training.sft(sft_args(max_steps=2, learning_rate=5e-3), **kw)
    assert "resuming from" not in capsys.readouterr().out
    # different code (DVC reruns the stage when a dep changes): neither
    fp = training.fingerprint("x")
    monkey = pytest.MonkeyPatch()
    monkey.setattr(Path, "read_bytes", lambda self, _r=Path.read_bytes: _r(self) + (b"#" if self.name == "prefix.py" else b""))
    try:
        assert training.fingerprint("x") != fp
    finally:
        monkey.undo()
    assert training.fingerprint("x") == fp


def test_grpo_changes_weights_and_logs_completions(tiny_model, tmp_path, monkeypatch):
    reward_length(monkeypatch)
    out, csv_path = tmp_path / "grpo", tmp_path / "completions.csv"
    from transformers import TrainerCallback

    seen = []

    class Steps(TrainerCallback):   # extra callbacks (benchmarks/sat_recipe.py --every) see every step
        def on_step_end(self, args, state, control, model=None, **kw):
            seen.append((state.global_step, model is not None))

    res = training.grpo(grpo_args(), data=str(tiny_model / "train.jsonl"), init=str(tiny_model / "base"),
                        out=str(out), ckpt_dir=str(tmp_path / "ckpt"), live_dir=str(tmp_path / "live"),
                        completions_csv=str(csv_path), seed=0, callbacks=(Steps(),))
    assert res["steps"] == 2 and seen == [(1, True), (2, True)]
    assert changed(weights(tiny_model / "base"), weights(out)) > 0
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "call,task,prompt,completion,parsed,reward,invalid,error" and len(lines) > 8


def test_reward_function_uses_the_task_scorer():
    import json

    log = []
    fn = training.reward_function("strict", log)
    spec = json.dumps({"n_vars": 2, "clauses": [[1], [-2]]})
    out = fn(["p", "p"], ["x1=True, x2=False", "x1=False"], task=["sat", "sat"], spec=[spec, spec])
    assert out == [1.0, 0.0] and len(log) == 2
    with pytest.raises(Exception, match="grpo.reward"):
        training.reward_function("bogus", [])


def test_grpo_reward_scores_what_evaluate_decodes(tiny_model):
    """TRL hands reward functions completions with special tokens dropped (Harmony's
    `<|channel|>final<|message|>` turns into a bare `final`); the reward decodes the
    completion ids as evaluate does instead, so both score the same text."""
    import json

    tok = models.load_tokenizer(tiny_model / "base")
    model = models.load_model(tiny_model / "base", dtype="float32")
    text = "<|channel|>final<|message|>x1=True<|return|>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    stripped = tok.decode(ids, skip_special_tokens=True)
    assert "<|channel|>" not in stripped                      # what TRL's `completions` holds
    log = []
    fn = training.reward_function("strict", log, decode=training.completion_decoder(model, tok))
    spec = json.dumps({"n_vars": 1, "clauses": [[1]]})
    assert fn(["p"], [stripped], task=["sat"], spec=[spec], completion_ids=[ids]) == [1.0]
    assert log[0][3] == "<|channel|>final<|message|>x1=True"  # scored and logged: specials kept, cut at eos


def test_oversample_repeats_the_named_tasks_rows_and_whole_episodes():
    rows = training.sft_examples([
        {"task": "sat", "prompt_text": "p", "completion_text": "c"},
        {"task": "textcraft", "prompt_text": "p0", "completion_text": "c0", "turns": [{}],
         "sft_turns": [["p0c0o1", "c1"]]},
    ])
    out = training.oversample(rows, {"textcraft": 3})
    assert [r["task"] for r in out] == ["sat", "textcraft", "textcraft", "textcraft"]
    assert out[1]["segments"] == [("p0", False), ("c0", True), ("o1", False), ("c1", True)]
    assert training.oversample(rows, None) is rows
    with pytest.raises(TunepipeError, match="sft.oversample: no train rows of task.s. crafts"):
        training.oversample(rows, {"crafts": 2})
    assert [r["task"] for r in training.oversample(rows, {"babyai": 2, "textcraft": 2})] == \
        ["sat", "textcraft", "textcraft"]                  # a family without rows here is skipped


@pytest.mark.parametrize("bad", [0, 1.5, True, "2"])
def test_oversample_counts_are_whole_numbers_from_params(bad):
    from tunepipe import config

    section = {**vars(sft_args()), "lora": vars(sft_args().lora), "oversample": {"textcraft": bad}}
    with pytest.raises(TunepipeError, match="sft"):
        config.typed(training.SFTArgs, section, "sft")


def test_scoring_target_positions_only_gives_trls_numbers(tiny_model, monkeypatch):
    """training.score_target_positions_only: TRL's fused LM head scores only labelled positions
    on the CPU too; log-probabilities, entropies, top-1 flags and gradients are unchanged."""
    import trl.trainer.utils as tu
    from trl.trainer.utils import add_fused_lm_head

    model = models.load_model(tiny_model / "base", dtype="float32")
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 250, (4, 20), generator=g)
    labels = ids.clone()
    labels[:, :14] = -100
    labels[0, 18:] = -100
    # TRL's own decision, whether or not an earlier test in this process patched it (restored after)
    monkeypatch.setattr(tu, "_use_triton", getattr(tu._use_triton, "original", tu._use_triton))
    got = []
    for patched in (False, True):
        if patched:
            training.score_target_positions_only()
            training.score_target_positions_only()            # idempotent
        assert tu._use_triton(torch.device("cpu")) is patched
        model.zero_grad()
        out = model(input_ids=ids, labels=labels, fused_lm_head=True)
        out.log_probs.sum().backward()
        got.append((out.log_probs.detach(), out.entropy.detach(), out.is_top1,
                    [p.grad.clone() for p in model.parameters()]))
    (a, ea, ta, ga), (b, eb, tb, gb) = got
    assert torch.allclose(a, b, atol=1e-6) and torch.allclose(ea, eb, atol=1e-6) and torch.equal(ta, tb)
    assert a[:, :13].abs().sum() == 0 and a[:, 13:].abs().sum() > 0
    for x, y in zip(ga, gb):
        assert torch.allclose(x, y, atol=1e-6)


def test_grpo_ema_saves_the_moving_average_of_the_weights(tiny_model, tmp_path, monkeypatch):
    """grpo.ema_decay: the saved model is the exponential moving average over the steps."""
    reward_length(monkeypatch)
    from transformers import TrainerCallback

    seen = []

    class Grab(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kw):
            seen.append({n: p.detach().clone() for n, p in model.named_parameters()})

    kw = dict(data=str(tiny_model / "train.jsonl"), init=str(tiny_model / "base"), out=str(tmp_path / "grpo"),
              ckpt_dir=str(tmp_path / "ckpt"), live_dir=str(tmp_path / "live"), completions_csv=str(tmp_path / "c.csv"),
              seed=0)
    training.grpo(grpo_args(ema_decay=0.5, learning_rate=1e-2, save_steps=1), callbacks=(Grab(),), **kw)
    w0, saved = weights(tiny_model / "base"), weights(tmp_path / "grpo")
    assert len(seen) == 2
    moved = 0
    for n, p in seen[1].items():
        want = 0.25 * w0[n] + 0.25 * seen[0][n] + 0.5 * p
        assert torch.allclose(saved[n], want, atol=1e-6), n
        moved += not torch.allclose(saved[n], p)
    assert moved > 0
    # outputs lost after the run: the finished checkpoint's average is saved, not its last weights
    import shutil

    shutil.rmtree(tmp_path / "grpo")
    training.grpo(grpo_args(ema_decay=0.5, learning_rate=1e-2, save_steps=1), **kw)
    again = weights(tmp_path / "grpo")
    for n in saved:
        assert torch.allclose(again[n], saved[n], atol=1e-6), n


def test_sft_max_steps_zero_lets_num_train_epochs_decide(tiny_model, tmp_path):
    """sft.max_steps <= 0: sft.num_train_epochs sets the length (transformers alone would train 0 steps)."""
    res = training.sft(sft_args(max_steps=0, num_train_epochs=2.0, save_steps=0), data=str(tiny_model / "train.jsonl"),
                       base=str(tiny_model / "base"), out=str(tmp_path / "sft"), ckpt_dir=str(tmp_path / "ckpt"),
                       live_dir=str(tmp_path / "live"), seed=0)
    assert res["steps"] == 6          # 32 rows, 8 held out for eval: 24 / 8 per step x 2 epochs


def test_grpo_grad_accum_and_epochs_reach_the_config(tmp_path):
    """grpo.grad_accum batches of prompts_per_step prompts per optimizer step (BLEUBERI: 8 per device x 4
    accumulation); grpo.max_steps <= 0 lets grpo.num_train_epochs decide, as in sft."""
    cfg = training.grpo_config(grpo_args(prompts_per_step=2, num_generations=4, grad_accum=4), ckpt_dir=str(tmp_path),
                               seed=0)
    assert (cfg.per_device_train_batch_size, cfg.gradient_accumulation_steps, cfg.max_steps) == (8, 4, 2)
    cfg = training.grpo_config(grpo_args(max_steps=0, num_train_epochs=1.0), ckpt_dir=str(tmp_path), seed=0)
    assert (cfg.max_steps, cfg.num_train_epochs) == (-1, 1.0)
    with pytest.raises(TunepipeError, match="grpo.grad_accum"):
        training.grpo_config(grpo_args(grad_accum=0), ckpt_dir=str(tmp_path), seed=0)


def test_shared_prefix_needs_the_trl_its_overrides_were_tested_with(tiny_model, tmp_path, monkeypatch):
    """grpo.shared_prefix overrides private GRPOTrainer methods: another TRL is a one-line error
    before any work; TRL's own path (shared_prefix: false) runs with any TRL."""
    import trl
    from trl import GRPOTrainer

    from tunepipe.training import trl_overrides

    assert trl.__version__ in trl_overrides.TESTED_TRL   # the installed TRL is the tested one
    monkeypatch.setattr(trl, "__version__", "9.9.9")
    kw = dict(data=str(tiny_model / "train.jsonl"), init=str(tiny_model / "base"), out=str(tmp_path / "grpo"),
              ckpt_dir=str(tmp_path / "ckpt"), live_dir=str(tmp_path / "live"),
              completions_csv=str(tmp_path / "c.csv"), seed=0)
    with pytest.raises(TunepipeError) as e:
        training.grpo(grpo_args(), **kw)
    msg = str(e.value)
    assert "\n" not in msg and "trl 9.9.9" in msg and f"pin trl=={trl_overrides.TESTED_TRL[-1]}" in msg
    assert "grpo.shared_prefix: false" in msg
    assert not (tmp_path / "ckpt").exists()             # failed before any work
    with pytest.raises(TunepipeError, match="trl 9.9.9"):
        trl_overrides._grpo_trainer(rows=False, shared_prefix=True)
    assert trl_overrides._grpo_trainer(rows=False, shared_prefix=False) is GRPOTrainer


def test_trl_passthrough_reaches_the_config_and_checks_names(tmp_path):
    """sft.trl / grpo.trl: further SFTConfig / GRPOConfig fields, checked against TRL's own
    dataclass fields; a field tunepipe sets from one of our keys is an error naming that key."""
    from trl import GRPOConfig, SFTConfig

    cfg = training.grpo_config(grpo_args(trl={"top_p": 0.9}), ckpt_dir=str(tmp_path), seed=0)
    assert isinstance(cfg, GRPOConfig) and cfg.top_p == 0.9 and cfg.temperature == 1.0
    assert training.grpo_config(grpo_args(), ckpt_dir=str(tmp_path), seed=0).top_p == 1.0   # TRL's default
    cfg = training.sft_config(sft_args(trl={"adam_beta2": 0.95}), ckpt_dir=str(tmp_path), seed=0, evaluate=False)
    assert isinstance(cfg, SFTConfig) and cfg.adam_beta2 == 0.95 and cfg.learning_rate == 1e-2
    with pytest.raises(TunepipeError) as e:
        training.grpo_trl_kwargs(grpo_args(trl={"loss_typ": "grpo"}), where="params.yaml")
    assert str(e.value) == "params.yaml: grpo.trl.loss_typ: not a GRPOConfig field; did you mean loss_type?"
    with pytest.raises(TunepipeError, match=r"^sft\.trl\.zzz: not a SFTConfig field$"):
        training.sft_config(sft_args(trl={"zzz": 1}), ckpt_dir=str(tmp_path), seed=0, evaluate=False)
    # one source of truth: our keys' fields (TRL's names or not) and the fields tunepipe fixes
    for section, args, field, needle in [
            ("grpo", grpo_args, "temperature", "set from grpo.temperature"),
            ("grpo", grpo_args, "per_device_train_batch_size", "grpo.prompts_per_step and grpo.num_generations"),
            ("sft", sft_args, "gradient_accumulation_steps", "sft.grad_accum and sft.micro_batches"),
            ("sft", sft_args, "gradient_checkpointing", "set from sft.activation_checkpointing"),
            ("sft", sft_args, "seed", "set from base.seed"),
            ("sft", sft_args, "report_to", "tunepipe sets report_to itself")]:
        check = training.grpo_trl_kwargs if section == "grpo" else training.sft_trl_kwargs
        with pytest.raises(TunepipeError, match=rf"^{section}\.trl\.{field}: .*{needle}"):
            check(args(trl={field: 1}))
    # TRL's own rejection of a value passed through: one line naming the section's trl
    with pytest.raises(TunepipeError, match=r"^grpo\.trl: GRPOConfig rejected"):
        training.grpo_config(grpo_args(trl={"steps_per_generation": 3, "generation_batch_size": 5}),
                             ckpt_dir=str(tmp_path), seed=0)


@pytest.mark.parametrize("section", ["sft", "grpo"])
def test_trl_sources_name_every_field_tunepipe_sets(section, tmp_path, monkeypatch):
    """The map behind the one-source-of-truth error covers every field our builders set."""
    mod = importlib.import_module(f"tunepipe.training.{section}")
    seen = {}
    monkeypatch.setattr(mod, "build_config", lambda cls, sec, ours, extra: seen.update(ours))
    if section == "sft":
        training.sft_config(sft_args(), ckpt_dir=str(tmp_path), seed=0, evaluate=True)
    else:
        training.grpo_config(grpo_args(), ckpt_dir=str(tmp_path), seed=0)
    sources = getattr(mod, f"{section.upper()}_SOURCES")
    assert seen and set(seen) <= set(sources), set(seen) - set(sources)
    assert set(sources) - set(seen) == {"gradient_checkpointing"}   # transformers 5's alias of activation_checkpointing
