"""Publishing datasets against a real S3 API (moto_server): both shapes, the presigned URL
serves the same bytes, --dry-run uploads nothing, --delete-local only after a verified
upload; bad input is a one-line error with nothing written."""
import hashlib
import json
import random
import sys
import urllib.parse
import urllib.request

import pytest

from conftest import ROOT, TINY_OVERRIDES, run, write_params
from fixtures_s3 import DUMMY_ENV, SECRETS, Recorder, moto_s3  # noqa: F401 (fixture)
from tunepipe.tasks import sat
from tunepipe.tasks.code import abd

PY = sys.executable
NO_CREDS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_CONFIG_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="module")
def rows_file(tmp_path_factory):
    """Task rows as the pipeline writes them: 4 SAT, 2 ABD, and (separately) a DED row."""
    d = tmp_path_factory.mktemp("rows")
    rows = sat.build(4, random.Random(0), n_vars=[4, 4], k=[3, 3], ratio=4.26, answer="random_solution",
                     prompt_template="Solve {formula} over x1..x{n} ({k}-SAT).")
    rows += abd.build(2, random.Random(1))
    for i, r in enumerate(rows):
        r["id"] = f"train-{r['task']}-{i}"
    (d / "rows.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    ded = {"id": "train-ded-0", "task": "ded", "prompt": [{"role": "user", "content": "write it"}],
           "answer": "```python\nprint(1)\n```", "spec": {"test_cases": []}}
    (d / "with_ded.jsonl").write_text((d / "rows.jsonl").read_text() + json.dumps(ded) + "\n")
    return d, rows


def publish(cwd, moto, *args, env=None, **overrides):
    write_params(cwd / "params.yaml", {**TINY_OVERRIDES, **moto.overrides(), **overrides})
    return run([PY, str(ROOT / "stages" / "publish.py"), "dataset", "--params", "params.yaml", *args], cwd,
               check=False, env={**DUMMY_ENV, **(env or {})})


def url_of(stdout: str) -> str:
    return next(line[len("url: "):] for line in stdout.splitlines() if line.startswith("url: "))


def one_line_error(p) -> str:
    lines = [x for x in p.stderr.strip().splitlines() if x.strip()]
    assert p.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    return lines[0]


def test_grpo_shape_upload_and_url(tmp_path, moto_s3, rows_file):
    d, rows = rows_file
    p = publish(tmp_path, moto_s3, "--data", str(d / "rows.jsonl"), "--out", "pub/grpo.json")
    assert p.returncode == 0, p.stderr
    blob = (tmp_path / "pub" / "grpo.json").read_bytes()
    data = json.loads(blob)
    assert isinstance(data, list) and len(data) == 6
    for rec, row in zip(data, rows):
        assert set(rec) == {"prompt", "env"} and set(rec["env"]) == {"sat", "abd"}
        assert rec["prompt"] == row["prompt"][0]["content"]
        if row["task"] == "sat":
            assert rec["env"]["abd"] is False and rec["env"]["sat"]["cls"] == row["spec"]["clauses"]
            sol = rec["env"]["sat"]["sol"]
            assert sorted(sol) == ["1", "2", "3", "4"] and all(isinstance(v, bool) for v in sol.values())
            assert sat.satisfies({int(k): v for k, v in sol.items()}, rec["env"]["sat"]["cls"])
        else:
            assert rec["env"]["sat"] is False
            assert rec["env"]["abd"] == {"program": row["spec"]["program"],
                                         "expected_output": row["spec"]["expected_output"]}
    sha = hashlib.sha256(blob).hexdigest()
    key = f"tunepipe/datasets/grpo-{sha[:16]}.json"
    assert key in moto_s3.keys("tunepipe/datasets/")
    url = url_of(p.stdout)
    q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    assert q["X-Amz-Expires"] == ["604800"], "default expiry: 168 h"
    assert urllib.parse.urlparse(url).path == f"/{moto_s3.bucket}/{key}"
    assert urllib.request.urlopen(url, timeout=10).read() == blob, "the URL serves the same bytes"
    assert f"sha256 {sha}" in p.stdout and "uploaded and verified" in p.stdout
    assert not any(s in p.stdout + p.stderr for s in SECRETS)

    # --delete-local: the file goes only after the verified upload; the object stays
    p = publish(tmp_path, moto_s3, "--data", str(d / "rows.jsonl"), "--out", "pub/grpo.json", "--delete-local",
                **{"publish.expiry_hours": 2})
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "pub" / "grpo.json").exists() and "deleted pub/grpo.json" in p.stdout
    url = url_of(p.stdout)
    assert urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["X-Amz-Expires"] == ["7200"]
    assert urllib.request.urlopen(url, timeout=10).read() == blob


def test_sft_shape_from_task_rows_and_from_eval_logs(tmp_path, moto_s3, rows_file):
    d, rows = rows_file
    p = publish(tmp_path, moto_s3, "--data", str(d / "rows.jsonl"), "--out", "pub/sft.json",
                **{"publish.shape": "sft"})
    assert p.returncode == 0, p.stderr
    blob = (tmp_path / "pub" / "sft.json").read_bytes()
    data = json.loads(blob)
    assert [set(r) for r in data] == [{"prompt", "response", "score"}] * 6
    assert [r["response"] for r in data] == [r["answer"] for r in rows]
    assert all(r["score"] == 1.0 for r in data), "the task scorer verifies every reference"
    assert urllib.request.urlopen(url_of(p.stdout), timeout=10).read() == blob

    # evaluation logs (prompt/response/score) pass through, filtered by publish.min_score
    logs = [{"prompt": "p1", "response": "r1", "score": 0.9}, {"prompt": "p2", "response": "r2", "score": 0.2},
            {"prompt": [{"role": "user", "content": "p3"}], "response": "r3", "score": 1}]
    (tmp_path / "logs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logs))
    p = publish(tmp_path, moto_s3, "--data", "logs.jsonl", "--out", "pub/logs.json", "--dry-run",
                **{"publish.shape": "sft", "publish.min_score": 0.5})
    assert p.returncode == 0, p.stderr
    assert json.loads((tmp_path / "pub" / "logs.json").read_text()) == [
        {"prompt": "p1", "response": "r1", "score": 0.9}, {"prompt": "p3", "response": "r3", "score": 1.0}]


def test_dry_run_writes_the_file_and_uploads_nothing(tmp_path, moto_s3, rows_file):
    d, _ = rows_file
    before = moto_s3.keys()
    p = publish(tmp_path, moto_s3, "--data", str(d / "rows.jsonl"), "--dry-run", env=NO_CREDS,
                **{"publish.prefix": "dry"})
    assert p.returncode == 0, p.stderr
    out = tmp_path / "data" / "publish" / "grpo.json"  # the default location, git-ignored
    assert len(json.loads(out.read_text())) == 6
    assert (out.parent / ".gitignore").read_text() == "*\n"
    assert f"dry run: would upload data/publish/grpo.json to s3://{moto_s3.bucket}/dry/grpo-" in p.stdout
    assert "url:" not in p.stdout and moto_s3.keys() == before


def test_submit_hands_the_url_to_the_training_service(tmp_path, moto_s3, rows_file):
    d, _ = rows_file
    srv = Recorder(lambda h, body: (200, {"success": True, "task_id": "t-1"}))
    try:
        p = publish(tmp_path, moto_s3, "--data", str(d / "rows.jsonl"), "--out", "pub/g.json", "--submit",
                    **{"publish.gradients.base_url": srv.url, "publish.gradients.model_repo": "Qwen/Qwen3-4B",
                       "publish.gradients.reward_function_ids": ["r1"]})
    finally:
        srv.close()
    assert p.returncode == 0, p.stderr
    (req,) = srv.requests
    body = json.loads(req["body"])
    assert req["path"] == "/v1/tasks/create_grpo" and body["ds_repo"] == url_of(p.stdout)
    assert urllib.request.urlopen(body["ds_repo"], timeout=10).read() == (tmp_path / "pub" / "g.json").read_bytes()
    assert "grpo task created: task_id t-1" in p.stdout


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, moto_s3, rows_file):
    d, _ = rows_file
    line = one_line_error(publish(tmp_path, moto_s3, "--data", str(d / "with_ded.jsonl"), "--out", "pub/x.json",
                                  **{"publish.tasks": None}))
    assert "with_ded.jsonl:7: row 'train-ded-0': task 'ded' has no env in the GRPO shape" in line
    assert "publish.tasks" in line
    # filtering the family out (the default publish.tasks: [sat, abd]) makes the same file publishable
    p = publish(tmp_path, moto_s3, "--data", str(d / "with_ded.jsonl"), "--out", "pub/x.json", "--dry-run")
    assert p.returncode == 0 and len(json.loads((tmp_path / "pub" / "x.json").read_text())) == 6
    (tmp_path / "pub" / "x.json").unlink()

    line = one_line_error(publish(tmp_path, moto_s3, "--data", str(d / "rows.jsonl"), "--out", "pub/x.json",
                                  env=NO_CREDS))
    assert "no AWS credentials" in line
    line = one_line_error(publish(tmp_path, moto_s3, "--data", str(d / "rows.jsonl"), "--out", "pub/x.json",
                                  **{"publish.expiry_hours": 200}))
    assert "publish.expiry_hours: must be in (0, 168]" in line
    line = one_line_error(publish(tmp_path, moto_s3, "--data", str(d / "rows.jsonl"), "--out", "pub/x.json",
                                  **{"remote.bucket": None}))
    assert "remote.bucket is not set" in line
    line = one_line_error(publish(tmp_path, moto_s3, "--data", str(d / "rows.jsonl"), "--out", "pub/x.json",
                                  **{"remote.bucket": "NoSuchBucket!"}))
    assert "remote.bucket: 'NoSuchBucket!' is not an S3 bucket name" in line
    line = one_line_error(publish(tmp_path, moto_s3, "--data", str(d / "rows.jsonl"), "--out", "pub/x.json",
                                  **{"remote.bucket": "missing-bucket"}))
    assert "s3://missing-bucket/tunepipe/datasets/grpo-" in line and "NoSuchBucket" in line
    # a failed upload keeps the (complete) local file for a retry; nothing was deleted
    assert (tmp_path / "pub" / "x.json").is_file()
    (tmp_path / "pub" / "x.json").unlink()
    bad = dict(json.loads((d / "rows.jsonl").read_text().splitlines()[0]))
    bad["answer"] = "x1=True"  # does not satisfy the clauses
    (tmp_path / "bad.jsonl").write_text(json.dumps(bad) + "\n")
    line = one_line_error(publish(tmp_path, moto_s3, "--data", "bad.jsonl", "--out", "pub/x.json"))
    assert "bad.jsonl:1: row 'train-sat-0': the reference answer does not satisfy the clauses" in line
    assert not (tmp_path / "pub" / "x.json").exists()
