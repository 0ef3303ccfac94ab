"""Outputs depend on the commit and params only, not on the caller's environment: the same
stage run with and without HF_HUB_OFFLINE (``make repro`` sets it, a plain ``dvc repro``
does not) writes byte-identical files, so DVC does not rerun what follows."""
import hashlib
import sys

from conftest import ROOT, TINY_OVERRIDES, run, write_params


def digests(d):
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*")) if p.is_file()}


def test_a_stage_writes_the_same_bytes_with_and_without_hf_hub_offline(tmp_path, tiny_model):
    # base on a local model dir: transformers' from_pretrained + save_pretrained, the path
    # every saved tokenizer takes (sft, grpo and export load theirs the same way)
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "base.model": str(tiny_model / "base")})
    (tmp_path / "data" / "collect").mkdir(parents=True)
    (tmp_path / "data" / "collect" / "train.jsonl").write_text("")
    outs = {}
    for offline in ("1", "0"):   # transformers recorded local_files_only true / false
        out = tmp_path / f"base-{offline}"
        p = run([sys.executable, str(ROOT / "stages" / "base.py"), "--params", "params.yaml", "--data", "data/collect",
                 "--out", str(out)], tmp_path, env={"HF_HUB_OFFLINE": offline})
        assert "base model (local)" in p.stdout
        outs[offline] = digests(out)
        assert "local_files_only" not in (out / "tokenizer_config.json").read_text()
    assert outs["1"] == outs["0"]
