"""GRPO throughput: our grpo stage (``python stages/grpo.py``, what a user runs, on the SAT rows
via ``grpo.tasks: [sat]``, from the base model) against a bare TRL script
(benchmarks/bare_trl_grpo.py: a plain ``GRPOTrainer`` with our SAT scorer as its reward), both
as whole processes in the same invocation; then a profile of our steps.

    python benchmarks/grpo_vs_trl.py --project /tmp/benchproj                # 10 steps, 2 rounds
    python benchmarks/grpo_vs_trl.py --project /tmp/benchproj --steps 5 --rounds 1 --json out.json

``--project`` is a pipeline built up to the reward stage: the runs read its ``models/base``,
``data/reward/train.jsonl`` and ``params.yaml`` (``grpo.max_steps`` becomes ``--steps``; the rest of
the grpo section as it is: checkpoints every ``save_steps``, dvclive, the completion log, the
invalid-penalty reward). The bare side gets the same group shape (prompts_per_step x
num_generations), max_completion_length, learning rate and schedule, temperature, beta, epsilon,
loss type, reward scaling, activation checkpointing (params; TRL defaults it on), seed and
reward (strict + partial_weight x partial). The sides
alternate in ``--rounds`` rounds. Figures: steps/s over the process's wall time (start-up
included) and over the Trainer's own ``train_runtime``; the ratio ours / bare.

Profile: ``training.grpo`` in this process with timers around rollout generation
(``_generate``), reward (``_calculate_rewards``), log-prob forwards, the loss forward
(``compute_loss``), backward, optimizer, logging and saves; TRL's own ``profiling/Time taken``
figures (it sends them only to wandb/mlflow/trackio) are collected too.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import benchutil as bu  # noqa: E402


def ours_cmd(project: Path, params: Path, work: Path) -> list[str]:
    return [bu.PY, str(bu.REPO / "stages/grpo.py"), "--params", str(params),
            "--data", str(project / "data/reward/train.jsonl"), "--init", str(project / "models/base"),
            "--out", str(work / "out"), "--ckpt", str(work / "ckpt"), "--live", str(work / "live"),
            "--completions", str(work / "completions.csv")]


def bare_cmd(project: Path, g: dict, partial_weight: float, steps: int, seed: int, work: Path) -> list[str]:
    return [bu.PY, str(bu.REPO / "benchmarks/bare_trl_grpo.py"), "--init", str(project / "models/base"),
            "--data", str(project / "data/reward/train.jsonl"), "--steps", str(steps),
            "--prompts-per-step", str(g["prompts_per_step"]), "--num-generations", str(g["num_generations"]),
            "--max-completion-length", str(g["max_completion_length"]), "--lr", str(float(g["learning_rate"])),
            "--lr-scheduler", g["lr_scheduler_type"], "--temperature", str(g["temperature"]), "--beta", str(g["beta"]),
            "--epsilon", str(g["epsilon"]), "--loss-type", g["loss_type"], "--scale-rewards", g["scale_rewards"],
            "--partial-weight", str(partial_weight), "--logging-steps", str(g["logging_steps"]),
            "--seed", str(seed), "--out", str(work / "out"),
            "--activation-checkpointing", str(bool(g["activation_checkpointing"])).lower()]


def run(label: str, cmd: list[str], work: Path, cwd: Path) -> dict:
    import re

    work.mkdir(parents=True, exist_ok=True)
    wall, out, rc = bu.timed(cmd, cwd=cwd, log=work / "log.txt")
    rewards = [float(x) for x in re.findall(r"'reward': '?([0-9.eE+-]+)", out)]
    res = {"label": label, "wall_s": wall, "rc": rc, "train_runtime_s": bu.train_runtime(out),
           "last_reward": rewards[-1] if rewards else None, "last_loss": (bu.losses(out) or [None])[-1],
           "log": str(work / "log.txt")}
    if rc:
        res["error"] = bu.last_line(out)
    print(f"  {label:24s} wall {wall:6.1f} s  rc {rc}  train_runtime {res['train_runtime_s']}  "
          f"last reward {res['last_reward']}", flush=True)
    return res


def profile(project: Path, params: dict, steps: int, work: Path) -> dict:
    """Seconds in each part of our GRPO steps (training.grpo in this process, SAT rows)."""
    import trl
    from trl.extras import profiling

    from tunepipe import config, io, training

    T: dict[str, float] = defaultdict(float)
    trl_prof: dict[str, float] = defaultdict(float)
    phase = ["train"]

    def timer(key, fn, enter=None):
        def wrapped(*a, **k):
            t0 = time.perf_counter()
            if enter:
                phase.append(enter)
            try:
                return fn(*a, **k)
            finally:
                if enter:
                    phase.pop()
                T[key if enter or key.endswith("total") else f"{phase[-1]}: {key}"] += time.perf_counter() - t0
        return wrapped

    orig_log = profiling.ProfilingContext._log_metrics

    def collect(self, duration):
        trl_prof[self.name] += duration

    base = trl.GRPOTrainer

    class Timed(base):
        def __init__(self, *a, **k):
            t0 = time.perf_counter()
            super().__init__(*a, **k)
            T["setup: GRPOTrainer()"] += time.perf_counter() - t0
            self.accelerator.backward = timer("backward", self.accelerator.backward)
            self.add_callback(bu.optimizer_timer(T, "train: optimizer.step"))

        def _generate_and_score_completions(self, *a, **k):
            return timer("rollout (generate + score + logps) total", super()._generate_and_score_completions,
                         "rollout")(*a, **k)

        def _generate(self, *a, **k):
            return timer("generation (_generate)", super()._generate)(*a, **k)

        def _calculate_rewards(self, *a, **k):
            return timer("reward (_calculate_rewards)", super()._calculate_rewards)(*a, **k)

        def _get_per_token_logps_and_entropies(self, *a, **k):
            return timer("log-prob forward", super()._get_per_token_logps_and_entropies)(*a, **k)

        def compute_loss(self, *a, **k):
            return timer("loss (compute_loss) total", super().compute_loss, "loss")(*a, **k)

        def _clip_grad_norm(self, *a, **k):
            return timer("grad clipping", super()._clip_grad_norm)(*a, **k)

        def _save_checkpoint(self, *a, **k):
            return timer("checkpoint saves", super()._save_checkpoint)(*a, **k)

        def log(self, *a, **k):
            return timer("logging + on_log callbacks (dvclive)", super().log)(*a, **k)

        def train(self, *a, **k):
            return timer("train() total", super().train)(*a, **k)

    sec = dict(params["grpo"], max_steps=steps, tasks=["sat"])
    args = config.typed(training.GRPOArgs, sec, "grpo")
    rows = [r for r in io.read_jsonl(project / "data/reward/train.jsonl") if r["task"] == "sat" and r["spec"] is not None]
    work.mkdir(parents=True, exist_ok=True)
    io.write_jsonl(work / "train.jsonl", rows)
    trl.GRPOTrainer = Timed
    profiling.ProfilingContext._log_metrics = collect
    try:
        t0 = time.perf_counter()
        res = training.grpo(args, data=str(work / "train.jsonl"), init=str(project / "models/base"),
                            out=str(work / "out"), ckpt_dir=str(work / "ckpt"), live_dir=str(work / "live"),
                            completions_csv=str(work / "completions.csv"), seed=params["base"]["seed"])
        total = time.perf_counter() - t0
    finally:
        trl.GRPOTrainer = base
        profiling.ProfilingContext._log_metrics = orig_log
    inner = T["train() total"]
    parts = {
        "rollout: generation (_generate)": T["rollout: generation (_generate)"],
        "rollout: reward (_calculate_rewards)": T["rollout: reward (_calculate_rewards)"],
        "rollout: log-prob forward": T["rollout: log-prob forward"],
        "rollout: rest (tokenise, advantages, metrics)": T["rollout (generate + score + logps) total"]
        - T["rollout: generation (_generate)"] - T["rollout: reward (_calculate_rewards)"] - T["rollout: log-prob forward"],
        "loss forward (compute_loss)": T["loss (compute_loss) total"],
        "backward": T["train: backward"],
        "grad clipping": T["train: grad clipping"],
        "optimizer.step": T["train: optimizer.step"],
        "logging + on_log callbacks (dvclive)": T["train: logging + on_log callbacks (dvclive)"],
        "checkpoint saves": T["train: checkpoint saves"],
    }
    parts["other"] = inner - sum(parts.values())
    return {"steps": res["steps"], "training.grpo_total_s": total, "train_s": inner, "setup_s": T["setup: GRPOTrainer()"],
            "parts_s": parts, "parts_ms_per_step": {k: 1000 * v / res["steps"] for k, v in parts.items()},
            "trl_profiling_s": dict(trl_prof)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--project", default=".", help="a pipeline built up to the reward stage")
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps per run (grpo.max_steps)")
    ap.add_argument("--rounds", type=int, default=2, help="alternate ours and bare this many times")
    ap.add_argument("--no-profile", action="store_true", help="skip the in-process profile")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    a = ap.parse_args()
    project = Path(a.project).resolve()
    params = bu.load_params(project)
    g, seed = params["grpo"], params["base"]["seed"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-grpo-"))
    p_ours = bu.write_params(params, tmp / "params.yaml", {"grpo.max_steps": a.steps, "grpo.tasks": ["sat"]})
    print(f"{a.steps} steps of {g['prompts_per_step']} prompts x {g['num_generations']} completions "
          f"(<= {g['max_completion_length']} tokens), SAT rows", flush=True)

    ours, bare = [], []
    for r in range(a.rounds):
        ours.append(run(f"ours (stages/grpo.py) r{r}", ours_cmd(project, p_ours, tmp / f"ours{r}"), tmp / f"ours{r}", project))
        bare.append(run(f"bare TRL r{r}", bare_cmd(project, g, params["reward"]["sat"]["partial_weight"], a.steps, seed, tmp / f"bare{r}"), tmp / f"bare{r}", project))
    prof = None if a.no_profile else profile(project, params, a.steps, tmp / "profile")

    def side(rs):
        ok = [r for r in rs if r["rc"] == 0]
        wall = statistics.mean(r["wall_s"] for r in ok) if ok else None
        rt = [r["train_runtime_s"] for r in ok if r["train_runtime_s"]]
        return {"runs": len(ok), "failed": len(rs) - len(ok), "wall_s": wall,
                "steps_per_s_wall": a.steps / wall if ok else None,
                "train_s_per_step": statistics.mean(rt) / a.steps if rt else None,
                "steps_per_s_train": a.steps / statistics.mean(rt) if rt else None,
                "last_reward": [r["last_reward"] for r in ok], "errors": [r["error"] for r in rs if r["rc"]]}

    fo, fb = side(ours), side(bare)
    ratio = lambda k: fo[k] / fb[k] if fo[k] and fb[k] else None  # noqa: E731
    fig = {"machine": bu.machine(), "project": str(project), "steps": a.steps, "rounds": a.rounds,
           "prompts_per_step": g["prompts_per_step"], "num_generations": g["num_generations"],
           "max_completion_length": g["max_completion_length"], "ours": fo, "bare": fb,
           "ratio_steps_per_s_wall_ours_over_bare": ratio("steps_per_s_wall"),
           "ratio_steps_per_s_train_ours_over_bare": ratio("steps_per_s_train"), "profile": prof, "work": str(tmp)}
    m = fig["machine"]
    print(f"\nmachine: {m['processor']}, {m['cpu_count']} cores, torch {m['torch']} with {m['torch_threads']} threads")
    print(f"  {'side':28s}{'wall s':>8s}{'steps/s':>9s}{'train s/step':>14s}{'train steps/s':>15s}  last reward")
    for label, f in (("ours (stages/grpo.py)", fo), ("bare TRL GRPOTrainer", fb)):
        if not f["runs"]:
            print(f"  {label:28s} failed: {f['errors']}")
            continue
        print(f"  {label:28s}{f['wall_s']:8.1f}{f['steps_per_s_wall']:9.3f}{f['train_s_per_step'] or 0:14.3f}"
              f"{f['steps_per_s_train'] or 0:15.3f}  {f['last_reward']}")
    if fig["ratio_steps_per_s_wall_ours_over_bare"]:
        print(f"  ratio steps/s ours / bare: {fig['ratio_steps_per_s_wall_ours_over_bare']:.3f} (process wall), "
              f"{fig['ratio_steps_per_s_train_ours_over_bare'] or float('nan'):.3f} (train_runtime)")
    if prof:
        print(f"\nprofile of ours in-process ({prof['steps']} steps): training.grpo {prof['training.grpo_total_s']:.1f} s = "
              f"setup (GRPOTrainer init) {prof['setup_s']:.1f} s + train() {prof['train_s']:.1f} s + rest")
        for k, v in prof["parts_s"].items():
            print(f"  {k:48s}{v:7.2f} s {prof['parts_ms_per_step'][k]:8.1f} ms/step {100 * v / prof['train_s']:5.1f} %")
        print("  TRL's profiling/Time taken (s, summed): "
              + ", ".join(f"{k} {v:.2f}" for k, v in sorted(prof["trl_profiling_s"].items())))
    bu.dump(fig, a.json)


if __name__ == "__main__":
    main()
