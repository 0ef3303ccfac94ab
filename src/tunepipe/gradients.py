"""A small client for the Gradients training service: create an SFT task on a custom text
dataset or a GRPO task, both reading a dataset we published to S3 (a presigned URL).

Endpoints and fields (the service's published examples)::

    POST {base_url}/v1/tasks/create_custom_dataset_text
      {field_instruction, field_output, model_repo, training_data, file_format: "s3", hours_to_complete}
    POST {base_url}/v1/tasks/create_grpo
      {field_prompt, ds_repo, model_repo, reward_function_ids, file_format: "s3", hours_to_complete}

with ``Authorization: Bearer $GRADIENTS_API_KEY``. The key is read from the environment at
send time and never printed: ``--dry-run`` prints the exact request with the header as
``Bearer $GRADIENTS_API_KEY``. Server errors (401, 422, 5xx, timeouts) become one-line
:class:`~tunepipe.TunepipeError` messages.
"""
from __future__ import annotations

import dataclasses
import json
import os

from tunepipe import TunepipeError

API_KEY_ENV = "GRADIENTS_API_KEY"
SFT_PATH = "/v1/tasks/create_custom_dataset_text"
GRPO_PATH = "/v1/tasks/create_grpo"


@dataclasses.dataclass
class GradientsArgs:
    base_url: str
    model_repo: str | None
    hours_to_complete: int
    reward_function_ids: list[str]
    timeout_s: float


def request(shape: str, dataset_url: str, g: GradientsArgs) -> tuple[str, dict]:
    """(path, JSON body) of the task-creation request for a dataset of ``shape``."""
    if not g.model_repo:
        raise TunepipeError("publish.gradients.model_repo is not set (the HF model to train, e.g. Qwen/Qwen3-4B)")
    if g.hours_to_complete <= 0:
        raise TunepipeError(f"publish.gradients.hours_to_complete: must be > 0, got {g.hours_to_complete}")
    if shape == "sft":
        # field names are those of our SFT shape: [{prompt, response, score}]
        return SFT_PATH, {"field_instruction": "prompt", "field_output": "response", "model_repo": g.model_repo,
                          "training_data": dataset_url, "file_format": "s3",
                          "hours_to_complete": g.hours_to_complete}
    if shape == "grpo":
        if not g.reward_function_ids:
            raise TunepipeError("publish.gradients.reward_function_ids is empty: list the service's reward "
                                "function ids for the tasks in the dataset (SAT, ABD)")
        return GRPO_PATH, {"field_prompt": "prompt", "ds_repo": dataset_url, "model_repo": g.model_repo,
                           "reward_function_ids": list(g.reward_function_ids), "file_format": "s3",
                           "hours_to_complete": g.hours_to_complete}
    raise TunepipeError(f"publish.shape: expected 'sft' or 'grpo', got {shape!r}")


def endpoint(g: GradientsArgs, path: str) -> str:
    return g.base_url.rstrip("/") + path


def encode(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def describe(g: GradientsArgs, path: str, body: dict) -> str:
    """The exact HTTP request, key shown as the variable it comes from."""
    return "\n".join([
        f"POST {endpoint(g, path)}",
        f"Authorization: Bearer ${API_KEY_ENV}",
        "Content-Type: application/json",
        "",
        encode(body).decode("utf-8"),
    ])


def _one_line(text: str, limit: int = 300) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _detail(raw: bytes) -> str:
    """FastAPI-style ``{"detail": ...}`` (a string or a list of {loc, msg}) in one line."""
    try:
        d = json.loads(raw).get("detail", raw.decode("utf-8", "replace"))
    except (ValueError, AttributeError):
        d = raw.decode("utf-8", "replace")
    if isinstance(d, list):
        d = "; ".join(
            (".".join(str(x) for x in e.get("loc", [])) + ": " if isinstance(e, dict) and e.get("loc") else "")
            + str(e.get("msg", e) if isinstance(e, dict) else e) for e in d)
    return _one_line(d) or "(no detail)"


def post(g: GradientsArgs, path: str, body: dict, api_key: str) -> dict:
    """Send the request; the parsed JSON answer, or a one-line TunepipeError."""
    import socket
    import urllib.error
    import urllib.request

    url = endpoint(g, path)
    req = urllib.request.Request(url, data=encode(body), method="POST", headers={
        "Authorization": f"Bearer {api_key}", "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=g.timeout_s) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as e:
        raw = e.read() or b""
        if e.code in (401, 403):
            raise TunepipeError(f"gradients: {e.code} {e.reason} from {url}: check {API_KEY_ENV}") from None
        if e.code == 422:
            raise TunepipeError(f"gradients: 422 request rejected by {url}: {_detail(raw)}") from None
        if e.code >= 500:
            raise TunepipeError(f"gradients: server error {e.code} {e.reason} from {url}; "
                                f"try again later ({_detail(raw)})") from None
        raise TunepipeError(f"gradients: {e.code} {e.reason} from {url}: {_detail(raw)}") from None
    except (TimeoutError, socket.timeout):
        raise TunepipeError(f"gradients: no answer from {url} within {g.timeout_s:g} s "
                            "(publish.gradients.timeout_s)") from None
    except urllib.error.URLError as e:
        if isinstance(e.reason, (TimeoutError, socket.timeout)):
            raise TunepipeError(f"gradients: no answer from {url} within {g.timeout_s:g} s "
                                "(publish.gradients.timeout_s)") from None
        raise TunepipeError(f"gradients: cannot reach {url}: {_one_line(e.reason)}") from None
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise TunepipeError(f"gradients: {url} answered with non-JSON: {_one_line(raw.decode('utf-8', 'replace'), 120)}") from None


def create_task(shape: str, dataset_url: str, g: GradientsArgs, *, dry_run: bool) -> dict | None:
    """Create the task for a dataset at ``dataset_url``; with ``dry_run`` print the exact
    request instead (no key needed). Returns the service's answer (None on a dry run)."""
    path, body = request(shape, dataset_url, g)
    if dry_run:
        print("dry run: would send\n" + describe(g, path, body))
        return None
    key = os.environ.get(API_KEY_ENV)
    if not key:
        raise TunepipeError(f"{API_KEY_ENV} is not set in the environment (or use --dry-run)")
    answer = post(g, path, body, key)
    task_id = answer.get("task_id") if isinstance(answer, dict) else None
    print(f"gradients: {shape} task created" + (f": task_id {task_id}" if task_id else f": {_one_line(json.dumps(answer))}"))
    return answer
