"""ScienceWorld in-process, presenting AgentGym's ``agentenv-sciworld`` server text exactly.

Read from WooooDyy/AgentGym at commit 3ef9235d23e68e7c2920c5422ad957dc8ced5c6c:
``agentenv-sciworld/agentenv_sciworld/environment.py`` (the index table, /reset and /step bodies,
the error texts) and ``agentenv/agentenv/envs/sciworld.py`` (the ReAct instruction, the canned
acknowledgement, how the client parses actions and reports reward). Engine: the ``scienceworld``
package 1.2.3 (a Scala simulator in the wheel, driven over py4j; needs a Java runtime).

What the server does, reproduced here:
- index -> instance: every ScienceWorld task except ids 5-1, 5-2, 9-1..9-3, 10-1, 10-2, in the
  package's task order, each expanded over all its variations: 4639 indices (``N_INDICES``).
  A Python list lookup, so a negative index wraps and one past the end answers
  ``{"error": "list index out of range"}``.
- /reset loads (task, variation), reads the task description, then steps ``look around``:
  ``{task_name, var_num, task_description, observation, reward, score, deleted, done}``.
- /step: ``{observation, reward, score, done}``; reward = the change of score (0..100 points,
  -100 once the task is failed, e.g. by focusing on the wrong object); done when the task is
  completed or failed or after more than 100 moves (``ScienceWorldEnv``'s envStepLimit). After
  done every step answers ``{"error": "The task with environment <id> has finished."}``.
- Unknown commands: ``No known action matches that input.``; ambiguous ones list numbered
  choices to be answered with the number.

What AgentGym's client does (and the validators with it): the first observation it shows is
``task_description + "\\n" + observation``; it reports the step's ``score`` (not ``reward``) as
the reward, so an episode scores the score at its last turn; success = score 100. Its action
parse (ReAct) keeps everything after the LAST ``Action:``, stripped, with no character filter
(:func:`client_action`); the lead's generic parse keeps only ``[A-Za-z0-9, ]`` and would drop the
``-`` of a few object names (e.g. tertiary paint colours).

Determinism: ScienceWorld lists objects in Java identity-hash order, which varies with what the
JVM did before (the real server too). The JVM here runs with ``-XX:hashCode=2`` (every identity
hash equal: insertion order) after one warm-up load, so a data_idx gives the same text for the
same actions, whatever ran before. The simulator's gold path (the oracle) can still differ
between loads of one index in rare cases (which of two equivalent wires it picks).
"""
from __future__ import annotations

import os
import shutil
import threading

from tunepipe import TunepipeError

NAME = "sciworld"
#: the tasks agentenv-sciworld leaves out (environment.py ``exceptions``)
EXCLUDED_TASKS = frozenset({"5-1", "5-2", "9-1", "9-2", "9-3", "10-1", "10-2"})
UNKNOWN_ACTION = "No known action matches that input."
_JVM_OPTS = "-XX:+UnlockExperimentalVMOptions -XX:hashCode=2"
_ENV_LOCK = threading.Lock()


def client_action(text: str) -> str:
    """The command AgentGym's sciworld client sends for a ReAct turn: a trailing ``</s>`` cut
    with its off-by-one (``action[:-5]``), then ``BaseAdapter.parse_react``: the text after the
    last ``Action:`` stripped ("" when there is none); no character filter."""
    if text.endswith("</s>"):
        text = text[:-5]
    parts = text.rsplit("Action:", 1)
    if len(parts) == 1:
        return ""
    return parts[1].strip()


def client_reward(body: dict) -> float:
    """The reward AgentGym's sciworld client reports for a /step body: the score."""
    return body["score"]


def _java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home and os.path.isfile(os.path.join(home, "bin", "java")):
        return True
    return shutil.which("java") is not None


class SciWorldEngine:
    """One ScienceWorld simulator (one JVM) answering as agentenv-sciworld's server does for one
    environment id (``env_id``, 0 unless set: it appears only in error texts)."""

    NAME = NAME
    INSTRUCTION: str = (
        'You are an agent for science world. Every round I will give you an observation, you have to respond an action based on the observation to finish the given task. Here are the actions you may take: [{"action": "open/close OBJ", "description": "open/close a container"}, {"action": "de/activate OBJ", "description": "activate/deactivate a device"}, {"action": "connect OBJ to OBJ", "description": "connect electrical components"}, {"action": "disconnect OBJ", "description": "disconnect electrical components"}, {"action": "use OBJ [on OBJ]", "description": "use a device/item"}, {"action": "look around", "description": "describe the current room"}, {"action": "look at OBJ", "description": "describe an object in detail"}, {"action": "look in OBJ", "description": "describe a container\'s contents"}, {"action": "read OBJ", "description": "read a note or book"}, {"action": "move OBJ to OBJ", "description": "move an object to a container"}, {"action": "pick up OBJ", "description": "move an object to the inventory"}, {"action": "put down OBJ", "description": "drop an inventory item"}, {"action": "pour OBJ into OBJ", "description": "pour a liquid into a container"}, {"action": "dunk OBJ into OBJ", "description": "dunk a container into a liquid"}, {"action": "mix OBJ", "description": "chemically mix a container"}, {"action": "go to LOC", "description": "move to a new location"}, {"action": "eat OBJ", "description": "eat a food"}, {"action": "flush OBJ", "description": "flush a toilet"}, {"action": "focus on OBJ", "description": "signal intent on a task object"}, {"action": "wait", "description": "take no action for 10 iterations"}, {"action": "wait1", "description": "take no action for 1 iteration"}, {"action":"examine OBJ","description":"provides a description of the objects present on or in a receptacle."}, {"action": "task", "description": "describe current task"}, {"action": "inventory", "description": "list your inventory"}]\nYour response should use the following format:\nThought:\nyour thoughts.\n\nAction:\nyour next action')
    ACK: str = "OK. I'll follow your instructions and try my best to solve the task."
    #: 1: lifespan-longest/shortest/longest-then-shortest (gold paths of 6-7 actions);
    #: 2: find-living-thing/non-living-thing/plant/animal (gold 3-12, needs walking between rooms);
    #: 3: the validators' range 2000-2500: test-conductivity (2000-2335) and
    #: test-conductivity-of-unknown-substances (2336-2499), gold 20-45 (wiring a circuit).
    INDEX_RANGES: dict = {1: range(4240, 4615), 2: range(2936, 4136), 3: range(2000, 2500)}
    N_INDICES: int = 4639

    def __init__(self):
        if not _java_available():
            raise TunepipeError("sciworld: no Java runtime found (java on PATH or $JAVA_HOME); install "
                                "one, e.g. Debian's default-jre-headless (apt-get install default-jre-headless)")
        try:
            from scienceworld import ScienceWorldEnv
        except ImportError:
            raise TunepipeError("sciworld: the scienceworld package is missing; "
                                "pip install scienceworld==1.2.3") from None
        with _ENV_LOCK:
            old = os.environ.get("JAVA_TOOL_OPTIONS")
            os.environ["JAVA_TOOL_OPTIONS"] = f"{old} {_JVM_OPTS}" if old else _JVM_OPTS
            try:
                self._env = ScienceWorldEnv()
            except Exception as e:
                raise TunepipeError(f"sciworld: the ScienceWorld JVM did not start: "
                                    f"{type(e).__name__}: {e}".replace("\n", " ")) from None
            finally:
                if old is None:
                    os.environ.pop("JAVA_TOOL_OPTIONS", None)
                else:
                    os.environ["JAVA_TOOL_OPTIONS"] = old
        self.env_id = 0
        self.games = []
        for key, task in self._env.tasks.items():
            if key not in EXCLUDED_TASKS:
                self.games += [{"taskName": task, "variationIdx": i}
                               for i in range(self._env.get_max_variations(task))]
        if len(self.games) != self.N_INDICES:
            raise TunepipeError(f"sciworld: scienceworld lists {len(self.games)} task variations, "
                                f"expected {self.N_INDICES}; pin scienceworld==1.2.3")
        self._info = None           # the server's self.info[idx]; None before the first reset
        self._client_obs = ""
        self._gold: list = []
        self._gold_pos = 0
        self._score = 0
        # warm-up: the first load of a JVM lists objects differently from every later one
        warm = self.games[self.INDEX_RANGES[1].start]
        self._env.load(warm["taskName"], warm["variationIdx"], "", generateGoldPath=True)
        self._step("look around")

    # --- the server's routes -------------------------------------------------------------
    def _step(self, action: str):
        """``ScienceWorldEnv.step`` without the infos the server drops (look, inventory and the
        valid-action list are free actions: computing them changes nothing, only costs time)."""
        env = self._env
        observation = env.server.step(action)
        score = int(round(100 * env.server.getScore()))
        done = bool(env.server.getCompleted())
        reward = score - env.lastStepScore
        env.lastStepScore = score
        if env.get_num_moves() > env.envStepLimit or score < 0:
            done = True
        return observation, reward, done, score

    def reset(self, data_idx: int) -> dict:
        try:
            game = self.games[data_idx]
            self._env.load(game["taskName"], game["variationIdx"], "", generateGoldPath=True)
            task_description = self._env.get_task_description()
            ob, reward, done, score = self._step("look around")
        except Exception as e:  # the server answers {"error": str(e)}
            return {"error": str(e)}
        gold = self._env.get_gold_action_sequence()
        self._gold = [] if gold[:1] and gold[0].startswith("ERROR:") else list(gold)
        self._gold_pos = 0
        self._score = score
        payload = {"task_name": game["taskName"], "var_num": game["variationIdx"],
                   "task_description": task_description, "observation": ob, "reward": reward,
                   "score": score, "deleted": False, "done": done}
        self._info = dict(payload)
        self._client_obs = task_description + "\n" + ob
        return payload

    def step(self, action: str) -> dict:
        if self._info is None:
            return {"error": f"The id {self.env_id} is not valid."}
        if self._info["done"]:
            return {"error": f"The task with environment {self.env_id} has finished."}
        try:
            ob, reward, done, score = self._step(action if isinstance(action, str) else str(action))
        except Exception as e:
            return {"error": str(e)}
        payload = {"observation": ob, "reward": reward, "score": score, "done": done}
        self._info.update(payload)
        self._score = score
        self._client_obs = ob
        if self._gold_pos < len(self._gold) and action == self._gold[self._gold_pos]:
            self._gold_pos += 1
        return payload

    def observation(self) -> str:
        """What AgentGym's client shows next (its ``observe()``): after a reset the task
        description, a newline and the ``look around`` text; after a step that step's observation."""
        return self._client_obs

    def server_observation(self):
        """The server's ``GET /observation`` answer: the last observation, without the task
        description after a reset."""
        if self._info is None:
            return {"error": f"The id {self.env_id} is not valid."}
        return self._info["observation"]

    def close(self) -> None:
        env, self._env = getattr(self, "_env", None), None
        if env is not None:
            try:
                env.close()
            except Exception:
                pass

    # --- engine extras ---------------------------------------------------------------------
    @property
    def completed(self) -> bool:
        """The task is solved: the score reached 100 (AgentGym's success)."""
        return self._info is not None and self._score >= 100

    @property
    def score(self) -> int:
        return self._score

    def valid_actions(self) -> list:
        """ScienceWorld's ``get_valid_action_object_combinations()`` (thousands of commands)."""
        if self._env is None or self._info is None:
            return []
        return list(self._env.get_valid_action_object_combinations())

    def expert_action(self) -> str:
        """The next action of the simulator's gold path. The path is the one generated at reset;
        an agent's action that is the next gold action advances it, any other action is taken as a
        detour (exact when the detour changed nothing, e.g. looking or an unknown command)."""
        if self._gold_pos < len(self._gold):
            return self._gold[self._gold_pos]
        return "look around"
