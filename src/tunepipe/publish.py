"""Publishing a dataset for a training service: build the JSON array in the service's shape,
upload it to S3, verify the upload, and share it as a presigned GET URL.

Shapes (docs/reference/validators.md, "Training-service dataset shapes"):

- ``sft``: ``[{"prompt": str, "response": str, "score": float}]``. From task rows
  (``task``/``prompt``/``answer``/``spec``) the response is the reference answer and the
  score is what the task's own scorer gives it; rows that already carry ``prompt``,
  ``response`` and ``score`` (evaluation logs) pass through. ``publish.min_score`` filters.
- ``grpo``: ``[{"prompt": str, "env": {"sat": {"cls", "sol"} | false, "abd": {"program",
  "expected_output"} | false}}]``; ``sol`` is the row's reference assignment, checked to
  satisfy ``cls``. Only SAT and ABD rows have an env in this shape.

The object key is content-addressed (``<prefix>/<shape>-<sha256[:16]>.json``), so a
re-publish of the same bytes overwrites nothing else and the URL names exactly the
data it serves. The URL is printed, never written to a file: it is a bearer credential
for the object (and, as every SigV4 URL, carries the access key *id*, not the secret).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from tunepipe import TunepipeError, config, gradients, io

SHAPES = ("sft", "grpo")
MAX_EXPIRY_HOURS = 168  # SigV4 presigned URLs live at most 7 days


@dataclasses.dataclass
class PublishArgs:
    shape: str
    tasks: list[str] | None
    min_score: float
    prefix: str
    expiry_hours: float
    gradients: gradients.GradientsArgs


def args(params: dict) -> PublishArgs:
    a = config.typed(PublishArgs, config.section(params, "publish"), "publish")
    if a.shape not in SHAPES:
        raise TunepipeError(f"publish.shape: expected 'sft' or 'grpo', got {a.shape!r}")
    if not 0 < a.expiry_hours <= MAX_EXPIRY_HOURS:
        raise TunepipeError(f"publish.expiry_hours: must be in (0, {MAX_EXPIRY_HOURS}] "
                            f"(a SigV4 URL lives at most 7 days), got {a.expiry_hours}")
    return a


def prompt_text(prompt) -> str | None:
    """A plain-text prompt: the string itself, or the non-assistant messages' contents."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(m, dict) for m in prompt):
        parts = [m.get("content") for m in prompt if m.get("role") != "assistant"]
        if parts and all(isinstance(p, str) for p in parts):
            return "\n\n".join(parts)
    return None


def _field(row: dict, name: str, where: str):
    if name not in row:
        raise TunepipeError(f"{where}: row {row.get('id', '?')!r} has no field {name!r}")
    return row[name]


def _prompt(row: dict, where: str) -> str:
    p = prompt_text(_field(row, "prompt", where))
    if p is None:
        raise TunepipeError(f"{where}: row {row.get('id', '?')!r}: field 'prompt' must be a string or chat messages")
    return p


def sft_record(row: dict, where: str) -> dict:
    if "response" in row and "score" in row:  # an evaluation log row: prompt/response/score
        resp, score = row["response"], row["score"]
        if not isinstance(resp, str) or isinstance(score, bool) or not isinstance(score, (int, float)):
            raise TunepipeError(f"{where}: row {row.get('id', '?')!r}: 'response' must be a string and 'score' a number")
        return {"prompt": _prompt(row, where), "response": resp, "score": float(score)}
    from tunepipe import tasks

    task, answer = _field(row, "task", where), _field(row, "answer", where)
    score = tasks.score_completion(task, answer, _field(row, "spec", where))
    return {"prompt": _prompt(row, where), "response": answer, "score": float(score) if score is not None else 0.0}


def grpo_record(row: dict, where: str) -> dict:
    """``{"prompt", "env"}``: the env entry of the row's family (its ``to_service``), every
    other service env ``false``."""
    from tunepipe import tasks

    task, spec = _field(row, "task", where), _field(row, "spec", where)
    rid = row.get("id", "?")
    service = {name: tasks.get(name) for name in tasks.names()}
    env: dict = {name: False for name, f in service.items() if f.to_service is not None}
    family = tasks.get(task)
    if family.to_service is None:
        raise TunepipeError(f"{where}: row {rid!r}: task {task!r} has no env in the GRPO shape "
                            f"({' and '.join(env)} only); filter it out with publish.tasks")
    try:
        family.check_spec(spec)
        env[task] = family.to_service({**row, "spec": spec})
    except ValueError as e:
        raise TunepipeError(f"{where}: row {rid!r}: {str(e).partition(': ')[2] or e}") from None
    return {"prompt": _prompt(row, where), "env": env}


def records(rows: list[dict], path: str | Path, a: PublishArgs) -> list[dict]:
    """The dataset in shape ``a.shape`` from JSONL ``rows`` read from ``path``."""
    out = []
    for i, row in enumerate(rows, 1):
        if a.tasks is not None and "task" in row and row["task"] not in a.tasks:
            continue  # rows without a task (evaluation logs: prompt/response/score) are kept
        where = f"{path}:{i}"
        if a.shape == "sft":
            rec = sft_record(row, where)
            if rec["score"] >= a.min_score:
                out.append(rec)
        else:
            out.append(grpo_record(row, where))
    if not out:
        raise TunepipeError(f"{path}: no rows left to publish (publish.tasks / publish.min_score)")
    return out


def dump(recs: list[dict]) -> bytes:
    """Deterministic bytes: the same rows always give the same file (and object key)."""
    return json.dumps(recs, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def write(recs: list[dict], out: str | Path) -> tuple[bytes, str]:
    """Write the JSON array atomically; returns (bytes, sha256 hex)."""
    data = dump(recs)
    with io.atomic_file(out) as tmp:
        Path(tmp).write_bytes(data)
    return data, hashlib.sha256(data).hexdigest()


def object_key(a: PublishArgs, sha: str) -> str:
    prefix = a.prefix.strip("/")
    return f"{prefix}/{a.shape}-{sha[:16]}.json" if prefix else f"{a.shape}-{sha[:16]}.json"


def upload(client, bucket: str, key: str, data: bytes, sha: str) -> None:
    """Put the object, then read it back and compare its SHA-256: a verified upload."""
    import botocore.exceptions

    try:
        client.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json",
                          Metadata={"sha256": sha})
        back = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except botocore.exceptions.NoCredentialsError:
        raise TunepipeError("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                            "in the environment, or name an AWS profile in remote.profile") from None
    except botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        raise TunepipeError(f"s3://{bucket}/{key}: upload failed: {err.get('Code', '?')}: "
                            f"{' '.join(str(err.get('Message', '')).split())}") from None
    except botocore.exceptions.EndpointConnectionError as e:
        raise TunepipeError(f"s3://{bucket}/{key}: cannot reach the S3 endpoint: {e}") from None
    if hashlib.sha256(back).hexdigest() != sha:
        raise TunepipeError(f"s3://{bucket}/{key}: verification failed: the stored object differs from the local file")


def presign(client, bucket: str, key: str, hours: float) -> str:
    return client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                         ExpiresIn=int(hours * 3600))
