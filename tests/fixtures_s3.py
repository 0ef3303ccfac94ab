"""Shared test helpers: a real S3 server (moto_server) on a free loopback port, a tiny
git+DVC project (module-scoped), and a recording HTTP server.

Import the fixtures into a test module (``from fixtures_s3 import moto_s3``)."""
from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import make_project, run  # noqa: F401 (make_project: re-exported)

#: dummy credentials: distinctive strings so a leak is found by grep
DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIATUNEPIPETESTKEY01",
    "AWS_SECRET_ACCESS_KEY": "tunepipe-dummy-secret-access-key-7f3a9c",
    "AWS_DEFAULT_REGION": "us-east-1",
    "HF_TOKEN": "hf_tunepipeDummyTokenNeverWritten42",
    "GRADIENTS_API_KEY": "gradients-dummy-api-key-0b5e1d",
}
#: the values that must never appear in a file the pipeline writes
SECRETS = [DUMMY_ENV[k] for k in ("AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "GRADIENTS_API_KEY")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoS3:
    def __init__(self, endpoint: str, bucket: str):
        self.endpoint, self.bucket = endpoint, bucket

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=DUMMY_ENV["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=DUMMY_ENV["AWS_SECRET_ACCESS_KEY"])

    def keys(self, prefix: str = "") -> list[str]:
        out, kw = [], {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            r = self.client().list_objects_v2(**kw)
            out += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                return out
            kw["ContinuationToken"] = r["NextContinuationToken"]

    def overrides(self, prefix: str = "cache") -> dict:
        """params overrides pointing the ``remote:`` section at this server."""
        return {"remote.bucket": self.bucket, "remote.prefix": prefix, "remote.region": "us-east-1",
                "remote.endpointurl": self.endpoint}


def _start_moto(tmp_path: Path):
    exe = Path(sys.executable).parent / "moto_server"
    port = free_port()
    log = open(tmp_path / "moto.log", "wb")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            break
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited: {(tmp_path / 'moto.log').read_text()[-2000:]}")
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto_server did not start")
    s3 = MotoS3(endpoint, "tunepipe-test")
    s3.client().create_bucket(Bucket=s3.bucket)
    return proc, log, s3


def _stop(proc, log):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def moto_s3(tmp_path_factory):
    """A real S3 API (moto_server subprocess on 127.0.0.1:<free port>) with one bucket."""
    proc, log, s3 = _start_moto(tmp_path_factory.mktemp("moto"))
    yield s3
    _stop(proc, log)


class Recorder(http.server.ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1:<free port> that records every request
    (method, path, headers, body) and answers from ``self.respond(handler) -> (status, json)``."""

    daemon_threads = True

    def __init__(self, respond):
        self.requests: list[dict] = []
        self.respond = respond
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.requests.append({"method": self.command, "path": self.path,
                                       "headers": dict(self.headers), "body": body})
                status, payload, *delay = outer.respond(self, body)
                if delay:
                    time.sleep(delay[0])
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _any

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self):
        self.shutdown()
        self.server_close()


def grep_secrets(paths, texts=()) -> list[str]:
    """Where any of SECRETS occurs: files under ``paths`` (recursively) and ``texts``."""
    hits = []
    needles = [s.encode() for s in SECRETS]
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
        for f in files:
            data = f.read_bytes()
            hits += [f"{f}: {n.decode()}" for n in needles if n in data]
    for i, t in enumerate(texts):
        hits += [f"log {i}: {s}" for s in SECRETS if s in t]
    return hits


__all__ = ["DUMMY_ENV", "SECRETS", "MotoS3", "moto_s3", "make_project", "Recorder", "grep_secrets", "free_port"]
