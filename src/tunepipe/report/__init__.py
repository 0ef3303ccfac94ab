"""Reports over evaluated models: the validators' Pareto comparison (`tunepipe.pareto`),
regressions against a stored baseline, a Markdown report, a PNG, and the data of the DVC
plots. `evaluate` uses it on the models of one run; `stages/compare.py` on the same models
gathered across the workspace, `dvc exp show` experiments and git revisions.

One module per job, the names used elsewhere re-exported here:

- :mod:`~tunepipe.report.analysis`: eval.json → report rows → the comparison (one dict);
- :mod:`~tunepipe.report.render`: the Markdown (the comparison, a family's own metrics,
  sample episodes);
- :mod:`~tunepipe.report.figure`: the PNG (`plot`; matplotlib imported only when drawing);
- :mod:`~tunepipe.report.sources`: rows across git revisions, ``dvc exp show`` and the
  workspace (`compare`);
- :mod:`~tunepipe.report.summary`: ``summary.json`` (the headline), ``pareto.json``, the DVC
  bar data, and the writers of `evaluate`'s outputs and `compare`'s report.

Each depends only on those listed before it.
"""
from __future__ import annotations

from tunepipe.report.analysis import (BASELINE, MODES, OVERALL, ParetoArgs, analyse, check_pareto_args, read_eval,
                                      rows_from_eval)
from tunepipe.report.figure import plot
from tunepipe.report.render import (RULE_TEXT, SUMMARY_KEYS, TRUNCATION_WARN, episodes_markdown, markdown,
                                    task_metrics_markdown, truncation_markdown, truncation_warnings)
from tunepipe.report.sources import (exp_show_sources, git_eval, git_source, rows_from_sources, run_exp_show,
                                     workspace_source)
from tunepipe.report.summary import (TRAIN_KEYS, bar_rows, headline, headline_metrics, read_train_logs,
                                     write_eval_outputs, write_reports)

__all__ = ["ParetoArgs", "rows_from_eval", "read_eval", "analyse", "markdown", "headline", "headline_metrics",
           "read_train_logs", "bar_rows",
           "plot", "write_reports", "write_eval_outputs", "exp_show_sources", "git_source", "workspace_source",
           "rows_from_sources",
           # used by the stages, export's model card and the tests too
           "OVERALL", "MODES", "BASELINE", "RULE_TEXT", "SUMMARY_KEYS", "TRAIN_KEYS", "check_pareto_args",
           "task_metrics_markdown", "episodes_markdown", "run_exp_show", "git_eval", "TRUNCATION_WARN",
           "truncation_markdown", "truncation_warnings"]
