"""publish (not in the DAG): hand a dataset to a training service.

    # build the dataset in publish.shape, upload it to remote.bucket, print a presigned GET URL
    python stages/publish.py dataset --params params.yaml --data data/reward/train.jsonl [--out FILE]
        [--dry-run] [--delete-local] [--submit]
    # create a Gradients task for a dataset URL (publish.gradients; GRADIENTS_API_KEY in the env)
    python stages/publish.py task --params params.yaml --url URL [--dry-run]

--dry-run writes the file and shows what would be uploaded / sent, without any network.
--delete-local removes the local file after the upload is verified (read back, SHA-256).
--submit creates the Gradients task for the uploaded dataset right away.
AWS credentials come from the environment or remote.profile; they are never written.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from tunepipe import TunepipeError, cli, config, gradients, io, publish, remote


def dataset(params: str = "params.yaml", data: str = "data/reward/train.jsonl", out: str | None = None,
            dry_run: bool = False, delete_local: bool = False, submit: bool = False) -> None:
    p = config.load(params)
    a, r = publish.args(p), remote.args(p)
    if r.bucket is None and not dry_run:
        raise TunepipeError("remote.bucket is not set: publishing uploads to s3://<remote.bucket>/"
                            f"{a.prefix} (or use --dry-run)")
    if submit:  # check the hand-off settings before anything is uploaded
        gradients.request(a.shape, "", a.gradients)
        if not dry_run and not os.environ.get(gradients.API_KEY_ENV):
            raise TunepipeError(f"--submit: {gradients.API_KEY_ENV} is not set in the environment")
    recs = publish.records(io.read_jsonl(data), data, a)
    client = None if dry_run else remote.s3_client(r)  # no credentials: fail before writing anything
    out_path = Path(out) if out else Path("data/publish") / f"{a.shape}.json"
    if out is None:  # the default folder holds artifacts only
        out_path.parent.mkdir(parents=True, exist_ok=True)
        (out_path.parent / ".gitignore").write_text("*\n")
    blob, sha = publish.write(recs, out_path)
    key = publish.object_key(a, sha)
    print(f"{a.shape}: {len(recs)} rows, {len(blob)} bytes, sha256 {sha} -> {out_path}")
    target = f"s3://{r.bucket or '<remote.bucket>'}/{key}"
    if dry_run:
        print(f"dry run: would upload {out_path} to {target} and presign it for {a.expiry_hours:g} h")
        if submit:
            gradients.create_task(a.shape, "<presigned URL>", a.gradients, dry_run=True)
        return
    publish.upload(client, r.bucket, key, blob, sha)
    url = publish.presign(client, r.bucket, key, a.expiry_hours)
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=a.expiry_hours)
    print(f"uploaded and verified: {target}")
    print(f"expires: {expires.isoformat(timespec='seconds')} ({a.expiry_hours:g} h)")
    print(f"url: {url}")
    if delete_local:
        out_path.unlink()
        print(f"deleted {out_path}")
    if submit:
        gradients.create_task(a.shape, url, a.gradients, dry_run=False)


def task(url: str, params: str = "params.yaml", dry_run: bool = False) -> None:
    a = publish.args(config.load(params))
    gradients.create_task(a.shape, url, a.gradients, dry_run=dry_run)


if __name__ == "__main__":
    cli.run({"dataset": dataset, "task": task})
