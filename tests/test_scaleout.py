"""Past one machine on existing engines (docs/guides/scale-out.md).

- ``launch.launcher: accelerate`` re-execs sft/grpo under ``accelerate launch``; the command
  lines for each params setting are checked here (fast), the shipped accelerate configs are
  loaded by accelerate's own config loader (the ZeRO ones are GPU only: DeepSpeed is not
  installed here, they are not run).
- Two CPU processes (DDP over gloo, ``launch.cpu: true``, the shipped ``ddp.yaml``) run the
  real stage scripts on the tiny model: one consistent output, and the same loss curve as one
  process on the same global batch; a 2-process run resumes from its checkpoint.
- Two "machines" on this host (``launch.num_machines: 2``, ``make worker RANK=1``) run sft and
  grpo through ``dvc repro``.
- vLLM (``grpo.use_vllm``, ``evaluate.backend: vllm``) fails early, in one line naming the
  param, without the package or a GPU.
- A ``dvc exp run --queue`` sweep run by ``dvc queue start -j 2`` and ranked by
  ``make compare``; the S3 remote as the shared cache of two clones (moto_server).
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, TINY_OVERRIDES, run, write_params
from fixtures_s3 import DUMMY_ENV, free_port, make_project, moto_s3  # noqa: F401 (fixture)
from tunepipe import TunepipeError, cli, config, generation, training

PY = sys.executable
DVC = [PY, "-m", "dvc"]
VENV = Path(sys.executable).parent.parent
CONFIGS = ROOT / "configs" / "accelerate"
TWO_CPU = {"launch.launcher": "accelerate", "launch.cpu": True, "launch.num_processes": 2,
           "launch.config_file": "configs/accelerate/ddp.yaml"}


def launch_args(**kw) -> cli.LaunchArgs:
    base = yaml.safe_load((ROOT / "params.yaml").read_text())["launch"]
    return config.typed(cli.LaunchArgs, {**base, "launcher": "accelerate", **kw}, "launch")


def ran_stages(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


# ----------------------------------------------------------------------------- launch command lines
@pytest.fixture
def venv_path(monkeypatch):
    """The venv's bin first on PATH (`accelerate` is looked up there), as the Makefile does."""
    monkeypatch.setenv("PATH", f"{Path(PY).parent}{os.pathsep}{os.environ['PATH']}")


def test_launch_commands(monkeypatch, venv_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv(cli.MACHINE_RANK_ENV, raising=False)
    argv = ["stages/sft.py", "--params", "params.yaml"]
    cmd, env = cli.launch_command(launch_args(num_processes=2, cpu=True), argv)
    assert cmd[1:] == ["launch", "--num_processes", "2", "--num_machines", "1", "--machine_rank", "0",
                       "--main_process_port", "0", "--multi_gpu", *argv]
    assert env == {"ACCELERATE_USE_CPU": "true"}   # torch.distributed.run + gloo, no mpirun needed
    cmd, env = cli.launch_command(launch_args(num_processes=8, config_file="configs/accelerate/zero3.yaml"), argv)
    assert cmd[cmd.index("--config_file") + 1] == "configs/accelerate/zero3.yaml" and "--multi_gpu" not in cmd
    assert env == {}
    cmd, _ = cli.launch_command(launch_args(num_processes=1), argv)
    assert "--multi_gpu" not in cmd and "--cpu" not in cmd
    monkeypatch.setenv(cli.MACHINE_RANK_ENV, "1")
    cmd, _ = cli.launch_command(launch_args(num_processes=16, num_machines=2, main_process_ip="10.0.0.1",
                                            main_process_port=29500, config_file="configs/accelerate/fsdp.yaml"), argv)
    i = cmd.index
    assert (cmd[i("--machine_rank") + 1], cmd[i("--main_process_ip") + 1], cmd[i("--main_process_port") + 1]) == \
        ("1", "10.0.0.1", "29500")


@pytest.mark.parametrize("kw, env, message", [
    (dict(num_processes=0), None, "launch.num_processes: must be >= 1"),
    (dict(num_processes=3, num_machines=2, main_process_ip="h", main_process_port=1), None,
     "launch.num_machines: 2 does not divide launch.num_processes 3"),
    (dict(num_processes=2, num_machines=2), None,
     "launch.num_machines > 1 needs launch.main_process_ip and launch.main_process_port"),
    (dict(config_file="configs/accelerate/nope.yaml"), None, "launch.config_file: configs/accelerate/nope.yaml not found"),
    (dict(num_processes=2), "1", "TUNEPIPE_MACHINE_RANK='1': expected 0..0 (launch.num_machines)"),
])
def test_launch_errors_name_the_param(monkeypatch, kw, env, message):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv(cli.MACHINE_RANK_ENV, raising=False)
    if env is not None:
        monkeypatch.setenv(cli.MACHINE_RANK_ENV, env)
    with pytest.raises(TunepipeError, match="^" + re.escape(message)):
        cli.launch_command(launch_args(**kw), ["stages/sft.py"])


def test_launcher_python_does_not_relaunch_and_bad_launcher_is_an_error(monkeypatch):
    monkeypatch.delenv("TUNEPIPE_LAUNCHED", raising=False)
    base = yaml.safe_load((ROOT / "params.yaml").read_text())["launch"]
    cli.maybe_relaunch(base)   # returns: no exec
    with pytest.raises(TunepipeError, match="launch.launcher: expected 'python' or 'accelerate', got 'torchrun'"):
        cli.maybe_relaunch({**base, "launcher": "torchrun"})
    with pytest.raises(TunepipeError, match="launch.num_machines: missing key"):
        cli.maybe_relaunch({k: v for k, v in base.items() if k != "num_machines"})


def test_batches_are_global_and_split_over_the_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert training.per_device(32, "sft.batch_size") == 8
    with pytest.raises(TunepipeError, match=r"^sft.batch_size: 6 does not split evenly over 4 processes"):
        training.per_device(6, "sft.batch_size")
    monkeypatch.delenv("WORLD_SIZE")
    assert training.world_size() == 1 and training.per_device(6, "sft.batch_size") == 6


@pytest.mark.parametrize("name, distributed_type, zero_stage", [
    ("ddp", "MULTI_GPU", None), ("fsdp", "FSDP", None), ("zero2", "DEEPSPEED", 2), ("zero3", "DEEPSPEED", 3),
])
def test_shipped_accelerate_configs_load(name, distributed_type, zero_stage):
    """Loaded by accelerate's own loader (unknown keys are errors there). zero2/zero3 need
    DeepSpeed and fsdp needs GPUs: GPU only, not run in CI; ddp runs in the CPU tests below."""
    from accelerate.commands.config.config_args import load_config_from_file

    path = CONFIGS / f"{name}.yaml"
    raw = yaml.safe_load(path.read_text())
    assert "num_processes" not in raw and "machine_rank" not in raw   # from params, on the command line
    cfg = load_config_from_file(str(path))
    assert str(cfg.distributed_type).rsplit(".", 1)[-1] == distributed_type
    if zero_stage is not None:
        assert cfg.deepspeed_config["zero_stage"] == zero_stage
        assert "gradient_accumulation_steps" not in cfg.deepspeed_config   # from sft.grad_accum via the Trainer
    if name == "zero3":
        assert cfg.deepspeed_config["zero3_save_16bit_model"] is True       # one plain HF dir at the end
    if name == "fsdp":
        assert cfg.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"


# ----------------------------------------------------------------------------- vLLM: optional, early errors
@pytest.mark.parametrize("stage, overrides, message", [
    ("grpo", {"grpo.use_vllm": True}, "error: grpo.use_vllm=true needs the 'vllm' package, not installed here"),
    ("grpo", {"grpo.use_vllm": True, "grpo.vllm_mode": "remote"},
     "error: grpo.vllm_mode: expected 'colocate' or 'server', got 'remote'"),
    ("evaluate", {"evaluate.backend": "vllm"}, "error: evaluate.backend=vllm needs the 'vllm' package, not installed here"),
    ("evaluate", {"evaluate.backend": "tgi"}, "error: evaluate.backend: expected 'hf' or 'vllm', got 'tgi'"),
])
def test_vllm_without_the_package_is_a_one_line_error_before_any_model(tmp_path, stage, overrides, message):
    """No model or data exists here: the error comes before anything is loaded."""
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    write_params(tmp_path / "params.yaml", overrides)
    args = {"grpo": ["--init", "models/sft", "--data", "data/reward/train.jsonl"],
            "evaluate": ["--models-dir", "models", "--data", "data/harmony/test.jsonl"]}[stage]
    p = subprocess.run([PY, str(ROOT / "stages" / f"{stage}.py"), "--params", "params.yaml", *args],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["params.yaml"]


def test_vllm_installed_but_no_gpu_names_the_param(monkeypatch):
    import importlib.util

    import torch

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "vllm" else real(name, *a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(TunepipeError, match=r"^grpo.use_vllm=true needs a CUDA GPU and none is visible here; "
                                            r"set grpo.use_vllm: false$"):
        generation.require_vllm("grpo.use_vllm=true", "grpo.use_vllm: false")


# ----------------------------------------------------------------------------- 2 CPU processes
def workdir(tmp_path: Path, name: str, overrides: dict) -> Path:
    """A run directory with params.yaml (tiny overrides + ``overrides``) and configs/accelerate."""
    d = tmp_path / name
    shutil.copytree(CONFIGS, d / "configs" / "accelerate")
    write_params(d / "params.yaml", {**TINY_OVERRIDES, **overrides})
    return d


def run_stage(d: Path, stage: str, tiny: Path, init: str = "base"):
    """The stage script, as dvc.yaml runs it, on the tiny model's rows (outputs under ``d/out``)."""
    args = {"sft": ["--data", str(tiny / "train.jsonl"), "--base", str(tiny / init), "--out", "out/sft"],
            "grpo": ["--data", str(tiny / "train.jsonl"), "--init", str(tiny / init), "--out", "out/grpo",
                     "--completions", "out/completions.csv"]}[stage]
    return run([PY, str(ROOT / "stages" / f"{stage}.py"), "--params", "params.yaml", *args,
                "--ckpt", f"out/ckpt-{stage}", "--live", f"out/live-{stage}"], d, timeout=600)


def logged(d: Path, stage: str, metric: str = "loss") -> list[tuple[int, float]]:
    """The dvclive curve (what `dvc plots` shows): (step, value) rows."""
    rows = (d / "out" / f"live-{stage}" / "plots" / "metrics" / f"{metric}.tsv").read_text().splitlines()[1:]
    return [(int(s), float(v)) for s, v in (r.split("\t") for r in rows)]


def safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return {k: v for f in sorted(path.glob("*.safetensors")) for k, v in load_file(f).items()}


SFT = {"sft.max_steps": 6, "sft.batch_size": 8, "sft.eval_fraction": 0.25, "sft.eval_steps": 3}


@pytest.mark.slow
def test_sft_two_cpu_processes_match_one_process_and_resume(tiny_model, tmp_path):
    """sft.batch_size is the global batch (8 rows per step): one process takes 8, each of two
    DDP processes 4. Asserted: the same logged steps (1..6), finite losses falling from the
    first to the last step in both, the two curves within 2% of each other at every step
    (not bit-identical: gradients are all-reduced over gloo in another summation order; the
    run that wrote this measured equal losses to 4 decimals), one output written once, and a
    resume of the 2-process run from its step-5 checkpoint reproducing its step-6 weights."""
    one = workdir(tmp_path, "one", SFT)
    two = workdir(tmp_path, "two", {**SFT, **TWO_CPU})
    run_stage(one, "sft", tiny_model)
    p = run_stage(two, "sft", tiny_model)
    assert p.stdout.count("relaunching: ") == 1 and "--config_file configs/accelerate/ddp.yaml" in p.stdout

    l1, l2 = logged(one, "sft"), logged(two, "sft")
    assert [s for s, _ in l1] == [s for s, _ in l2] == [1, 2, 3, 4, 5, 6]
    for curve in (l1, l2):
        assert all(math.isfinite(v) for _, v in curve) and curve[-1][1] < curve[0][1]
    print(f"sft loss, 1 process: {l1}\nsft loss, 2 processes: {l2}")
    assert all(abs(a - b) <= 0.02 * a for (_, a), (_, b) in zip(l1, l2)), (l1, l2)
    assert [s for s, _ in logged(two, "sft", "eval_loss")] == [3, 6]

    # one consistent output: a loadable model dir, no temp dirs left, checkpoints of a 2-process layout
    out = two / "out"
    assert sorted(x.name for x in out.iterdir()) == ["ckpt-sft", "live-sft", "sft"]
    assert (out / "sft" / "config.json").is_file() and len(list((out / "sft").glob("*.safetensors"))) == 1
    assert (out / "ckpt-sft" / "fingerprint.txt").read_text().strip().endswith("-multi_cpux2")
    assert sorted(x.name for x in (out / "ckpt-sft").glob("checkpoint-*")) == ["checkpoint-5", "checkpoint-6"]
    assert json.loads((out / "live-sft" / "metrics.json").read_text())["step"] == 6
    final = safetensors(out / "sft")

    # interrupted after step 5: the 2-process rerun resumes (announced once) and ends where it would have
    shutil.rmtree(out / "ckpt-sft" / "checkpoint-6")
    shutil.rmtree(out / "sft")
    p = run_stage(two, "sft", tiny_model)
    assert p.stdout.count("resuming from out/ckpt-sft/checkpoint-5") == 1, p.stdout
    again = safetensors(out / "sft")
    assert max((final[k] - again[k]).abs().max().item() for k in final) <= 1e-6


@pytest.mark.slow
def test_grpo_two_cpu_processes_write_one_consistent_output(tiny_model, tmp_path):
    """prompts_per_step x num_generations (2 x 4) is the global batch; each process generates
    and scores its half, the completion CSV gathers both halves. Asserted: same logged steps,
    finite losses, a CSV with every completion of the run (2 steps x 8) written once, a
    loadable model. Not asserted: learning. The random-init tiny model writes no parseable
    answer, so every reward is 0 and the GRPO loss is 0 in both runs (the measured curves)."""
    one = workdir(tmp_path, "one", {})
    two = workdir(tmp_path, "two", TWO_CPU)
    run_stage(one, "grpo", tiny_model)
    run_stage(two, "grpo", tiny_model)
    l1, l2 = logged(one, "grpo"), logged(two, "grpo")
    print(f"grpo loss, 1 process: {l1}\ngrpo loss, 2 processes: {l2}")
    assert [s for s, _ in l1] == [s for s, _ in l2] == [1, 2]
    assert all(math.isfinite(v) for _, v in l1 + l2)
    prompts = {json.loads(line)["prompt_text"] for line in (tiny_model / "train.jsonl").read_text().splitlines()}
    for d in (one, two):
        with open(d / "out" / "completions.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 2 * 2 * 4 and {r["call"] for r in rows} == {"1", "2"}
        assert all(r["prompt"] in prompts and 0.0 <= float(r["reward"]) <= 1.5 for r in rows)
    out = two / "out"
    assert sorted(x.name for x in out.iterdir()) == ["ckpt-grpo", "completions.csv", "grpo", "live-grpo"]
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(out / "grpo")


@pytest.mark.slow
def test_two_machines_on_one_host_through_dvc_repro(tmp_path):
    """launch.num_machines: 2 on 127.0.0.1: machine 0 runs `dvc repro`, machine 1 runs
    `make worker RANK=1` (the README's multi-node commands, one CPU process per machine)."""
    port = free_port()
    proj = make_project(tmp_path / "proj", {**TINY_OVERRIDES, "launch.launcher": "accelerate", "launch.cpu": True,
                                            "launch.num_processes": 2, "launch.num_machines": 2,
                                            "launch.main_process_ip": "127.0.0.1", "launch.main_process_port": port})
    shutil.copy2(ROOT / "Makefile", proj / "Makefile")
    run(DVC + ["repro", "reward"], proj)
    env = {**os.environ, "PATH": f"{Path(PY).parent}{os.pathsep}{os.environ['PATH']}"}
    worker = subprocess.Popen(["make", "-o", f"{VENV}/.installed", "worker", f"VENV={VENV}", "RANK=1"], cwd=proj,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        p = run(DVC + ["repro", "grpo"], proj, timeout=600)   # the two stages that launch (evaluate, export: one process)
        out, _ = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, 9)   # the worker's own process group only
    assert worker.returncode == 0, out[-3000:]
    assert ran_stages(p.stdout) == ["sft", "grpo"]
    assert out.count("--machine_rank 1") == 2 and p.stdout.count("--machine_rank 0") == 2
    assert (proj / "models" / "grpo" / "config.json").is_file()
    fp = (proj / "models" / "checkpoints" / "sft" / "fingerprint.txt").read_text()
    assert fp.strip().endswith("-multi_cpux2")


# ----------------------------------------------------------------------------- sweeps and the shared cache
from test_remote import CACHED, digest  # noqa: E402  (the same outputs and digest as the S3 tests)


@pytest.fixture(scope="module")
def shared(moto_s3, tmp_path_factory):
    """The tiny project, repro'd and committed (dvc.lock, metrics), its remote: the moto S3."""
    proj = make_project(tmp_path_factory.mktemp("shared") / "proj", {**TINY_OVERRIDES, **moto_s3.overrides("cache")})
    shutil.copy2(ROOT / "Makefile", proj / "Makefile")
    run(DVC + ["repro"], proj)
    run(["git", "add", "-A"], proj)
    run(["git", "commit", "-qm", "tiny baseline"], proj)
    return proj


def wait_for_queue(proj: Path, timeout: float = 240.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = run(DVC + ["queue", "status"], proj).stdout
        tasks = [line for line in out.splitlines() if line.split()[-1:] and line.split()[-1] in
                 ("Queued", "Running", "Success", "Failed")]
        if tasks and not any(t.split()[-1] in ("Queued", "Running") for t in tasks):
            return out
        assert time.monotonic() < deadline, f"queue still busy after {timeout} s:\n{out}"
        time.sleep(3)


@pytest.mark.slow
def test_queued_sweep_runs_two_at_a_time_then_make_compare_ranks_it(shared):
    proj = shared
    # --allow-missing: a queued experiment runs in a fresh copy of the commit, without the
    # per-machine training checkpoints (persist, not cached); sft must not retrain for them
    # up to evaluate: what make compare ranks (export adds nothing to the sweep)
    queue = DVC + ["exp", "run", "--queue", "--allow-missing"]
    run(queue + ["-n", "lr-low", "-S", "grpo.learning_rate=1e-4", "evaluate"], proj)
    run(queue + ["-n", "lr-high", "-S", "grpo.learning_rate=1e-2", "-S", "grpo.temperature=0.7", "evaluate"], proj)
    try:
        run(DVC + ["queue", "start", "-j", "2"], proj)
        status = wait_for_queue(proj)
    finally:
        run(DVC + ["queue", "stop"], proj, check=False)
    assert status.count("Success") == 2, status
    for name in ("lr-low", "lr-high"):
        log = run(DVC + ["queue", "logs", name], proj).stdout
        assert ran_stages(log) == ["grpo", "evaluate"], log[-2000:]   # sft etc. from the cache
    show = json.loads(run(DVC + ["exp", "show", "--json"], proj).stdout)
    names = {e["name"] for r in show for e in (r.get("experiments") or [])}
    assert {"lr-low", "lr-high"} <= names

    p = run(["make", "-o", f"{VENV}/.installed", "compare", f"VENV={VENV}"], proj)
    assert "Pareto frontier" in p.stdout
    assert "lr-low:grpo" in p.stdout and "lr-high:grpo" in p.stdout, p.stdout
    assert (proj / "metrics" / "compare.md").is_file()


@pytest.mark.slow
def test_s3_remote_is_the_shared_cache_of_two_clones(shared, moto_s3, tmp_path):
    """Clone A pushes (cache and run cache) to S3; clone B, from git only, `dvc repro --pull`s:
    every output back byte-identical, no stage run. The training checkpoints are per machine
    (persist, not cached): a plain `dvc repro` in B would retrain sft and grpo to make them, so
    B uses --pull (or --allow-missing) from then on; a grpo change reruns grpo and downstream only."""
    a = shared
    run(["make", "-o", f"{VENV}/.installed", "push", f"VENV={VENV}"], a, env=DUMMY_ENV)
    b = tmp_path / "clone-b"
    run(["git", "clone", "-q", str(a), str(b)], tmp_path)
    assert not (b / "models" / "grpo").exists() and not (b / "data" / "reward").exists()
    run([PY, "-m", "tunepipe.remote", "configure", "--params", "params.yaml"], b, env=DUMMY_ENV)
    p = run(DVC + ["repro", "--pull"], b, env=DUMMY_ENV)
    assert ran_stages(p.stdout) == [], p.stdout
    assert digest(b, CACHED) == digest(a, CACHED)
    p = run(DVC + ["exp", "run", "--pull", "-S", "grpo.learning_rate=1e-3"], b, env=DUMMY_ENV)
    assert ran_stages(p.stdout) == ["grpo", "evaluate", "export"], p.stdout
