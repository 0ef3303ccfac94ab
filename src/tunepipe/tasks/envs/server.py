"""An AgentGym-compatible HTTP server over ANY engine of :data:`.agentgym.ENGINES` (stdlib only).

It reproduces AgentGym's servers (``agentenv-<kind>/agentenv_<kind>/{server,model}.py``) in
every measured point: the request bodies (a body of the wrong shape: HTTP 422, as their
pydantic models), the answers (the engine's own ``/reset`` and ``/step`` bodies, e.g. BabyAI's
running ``score`` and completion with ``done`` false), failures as HTTP 200 ``{"error": ...}``.

- textcraft: POST /create {commands?, goal?} -> {id, observation, done, reward} (already reset to
  data_idx = id); POST /reset {id, data_idx?} -> the reset body.
- babyai, sciworld: /create (no body) -> {id}; /reset {id, data_idx} (required).
- alfworld: /create -> {id}; /reset {id, game, world_type}.
- webshop: /create -> int; /reset {env_idx, session_id?} -> [observation, null]; /step {env_idx,
  action} -> {state, reward, done, info}; GET /available_actions?env_idx= -> {has_search_bar, clickables}.
- all: POST /step {id, action}; GET /observation?id=; POST /close {id}; GET /open (an extension:
  the open ids, which tests count; also ``EngineService.open_ids()``).

    python -m tunepipe.tasks.envs.server --env babyai --port 8000
"""
from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from .agentgym import FIELDS

_INT, _STR = (int,), (str,)
#: per dialect and route: field -> (types, required) of AgentGym's pydantic request models
SCHEMAS = {
    "textcraft": {"/create": {"commands": (_STR, False), "goal": (_STR, False)},
                  "/reset": {"id": (_INT, True), "data_idx": (_INT, False)}},
    "babyai": {"/reset": {"id": (_INT, True), "data_idx": (_INT, True)}},
    "sciworld": {"/reset": {"id": (_INT, True), "data_idx": (_INT, True)}},
    "alfworld": {"/reset": {"id": (_INT, True), "game": (_INT, True), "world_type": (_STR, True)}},
    "webshop": {"/reset": {"env_idx": (_INT, True), "session_id": (_INT, False)},
                "/step": {"env_idx": (_INT, True), "action": (_STR, True)},
                "/close": {"env_idx": (_INT, True)}},
}
for _d in ("textcraft", "babyai", "sciworld", "alfworld"):
    SCHEMAS[_d].update({"/step": {"id": (_INT, True), "action": (_STR, True)}, "/close": {"id": (_INT, True)}})


class BadBody(ValueError):
    """A request body of the wrong shape (HTTP 422)."""


def check_body(dialect: str, path: str, body) -> None:
    schema = SCHEMAS[dialect].get(path)
    if schema is None:
        return
    if not isinstance(body, dict):
        raise BadBody("body must be a JSON object")
    for k, (types, required) in schema.items():
        if k not in body or body[k] is None:
            if required:
                raise BadBody(f"field required: {k}")
            continue
        if not isinstance(body[k], types) or isinstance(body[k], bool):
            raise BadBody(f"{k}: expected {types[0].__name__}")


def engine_factory(name: str):
    """``(factory, dialect)`` of an engine name of :data:`.agentgym.ENGINES`."""
    from .agentgym import engine_class
    cls = engine_class(name)
    return cls, cls.NAME


class EngineService:
    """The routes, independent of HTTP (one lock: the engines are not thread-safe)."""

    def __init__(self, name: str):
        self.name = name
        self.factory, self.dialect = engine_factory(name)
        self.engines: dict[int, object] = {}
        self.next_id = 0
        self.lock = threading.Lock()

    def open_ids(self) -> list[int]:
        with self.lock:
            return sorted(self.engines)

    def _engine(self, idx):
        if idx not in self.engines:
            raise KeyError(f"The id {idx} is not valid.")
        return self.engines[idx]

    def _reset(self, idx, data_idx):
        r = self._engine(idx).reset(int(data_idx or 0))
        if isinstance(r, dict) and "id" in r:
            r = {**r, "id": idx}
        return r

    def create(self, body: dict):
        idx = self.next_id
        self.next_id += 1
        self.engines[idx] = self.factory()
        if self.dialect == "textcraft":
            r = self._reset(idx, idx)
            return {"id": idx, "observation": r["observation"], "done": r["done"], "reward": r["reward"]}
        return idx if self.dialect == "webshop" else {"id": idx}

    def reset(self, body: dict):
        id_key, idx_key = FIELDS[self.dialect]
        if self.dialect == "alfworld" and body["world_type"] not in ("Text", "Embody", "Hybrid"):
            return {"error": 'world_type must be one of "Text", "Embody" and "Hybrid"'}
        return self._reset(body[id_key], body.get(idx_key))

    def step(self, body: dict):
        return self._engine(body[FIELDS[self.dialect][0]]).step(body["action"])

    def observation(self, query: dict):
        return self._engine(query.get(FIELDS[self.dialect][0])).observation()

    def available_actions(self, query: dict):
        acts = self._engine(query.get(FIELDS[self.dialect][0])).valid_actions()
        if self.dialect == "webshop":
            return {"has_search_bar": any(a.startswith("search[") for a in acts),
                    "clickables": [a[6:-1] for a in acts if a.startswith("click[")]}
        return acts

    def close(self, body: dict):
        engine = self.engines.pop(body[FIELDS[self.dialect][0]], None)
        if engine is None:
            raise KeyError(f"The id {body[FIELDS[self.dialect][0]]} is not valid.")
        engine.close()
        return True

    def handle(self, method: str, path: str, payload):
        routes = {("POST", "/create"): self.create, ("POST", "/reset"): self.reset,
                  ("POST", "/step"): self.step, ("POST", "/close"): self.close,
                  ("GET", "/observation"): self.observation,
                  ("GET", "/available_actions"): self.available_actions}
        if (method, path) == ("GET", "/"):
            return 200, f"This is environment {self.name}."
        if (method, path) == ("GET", "/open"):
            return 200, self.open_ids()
        fn = routes.get((method, path))
        if fn is None:
            return 404, {"detail": "Not Found"}
        if method == "POST":
            try:
                check_body(self.dialect, path, payload if payload is not None else {})
            except BadBody as e:
                return 422, {"detail": f"{e}"}
        with self.lock:
            try:
                return 200, fn(payload if payload is not None else {})
            except Exception as e:  # AgentGym answers failures as {"error": ...} with 200
                return 200, {"error": f"{e}"}


EnvService = EngineService


def _handler(service: EnvService):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urlparse(self.path)
            query = {k: int(v[0]) if v[0].lstrip("-").isdigit() else v[0]
                     for k, v in parse_qs(url.query).items()}
            self._answer(*service.handle("GET", url.path, query))

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(n)) if n else None
            except ValueError as e:
                return self._answer(422, {"detail": f"{e}"})
            self._answer(*service.handle("POST", urlparse(self.path).path, body))

        def log_message(self, *args):  # quiet
            pass

    return Handler


def serve(name: str, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A bound server (``.server_address``, ``.service`` the :class:`EngineService`); run it
    with ``serve_forever()`` (e.g. in a thread), stop it with ``shutdown()`` then ``server_close()``."""
    service = EngineService(name)
    server = ThreadingHTTPServer((host, port), _handler(service))
    server.daemon_threads = True
    server.service = service
    return server


def main(argv=None) -> None:
    from .agentgym import ENGINES
    p = argparse.ArgumentParser(description="AgentGym-compatible server over a built-in engine")
    p.add_argument("--env", required=True, choices=sorted(ENGINES))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    a = p.parse_args(argv)
    server = serve(a.env, a.host, a.port)
    print(f"serving {a.env} ({server.service.dialect} dialect) on http://{a.host}:{server.server_address[1]}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
