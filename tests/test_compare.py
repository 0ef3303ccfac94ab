"""stages/compare.py: the Pareto report across git revisions, `dvc exp show` experiments and
the workspace. Fast tests use synthetic eval.json files committed in a temp git repo and a
canned `dvc exp show --json`; one slow test runs two real (stand-in) `dvc exp run`s."""
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, run, write_params
from tunepipe import TunepipeError, metrics, report

DVC = [sys.executable, "-m", "dvc"]


def entry(p, n=300):
    return {"greedy": metrics.summarize([1.0] * round(p * n) + [0.0] * (n - round(p * n)))}


def eval_json(grpo_sat, grpo_abd=0.3):
    return {"base": {"sat": entry(0.1), "abd": entry(0.1)},
            "sft": {"sat": entry(0.3), "abd": entry(0.3)},
            "grpo": {"sat": entry(grpo_sat), "abd": entry(grpo_abd)}}


@pytest.fixture
def repo(tmp_path):
    """A git repo with params.yaml and two commits of metrics/eval.json: grpo at sat 0.5 /
    abd 0.3 (sft's abd: sft keeps it), then sat 0.7 / abd 0.45 (clearly better everywhere)."""
    d = tmp_path / "repo"
    (d / "metrics").mkdir(parents=True)
    write_params(d / "params.yaml", {"evaluate.pareto.min_samples": 100})
    run(["git", "init", "-q", "-b", "main"], d)
    run(["git", "config", "user.email", "t@example.com"], d)
    run(["git", "config", "user.name", "t"], d)
    for i, accs in enumerate(((0.5, 0.3), (0.7, 0.45))):
        (d / "metrics" / "eval.json").write_text(json.dumps(eval_json(*accs)))
        run(["git", "add", "-A"], d)
        run(["git", "commit", "-qm", f"eval {i}", "--date", f"2025-01-0{i + 1}T00:00:00"], d,
            env={"GIT_COMMITTER_DATE": f"2025-01-0{i + 1}T00:00:00"})
    return d


def _load_stage():
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare_stage", ROOT / "stages" / "compare.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.compare


@pytest.fixture
def compare(monkeypatch, capsys):
    """stages/compare.py's function, run in the repo; returns what it printed."""
    fn = _load_stage()

    def call(cwd, **kw):
        monkeypatch.chdir(cwd)
        fn(params="params.yaml", **kw)
        return capsys.readouterr().out
    return call


def test_compare_git_revisions_without_dvc(repo, compare):
    out = compare(repo, exps=False, revs="HEAD~1 HEAD")
    # base and sft are the same in both commits (and in the workspace): shown once, earliest name
    assert "**Pareto frontier: HEAD:grpo**" in out
    assert "| HEAD~1:base (= HEAD:base, workspace:base) |" in out
    assert "| HEAD:grpo (= workspace:grpo) |" in out
    assert "- HEAD~1:sft vs HEAD~1:grpo: HEAD~1:grpo takes sat; HEAD~1:sft keeps abd → neither dominates" in out
    assert "- HEAD~1:grpo vs HEAD:grpo: HEAD:grpo takes abd, sat → **HEAD:grpo dominates**" in out
    assert "**Env winners:** abd → HEAD:grpo · sat → HEAD:grpo" in out
    md = (repo / "metrics" / "compare.md").read_text()
    assert md.startswith("# Comparison across experiments and commits")
    assert "**Pareto frontier: HEAD:grpo**" in md
    assert (repo / "metrics" / "compare.png").read_bytes()[:4] == b"\x89PNG"
    # --models keeps only those; the workspace alone needs no git at all
    out = compare(repo, exps=False, models="grpo", out="metrics/only.md")
    assert "**Pareto frontier: workspace:grpo**" in out and "workspace:base" not in out
    assert (repo / "metrics" / "only.md").is_file()


def test_compare_with_a_baseline_marks_regressions(repo, compare):
    (repo / "baseline_results.json").write_text(json.dumps({"grpo": {"sat": entry(0.9)}}))
    write_params(repo / "params.yaml", {"evaluate.pareto.min_samples": 100,
                                        "evaluate.baseline": "baseline_results.json"})
    out = compare(repo, exps=False, models=["grpo"])
    assert "**vs baseline `baseline_results.json`: 1 regression(s) ▼** — workspace:grpo on sat (greedy)" in out
    assert "| baseline:grpo |" in out


@pytest.mark.parametrize("kw, message", [
    (dict(revs="no-such-rev"), "revision 'no-such-rev': not a git revision here"),
    (dict(models="nope"), "none of the models ['nope'] is in any source"),
    (dict(metrics="metrics/missing.json"), "nothing to compare: no metrics/missing.json in the workspace"),
])
def test_compare_errors_write_nothing(repo, compare, kw, message):
    with pytest.raises(TunepipeError) as e:
        compare(repo, exps=False, **kw)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not (repo / "metrics" / "compare.md").exists()


def test_compare_cli_one_line_error_and_exit_1(repo):
    """The script through Fire and tunepipe.cli.run: flags as in the README, one-line error."""
    p = subprocess.run([sys.executable, str(ROOT / "stages" / "compare.py"), "--noexps", "--revs", "HEAD~1 nope"],
                       cwd=repo, capture_output=True, text=True, timeout=120)
    assert p.returncode == 1
    assert [line for line in p.stderr.splitlines() if line.strip()] == [
        "error: revision 'nope': not a git revision here"]
    assert p.stdout == "" and not (repo / "metrics" / "compare.md").exists()


def test_git_source_needs_the_file_committed(repo):
    (repo / "other").mkdir()
    with pytest.raises(TunepipeError, match="metrics/other.json is not committed there"):
        report.git_source("HEAD", "metrics/other.json", cwd=repo)
    s = report.git_source("HEAD~1", cwd=repo)
    assert s["name"] == "HEAD~1" and s["eval"]["grpo"]["sat"]["greedy"]["accuracy"] == 0.5
    assert s["time"] < report.git_source("HEAD", cwd=repo)["time"]


# ----------------------------------------------------------------------------- dvc exp show --json
def _rec(rev, name, ts, ev):
    metrics_ = {} if ev is None else {"metrics/eval.json": {"data": ev}}
    return {"rev": rev, "name": name, "data": {"rev": rev, "timestamp": ts, "params": {}, "metrics": metrics_},
            "error": None, "experiments": None}


EXP_SHOW = [  # the shape of DVC 3.x `dvc exp show --json`
    _rec("workspace", None, None, eval_json(0.7, 0.45)),
    {**_rec("90e183e29f3a460fd26a24371d256b0e64049c9d", "main", "2025-01-01T00:00:00", eval_json(0.5)),
     "experiments": [
         {"revs": [_rec("a3e6cba", "good", "2025-01-01T00:02:00", eval_json(0.7, 0.45))], "executor": None,
          "name": "good"},
         {"revs": [_rec("e71f764", "bad", "2025-01-01T00:01:00", eval_json(0.2))], "executor": None, "name": "bad"},
         {"revs": [{**_rec("0000000", "broken", None, None), "error": {"msg": "failed"}}], "name": "broken"},
     ]},
]


def test_exp_show_sources_and_dedup():
    sources, notes = report.exp_show_sources(EXP_SHOW)
    assert [s["name"] for s in sources] == ["main", "good", "bad"]          # workspace: read from disk
    assert notes == ["skipped broken: no metrics/eval.json in it"]
    ws = {"name": "workspace", "time": float("inf"), "eval": eval_json(0.7, 0.45)}
    rows = report.rows_from_sources([ws, *sources], level=0.8)
    names = [r["name"] for r in rows]
    # ordered by time (main, bad, good, workspace); identical results kept once, earliest
    assert names == ["main:base", "main:sft", "main:grpo", "bad:grpo", "good:grpo"]
    by = {r["name"]: r for r in rows}
    assert by["main:base"]["aliases"] == ["bad:base", "good:base", "workspace:base"]
    assert by["good:grpo"]["aliases"] == ["workspace:grpo"]
    an = report.analyse(rows, rule="interval", mode="greedy", min_samples=100, level=0.8)
    assert an["frontier"] == ["good:grpo"]
    assert "| main:base (= bad:base, good:base, workspace:base) |" in report.markdown(an)
    with pytest.raises(TunepipeError, match="expected a list"):
        report.exp_show_sources({"rev": "workspace"})


def test_exp_show_sources_read_eval_json_from_git_when_not_a_metric(repo):
    """eval.json is a plain cache:false out now: `dvc exp show` lists summary.json only, so
    each row's eval.json comes from its commit (here: the repo's two commits)."""
    head, prev = (run(["git", "rev-parse", r], repo).stdout.strip() for r in ("HEAD", "HEAD~1"))
    show = [_rec("workspace", None, None, None),
            {**_rec(prev, "main", "2025-01-01T00:00:00", None),
             "experiments": [{"revs": [_rec(head, "exp-a", "2025-01-02T00:00:00", None)], "name": "exp-a"},
                             {"revs": [_rec("f" * 40, "gone", "2025-01-03T00:00:00", None)], "name": "gone"}]}]
    sources, notes = report.exp_show_sources(show, read=lambda rev, path: report.git_eval(rev, path, cwd=repo))
    assert [s["name"] for s in sources] == ["main", "exp-a"]
    assert sources[1]["eval"] == eval_json(0.7, 0.45) and sources[0]["eval"] == eval_json(0.5, 0.3)
    assert notes == ["skipped gone: no metrics/eval.json in it"]
    assert report.git_eval("HEAD", "metrics/other.json", cwd=repo) is None


# ----------------------------------------------------------------------------- the real thing, once
FAKE_EVALUATE = textwrap.dedent('''\
    """Stand-in for stages/evaluate.py: results from params (no model), written by the real report code."""
    from tunepipe import config, evaluation, io, metrics, report

    p = config.load("params.yaml")
    a = config.typed(evaluation.EvalArgs, config.section(p, "evaluate"), "evaluate")

    def summary(rate, n):
        return metrics.summarize([1.0] * round(rate * n) + [0.0] * (n - round(rate * n)), level=a.level)

    results = {}
    for name in a.models:
        per = {t: {"greedy": summary(r, 300), "sampled": {**summary(r, 600), "pass_at_k": r, "k": 2}}
               for t, r in p["fake"][name].items()}
        per["overall"] = {m: metrics.aggregate({t: e[m] for t, e in per.items()}, a.level) for m in ("greedy", "sampled")}
        results[name] = per
    an = report.analyse(report.rows_from_eval(results, "eval.json", level=a.level), rule=a.pareto.rule,
                        mode=a.pareto.mode, min_samples=a.pareto.min_samples, level=a.level)
    report.write_eval_outputs("metrics", results, an)
    io.write_jsonl("metrics/eval_samples.jsonl", [])
''')


@pytest.mark.slow
def test_two_experiments_then_make_compare_and_plots_diff(tmp_path):
    """The real evaluate outputs/metrics/plots of dvc.yaml, produced by a stand-in command, two
    `dvc exp run -S` experiments, `make compare`, `dvc plots diff` and `dvc exp show`."""
    import yaml

    d = tmp_path / "proj"
    (d / "stages").mkdir(parents=True)
    shutil.copy2(ROOT / "stages" / "compare.py", d / "stages" / "compare.py")
    shutil.copy2(ROOT / "Makefile", d / "Makefile")
    (d / "fake_evaluate.py").write_text(FAKE_EVALUATE)
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["evaluate"]
    stage.update(cmd="python fake_evaluate.py", deps=["fake_evaluate.py"], params=["fake", "evaluate"])
    (d / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"evaluate": stage}}, sort_keys=False))
    write_params(d / "params.yaml", {"evaluate.pareto.min_samples": 100})
    params = yaml.safe_load((d / "params.yaml").read_text())
    params["fake"] = {"base": {"sat": 0.1, "abd": 0.1}, "sft": {"sat": 0.3, "abd": 0.3}, "grpo": {"sat": 0.5, "abd": 0.3}}
    (d / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    run(["git", "init", "-q", "-b", "main"], d)
    run(["git", "config", "user.email", "t@example.com"], d)
    run(["git", "config", "user.name", "t"], d)
    run(DVC + ["init", "-q"], d)
    run(DVC + ["config", "core.analytics", "false"], d)
    run(DVC + ["repro"], d)
    run(["git", "add", "-A"], d)
    run(["git", "commit", "-qm", "baseline"], d)
    run(DVC + ["exp", "run", "--name", "better", "-S", "fake.grpo.sat=0.7", "-S", "fake.grpo.abd=0.45"], d)
    run(DVC + ["exp", "run", "--name", "worse", "-S", "fake.grpo.sat=0.2", "-S", "fake.grpo.abd=0.3"], d)

    venv = Path(sys.executable).parent.parent
    p = run(["make", "-o", f"{venv}/.installed", "compare", f"VENV={venv}"], d)
    assert "**Pareto frontier: better:grpo**" in p.stdout, p.stdout
    base_line = next(line for line in p.stdout.splitlines() if line.startswith("| main:base (= "))
    assert all(f"{x}:base" in base_line for x in ("better", "worse", "workspace"))
    assert "| worse:grpo (= workspace:grpo) |" in p.stdout
    assert (d / "metrics" / "compare.md").is_file() and (d / "metrics" / "compare.png").is_file()

    run(DVC + ["plots", "diff", "better", "worse", "-o", "plots_html"], d)
    html = (d / "plots_html" / "index.html").read_text().replace("\\u00b7", "·")  # JSON-escaped in the page
    for needle in ('"rev": "better"', '"rev": "worse"', "sat · grpo", "Greedy accuracy per env and model",
                   "Sampled accuracy per env and model", "eval.png"):
        assert needle in html, needle

    # DVC's metrics are the headline file alone (eval.json, pareto.json: plain git-tracked outs)
    show = json.loads(run(DVC + ["exp", "show", "--json"], d).stdout)
    exps = {r["name"]: r["data"]["metrics"] for r in show[1]["experiments"][0]["revs"] + show[1]["experiments"][1]["revs"]}
    assert set(exps["better"]) == {"metrics/summary.json"}
    summary = exps["better"]["metrics/summary.json"]["data"]
    assert summary["frontier"] == "grpo" and summary["grpo"]["sat"] == 0.7
    diff = run(DVC + ["metrics", "diff", "main", "--all"], d).stdout
    assert "grpo.sat" in diff and "frontier" in diff and "eval.json" not in diff
