"""An AgentGym-compatible HTTP server over the built-in environments (stdlib only).

Each env speaks the dialect of its AgentGym kind (request fields, response shapes), read in
AgentGym's ``agentenv-<kind>/agentenv_<kind>/{server,model,environment,env_wrapper}.py``:

- craft = textcraft: POST /create -> {id, observation, done, reward} (already reset to
  data_idx = id); POST /reset {id, data_idx} -> {id, observation, done, reward};
  POST /step {id, action} -> {observation, reward, done}; GET /observation?id= -> str.
- grid = babyai: /create -> {id}; /reset {id, data_idx} -> {observation, reward, score,
  deleted, done}; /step -> {observation, reward, score, done}; GET /observation?id= -> dict.
- lab = sciworld: /create -> {id}; /reset {id, data_idx} -> {task_name, var_num,
  task_description, observation, reward, score, deleted, done}; /step -> {observation,
  reward, score, done}; GET /observation?id= -> str.
- household = alfworld: /create -> {id}; /reset {id, game, world_type} -> {id, observation,
  available_actions, task_type}; /step -> {observation, reward, available_actions, done};
  GET /observation?id=, GET /available_actions?id=.
- shop = webshop: /create -> int; /reset {env_idx, session_id} -> [observation, null];
  /step {env_idx, action} -> {state, reward, done, info}; GET /observation?env_idx= -> str;
  GET /available_actions?env_idx= -> {has_search_bar, clickables}.

All: POST /close {id | env_idx} -> true/false; failures answer {"error": msg} with status
200 like AgentGym. Extensions (ignored by AgentGym clients): /reset accepts ``difficulty``
(else :func:`.base.instance` maps the index); /step answers add ``success``. ``score`` is the
episode's total reward.

    python -m tunepipe.tasks.envs.server --env craft --port 8000 [--difficulty 1 3]
"""
from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from .base import EnvConfig, TextEnv, instance

DIALECTS = {"craft": "textcraft", "grid": "babyai", "lab": "sciworld",
            "household": "alfworld", "shop": "webshop"}
#: (id field, index field) of the request bodies per dialect
FIELDS = {"textcraft": ("id", "data_idx"), "babyai": ("id", "data_idx"),
          "sciworld": ("id", "data_idx"), "alfworld": ("id", "game"),
          "webshop": ("env_idx", "session_id")}


class EnvService:
    """The dialect logic, independent of HTTP (one lock: the envs are not thread-safe)."""

    def __init__(self, name: str, cfg: EnvConfig):
        from . import ENVS
        self.name, self.cfg, self.cls = name, cfg, ENVS[name]
        self.dialect = DIALECTS[name]
        self.envs: dict[int, TextEnv] = {}
        self.next_id = 0
        self.lock = threading.Lock()

    def _env(self, idx) -> TextEnv:
        if idx not in self.envs:
            raise KeyError(f"The id {idx} is not valid.")
        return self.envs[idx]

    def _reset(self, env: TextEnv, data_idx, difficulty=None) -> str:
        seed, diff = instance(int(data_idx or 0), self.cfg)
        return env.reset(seed, int(difficulty) if difficulty is not None else diff)

    def create(self, body: dict):
        idx = self.next_id
        self.next_id += 1
        env = self.envs[idx] = self.cls(self.cfg)
        if self.dialect == "textcraft":
            return {"id": idx, "observation": self._reset(env, idx), "done": False, "reward": 0}
        return idx if self.dialect == "webshop" else {"id": idx}

    def reset(self, body: dict):
        id_key, idx_key = FIELDS[self.dialect]
        idx = body.get(id_key)
        env = self._env(idx)
        obs = self._reset(env, body.get(idx_key), body.get("difficulty"))
        d = self.dialect
        if d == "textcraft":
            return {"id": idx, "observation": obs, "done": False, "reward": 0}
        if d == "babyai":
            return {"observation": obs, "reward": 0, "score": 0, "deleted": False, "done": False}
        if d == "sciworld":
            task, _, rest = obs.partition("\n")
            return {"task_name": self.name, "var_num": body.get(idx_key), "task_description": task,
                    "observation": rest, "reward": 0, "score": 0, "deleted": False, "done": False}
        if d == "alfworld":
            return {"id": idx, "observation": obs, "available_actions": env.valid_actions(),
                    "task_type": self.name}
        return [obs, None]

    def step(self, body: dict):
        env = self._env(body.get(FIELDS[self.dialect][0]))
        obs, reward, done = env.step(str(body.get("action", "")))
        d = self.dialect
        if d == "webshop":
            return {"state": obs, "reward": reward, "done": done, "info": None, "success": env.success}
        out = {"observation": obs, "reward": reward, "done": done, "success": env.success}
        if d in ("babyai", "sciworld"):
            out["score"] = env.total_reward
        if d == "alfworld":
            out["available_actions"] = [] if done else env.valid_actions()
        return out

    def observation(self, query: dict):
        env = self._env(query.get(FIELDS[self.dialect][0]))
        if self.dialect == "babyai":
            return {"observation": env.observation, "reward": 0, "score": env.total_reward,
                    "done": env.done, "deleted": False}
        return env.observation

    def available_actions(self, query: dict):
        env = self._env(query.get(FIELDS[self.dialect][0]))
        acts = env.valid_actions()
        if self.dialect == "webshop":
            return {"has_search_bar": any(a.startswith("search[") for a in acts),
                    "clickables": [a[6:-1] for a in acts if a.startswith("click[")]}
        return acts

    def close(self, body: dict):
        return self.envs.pop(body.get(FIELDS[self.dialect][0]), None) is not None

    def handle(self, method: str, path: str, payload: dict):
        routes = {("POST", "/create"): self.create, ("POST", "/reset"): self.reset,
                  ("POST", "/step"): self.step, ("POST", "/close"): self.close,
                  ("GET", "/observation"): self.observation,
                  ("GET", "/available_actions"): self.available_actions}
        if (method, path) == ("GET", "/"):
            return 200, f"This is environment {self.name}."
        fn = routes.get((method, path))
        if fn is None:
            return 404, {"detail": "Not Found"}
        with self.lock:
            try:
                return 200, fn(payload)
            except Exception as e:  # AgentGym answers failures as {"error": ...} with 200
                return 200, {"error": f"{e}"}


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
                body = json.loads(self.rfile.read(n) or b"{}") if n else {}
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
            except ValueError as e:
                return self._answer(422, {"detail": f"{e}"})
            self._answer(*service.handle("POST", urlparse(self.path).path, body))

        def log_message(self, *args):  # quiet
            pass

    return Handler


def serve(name: str, cfg: EnvConfig, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A bound server (``.server_address``); run it with ``serve_forever()`` (e.g. in a thread)
    and stop it with ``shutdown()`` then ``server_close()``."""
    server = ThreadingHTTPServer((host, port), _handler(EnvService(name, cfg)))
    server.daemon_threads = True
    return server


def main(argv=None) -> None:
    from . import ENVS
    p = argparse.ArgumentParser(description="AgentGym-compatible server over a built-in env")
    p.add_argument("--env", required=True, choices=sorted(ENVS))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--difficulty", type=int, nargs=2, default=[1, 3])
    p.add_argument("--max-steps", type=int, default=30)
    a = p.parse_args(argv)
    server = serve(a.env, EnvConfig(difficulty=a.difficulty, max_steps=a.max_steps, success_reward=1.0,
                                            step_reward=0.0, invalid_reward=0.0, server=None), a.host, a.port)
    print(f"serving {a.env} ({DIALECTS[a.env]} dialect) on http://{a.host}:{server.server_address[1]}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
