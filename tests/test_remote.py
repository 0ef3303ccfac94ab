"""The DVC remote on S3, for real: a moto_server S3 API, the tiny pipeline, `make push` /
`make pull` (python -m tunepipe.remote), byte-identical outputs, the run cache; and no
credential in any file the pipeline writes."""
import hashlib
import json
import shutil
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import TINY_OVERRIDES, run, write_params
from fixtures_s3 import DUMMY_ENV, SECRETS, grep_secrets, make_project, moto_s3  # noqa: F401 (fixture)
from tunepipe import TunepipeError, config, remote

PY = sys.executable
DVC = [PY, "-m", "dvc"]
#: DVC-cached outputs of the default DAG (the cache: false metrics stay in the workspace)
CACHED = ["data/collect", "data/harmony", "data/reward", "models/base", "models/sft", "models/grpo",
          "models/export", "metrics/grpo_completions.csv", "metrics/eval_samples.jsonl"]


def ran_stages(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")]


def digest(root: Path, paths) -> dict:
    out = {}
    for rel in paths:
        p = root / rel
        for f in sorted([p] if p.is_file() else p.rglob("*")):
            if f.is_file():
                out[str(f.relative_to(root))] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def remove_cache_and_outputs(proj: Path) -> None:
    shutil.rmtree(proj / ".dvc" / "cache")
    for rel in CACHED:
        p = proj / rel
        shutil.rmtree(p) if p.is_dir() else p.unlink()


class E2E:
    def __init__(self, proj, s3):
        self.proj, self.s3, self.logs = proj, s3, []

    def run(self, cmd, check=True):
        p = run(cmd, self.proj, check=check, env=DUMMY_ENV)
        self.logs += [p.stdout, p.stderr]
        return p


@pytest.fixture(scope="module")
def e2e(moto_s3, tmp_path_factory):
    """The tiny pipeline run once (dummy credentials in the environment), pushed to moto."""
    proj = make_project(tmp_path_factory.mktemp("remote") / "proj", {**TINY_OVERRIDES, **moto_s3.overrides("cache")})
    e = E2E(proj, moto_s3)
    p = e.run(DVC + ["repro"])
    assert ran_stages(p.stdout) == ["collect", "base", "harmony_convert", "reward", "sft", "grpo", "evaluate", "export"]
    e.digest = digest(proj, CACHED)
    p = e.run([PY, "-m", "tunepipe.remote", "push", "--params", "params.yaml"])
    assert f"dvc push -r storage (s3://{moto_s3.bucket}/cache)" in p.stdout
    return e


pytestmark = pytest.mark.slow


def test_push_then_pull_restores_outputs_byte_identical(e2e):
    proj, s3 = e2e.proj, e2e.s3
    keys = s3.keys("cache/")
    assert any(k.startswith("cache/files/md5/") for k in keys)
    assert any(k.startswith("cache/runs/") for k in keys), "the run cache is pushed too"
    local = (proj / ".dvc" / "config.local").read_text()
    assert f"url = s3://{s3.bucket}/cache" in local and f"endpointurl = {s3.endpoint}" in local
    assert "remote = storage" in local and "key" not in local.lower() and "secret" not in local.lower()
    assert "storage" not in (proj / ".dvc" / "config").read_text(), "the committed config is untouched"

    remove_cache_and_outputs(proj)
    assert not (proj / "models" / "export").exists()
    e2e.run([PY, "-m", "tunepipe.remote", "pull", "--params", "params.yaml"])
    assert digest(proj, CACHED) == e2e.digest
    p = e2e.run(DVC + ["repro"])
    assert ran_stages(p.stdout) == [] and "up to date" in p.stdout


def test_run_cache_restores_stages_without_a_lock_file(e2e):
    """A clone without dvc.lock (say, a new branch): `dvc pull --run-cache` brings back the
    run cache (the entries only), and `dvc repro --pull` restores the stages from it, fetching
    their outputs, instead of running them."""
    proj = e2e.proj
    lock = (proj / "dvc.lock").read_text()
    try:
        (proj / "dvc.lock").unlink()
        remove_cache_and_outputs(proj)
        e2e.run([PY, "-m", "tunepipe.remote", "pull", "--params", "params.yaml"], check=False)
        assert (proj / ".dvc" / "cache" / "runs").is_dir()
        p = e2e.run(DVC + ["repro", "--pull", "reward"])
        assert ran_stages(p.stdout) == [], p.stdout
        for stage in ("collect", "base", "harmony_convert", "reward"):
            assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in p.stdout
        want = {k: v for k, v in e2e.digest.items() if k.startswith(("data/", "models/base"))}
        assert digest(proj, ["data/collect", "data/harmony", "data/reward", "models/base"]) == want
    finally:
        (proj / "dvc.lock").write_text(lock)
        e2e.run([PY, "-m", "tunepipe.remote", "pull", "--params", "params.yaml"])
    assert digest(proj, CACHED) == e2e.digest


def test_publish_pipeline_data_and_no_secret_anywhere(e2e):
    proj, s3 = e2e.proj, e2e.s3
    p = e2e.run([PY, "stages/publish.py", "dataset", "--params", "params.yaml", "--data", "data/reward/train.jsonl"])
    blob = (proj / "data" / "publish" / "grpo.json").read_bytes()
    assert len(json.loads(blob)) == 48
    url = next(x[5:] for x in p.stdout.splitlines() if x.startswith("url: "))
    assert urllib.request.urlopen(url, timeout=10).read() == blob
    e2e.run([PY, "stages/publish.py", "dataset", "--params", "params.yaml", "--data", "data/reward/train.jsonl",
             "--out", "data/publish/sft.json", "--dry-run"])

    # every file in the project (workspace, .dvc, .git), every log, every object in the bucket
    objects = [s3.client().get_object(Bucket=s3.bucket, Key=k)["Body"].read().decode("latin-1") for k in s3.keys()]
    assert len(objects) > 20
    assert grep_secrets([proj], e2e.logs + objects) == []
    # the access key id is no secret, but it too is in no file (only in the printed SigV4 URL)
    files = [f for f in proj.rglob("*") if f.is_file()]
    assert not [f for f in files if DUMMY_ENV["AWS_ACCESS_KEY_ID"].encode() in f.read_bytes()]


def test_remote_is_off_by_default_and_refuses_credentials(tmp_path):
    write_params(tmp_path / "params.yaml", {})
    p = config.load(tmp_path / "params.yaml")
    assert remote.args(p).bucket is None and remote.configure(remote.args(p), tmp_path) is None
    run(["git", "init", "-q"], tmp_path)
    run(DVC + ["init", "-q"], tmp_path)
    r = run([PY, "-m", "tunepipe.remote", "push", "--params", "params.yaml"], tmp_path, check=False)
    assert r.returncode == 1 and r.stderr.strip().startswith("error: no DVC remote: set remote.bucket")
    assert not (tmp_path / ".dvc" / "config.local").exists()

    for key in ("secret_access_key", "access_key_id", "session_token"):
        bad = {**p["remote"], "bucket": "b-1", key: "x"}
        with pytest.raises(TunepipeError, match=f"remote.{key}: credentials never go in params"):
            remote.args({"remote": bad})
    with pytest.raises(TunepipeError, match="credentials in the URL"):
        remote.args({"remote": {**p["remote"], "bucket": "b-1", "endpointurl": "https://AK:SK@minio:9000"}})
    with pytest.raises(TunepipeError, match="not an S3 bucket name"):
        remote.args({"remote": {**p["remote"], "bucket": "s3://b-1/x"}})
    with pytest.raises(TunepipeError, match="remote.region: missing key"):
        remote.args({"remote": {k: v for k, v in p["remote"].items() if k != "region"}})

    # configure: url, region, endpoint, profile into .dvc/config.local; stale keys replaced
    a = remote.args({"remote": {**p["remote"], "bucket": "team-bucket", "endpointurl": "http://127.0.0.1:9000",
                                "profile": "ml"}})
    assert remote.configure(a, tmp_path) == "s3://team-bucket/tunepipe/cache"
    a = remote.RemoteArgs(**{**a.__dict__, "endpointurl": None, "profile": None, "prefix": ""})
    assert remote.configure(a, tmp_path) == "s3://team-bucket"
    text = (tmp_path / ".dvc" / "config.local").read_text()
    assert "url = s3://team-bucket\n" in text and "endpointurl" not in text and "profile" not in text
    assert remote.default_remote(tmp_path) == "storage"
