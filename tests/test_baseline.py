"""The committed baseline: ``dvc.lock`` and the default run's metrics are in git, so in a fresh
clone ``dvc exp run -S ...`` then ``dvc metrics diff`` / ``dvc exp show`` / ``dvc plots diff``
compare against them. This check fails when the committed ``dvc.lock`` no longer matches the
code or the params -- a code dep (``src/``, ``stages/``, ``configs/``, ``data/sources``) or a
param whose hash or value differs from the lock -- so the baseline cannot go stale silently.
Refresh it as docs/guides/baseline.md says (``make baseline``)."""
import json
from pathlib import Path

from conftest import ROOT

#: deps that are code or inputs in git (not another stage's outputs, absent from a fresh clone)
TRACKED = ("src/", "stages/", "configs/", "data/sources")
#: the committed baseline files: the headline metrics, the detail, the report and the plots' data
FILES = ("dvc.lock", "metrics/summary.json", "metrics/eval.json", "metrics/pareto.json", "metrics/report.md",
         "metrics/eval.png", "metrics/sft/metrics.json", "metrics/grpo/metrics.json")


def drift(root: Path) -> list[str]:
    """``stage: path (how)`` for every code dep or param of ``root``'s dvc.lock that the tree no
    longer matches."""
    from dvc.repo import Repo

    out = []
    with Repo(str(root)) as repo:
        for stage, entries in repo.status().items():
            for entry in entries:
                if not isinstance(entry, dict):
                    continue
                for path, how in (entry.get("changed deps") or {}).items():
                    if isinstance(how, dict):   # a params file: {key: "modified" | "new" | "deleted"}
                        out += [f"{stage}: {path}:{k} ({h})" for k, h in how.items()]
                    elif path.startswith(TRACKED):
                        out.append(f"{stage}: {path} ({how})")
    return sorted(out)


def test_the_baseline_is_committed():
    for f in FILES:
        assert (ROOT / f).is_file(), f"{f}: the default run's baseline is not committed (make baseline)"
    summary = json.loads((ROOT / "metrics" / "summary.json").read_text())
    assert {"frontier", "sft", "grpo", "train"} <= set(summary)


def test_the_committed_dvc_lock_matches_the_code_and_params():
    bad = drift(ROOT)
    assert not bad, ("dvc.lock is stale: the committed baseline was not produced by this code and these "
                     "params. Refresh it (make baseline, then commit dvc.lock and metrics/):\n  " + "\n  ".join(bad))


def test_the_check_sees_a_code_edit_and_a_param_edit(tmp_path):
    """The check is not blind: a copy of the repo with one module edited and one param changed
    is reported stale on both."""
    import shutil

    import yaml

    from conftest import run

    dst = tmp_path / "repo"
    for name in ("dvc.yaml", "dvc.lock", "params.yaml", "stages", "src", "configs", "data/sources", ".dvcignore",
                 ".gitignore"):
        s = ROOT / name
        (shutil.copytree(s, dst / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
         if s.is_dir() else (dst.mkdir(exist_ok=True), shutil.copy2(s, dst / name)))
    run(["git", "init", "-q"], dst)
    run([__import__("sys").executable, "-m", "dvc", "init", "-q", "--subdir"], dst)
    assert drift(dst) == []
    (dst / "src" / "tunepipe" / "pareto.py").write_text((dst / "src" / "tunepipe" / "pareto.py").read_text() + "\n# edit\n")
    params = yaml.safe_load((dst / "params.yaml").read_text())
    params["grpo"]["max_steps"] += 1
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    bad = drift(dst)
    assert any("src/tunepipe/pareto.py" in b for b in bad) and any("params.yaml:grpo " in b for b in bad), bad
