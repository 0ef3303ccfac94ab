import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The slowest files first (measured with --durations; docs/results/test-suite.md): under
# `pytest -n 2 --dist loadfile` (make test) each file goes whole to a worker in this order, so the
# long ones overlap with the rest instead of running alone at the end.
SLOW_FIRST = ("test_recipes.py", "test_scaleout.py", "test_decision.py", "test_reference.py",
              "test_pipeline.py", "test_learning.py", "test_dvc_graph.py", "test_family_plugin.py", "test_remote.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: file order kept within


#: overrides that make the real params.yaml run end to end in about a minute
TINY_OVERRIDES = {
    "collect.train": {"sat": 48, "decision": 16, "textcraft": 4},
    "collect.test": {"sat": 8, "decision": 8, "textcraft": 4},
    "collect.textcraft.max_steps": 4,   # the oracle needs up to 4 at difficulty 1
    "sft.oversample": None,             # params.yaml oversamples babyai, which these rows leave out
    "grpo.episode.turn_tokens": 6,
    "evaluate.episode.turn_tokens": 6,
    "collect.sat.n_vars": [3, 3],
    "collect.sat.k": [2, 2],
    "base.tiny.vocab_size": 300,
    "base.tiny.hidden_size": 32,
    "base.tiny.intermediate_size": 64,
    "base.tiny.num_hidden_layers": 1,
    "base.tiny.num_attention_heads": 2,
    "base.tiny.num_key_value_heads": 2,
    "sft.max_steps": 2,
    "sft.batch_size": 8,
    "sft.eval_steps": 1,
    "sft.logging_steps": 1,
    "sft.save_steps": 1,
    "grpo.max_steps": 2,
    "grpo.prompts_per_step": 2,
    "grpo.num_generations": 4,
    "grpo.max_completion_length": 8,
    "grpo.logging_steps": 1,
    "grpo.save_steps": 1,
    "evaluate.max_new_tokens": 8,
    "evaluate.num_samples": 2,
    "evaluate.batch_size": 8,
}


def set_key(params: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    d = params
    for p in parents:
        d = d[p]
    d[last] = value


def write_params(path: Path, overrides: dict) -> None:
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for k, v in overrides.items():
        set_key(params, k, v)
    path.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))


def run(cmd, cwd, check=True, env=None, timeout=900):
    """Run a command (list) with the venv's bin first on PATH; returns CompletedProcess."""
    e = dict(os.environ)
    e["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{e['PATH']}"
    e.update(env or {})
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=e, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def make_project(dst: Path, overrides: dict) -> Path:
    """A copy of the real project (dvc.yaml, stages, src) in a fresh git+DVC repo, its
    params.yaml the real one with ``overrides``."""
    dst.mkdir(parents=True)
    for name in ("dvc.yaml", "stages", "src", "configs", "data/sources", ".dvcignore", ".gitignore"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.csv"))
        elif src.exists():
            shutil.copy2(src, dst / name)
    write_params(dst / "params.yaml", overrides)
    run(["git", "init", "-q", "-b", "main"], dst)
    run(["git", "config", "user.email", "t@example.com"], dst)
    run(["git", "config", "user.name", "t"], dst)
    run([sys.executable, "-m", "dvc", "init", "-q"], dst)
    run([sys.executable, "-m", "dvc", "config", "core.analytics", "false"], dst)
    run(["git", "add", "-A"], dst)
    run(["git", "commit", "-qm", "init"], dst)
    return dst


def tiny_atoms() -> list[str]:
    """The pre-tokenizer atoms of every registered task family (name order): what the test
    models' tokenizers are built with (``models.build_tiny`` takes them from its caller)."""
    from tunepipe import tasks

    return [a for name in tasks.names() for a in tasks.get(name).atoms]


@pytest.fixture
def project(tmp_path):
    """The real project with tiny overrides (:data:`TINY_OVERRIDES`) in a temp git+DVC repo."""
    return make_project(tmp_path / "proj", TINY_OVERRIDES)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A tiny Qwen3 model + corpus tokenizer built by the real builder, and rendered rows."""
    from tunepipe import harmony, models
    from tunepipe.tasks import sat

    d = tmp_path_factory.mktemp("tiny")
    rows = sat.build(32, random.Random(0), n_vars=[3, 3], k=[2, 2], ratio=4.26, answer="planted",
                     prompt_template="Solve {formula} over x1..x{n}. Answer x1=True, ... or UNSAT.")
    for i, r in enumerate(rows):
        r["id"] = f"r{i}"
        r["prompt_text"] = harmony.render(r["prompt"], system_message=False)
        r["completion_text"] = harmony.render_completion(r["answer"])
    texts = [r["prompt_text"] + r["completion_text"] for r in rows]
    tiny = dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256)
    models.build_tiny(d / "base", texts, seed=0, tiny=tiny, atoms=tiny_atoms())
    from tunepipe import io

    io.write_jsonl(d / "train.jsonl", rows)
    return d
