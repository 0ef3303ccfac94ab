"""The Gradients client against a local HTTP server that records what it receives: exact
request bodies and headers, --dry-run printing the same request, server errors as one line."""
import json
import sys

import pytest

from conftest import ROOT, TINY_OVERRIDES, run, write_params
from fixtures_s3 import DUMMY_ENV, Recorder
from tunepipe import TunepipeError, gradients

PY = sys.executable
KEY = DUMMY_ENV["GRADIENTS_API_KEY"]
URL = "https://bucket.s3.amazonaws.com/tunepipe/datasets/sft-0123.json?X-Amz-Signature=abc&X-Amz-Expires=604800"


@pytest.fixture
def server():
    answer = {"status": 200, "payload": {"success": True, "task_id": "task-42"}, "delay": 0}
    srv = Recorder(lambda h, body: (answer["status"], answer["payload"], answer["delay"]))
    srv.answer = answer
    yield srv
    srv.close()


def publish_task(tmp_path, server, *args, shape="sft", env=None, **gradient_overrides):
    g = {"publish.gradients.base_url": server.url, "publish.gradients.model_repo": "Qwen/Qwen3-4B",
         "publish.gradients.reward_function_ids": ["sat-fn-id", "abd-fn-id"], "publish.gradients.timeout_s": 2,
         **{f"publish.gradients.{k}": v for k, v in gradient_overrides.items()}}
    write_params(tmp_path / "params.yaml", {**TINY_OVERRIDES, "publish.shape": shape, **g})
    return run([PY, str(ROOT / "stages" / "publish.py"), "task", "--params", "params.yaml", "--url", URL, *args],
               tmp_path, check=False, env={"GRADIENTS_API_KEY": KEY} if env is None else env)


def one_line_error(p) -> str:
    lines = [x for x in p.stderr.strip().splitlines() if x.strip()]
    assert p.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    assert KEY not in p.stderr and KEY not in p.stdout
    return lines[0]


def test_sft_request(tmp_path, server):
    p = publish_task(tmp_path, server, shape="sft")
    assert p.returncode == 0, p.stderr
    (req,) = server.requests
    assert req["method"] == "POST" and req["path"] == "/v1/tasks/create_custom_dataset_text"
    assert json.loads(req["body"]) == {"field_instruction": "prompt", "field_output": "response",
                                       "model_repo": "Qwen/Qwen3-4B", "training_data": URL, "file_format": "s3",
                                       "hours_to_complete": 2}
    assert req["headers"]["Authorization"] == f"Bearer {KEY}"
    assert req["headers"]["Content-Type"] == "application/json"
    assert "sft task created: task_id task-42" in p.stdout and KEY not in p.stdout


def test_grpo_request_and_dry_run_prints_the_same_request(tmp_path, server):
    p = publish_task(tmp_path, server, shape="grpo", hours_to_complete=5)
    assert p.returncode == 0, p.stderr
    (req,) = server.requests
    assert req["path"] == "/v1/tasks/create_grpo"
    sent = json.loads(req["body"])
    assert sent == {"field_prompt": "prompt", "ds_repo": URL, "model_repo": "Qwen/Qwen3-4B",
                    "reward_function_ids": ["sat-fn-id", "abd-fn-id"], "file_format": "s3", "hours_to_complete": 5}

    dry = publish_task(tmp_path, server, "--dry-run", shape="grpo", hours_to_complete=5, env={"GRADIENTS_API_KEY": ""})
    assert dry.returncode == 0, dry.stderr
    assert len(server.requests) == 1, "a dry run sends nothing"
    text = dry.stdout.split("dry run: would send\n", 1)[1]
    head, body = text.split("\n\n", 1)
    assert head.splitlines() == [f"POST {server.url}/v1/tasks/create_grpo",
                                 "Authorization: Bearer $GRADIENTS_API_KEY", "Content-Type: application/json"]
    assert body.strip().encode() == req["body"], "the dry run prints the exact bytes that are sent"


@pytest.mark.parametrize("status,payload,delay,needles", [
    (401, {"detail": "Invalid API key"}, 0, ["gradients: 401", "check GRADIENTS_API_KEY"]),
    (422, {"detail": [{"loc": ["body", "model_repo"], "msg": "field required", "type": "missing"},
                      {"loc": ["body", "hours_to_complete"], "msg": "must be <= 12"}]}, 0,
     ["gradients: 422 request rejected", "body.model_repo: field required; body.hours_to_complete: must be <= 12"]),
    (500, b"<html>\nInternal\nServer Error\n</html>", 0, ["gradients: server error 500", "try again later"]),
    (503, {"detail": "maintenance"}, 0, ["server error 503", "maintenance"]),
    (200, {"ok": True}, 4, ["gradients: no answer from", "within 1 s", "publish.gradients.timeout_s"]),
])
def test_server_errors_are_one_line(tmp_path, server, status, payload, delay, needles):
    server.answer.update(status=status, payload=payload, delay=delay)
    line = one_line_error(publish_task(tmp_path, server, shape="sft", timeout_s=1))
    for n in needles:
        assert n in line, line


def test_unreachable_and_non_json(tmp_path, server):
    server.answer.update(payload=b"not json")
    assert "answered with non-JSON: not json" in one_line_error(publish_task(tmp_path, server, shape="sft"))
    port = server.server_address[1]
    server.close()
    line = one_line_error(publish_task(tmp_path, server, shape="sft"))
    assert f"gradients: cannot reach http://127.0.0.1:{port}/v1/tasks/create_custom_dataset_text" in line


def test_missing_settings(monkeypatch):
    g = gradients.GradientsArgs(base_url="http://x", model_repo="m/m", hours_to_complete=2,
                                reward_function_ids=[], timeout_s=1)
    with pytest.raises(TunepipeError, match="reward_function_ids is empty"):
        gradients.request("grpo", URL, g)
    with pytest.raises(TunepipeError, match="model_repo is not set"):
        gradients.request("sft", URL, gradients.GradientsArgs(**{**g.__dict__, "model_repo": None}))
    monkeypatch.delenv("GRADIENTS_API_KEY", raising=False)
    with pytest.raises(TunepipeError, match="GRADIENTS_API_KEY is not set"):
        gradients.create_task("sft", URL, g, dry_run=False)
