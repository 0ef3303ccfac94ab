"""compare: the evaluate report (Pareto frontier, env winners, regressions) across the
workspace, the `dvc exp show` experiments and any git revisions. Not a DAG stage: it only
reads metrics/eval.json where it already is (nothing is re-evaluated: it is ``cache: false``,
so each commit and experiment commit holds it in git), with the rule, mode, min_samples,
level and baseline of params.yaml's ``evaluate`` section.

    python stages/compare.py                      # workspace + HEAD + its experiments
    python stages/compare.py --revs "HEAD~1 v1.0" # plus these commits
    python stages/compare.py --noexps --models grpo
    make compare REVS="HEAD~1"

Prints the report and writes it to ``--out`` (Markdown) with a PNG beside it.
"""
from __future__ import annotations

from pathlib import Path

from tunepipe import TunepipeError, cli, config, evaluation, report


def _names(value) -> list[str]:
    if value in (None, "", False):
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return str(value).replace(",", " ").split()


def compare(params: str = "params.yaml", metrics: str = "metrics/eval.json", revs="", exps: bool = True,
            models="", out: str = "metrics/compare.md") -> None:
    """``revs``: git revisions (space or comma separated); ``exps``: include `dvc exp show`;
    ``models``: keep only these model names (default: every model of every source)."""
    p = config.load(params)
    a = config.typed(evaluation.EvalArgs, config.section(p, "evaluate"), "evaluate")
    report.check_pareto_args(a.pareto)
    sources, notes = [], []
    ws = report.workspace_source(metrics)
    if ws is not None:
        sources.append(ws)
    if exps:
        found, skipped = report.exp_show_sources(report.run_exp_show(), metrics)
        sources += found
        notes += skipped
    sources += [report.git_source(rev, metrics) for rev in _names(revs)]
    if not sources:
        raise TunepipeError(f"nothing to compare: no {metrics} in the workspace, no experiments, no --revs")
    rows = report.rows_from_sources(sources, level=a.level, models=_names(models) or None)
    if not rows:
        raise TunepipeError(f"none of the models {_names(models)} is in any source")
    baseline_rows = []
    if a.baseline is not None:
        baseline_rows = report.rows_from_eval(report.read_eval(a.baseline), a.baseline, source=report.BASELINE,
                                              level=a.level)
    dupes = sum(len(r["aliases"]) for r in rows)
    notes.append(f"{len(sources)} source(s): {', '.join(s['name'] for s in sources)}"
                 + (f"; {dupes} identical result(s) shown once (= aliases)" if dupes else ""))
    an = report.analyse(rows, rule=a.pareto.rule, mode=a.pareto.mode, min_samples=a.pareto.min_samples,
                        level=a.level, baseline_rows=baseline_rows, baseline_path=a.baseline,
                        temperature=a.temperature, notes=notes)
    target = Path(out)
    report.write_reports(an, target.parent, prefix=target.stem, title="Comparison across experiments and commits")
    print(report.markdown(an, "Comparison across experiments and commits"))
    print(f"\nwritten: {target} and {target.with_suffix('.png')}")


if __name__ == "__main__":
    cli.run(compare)
