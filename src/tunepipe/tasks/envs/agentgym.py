"""AgentGym's episode semantics over any engine: one adapter for in-process engines and servers.

An *engine* implements the engine interface (``reset(data_idx) -> /reset body``, ``step(action)
-> /step body``, ``observation()``, ``close()``, ``completed``, ``valid_actions()``,
``expert_action()``, ``NAME``, ``INSTRUCTION``, ``ACK``, ``INDEX_RANGES``, ``N_INDICES``): an
in-process engine (``engines/<name>.py``: BabyAI, TextCraft, SciWorld; the simulators
:mod:`.webshop`, :mod:`.alfworld`) or :class:`HttpEngine`, a client speaking a server's ``/create
/reset /step /observation /close`` with AgentGym's exact bodies. :class:`Episode` plays a
model's turns on either, as AgentGym's client does (agentenv/agentenv/envs/*.py, AgentGym
commit 3ef9235d23e68e7c2920c5422ad957dc8ced5c6c), so both behave the same by construction:

- the turn's parse: BabyAI and TextCraft (``regex`` clients) take the text after ``Action:``;
  several ``Action:`` lines are answered by the client LOCALLY with :data:`LOCAL_ERROR`,
  reward 0, the engine not stepped; none sends ``""``; only ``[A-Za-z0-9, ]`` is kept.
  SciWorld, WebShop and ALFWorld (``react`` clients, ``BaseAdapter.parse_react``) strip
  a trailing ``</s>`` with their off-by-one (five characters), take the text after the LAST
  ``Action:`` stripped (no ``Action:``: the whole text when it holds ``search[``/``click[``,
  else ``""``) and send it as it is.
- the reported reward of a step, as the client reports it: BabyAI and SciWorld the body's
  ``score`` (BabyAI's running sum; SciWorld's 0..100 score, not rescaled: their client does
  not), the others the body's ``reward``.
- the first observation, as the client shows it: SciWorld ``task_description + "\\n" +
  observation``, ALFWorld ``observation + "\\nAVAILABLE ACTIONS: " + ",".join(actions)``,
  WebShop ``GET /observation``, the others the reset body's ``observation``.
- ``completed``: the engine's own completion signal, independent of ``done`` and reward (an
  :class:`HttpEngine` infers it from the bodies, see :meth:`HttpEngine.completed`).
- the validators' episode score (:attr:`Episode.final`): the last turn's reported reward,
  quirks included (BabyAI's score grows after a slow success, e.g. 1.19).
- a training reward that cannot be farmed (:func:`train_reward`, ``collect.<env>.train_reward``).
"""
from __future__ import annotations

import json
import random
import re
import urllib.error
import urllib.parse
import urllib.request

from tunepipe import TunepipeError

from .base import _ACTION_RE, DEFAULT_KEEP, TRAIN_REWARDS, EpisodeOver, format_turn

AGENTGYM_COMMIT = "3ef9235d23e68e7c2920c5422ad957dc8ced5c6c"
#: the regex clients' local answer to a turn with several ``Action:`` lines (babyai.py, textcraft.py)
LOCAL_ERROR = "Error: Only one 'Action' is allowed per response. Please adjust your response."
ACK = "OK. I'll follow your instructions and try my best to solve the task."
REGEX_CLIENTS = ("babyai", "textcraft")
REACT_CLIENTS = ("sciworld", "webshop", "alfworld")
DIALECTS = REGEX_CLIENTS + REACT_CLIENTS
#: the clients that report the body's ``score`` as the step's reward
SCORE_REPORTED = ("babyai", "sciworld")
#: (id field, index field) of the request bodies per dialect
FIELDS = {"textcraft": ("id", "data_idx"), "babyai": ("id", "data_idx"), "sciworld": ("id", "data_idx"),
          "alfworld": ("id", "game"), "webshop": ("env_idx", "session_id")}


def client_action(text, dialect: str, keep: str = DEFAULT_KEEP) -> str | None:
    """The action AgentGym's client of ``dialect`` sends for a model turn, or None when the
    client answers the turn locally (a regex client and several ``Action:`` lines). Never raises."""
    if not isinstance(text, str):
        text = ""
    if dialect in REGEX_CLIENTS:
        matches = _ACTION_RE.findall(text)
        if len(matches) > 1:
            return None
        action = matches[-1] if matches else ""
        try:
            action = re.sub(f"[^{keep}]+", "", action)
        except re.error:
            action = re.sub(f"[^{DEFAULT_KEEP}]+", "", action)
        return " ".join(action.split()).strip()
    if text.endswith("</s>"):   # their off-by-one: action[:-5]
        text = text[:-5]
    split = text.rsplit("Action:", 1)
    if len(split) == 1:
        return text.strip() if ("search[" in text or "click[" in text) else ""
    return split[1].strip()


def first_observation(dialect: str, body, engine) -> str:
    """The first observation AgentGym's client shows the model after ``reset``."""
    if dialect == "webshop":
        return str(engine.observation())
    if dialect == "sciworld":
        return f"{body['task_description']}\n{body['observation']}"
    if dialect == "alfworld":
        return f"{body['observation']}\nAVAILABLE ACTIONS: {','.join(body['available_actions'])}"
    return str(body["observation"])


def train_reward(kind: str, ep: "Episode") -> float:
    """The GRPO reward of a finished episode. ``success``: 1.0 when the engine's completion
    signal fired, else 0.0 (cannot be farmed). ``score``: the validators' episode score (the
    last turn's reported reward, quirks included: on BabyAI repeated unrecognised actions after
    a slow success farm it). ``score_dedup``: the step bodies' ``reward`` summed over steps
    whose observation the episode had not shown before, capped at 1.0 (a repeated reward
    after an unrecognised action shows the same error observation and counts once)."""
    if kind == "success":
        return 1.0 if ep.completed else 0.0
    if kind == "score":
        return float(ep.final)
    if kind == "score_dedup":
        return min(1.0, ep.dedup)
    raise TunepipeError(f"train_reward: expected one of {', '.join(TRAIN_REWARDS)}, got {kind!r}")


class Episode:
    """One AgentGym episode on ``engine`` (in-process or :class:`HttpEngine`): ``reset(data_idx)``
    then ``turn(model_text)`` until ``done``; ``close()`` (or ``with``) releases the engine."""

    def __init__(self, engine, dialect: str, *, max_rounds: int, keep: str = DEFAULT_KEEP,
                 instruction: str | None = None, ack: str | None = None, parse_as: str | None = None):
        if dialect not in DIALECTS:
            raise TunepipeError(f"unknown AgentGym dialect {dialect!r}; known: {', '.join(DIALECTS)}")
        self.engine, self.dialect, self.keep, self.max_rounds = engine, dialect, keep, int(max_rounds)
        self.parse_as = parse_as or dialect   # whose client parses the turns
        self.instruction = instruction if instruction is not None else engine.INSTRUCTION
        self.ack = ack if ack is not None else getattr(engine, "ACK", ACK)
        self.name = getattr(engine, "NAME", dialect)
        self.done, self.rounds, self.observation = True, 0, ""
        self.rewards: list[float] = []
        self.dedup, self._seen = 0.0, set()
        self._completed = False
        self.last_action: str | None = None

    # --- the episode ---------------------------------------------------------------------
    def reset(self, data_idx: int) -> str:
        body = self.engine.reset(int(data_idx))
        if isinstance(body, dict) and "error" in body:
            raise TunepipeError(f"{self.name}: reset({data_idx}) failed: {body['error']}")
        self.observation = first_observation(self.dialect, body, self.engine)
        self.done, self.rounds, self.rewards, self.dedup = False, 0, [], 0.0
        self._seen, self._completed = {self.observation}, False
        return self.observation

    def turn(self, text) -> tuple[str, float, bool]:
        """A model turn: ``(observation, reported reward, done)``."""
        if self.done:
            raise EpisodeOver(f"{self.name}: the episode is over; call reset() first")
        action = client_action(text, self.parse_as, self.keep)
        self.rounds += 1
        self.last_action = action
        if action is None:   # answered by the client, the engine not stepped
            obs, reward, done, raw = LOCAL_ERROR, 0.0, False, 0.0
        else:
            body = self.engine.step(action)
            if isinstance(body, dict) and "error" in body:
                raise TunepipeError(f"{self.name}: step failed: {body['error']}")
            obs = str(body["state"] if self.dialect == "webshop" else body["observation"])
            reward = float(body["score"] if self.dialect in SCORE_REPORTED else body["reward"])
            raw, done = float(body["reward"]), bool(body["done"])
        self._completed = self._completed or bool(self.engine.completed)
        if obs not in self._seen:
            self.dedup += raw
        self._seen.add(obs)
        self.rewards.append(reward)
        self.done = done or self.rounds >= self.max_rounds
        self.observation = obs
        return obs, reward, self.done

    @property
    def completed(self) -> bool:
        return self._completed or bool(self.engine.completed)

    success = completed

    @property
    def final(self) -> float:
        """The validators' episode score: the last turn's reported reward (0.0 before any)."""
        return self.rewards[-1] if self.rewards else 0.0

    def valid_actions(self) -> list[str]:
        return list(self.engine.valid_actions())

    def expert_turn(self) -> str:
        """The oracle's next turn (a ``Thought:/Action:`` turn)."""
        expert = getattr(self.engine, "expert_turn", None)
        if expert is not None:
            return expert()
        action = self.engine.expert_action()
        return format_turn(f"I should {action} next.", action)

    def close(self) -> None:
        engine, self.engine_closed = self.engine, True
        engine.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def implied_actions(observation: str) -> list[str]:
    """Actions an observation implies when the engine lists none (TextCraft): the recipe
    lines' ``craft ... using ...`` and a ``get 1 <ingredient>`` per ingredient, plus ``inventory``."""
    acts = []
    for line in observation.splitlines():
        m = re.match(r"\s*(craft \d+ .+? using .+?)\s*$", line)
        if m:
            acts.append(m.group(1))
            for ing in m.group(1).split(" using ", 1)[1].split(","):
                m2 = re.match(r"\s*(\d+)\s+(.+?)\s*$", ing)
                if m2:
                    acts.append(f"get {m2.group(1)} {m2.group(2)}")
    goal = re.search(r"Goal: craft (.+?)\.", observation)
    if goal:
        acts.append(f"get 1 {goal.group(1)}")
    return list(dict.fromkeys(acts)) + ["inventory"] if acts else []


def random_turn(ep: Episode, rng: random.Random, first: str | None = None) -> str:
    """A random policy's turn: a valid action where the engine lists them, else one the first
    observation implies (:func:`implied_actions`); a random word only when neither exists."""
    acts = ep.valid_actions() or implied_actions(first or "") or implied_actions(ep.observation)
    act = rng.choice(acts) if acts else rng.choice(["look", "inventory", "wait"])
    return format_turn("I try something.", act)


#: the in-process engines by name (``module:Class``), each implementing the engine interface
ENGINES = {"babyai": "tunepipe.tasks.envs.engines.babyai:BabyAIEngine",
           "textcraft": "tunepipe.tasks.envs.engines.textcraft:TextCraftEngine",
           "sciworld": "tunepipe.tasks.envs.engines.sciworld:SciWorldEngine",
           "webshop": "tunepipe.tasks.envs.webshop:WebShopEngine",
           "alfworld": "tunepipe.tasks.envs.alfworld:ALFWorldEngine"}


def engine_class(name: str):
    """The engine class of ``name`` (imported on demand: a missing optional dependency turns
    off only that family)."""
    import importlib
    if name not in ENGINES:
        raise TunepipeError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}")
    module, _, attr = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


# --- the HTTP client engine -------------------------------------------------------------
class HttpEngine:
    """The engine interface over an AgentGym server of ``dialect`` at ``base`` (created on
    construction, as AgentGym's clients do; ``close()`` posts ``/close`` once). Bodies are
    AgentGym's: ``/create`` (no body; TextCraft ``{}``), ``/reset`` ``{id, data_idx}``
    (ALFWorld ``{id, game, world_type: "Text"}``, WebShop ``{env_idx, session_id}``),
    ``/step`` ``{id, action}`` (WebShop ``env_idx``), ``/close`` ``{id}``. An ``{"error": ...}``
    answer or a non-200 status is a one-line :class:`~tunepipe.TunepipeError`."""

    def __init__(self, base: str, dialect: str, *, timeout: float = 30.0, INSTRUCTION: str = "", ACK: str = ACK):
        if dialect not in DIALECTS:
            raise TunepipeError(f"unknown AgentGym dialect {dialect!r}; known: {', '.join(DIALECTS)}")
        self.base, self.dialect, self.timeout = base.rstrip("/"), dialect, timeout
        self.NAME, self.INSTRUCTION, self.ACK = dialect, INSTRUCTION, ACK
        self._completed, self._last = False, {}
        self.env_id = None
        created = self._request("POST", "create", {} if dialect == "textcraft" else None)
        self.env_id = created if dialect == "webshop" else self._field(created, "id", "create")

    def _request(self, method: str, path: str, body: dict | None = None, query: dict | None = None):
        url = f"{self.base}/{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        where = f"{self.dialect} server {self.base}"
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise TunepipeError(f"{where}: {method} /{path} answered HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            raise TunepipeError(f"{where} is unreachable: {getattr(e, 'reason', e)}".replace("\n", " ")) from None
        try:
            obj = json.loads(raw)
        except ValueError:
            raise TunepipeError(f"{where}: /{path} answered malformed JSON: {raw[:80]!r}") from None
        if isinstance(obj, dict) and "error" in obj:
            raise TunepipeError(f"{where}: /{path} failed: {obj['error']}".replace("\n", " "))
        return obj

    def _field(self, obj, key, path):
        if not isinstance(obj, dict) or key not in obj:
            raise TunepipeError(f"{self.dialect} server {self.base}: /{path} answer lacks {key!r}: {str(obj)[:80]}")
        return obj[key]

    def _id(self) -> dict:
        if self.env_id is None:
            raise TunepipeError(f"{self.dialect} server {self.base}: the environment is closed")
        return {FIELDS[self.dialect][0]: self.env_id}

    def reset(self, data_idx: int):
        body = {**self._id(), FIELDS[self.dialect][1]: int(data_idx)}
        if self.dialect == "alfworld":
            body["world_type"] = "Text"
        r = self._request("POST", "reset", body)
        if self.dialect == "webshop":
            if not isinstance(r, list) or not r:
                raise TunepipeError(f"webshop server {self.base}: /reset answer is not a list")
        else:
            self._field(r, "observation", "reset")
        self._completed, self._last = False, r if isinstance(r, dict) else {}
        return r

    def step(self, action: str) -> dict:
        r = self._request("POST", "step", {**self._id(), "action": str(action)})
        for k in ("state" if self.dialect == "webshop" else "observation", "reward", "done"):
            self._field(r, k, "step")
        if self.dialect in SCORE_REPORTED:
            self._field(r, "score", "step")
        self._last = r
        self._completed = self._completed or self._completes(r)
        return r

    def _completes(self, r: dict) -> bool:
        if "success" in r:   # a server that reports it
            return bool(r["success"])
        d, reward = self.dialect, float(r["reward"])
        if d == "sciworld":
            return float(r["score"]) >= 100
        if d == "webshop":
            return reward >= 1.0
        if d == "babyai":   # minigrid rewards only the goal (the text says "The task is completed.")
            return reward > 0 or "The task is completed" in str(r["observation"])
        return reward > 0   # textcraft: 1 when the goal item is obtained; alfworld: won

    @property
    def completed(self) -> bool:
        """Inferred from the bodies (real servers send no success field): BabyAI a positive
        reward or "The task is completed."; TextCraft and ALFWorld a positive reward; SciWorld
        score 100; WebShop reward 1.0; a ``success`` field where the server gives one."""
        return self._completed

    def observation(self):
        r = self._request("GET", "observation", query=self._id())
        return r["observation"] if self.dialect == "babyai" and isinstance(r, dict) else r

    def valid_actions(self) -> list[str]:
        if self.env_id is None:
            return []
        if self.dialect == "alfworld":
            return list(self._last.get("available_actions", []))
        if self.dialect == "webshop":
            r = self._request("GET", "available_actions", query=self._id())
            acts = (["search[...]"] if r.get("has_search_bar") else []) + [f"click[{c}]" for c in r.get("clickables", [])]
            return [a for a in acts if a != "search[...]"]
        if self.dialect == "sciworld":
            return []
        m = re.search(r"Available actions: \[(.*)\]", str(self._last.get("observation", "")), re.DOTALL)
        return re.findall(r"""["']([^"']*)["']""", m.group(1)) if m else []

    def expert_action(self) -> str:
        raise TunepipeError(f"{self.dialect}: an AgentGym server has no oracle (expert) policy")

    def close(self) -> None:
        if self.env_id is not None:
            ident, self.env_id = self._id(), None
            try:
                self._request("POST", "close", ident)
            except TunepipeError as e:   # AgentGym's WebShop server has no /close route
                if not (self.dialect == "webshop" and "HTTP 404" in str(e)):
                    raise
