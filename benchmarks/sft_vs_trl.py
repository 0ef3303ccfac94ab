"""SFT throughput: our sft stage (``python stages/sft.py``, what a user runs: params.yaml's sft
section, checkpoints, evaluation and dvclive as it says) against a bare TRL script
(benchmarks/bare_trl_sft.py: a plain ``SFTTrainer``, no checkpoints, no evaluation), both as
whole processes in the same invocation; then variants of ours and a profile of our steps.

    python benchmarks/sft_vs_trl.py --project /tmp/benchproj                 # 40 steps, 2 rounds
    python benchmarks/sft_vs_trl.py --project /tmp/benchproj --steps 20 --rounds 1 --json out.json

``--project`` is a pipeline built up to the reward stage (``dvc repro reward``): the runs read its
``models/base``, ``data/reward/train.jsonl`` and ``params.yaml``; ``sft.max_steps`` becomes
``--steps``. Both sides train the same model on the same rows (ours: the file shuffled with the
seed, the first ``eval_fraction`` held out; the bare script does the same) with the same batch,
learning rate, schedule, max_length, activation checkpointing (params; TRL defaults it on) and
seed, so they see the same batches and their losses
should agree. The sides alternate in ``--rounds`` rounds, so background load hits them alike.

Tokens/s: prompt+completion tokens of the rows trained -- TRL's own ``num_tokens`` (the
tokenizer's non-padding tokens of every batch trained) from the last train log, else steps x
batch x the mean over the train rows (tokenizer, plus the EOS TRL appends) -- divided by the
process's wall time (start-up, data preparation, saves included). Packing trains more tokens
per step (full 512-token sequences), which ``num_tokens`` counts. ``train s/step`` is the Trainer's own ``train_runtime`` per step.

Variants (whole processes, once each, after the rounds): ``sft.eval_steps: 0`` and
``sft.save_steps: 0`` as params overrides (``-S``), and TRL's ``padding_free`` / ``packing``
SFTConfig keys (not params: injected into the SFTConfig the stage builds); a failure is reported.
Profile: ``training.sft`` in this process, with timers around the Trainer's data loading,
collation, forward (compute_loss), backward, clipping, optimizer, logging/callbacks, evaluation
and checkpoint saves.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import benchutil as bu  # noqa: E402

# Runs a stage script with extra SFTConfig keys (JSON in BENCH_SFTCONFIG) injected.
INJECT = """
import json, os, runpy, sys, trl
extra = json.loads(os.environ["BENCH_SFTCONFIG"])
_SFTConfig = trl.SFTConfig
def SFTConfig(*a, **k):
    k.update(extra)
    return _SFTConfig(*a, **k)
trl.SFTConfig = SFTConfig
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def train_rows(project: Path, seed: int, eval_fraction: float) -> list[dict]:
    import random

    from tunepipe import io, training

    rows = training.sft_examples(io.read_jsonl(project / "data/reward/train.jsonl"))
    random.Random(seed).shuffle(rows)
    return rows[int(len(rows) * eval_fraction):]


def mean_tokens(project: Path, rows: list[dict], max_length: int) -> float:
    from tunepipe import models, training

    tok = models.load_tokenizer(project / "models/base")
    n = [min(len(ids), max_length) for ids in training.tokenize_examples(rows, tok)["input_ids"]]
    return sum(n) / len(n)


def ours_cmd(project: Path, params: Path, work: Path, inject: dict | None = None) -> list[str]:
    stage = [str(bu.REPO / "stages/sft.py"), "--params", str(params), "--data", str(project / "data/reward/train.jsonl"),
             "--base", str(project / "models/base"), "--out", str(work / "out"), "--ckpt", str(work / "ckpt"),
             "--live", str(work / "live")]
    return [bu.PY, "-c", INJECT] + stage if inject else [bu.PY] + stage


def bare_cmd(project: Path, sft: dict, steps: int, seed: int, work: Path) -> list[str]:
    return [bu.PY, str(bu.REPO / "benchmarks/bare_trl_sft.py"), "--base", str(project / "models/base"),
            "--data", str(project / "data/reward/train.jsonl"), "--steps", str(steps),
            "--batch-size", str(sft["batch_size"]), "--lr", str(float(sft["learning_rate"])),
            "--lr-scheduler", sft["lr_scheduler_type"], "--max-length", str(sft["max_length"]),
            "--eval-fraction", str(sft["eval_fraction"]), "--seed", str(seed), "--out", str(work / "out"),
            "--activation-checkpointing", str(bool(sft["activation_checkpointing"])).lower()]


def run(label: str, cmd: list[str], work: Path, cwd: Path, env_extra: dict | None = None) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    old = {k: os.environ.get(k) for k in env_extra or {}}
    os.environ.update(env_extra or {})
    try:
        wall, out, rc = bu.timed(cmd, cwd=cwd, log=work / "log.txt")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    ls = bu.losses(out)
    res = {"label": label, "wall_s": wall, "rc": rc, "last_loss": ls[-1] if ls else None,
           "train_runtime_s": bu.train_runtime(out),
           "num_tokens": bu.num_tokens(out), "log": str(work / "log.txt")}
    if rc:
        res["error"] = bu.last_line(out)
    print(f"  {label:24s} wall {wall:6.1f} s  rc {rc}  last loss {res['last_loss']}", flush=True)
    return res


def profile(project: Path, params: dict, steps: int, work: Path) -> dict:
    """Seconds in each part of our training steps (training.sft in this process)."""
    import trl

    from tunepipe import config, training

    T: dict[str, float] = defaultdict(float)
    flag = {"eval": False}

    def timer(key, fn):
        def wrapped(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                T[("eval: " if flag["eval"] and not key.startswith("eval") else "") + key] += time.perf_counter() - t0
        return wrapped

    base = trl.SFTTrainer

    class Timed(base):
        def __init__(self, *a, **k):
            t0 = time.perf_counter()
            super().__init__(*a, **k)
            T["setup: SFTTrainer() (tokenising the datasets)"] += time.perf_counter() - t0
            self.data_collator = timer("collation", self.data_collator)
            self.accelerator.backward = timer("backward", self.accelerator.backward)
            self.add_callback(bu.optimizer_timer(T, "optimizer.step"))

        def get_batch_samples(self, *a, **k):
            return timer("data loading (incl. collation)", super().get_batch_samples)(*a, **k)

        def compute_loss(self, *a, **k):
            return timer("forward (compute_loss)", super().compute_loss)(*a, **k)

        def _clip_grad_norm(self, *a, **k):
            return timer("grad clipping", super()._clip_grad_norm)(*a, **k)

        def evaluate(self, *a, **k):
            flag["eval"] = True
            try:
                return timer("eval (whole)", super().evaluate)(*a, **k)
            finally:
                flag["eval"] = False

        def _save_checkpoint(self, *a, **k):
            return timer("checkpoint saves", super()._save_checkpoint)(*a, **k)

        def log(self, *a, **k):
            return timer("logging + on_log callbacks (dvclive)", super().log)(*a, **k)

        def train(self, *a, **k):
            return timer("train() total", super().train)(*a, **k)

        def save_model(self, *a, **k):
            return timer("final save_model", super().save_model)(*a, **k)

    sec = dict(params["sft"], max_steps=steps)
    args = config.typed(training.SFTArgs, sec, "sft")
    trl.SFTTrainer = Timed
    try:
        t0 = time.perf_counter()
        res = training.sft(args, data=str(project / "data/reward/train.jsonl"), base=str(project / "models/base"),
                           out=str(work / "out"), ckpt_dir=str(work / "ckpt"), live_dir=str(work / "live"),
                           seed=params["base"]["seed"])
        total = time.perf_counter() - t0
    finally:
        trl.SFTTrainer = base
    parts = ["data loading (incl. collation)", "forward (compute_loss)", "backward", "grad clipping", "optimizer.step",
             "logging + on_log callbacks (dvclive)", "eval (whole)", "checkpoint saves"]
    inner = T["train() total"]
    rows = {k: T.get(k, 0.0) for k in parts}
    rows["other (scheduler, zero_grad, step callbacks, tqdm)"] = inner - sum(rows.values())
    return {"steps": res["steps"], "training.sft_total_s": total, "train_s": inner,
            "setup_s": T["setup: SFTTrainer() (tokenising the datasets)"], "final_save_s": T["final save_model"],
            "collation_s": T["collation"], "eval_forward_s": T.get("eval: forward (compute_loss)", 0.0),
            "parts_s": rows, "parts_ms_per_step": {k: 1000 * v / res["steps"] for k, v in rows.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", default=".", help="a pipeline built up to the reward stage")
    ap.add_argument("--steps", type=int, default=40, help="optimizer steps per run (sft.max_steps)")
    ap.add_argument("--rounds", type=int, default=2, help="alternate ours and bare this many times")
    ap.add_argument("--no-variants", action="store_true", help="skip the eval/save/padding_free/packing variants")
    ap.add_argument("--no-profile", action="store_true", help="skip the in-process profile")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    a = ap.parse_args()
    project = Path(a.project).resolve()
    params = bu.load_params(project)
    sft, seed = params["sft"], params["base"]["seed"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-sft-"))
    p_ours = bu.write_params(params, tmp / "params.yaml", {"sft.max_steps": a.steps})

    rows = train_rows(project, seed, sft["eval_fraction"])
    per_row = mean_tokens(project, rows, sft["max_length"])
    rows_trained = a.steps * sft["batch_size"] * sft["grad_accum"]
    tokens = per_row * rows_trained
    print(f"{len(rows)} train rows, {per_row:.1f} tokens/row; {a.steps} steps x {sft['batch_size']} = "
          f"{rows_trained} rows, ~{tokens:.0f} tokens per run", flush=True)

    ours, bare = [], []
    for r in range(a.rounds):
        ours.append(run(f"ours (stages/sft.py) r{r}", ours_cmd(project, p_ours, tmp / f"ours{r}"), tmp / f"ours{r}", project))
        bare.append(run(f"bare TRL r{r}", bare_cmd(project, sft, a.steps, seed, tmp / f"bare{r}"), tmp / f"bare{r}", project))

    variants = []
    if not a.no_variants:
        for name, over, inject in (("eval_steps: 0", {"sft.eval_steps": 0}, None),
                                   ("save_steps: 0", {"sft.save_steps": 0}, None),
                                   ("eval_steps: 0 + save_steps: 0", {"sft.eval_steps": 0, "sft.save_steps": 0}, None),
                                   ("padding_free: true", {}, {"padding_free": True}),
                                   ("padding_free, max_length None", {}, {"padding_free": True, "max_length": None}),
                                   ("packing: true", {}, {"packing": True})):
            w = tmp / f"var{len(variants)}"
            w.mkdir()
            pv = bu.write_params(params, w / "params.yaml", {"sft.max_steps": a.steps, **over})
            variants.append(run(f"ours, {name}", ours_cmd(project, pv, w, inject), w, project,
                                {"BENCH_SFTCONFIG": json.dumps(inject)} if inject else None))

    prof = None if a.no_profile else profile(project, params, a.steps, tmp / "profile")

    def toks(r):   # TRL's logged count of the tokens trained, else the estimate
        return r.get("num_tokens") or tokens

    def side(rs):
        ok = [r for r in rs if r["rc"] == 0]
        wall = sum(r["wall_s"] for r in ok) / max(len(ok), 1)
        tok = sum(toks(r) for r in ok) / max(len(ok), 1)
        rt = [r["train_runtime_s"] for r in ok if r["train_runtime_s"]]
        return {"runs": len(ok), "failed": len(rs) - len(ok), "wall_s": wall, "tokens": tok, "tokens_per_s": tok / wall if ok else None,
                "s_per_step_wall": wall / a.steps, "train_s_per_step": statistics.mean(rt) / a.steps if rt else None,
                "last_loss": [r["last_loss"] for r in ok]}

    fo, fb = side(ours), side(bare)
    fig = {"machine": bu.machine(), "project": str(project), "steps": a.steps, "rounds": a.rounds,
           "batch_size": sft["batch_size"], "rows_trained": rows_trained, "tokens_per_row": per_row,
           "tokens_per_run": tokens, "ours": fo, "bare": fb,
           "ratio_tokens_per_s_ours_over_bare": fo["tokens_per_s"] / fb["tokens_per_s"] if fo["runs"] and fb["runs"] else None,
           "variants": [dict(v, s_per_step_wall=v["wall_s"] / a.steps, wall_vs_ours=v["wall_s"] / fo["wall_s"],
                             tokens_per_s=toks(v) / v["wall_s"])
                        for v in variants],
           "profile": prof, "work": str(tmp)}
    m = fig["machine"]
    print(f"\nmachine: {m['processor']}, {m['cpu_count']} cores, torch {m['torch']} with {m['torch_threads']} threads")
    print(f"{a.steps} steps x batch {sft['batch_size']}, ~{tokens:.0f} tokens per run, {a.rounds} rounds alternating")
    print(f"  {'side':34s}{'wall s':>8s}{'tokens/s':>10s}{'s/step':>8s}{'train s/step':>14s}  last loss")
    for label, f in (("ours (stages/sft.py)", fo), ("bare TRL SFTTrainer", fb)):
        ts = f"{f['train_s_per_step']:.3f}" if f["train_s_per_step"] else "-"
        print(f"  {label:34s}{f['wall_s']:8.1f}{f['tokens_per_s'] or 0:10.0f}{f['s_per_step_wall']:8.3f}{ts:>14s}  {f['last_loss']}")
    if fig["ratio_tokens_per_s_ours_over_bare"]:
        print(f"  ratio tokens/s ours / bare: {fig['ratio_tokens_per_s_ours_over_bare']:.3f}")
    for v in fig["variants"]:
        ts = f"{v['train_runtime_s'] / a.steps:.3f}" if v["train_runtime_s"] else "-"
        what = f"error: {v['error']}" if v["rc"] else f"last loss {v['last_loss']}"
        print(f"  variant {v['label'][6:]:26s}{v['wall_s']:8.1f}{v['tokens_per_s']:10.0f}{v['s_per_step_wall']:8.3f}"
              f"{ts:>14s}  x{v['wall_vs_ours']:.2f} of ours' wall; {what}")
    if prof:
        print(f"\nprofile of ours in-process ({prof['steps']} steps): training.sft {prof['training.sft_total_s']:.1f} s = "
              f"setup (SFTTrainer init) {prof['setup_s']:.1f} s + train() {prof['train_s']:.1f} s + "
              f"final save {prof['final_save_s']:.2f} s + rest")
        for k, v in prof["parts_s"].items():
            print(f"  {k:52s}{v:7.2f} s {prof['parts_ms_per_step'][k]:8.1f} ms/step {100 * v / prof['train_s']:5.1f} %")
        print(f"  (collation alone {prof['collation_s']:.2f} s; eval forward {prof['eval_forward_s']:.2f} s)")
    bu.dump(fig, a.json)


if __name__ == "__main__":
    main()
