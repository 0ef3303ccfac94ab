"""Helpers shared by the training/generation/start-up benchmarks: the machine's description,
params files with overrides, and timed child processes."""
from __future__ import annotations

import copy
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def machine() -> dict:
    """What the figures were measured on."""
    import torch

    return {"processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version()}


def load_params(project: Path) -> dict:
    import yaml

    return yaml.safe_load((project / "params.yaml").read_text())


def write_params(params: dict, path: Path, overrides: dict[str, object]) -> Path:
    """``params`` with dotted-key ``overrides`` (as ``dvc exp run -S key=value``) written to ``path``."""
    import yaml

    p = copy.deepcopy(params)
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        d = p
        for k in parents:
            d = d[k]
        d[leaf] = value
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src")] + [x for x in [env.get("PYTHONPATH")] if x])
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env["PAGER"] = "cat"
    return env


def timed(cmd: list[str], *, cwd: Path, log: Path | None = None) -> tuple[float, str, int]:
    """Run ``cmd``; (wall seconds, stdout+stderr, exit status). The output goes to ``log`` too."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - t0
    if log is not None:
        log.write_text(p.stdout)
    return wall, p.stdout, p.returncode


_LOSS = re.compile(r"'loss': '?([0-9.eE+-]+)")
_NUM_TOKENS = re.compile(r"'num_tokens': '?([0-9.eE+-]+)")
_RUNTIME = re.compile(r"'train_runtime': '?([0-9.]+)")


def losses(text: str) -> list[float]:
    """Logged training losses in a Trainer's printed log dicts (in order)."""
    return [float(x) for x in _LOSS.findall(text)]


def num_tokens(text: str) -> float | None:
    """TRL's last logged ``num_tokens`` (non-padding tokens trained so far), when printed."""
    m = _NUM_TOKENS.findall(text)
    return float(m[-1]) if m else None


def train_runtime(text: str) -> float | None:
    """The Trainer's own ``train_runtime`` (seconds inside ``train()``), when printed."""
    m = _RUNTIME.findall(text)
    return float(m[-1]) if m else None


def last_line(text: str) -> str:
    """The last non-blank line of a failed run's output (its error), capped at 300 characters."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def optimizer_timer(times: dict, key: str):
    """A TrainerCallback adding each optimizer step's seconds to ``times[key]`` (profiles)."""
    from transformers import TrainerCallback

    class OptTimer(TrainerCallback):
        t0 = 0.0

        def on_pre_optimizer_step(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_optimizer_step(self, args, state, control, **kw):
            times[key] += time.perf_counter() - self.t0

    return OptTimer()


def dump(fig: dict, path: str | None) -> None:
    if path:
        Path(path).write_text(json.dumps(fig, indent=2, default=str) + "\n")


PY = sys.executable
