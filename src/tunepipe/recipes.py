"""Ready recipes (``params/recipes/<name>.yaml``), run as named DVC experiments, and their CPU
rehearsals.

    make recipe NAME=affine-qwen3-4b [ARGS="-S key=value"]     # on the GPU box
    make rehearse NAME=affine-qwen3-4b [MODEL=...] [ARGS=...]  # here: CPU, SmolLM2 GGUF, tiny budgets

A recipe is an overlay on ``params.yaml`` (only the keys that differ), applied as ``dvc exp run
-S key=value`` arguments exactly as ``make smoke`` applies a profile (:mod:`tunepipe.smoke`).

A rehearsal is the same recipe with four kinds of change and nothing else (docs/recipes/):

1. the model: ``base.model`` = the shipped SmolLM2-135M-Instruct GGUF (or ``--model``);
2. budgets: every number in ``params/recipes/rehearsal.yaml`` caps the recipe's (the smaller one
   wins; a recipe's null -- "all rows", "the family's own budget" -- takes the cap), and its
   ``collect.train/test`` cap the counts of the families the recipe runs (it runs no other);
3. sources: the recipe's hub datasets, CSVs and environment servers become small local files in
   the same schemas (``data/sources/rehearsal/``) and the built-in engines;
4. GPU-only switches (vLLM, DeepSpeed / multi-GPU launch, bf16/fp16, MXFP4 metadata) off, each with
   a one-line notice.
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from tunepipe import TunepipeError, cli, config, smoke, tasks

RECIPES = Path("params/recipes")
REHEARSAL = RECIPES / "rehearsal.yaml"
PRESETS = Path("params/presets")
SOURCES = "data/sources/rehearsal"
#: the local stand-ins for a recipe's sources, in the real schemas (data/sources/rehearsal/make.py)
LOCAL_SOURCES = {
    "collect.abd.source": f"{SOURCES}/rl-python.jsonl",
    "collect.ded.source": f"{SOURCES}/rl-python.jsonl",
    "collect.decision.source": f"{SOURCES}/qvalues.csv",
    "collect.reference.source": f"{SOURCES}/tulu3-50k.parquet",
}
#: dtype keys a rehearsal runs in float32 (bf16 / fp16 are the GPU's)
DTYPE_KEYS = ("base.dtype", "sft.dtype", "grpo.dtype", "evaluate.dtype", "export.dtype", "reward.reference.rm.dtype")


def names() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.yaml") if p != REHEARSAL)


def path(name: str) -> Path:
    p = RECIPES / f"{name}.yaml"
    if not name or p == REHEARSAL or not p.is_file():
        raise TunepipeError(f"recipe {name!r} not found in {RECIPES}/: one of {', '.join(names()) or '(none)'}")
    return p


def load(name: str, preset: str = "") -> dict:
    """Recipe ``name``'s overlay; ``preset``: a preset of params/presets/ laid over it (e.g.
    ``validators``: the validators' evaluation regime)."""
    d = config.load(path(name))
    d.pop("__file__")
    if preset:
        p = PRESETS / f"{preset}.yaml"
        if not p.is_file():
            have = ", ".join(sorted(f.stem for f in PRESETS.glob("*.yaml"))) or "(none)"
            raise TunepipeError(f"preset {preset!r} not found in {PRESETS}/: one of {have}")
        over = config.load(p)
        over.pop("__file__")
        for key, value in smoke.flatten(over):
            _set(d, key, copy.deepcopy(value))
    return d


def _get(d: dict, key: str, default=None):
    for part in key.split("."):
        if not isinstance(d, dict) or part not in d:
            return default
        d = d[part]
    return d


def _set(d: dict, key: str, value) -> None:
    *parents, last = key.split(".")
    for p in parents:
        d = d.setdefault(p, {})
    d[last] = value


def resolved(name: str, params: dict, preset: str = "") -> dict:
    """``params`` with the recipe (and ``preset``) applied: what the experiment's params.yaml holds."""
    from tunepipe import plan

    return plan.overlay(params, load(name, preset), str(path(name)))[0]


def _cap(value, cap, key: str, section: dict):
    if isinstance(cap, bool) or not isinstance(cap, (int, float, list)):
        raise TunepipeError(f"{REHEARSAL}: {key}: a cap must be a number, got {cap!r}")
    if value is None:
        return cap
    if isinstance(value, dict):      # a per-family mapping (budgets): cap every entry
        return {k: _cap(v, cap, f"{key}.{k}", section) for k, v in value.items()}
    if isinstance(cap, list) or isinstance(value, list):   # an inclusive [min, max] range: cap both ends
        caps = cap if isinstance(cap, list) else [cap] * len(value)
        values = value if isinstance(value, list) else [value] * len(caps)
        if len(caps) != len(values):
            raise TunepipeError(f"{REHEARSAL}: {key}: {cap!r} does not match the recipe's {value!r}")
        return [_cap(v, c, key, section) for v, c in zip(values, caps)]
    if key.endswith("max_steps") and value <= 0:   # <= 0: the epochs decide; 0 epochs stays 0 steps
        return 0 if not section.get("num_train_epochs") else cap
    return min(value, cap)


def rehearsal(name: str, params: dict, model: str, preset: str = "") -> tuple[dict, list[str]]:
    """The rehearsal overlay of recipe ``name`` (on ``params``) and its notices, one line each."""
    recipe = load(name, preset)
    full = resolved(name, params, preset)
    caps = config.load(REHEARSAL)
    caps.pop("__file__")
    over = copy.deepcopy(recipe)
    notes = [f"rehearsal: base.model {_get(full, 'base.model')} -> {model} (the CPU stand-in)"]
    _set(over, "base.model", model)
    running = set(_get(full, "collect.train") or {}) | set(_get(full, "collect.test") or {})
    for key, cap in smoke.flatten(caps):
        section, _, rest = key.partition(".")
        if section in ("collect", "reward") and rest.split(".")[0] in tasks.names() \
                and rest.split(".")[0] not in running:
            continue    # a family the recipe does not run: its settings stay as they are
        if key in smoke.REPLACED:
            families = _get(full, key) or {}
            _set(over, key, {t: _cap(families[t], cap[t], f"{key}.{t}", {}) if t in cap else families[t]
                             for t in families})
            continue
        parent = _get(full, key.rsplit(".", 1)[0], {}) if "." in key else full
        _set(over, key, _cap(smoke.lookup(full, key, str(REHEARSAL)), cap, key, parent))

    for key, local in LOCAL_SOURCES.items():
        task = key.split(".")[1]
        src = _get(full, key)
        if task in running and src not in (local, "builtin"):
            _set(over, key, local)
            notes.append(f"rehearsal: {key} {src} -> {local} (a small local file in the same schema)")
    for task in sorted(running):
        server = _get(full, f"collect.{task}.server")
        if server:
            _set(over, f"collect.{task}.server", None)
            notes.append(f"rehearsal: collect.{task}.server {server} -> null (the built-in engine: no server here)")

    # GPU-only switches
    half = [k for k in DTYPE_KEYS if _get(full, k) in ("bfloat16", "float16")]
    if half:
        notes.append(f"rehearsal: {', '.join(half)} -> float32 (bf16/fp16 are GPU settings; the CPU trains in fp32)")
        for key in half:
            _set(over, key, "float32")
    if _get(full, "grpo.use_vllm"):
        notes.append("rehearsal: grpo.use_vllm true -> false (vLLM needs a GPU; rollouts run in HF generate)")
        _set(over, "grpo.use_vllm", False)
    if _get(full, "evaluate.backend") == "vllm":
        notes.append("rehearsal: evaluate.backend vllm -> hf (vLLM needs a GPU)")
        _set(over, "evaluate.backend", "hf")
    cfg_file = _get(full, "launch.config_file")
    if cfg_file or _get(full, "launch.num_processes", 1) > 1 or _get(full, "launch.launcher") != "python":
        notes.append(f"rehearsal: launch {_get(full, 'launch.launcher')} x {_get(full, 'launch.num_processes')}"
                     f"{' with ' + cfg_file if cfg_file else ''} -> one python process (DeepSpeed and multi-GPU "
                     "launches need GPUs; the batch per optimizer step is unchanged)")
        _set(over, "launch.launcher", "python")
        _set(over, "launch.num_processes", 1)
        _set(over, "launch.config_file", None)
    if _get(full, "export.keep_mxfp4_config"):
        notes.append("rehearsal: export.keep_mxfp4_config true -> false (MXFP4 metadata exists only on a gpt-oss "
                     "checkpoint; the stand-in has none)")
        _set(over, "export.keep_mxfp4_config", False)
    return over, notes


def run(name: str = "", preset: str = "", params: str = "params.yaml", extra: str = "") -> None:
    """Run recipe ``name`` (with ``preset`` over it) as the DVC experiment ``name``[-``preset``]
    (``extra``: more ``dvc exp run`` args)."""
    base = config.load(params)
    smoke.exp_run(name + (f"-{preset}" if preset else ""),
                  smoke.overlay_args(load(name, preset), base, str(path(name))), extra)


def rehearse(name: str = "", model: str = "", preset: str = "", params: str = "params.yaml", extra: str = "",
             dry_run: bool = False) -> None:
    """Rehearse recipe ``name`` on CPU as the DVC experiment ``rehearse-<name>``."""
    base = config.load(params)
    over, notes = rehearsal(name, base, model or smoke.shipped_gguf(), preset)
    print("\n".join(notes), flush=True)
    if dry_run:
        print(json.dumps(over, indent=1))
        return
    smoke.exp_run("rehearse-" + re.sub(r"[^\w-]+", "-", name + (f"-{preset}" if preset else "")),
                  smoke.overlay_args(over, base, str(path(name))), extra)


if __name__ == "__main__":
    cli.run({"run": run, "rehearse": rehearse})
