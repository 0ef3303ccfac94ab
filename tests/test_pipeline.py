"""End to end: the real dvc.yaml and params.yaml (tiny overrides) in a temp git+DVC repo, with
a task family of one's own and reference rows (tests/test_family_plugin.py: the family goes
through every stage, and every reward param reruns reward onward but never sft)."""
import json
import sys

import pytest

from conftest import run

pytestmark = pytest.mark.slow

DVC = [sys.executable, "-m", "dvc"]


def ran_stages(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def test_dvc_repro_end_to_end_then_cached_then_experiment(tmp_path):
    from test_family_plugin import check_plugin_family, plugin_project, sweep_reward_params

    project = plugin_project(tmp_path)
    p = run(DVC + ["repro"], project)
    assert ran_stages(p.stdout) == ["collect", "base", "harmony_convert", "reward", "sft", "grpo", "evaluate", "export"]

    ev = json.loads((project / "metrics" / "eval.json").read_text())
    assert set(ev) == {"base", "sft", "grpo"}
    for name, per_task in ev.items():
        g = per_task["sat"]["greedy"]
        assert g["n"] == 8 and 0.0 <= g["ci_low"] <= g["ci_high"] <= 1.0 and 0.0 <= g["accuracy"] <= 1.0
        assert per_task["sat"]["sampled"]["n"] == 16
    assert (project / "metrics" / "eval.png").stat().st_size > 1000
    # the headline: the one file DVC shows as metrics (eval.json, pareto.json, dvclive: plain outs)
    summary = json.loads((project / "metrics" / "summary.json").read_text())
    assert set(summary) == {"frontier", "sft", "grpo", "train"}
    assert set(summary["grpo"]) == {"sat", "decision", "textcraft", "arith", "reference"} and summary["sft"] == {
        "overall": round(ev["sft"]["overall"]["greedy"]["accuracy"], 4)}
    assert summary["grpo"]["sat"] == round(ev["grpo"]["sat"]["greedy"]["accuracy"], 4)
    assert summary["grpo"]["decision"] == round(ev["grpo"]["decision"]["greedy"]["best_action_rate"], 4)
    assert set(summary["train"]) == {"sft_loss", "grpo_reward"}
    shown = json.loads(run(DVC + ["metrics", "show", "--json"], project).stdout)
    assert [list(r["data"]) for r in shown.values()] == [["metrics/summary.json"]]
    # the headline fits a 200-column terminal as DVC prints it, with its default options
    table = run(DVC + ["metrics", "show"], project, env={"COLUMNS": "200"}).stdout
    assert 0 < max(len(line) for line in table.splitlines()) <= 200, table
    assert (project / "metrics" / "grpo_completions.csv").is_file()
    assert (project / "metrics" / "sft" / "metrics.json").is_file()
    for f in ("config.json", "README.md", "Modelfile", "tokenizer.json"):
        assert (project / "models" / "export" / f).is_file()
    assert "| grpo | sat |" in (project / "models" / "export" / "README.md").read_text()

    # the exported model loads with plain transformers in a fresh process and generates
    code = (
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "t = AutoTokenizer.from_pretrained('models/export'); m = AutoModelForCausalLM.from_pretrained('models/export')\n"
        "ids = t('<|start|>user<|message|>hi<|end|><|start|>assistant', return_tensors='pt', add_special_tokens=False)\n"
        "out = m.generate(**ids, max_new_tokens=4, do_sample=False)\n"
        "assert out.shape[1] > ids['input_ids'].shape[1]; print('GENERATED')\n"
    )
    assert "GENERATED" in run([sys.executable, "-c", code], project).stdout

    check_plugin_family(project)

    # nothing changed: nothing runs
    p = run(DVC + ["repro"], project)
    assert ran_stages(p.stdout) == [] and "up to date" in p.stdout

    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline"], project)
    sweep_reward_params(project)   # each reward param: reward onward, never sft

    # a GRPO param change reruns only grpo, evaluate, export
    p = run(DVC + ["exp", "run", "-S", "grpo.learning_rate=0.001"], project)
    assert ran_stages(p.stdout) == ["grpo", "evaluate", "export"], p.stdout
    show = run(DVC + ["exp", "show", "--json"], project).stdout
    assert "grpo.learning_rate" in show or "0.001" in show
