"""A client for an AgentGym environment server behind the :class:`~.base.TextEnv` interface.

Endpoints and JSON fields are those of AgentGym's servers and clients
(``agentenv-{textcraft,babyai,webshop,alfworld,sciworld}/agentenv_*/server.py`` and
``agentenv/agentenv/envs/*.py``); :mod:`.server` lists the per-kind shapes. ``reset(seed,
difficulty)`` sends the seed as the instance index (``data_idx``, ALFWorld's ``game``,
WebShop's ``session_id``) and ``difficulty`` as an extra field that real AgentGym servers
ignore (their index alone picks the instance) and :mod:`.server` honours. The step reward is
the response's ``reward``; success is its ``success`` when given (our server), else ``done``
with a positive reward (WebShop: reward 1). ``cfg.max_steps`` is enforced client-side.
``expert()`` raises: a real server has no oracle."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request

from tunepipe import TunepipeError

from .base import EnvConfig, EpisodeOver, TextEnv
from .server import DIALECTS, FIELDS


class HttpEnv(TextEnv):
    def __init__(self, cfg: EnvConfig, name: str, timeout: float = 30.0):
        from . import ENVS
        if name not in DIALECTS:
            raise TunepipeError(f"unknown environment {name!r}; known: {', '.join(DIALECTS)}")
        if not cfg.server:
            raise TunepipeError(f"{name}: HttpEnv needs cfg.server (an AgentGym server base URL)")
        super().__init__(cfg)
        self.name, self.dialect, self.timeout = name, DIALECTS[name], timeout
        self.keep, self.instruction = ENVS[name].keep, ENVS[name].instruction
        self.base = cfg.server.rstrip("/")
        self.env_id = None
        self._actions: list[str] = []

    # --- transport ----------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None, query: dict | None = None,
                 missing_ok: bool = False):
        url = f"{self.base}/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        where = f"{self.name} server {self.base}"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            if missing_ok and e.code == 404:
                return None
            raise TunepipeError(f"{where}: {method} /{path} answered HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise TunepipeError(f"{where} is unreachable: {reason}".replace("\n", " ")) from None
        try:
            obj = json.loads(raw)
        except ValueError:
            raise TunepipeError(f"{where}: /{path} answered malformed JSON: {raw[:80]!r}") from None
        if isinstance(obj, dict) and "error" in obj:
            raise TunepipeError(f"{where}: /{path} failed: {obj['error']}".replace("\n", " "))
        return obj

    def _field(self, obj, key, path):
        if not isinstance(obj, dict) or key not in obj:
            raise TunepipeError(f"{self.name} server {self.base}: /{path} answer lacks {key!r}: "
                                f"{str(obj)[:80]}")
        return obj[key]

    # --- TextEnv ------------------------------------------------------------------------
    def reset(self, seed: int, difficulty: int) -> str:
        id_key, idx_key = FIELDS[self.dialect]
        if self.env_id is None:
            created = self._request("POST", "create", {})
            self.env_id = created if self.dialect == "webshop" else self._field(created, "id", "create")
        body = {id_key: self.env_id, idx_key: int(seed), "difficulty": int(difficulty)}
        if self.dialect == "alfworld":
            body["world_type"] = "Text"
        r = self._request("POST", "reset", body)
        if self.dialect == "webshop":
            if not isinstance(r, list) or not r:
                raise TunepipeError(f"{self.name} server {self.base}: /reset answer is not a list")
            obs = r[0] if isinstance(r[0], str) else self._request(
                "GET", "observation", query={id_key: self.env_id})
        elif self.dialect == "sciworld":
            obs = self._field(r, "task_description", "reset") + "\n" + self._field(r, "observation", "reset")
        else:
            obs = self._field(r, "observation", "reset")
        self._actions = list(r.get("available_actions", [])) if isinstance(r, dict) else []
        self.seed, self.difficulty = seed, difficulty
        self.steps, self.total_reward, self.done, self.success = 0, 0.0, False, False
        self.observation = str(obs)
        return self.observation

    def step(self, action: str | None) -> tuple[str, float, bool]:
        if self.done:
            raise EpisodeOver(f"{self.name}: the episode is over; call reset() first")
        if self.env_id is None:
            raise TunepipeError(f"{self.name}: call reset() before step()")
        id_key = FIELDS[self.dialect][0]
        r = self._request("POST", "step", {id_key: self.env_id, "action": action or ""})
        obs = self._field(r, "state" if self.dialect == "webshop" else "observation", "step")
        try:
            reward = float(self._field(r, "reward", "step"))
        except (TypeError, ValueError):
            raise TunepipeError(f"{self.name} server {self.base}: /step reward is not a number") from None
        done = bool(self._field(r, "done", "step"))
        self.steps += 1
        self.total_reward += reward
        if "success" in r:
            self.success = bool(r["success"])
        else:
            self.success = done and (reward >= 1.0 if self.dialect == "webshop" else reward > 0)
        self._actions = list(r.get("available_actions", []))
        self.done = done or self.steps >= self.cfg.max_steps
        self.observation = str(obs)
        return self.observation, reward, self.done

    def valid_actions(self) -> list[str]:
        if self.dialect == "alfworld":
            return list(self._actions)
        if self.dialect == "webshop" and self.env_id is not None:
            r = self._request("GET", "available_actions", query={"env_idx": self.env_id})
            return [f"click[{c}]" for c in (r or {}).get("clickables", [])]
        m = re.search(r"Available actions: \[(.*)\]", self.observation)
        return re.findall(r'"([^"]*)"', m.group(1)) if m else []

    def expert(self):
        raise TunepipeError(f"{self.name}: an AgentGym server has no oracle (expert) policy")

    def close(self) -> None:
        if self.env_id is not None:
            try:
                self._request("POST", "close", {FIELDS[self.dialect][0]: self.env_id}, missing_ok=True)
            finally:
                self.env_id = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # TextEnv's simulator hooks are unused by the client
    def _reset(self, rng, difficulty):  # pragma: no cover
        raise NotImplementedError

    def _step(self, action):  # pragma: no cover
        raise NotImplementedError

    def _status(self):  # pragma: no cover
        raise NotImplementedError
