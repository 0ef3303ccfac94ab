"""Decide the training recipe on a VALIDATION split carved from train (never the test split).

Takes a project where ``dvc repro reward`` has run (data/reward/train.jsonl, models/base), holds
out ``--val`` SAT rows of train (seeded), trains sft then grpo on the rest with the project's
params plus dotted overrides (as ``dvc exp run -S``), and reports validation SAT greedy and
sampled accuracy and pass@k after each stage, with Jeffreys intervals and wall times:

    python benchmarks/sat_recipe.py --project /tmp/rs --out benchmarks/results/sat_recipe.json \
        -S sft.max_steps=300 -S sft.lr_scheduler_type=cosine -S grpo.max_steps=100

``--sft-from DIR`` reuses an sft model (only grpo runs); ``--seed`` varies the training seed
(the carve is fixed by ``--val-seed``); ``--every N`` also scores validation greedy accuracy on
the GRPO weights every N steps (``grpo_trajectory``: [step, greedy, share of =True decisions]),
since one end point can mislead (greedy swings by ~.15 between neighbouring checkpoints);
``--val-env N`` also holds out N instances of each environment and reports greedy episode
success (``--val 0``: no SAT rows); ``--only TASK`` trains on that task's rows alone (e.g. textcraft:
how many steps it needs without the mix).
Results append to ``--out`` (one record per run).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchutil  # noqa: E402


def parse_overrides(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"-S {item!r}: expected key=value")
        out[key] = yaml.safe_load(value)
    return out


def carve(rows: list[dict], n_val: int, seed: int, n_env: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, validation): ``n_val`` SAT rows and ``n_env`` instances of every environment
    family in ``rows`` (those with an expert episode) go to validation."""
    from tunepipe import tasks

    rng = random.Random(seed)
    val_idx = set(rng.sample([i for i, r in enumerate(rows) if r["task"] == "sat"], n_val))
    for env in sorted({r["task"] for r in rows if tasks.multi_turn(r["task"])} if n_env else ()):
        pool = [i for i, r in enumerate(rows) if r["task"] == env and r.get("turns") is not None]
        val_idx |= set(rng.sample(pool, min(n_env, len(pool))))
    return [r for i, r in enumerate(rows) if i not in val_idx], [rows[i] for i in sorted(val_idx)]


def snapshot_callback(where: Path, every: int):
    """Saves the policy every ``every`` optimizer steps (scored after training: scoring inside
    the loop would time the generation too)."""
    from transformers import TrainerCallback

    class Snapshots(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, processing_class=None, **kw):
            if state.global_step % every == 0:
                step_dir = where / f"{state.global_step:05d}"
                model.save_pretrained(step_dir)
                processing_class.save_pretrained(step_dir)

    return Snapshots()


def score_greedy(path: str, val: list[dict], a) -> tuple[float, float]:
    """Validation SAT greedy accuracy and the share of ``=True`` among the answers' decisions
    (the global sign bias that near-tie decisions follow)."""
    from tunepipe import evaluation

    r = evaluation.evaluate_model("grpo", path, val, dataclasses.replace(a, num_samples=0), 0, samples_out=(out := []))
    answers = [o["greedy"] for o in out]
    true, false = (sum(t.count(f"={v}") for t in answers) for v in ("True", "False"))
    return round(r["sat"]["greedy"]["accuracy"], 3), round(true / max(1, true + false), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--project", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/sat_recipe.json"))
    ap.add_argument("--val", type=int, default=300)
    ap.add_argument("--val-seed", type=int, default=1234)
    ap.add_argument("--val-env", type=int, default=0,
                    help="also hold out this many instances of each environment (greedy episode success)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sft-from", default=None)
    ap.add_argument("--keep", type=Path, default=None, help="keep the trained models under this dir")
    ap.add_argument("--label", default="")
    ap.add_argument("--every", type=int, default=0, help="score GRPO weights every N steps (0: the end only)")
    ap.add_argument("--only", action="append", default=[],
                    help="train on this task's rows only (repeatable), e.g. --only textcraft; validation unchanged")
    ap.add_argument("-S", dest="overrides", action="append", default=[])
    ns = ap.parse_args()

    from tunepipe import config, evaluation, io, metrics, tasks, training
    from tunepipe.episodes import EpisodeArgs
    from tunepipe.report import ParetoArgs

    overrides = parse_overrides(ns.overrides)
    work = Path(tempfile.mkdtemp(prefix="sat-recipe-")) if ns.keep is None else ns.keep
    work.mkdir(parents=True, exist_ok=True)
    params_path = benchutil.write_params(benchutil.load_params(ns.project), work / "params.yaml", overrides)
    p = config.load(params_path)
    sft_a = config.typed(training.SFTArgs, config.section(p, "sft"), "sft")
    grpo_a = config.typed(training.GRPOArgs, config.section(p, "grpo"), "grpo")
    ev = config.section(p, "evaluate")
    rows = io.read_jsonl(ns.project / "data/reward/train.jsonl")
    train, val = carve(rows, ns.val, ns.val_seed, ns.val_env)
    if ns.only:
        train = [r for r in train if r["task"] in ns.only]
        if not train:
            raise SystemExit(f"--only {ns.only}: no train rows of these tasks in {ns.project}")
    io.write_jsonl(work / "train.jsonl", train)
    grpo_tasks = grpo_a.tasks
    io.write_jsonl(work / "grpo.jsonl", [r for r in train if r["spec"] is not None
                                         and (grpo_tasks is None or r["task"] in grpo_tasks)])
    a = evaluation.EvalArgs(models=[], extra_models={}, baseline=None, max_rows=None, max_new_tokens=ev["max_new_tokens"],
                            batch_size=ev["batch_size"], backend="hf", dtype="float32", temperature=ev["temperature"],
                            num_samples=ev["num_samples"], level=ev["level"],
                            pareto=ParetoArgs(rule="interval", mode="greedy", min_samples=1),
                            episode=EpisodeArgs(**ev["episode"]))

    def score(name: str, path: str) -> dict:
        res = evaluation.evaluate_model(name, path, val, a, ns.seed)
        out = {}
        if "sat" in res:
            r, n = res["sat"], sum(row["task"] == "sat" for row in val)
            g, s = r["greedy"], r["sampled"]
            lo, hi = metrics.jeffreys_interval(round(g["accuracy"] * n), n, a.level)
            out = {"greedy": round(g["accuracy"], 3), "greedy_ci": [round(lo, 3), round(hi, 3)],
                   "sampled": round(s["accuracy"], 3), "pass_at_k": round(s["pass_at_k"], 3), "k": s["k"]}
        for task in sorted(t for t in res if t != "overall" and tasks.multi_turn(t)):   # environments: greedy episodes
            e = res[task]["greedy"]
            out[task] = {"success": round(e["accuracy"], 3), "n": e["n"], "mean_steps": round(e["mean_steps"], 2)}
        return out

    rec = {"label": ns.label, "overrides": overrides, "only": ns.only, "seed": ns.seed, "val": len(val), "machine": benchutil.machine()}
    seed = ns.seed
    sft_dir = ns.sft_from
    if sft_dir is None:
        t = time.perf_counter()
        res = training.sft(sft_a, data=str(work / "train.jsonl"), base=str(ns.project / "models/base"),
                           out=str(work / "sft"), ckpt_dir=str(work / "ck_sft"), live_dir=str(work / "live_sft"), seed=seed)
        rec["sft_s"] = round(time.perf_counter() - t, 1)
        rec["sft_loss"] = res["train_loss"]
        sft_dir = str(work / "sft")
    rec["sft"] = score("sft", sft_dir)
    print("sft", rec["sft"], flush=True)
    if grpo_a.max_steps > 0:
        snaps = work / "grpo_steps"
        t = time.perf_counter()
        training.grpo(grpo_a, data=str(work / "grpo.jsonl"), init=sft_dir, out=str(work / "grpo"),
                      ckpt_dir=str(work / "ck_grpo"), live_dir=str(work / "live_grpo"),
                      completions_csv=str(work / "c.csv"), seed=seed,
                      callbacks=(snapshot_callback(snaps, ns.every),) if ns.every > 0 else ())
        rec["grpo_s"] = round(time.perf_counter() - t, 1)   # includes the snapshot saves (ms each)
        if ns.every > 0:
            rec["grpo_trajectory"] = []
            for d in sorted(snaps.iterdir()):
                g = score_greedy(str(d), val, a)
                rec["grpo_trajectory"].append([int(d.name), *g])
                print("grpo step", int(d.name), "greedy", *g, flush=True)
        rec["grpo"] = score("grpo", str(work / "grpo"))
        print("grpo", rec["grpo"], flush=True)
    rec["work"] = str(work)
    old = json.loads(ns.out.read_text()) if ns.out.exists() else []
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(old + [rec], indent=1) + "\n")
    print(json.dumps(rec))


if __name__ == "__main__":
    main()
