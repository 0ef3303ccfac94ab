"""The DVC remote on S3 (or an S3-compatible store), configured from the ``remote:`` params section.

params.yaml names the bucket, prefix, region, endpoint and AWS profile; it never holds
credentials. Those come from the environment (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``) or from the named AWS profile, and are
read by boto at request time, so they are written nowhere: not in params, not in
``.dvc/config*``, not in logs.

:func:`configure` writes the remote into ``.dvc/config.local`` (git-ignored: params.yaml is
the committed source of truth, the DVC config is derived from it on each machine) and
makes it the default remote. ``make push`` / ``make pull`` run::

    python -m tunepipe.remote push --params params.yaml   # configure, then dvc push --run-cache
    python -m tunepipe.remote pull --params params.yaml   # configure, then dvc pull --run-cache

With ``remote.bucket: null`` (the default) nothing is configured and the pipeline stays
local; push/pull then use a default remote configured by hand, if any.
"""
from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

from tunepipe import TunepipeError, config

#: keys that would put a credential in params (or in .dvc/config); refused by name
CREDENTIAL_KEYS = ("access_key_id", "secret_access_key", "session_token", "aws_access_key_id",
                   "aws_secret_access_key", "aws_session_token", "credentialpath", "password", "token")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


@dataclasses.dataclass
class RemoteArgs:
    name: str                 # DVC remote name
    bucket: str | None        # null: no remote (the default, offline)
    prefix: str               # key prefix of the DVC cache in the bucket
    region: str | None
    endpointurl: str | None   # S3-compatible store: http(s)://host[:port]
    profile: str | None       # an AWS profile name (~/.aws/credentials), never the keys


def args(params: dict) -> RemoteArgs:
    """The typed ``remote:`` section; credentials in it are an error, whatever their value."""
    sec = config.section(params, "remote")
    for k in sec:
        if k.lower() in CREDENTIAL_KEYS:
            raise TunepipeError(
                f"remote.{k}: credentials never go in params; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY in the environment, or name an AWS profile in remote.profile")
    a = config.typed(RemoteArgs, sec, "remote")
    if a.bucket is not None:
        if a.bucket.startswith("s3://") or not _BUCKET_RE.fullmatch(a.bucket):
            raise TunepipeError(f"remote.bucket: {a.bucket!r} is not an S3 bucket name "
                                "(lowercase letters, digits, '.' and '-'; no s3:// and no path: use remote.prefix)")
    if a.endpointurl is not None:
        if not re.match(r"https?://", a.endpointurl):
            raise TunepipeError(f"remote.endpointurl: expected http(s)://host[:port], got {a.endpointurl!r}")
        if "@" in a.endpointurl.split("//", 1)[1].split("/", 1)[0]:
            raise TunepipeError("remote.endpointurl: credentials in the URL are not allowed; "
                                "use the environment or remote.profile")
    return a


def url(a: RemoteArgs) -> str:
    prefix = a.prefix.strip("/")
    return f"s3://{a.bucket}/{prefix}" if prefix else f"s3://{a.bucket}"


def configure(a: RemoteArgs, repo: str | Path = ".") -> str | None:
    """Write remote ``a.name`` (url, region, endpointurl, profile; no credentials) into
    ``<repo>/.dvc/config.local`` as the default remote. Returns its URL, or None when
    ``remote.bucket`` is null (nothing is written)."""
    if a.bucket is None:
        return None
    from dvc.config import Config

    dvc_dir = Path(repo) / ".dvc"
    if not dvc_dir.is_dir():
        raise TunepipeError(f"{Path(repo).resolve()}: not a DVC repository (no .dvc directory)")
    section = {"url": url(a)}
    for key in ("region", "endpointurl", "profile"):
        if getattr(a, key) is not None:
            section[key] = getattr(a, key)
    conf = Config(dvc_dir=str(dvc_dir))
    with conf.edit("local") as c:
        c["remote"][a.name] = section  # replaces the whole section: stale keys go
        c["core"]["remote"] = a.name
    return section["url"]


def default_remote(repo: str | Path = ".") -> str | None:
    from dvc.config import Config

    return Config(dvc_dir=str(Path(repo) / ".dvc"))["core"].get("remote")


def _dvc(cmd: list[str], repo: str | Path) -> None:
    p = subprocess.run([sys.executable, "-m", "dvc", *cmd], cwd=repo)
    if p.returncode != 0:
        raise TunepipeError(f"dvc {' '.join(cmd)} failed (exit {p.returncode}); see its output above")


def _sync(verb: str, params: str, repo: str, run_cache: bool) -> None:
    a = args(config.load(params))
    where = configure(a, repo)
    name = a.name if where else default_remote(repo)
    if name is None:
        raise TunepipeError("no DVC remote: set remote.bucket (and remote.endpointurl for an "
                            "S3-compatible store) in params.yaml; see README 'Remote cache on S3'")
    print(f"dvc {verb} -r {name}" + (f" ({where})" if where else ""), flush=True)
    _dvc([verb, "-r", name] + (["--run-cache"] if run_cache else []), repo)


def push(params: str = "params.yaml", repo: str = ".", run_cache: bool = True) -> None:
    """Configure the remote from params, then ``dvc push --run-cache``."""
    _sync("push", params, repo, run_cache)


def pull(params: str = "params.yaml", repo: str = ".", run_cache: bool = True) -> None:
    """Configure the remote from params, then ``dvc pull --run-cache``."""
    _sync("pull", params, repo, run_cache)


def configure_cmd(params: str = "params.yaml", repo: str = ".") -> None:
    """Only write the DVC remote config (``.dvc/config.local``) from params."""
    where = configure(args(config.load(params)), repo)
    print(f"DVC remote: {where}" if where else "remote.bucket is null: no remote configured")


def s3_client(a: RemoteArgs):
    """A boto3 S3 client for remote ``a``: credentials from the environment or ``a.profile``."""
    import boto3
    import botocore.config
    import botocore.exceptions

    try:
        session = boto3.Session(profile_name=a.profile, region_name=a.region)
    except botocore.exceptions.ProfileNotFound:
        raise TunepipeError(f"remote.profile: AWS profile {a.profile!r} not found") from None
    if session.get_credentials() is None:
        raise TunepipeError("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                            "in the environment, or name an AWS profile in remote.profile")
    return session.client("s3", endpoint_url=a.endpointurl,
                          config=botocore.config.Config(signature_version="s3v4", retries={"max_attempts": 3}))


if __name__ == "__main__":
    from tunepipe import cli

    cli.run({"configure": configure_cmd, "push": push, "pull": pull})
