"""BabyAI in-process, exactly as AgentGym's ``agentenv-babyai`` server presents it.

Ported from AgentGym commit 3ef9235d23e68e7c2920c5422ad957dc8ced5c6c
(``agentenv-babyai/agentenv_babyai/environment.py``: the ``BabyAI`` wrapper and the
``BabyAIEnv`` server object; ``agentenv/agentenv/envs/babyai.py``: the client's
conversation start). The observation text, the high-level action space (each high-level
action is a list of minigrid low-level actions, executed until one changes nothing), the
error messages, the reward (the minigrid reward of the LAST low-level step of the action) and
the server's running ``score`` (which adds the last reward again after every step, also after
an unrecognised action) are reproduced line by line, quirks included:

- index -> level/seed: ``level = all_levels[data_idx % 40 + 1]``, ``seed = data_idx // 40``;
- a success with reward <= .5 says "The task is completed." and leaves done False (so does a
  minigrid "failure"); a step after done answers ``{"error": "The task with environment 0 has
  finished."}``;
- "toggle and go through" is ``path + [toggle, forward]``, so on an Open level the reward of the
  toggle is lost to the forward step; only "toggle" (offered when facing the door) scores there.

Engine: minigrid 3.2.0 (AgentGym pins minigrid<2.5 and gymnasium<1.0; level generation is the
same code path, but layouts of the two versions were not compared). The oracle
(:meth:`BabyAIEngine.expert_action`) follows minigrid's ``BabyAIBot`` and maps its low-level
suggestion to AgentGym's high-level actions, jumping along the bot's path with a "go to" /
"go through" macro when one lands on the bot's pose.
"""
from __future__ import annotations

import collections
import contextlib
import copy
import io
import warnings
from collections.abc import Sequence

import numpy as np

from tunepipe import TunepipeError

NAME = "babyai"

# agentenv_babyai/environment.py all_levels (1-based; the server uses data_idx % 40 + 1)
ALL_LEVELS = {
    1: "BabyAI-GoToRedBallGrey-v0",
    2: "BabyAI-GoToRedBall-v0",
    3: "BabyAI-GoToRedBallNoDists-v0",
    4: "BabyAI-GoToObjS6-v0",
    5: "BabyAI-GoToLocalS8N7-v0",
    6: "BabyAI-GoToObjMazeS7-v0",
    7: "BabyAI-GoToImpUnlock-v0",
    8: "BabyAI-GoToSeqS5R2-v0",
    9: "BabyAI-GoToRedBlueBall-v0",
    10: "BabyAI-GoToDoor-v0",
    11: "BabyAI-GoToObjDoor-v0",
    12: "BabyAI-Open-v0",
    13: "BabyAI-OpenRedDoor-v0",
    14: "BabyAI-OpenDoorLoc-v0",
    15: "BabyAI-OpenRedBlueDoorsDebug-v0",
    16: "BabyAI-OpenDoorsOrderN4Debug-v0",
    17: "BabyAI-Pickup-v0",
    18: "BabyAI-UnblockPickup-v0",
    19: "BabyAI-PickupLoc-v0",
    20: "BabyAI-PickupDistDebug-v0",
    21: "BabyAI-PickupAbove-v0",
    22: "BabyAI-PutNextLocalS6N4-v0",
    23: "BabyAI-PutNextS7N4Carrying-v0",
    24: "BabyAI-Unlock-v0",
    25: "BabyAI-UnlockLocalDist-v0",
    26: "BabyAI-KeyInBox-v0",
    27: "BabyAI-UnlockPickupDist-v0",
    28: "BabyAI-BlockedUnlockPickup-v0",
    29: "BabyAI-UnlockToUnlock-v0",
    30: "BabyAI-ActionObjDoor-v0",
    31: "BabyAI-FindObjS7-v0",
    32: "BabyAI-KeyCorridorS6R3-v0",
    33: "BabyAI-OneRoomS20-v0",
    34: "BabyAI-MoveTwoAcrossS8N9-v0",
    35: "BabyAI-SynthS5R2-v0",
    36: "BabyAI-SynthLoc-v0",
    37: "BabyAI-SynthSeq-v0",
    38: "BabyAI-MiniBossLevel-v0",
    39: "BabyAI-BossLevel-v0",
    40: "BabyAI-BossLevelNoUnlock-v0",
}
N_LEVELS = len(ALL_LEVELS)
#: cap on AgentGym's find_path pops (it re-expands queued duplicates: exponential when the
#: target is unreachable); past it the path counts as missing
BFS_LIMIT = 20000
GYM_ALIASES = {"BabyAI-GoToObjS6-v0": "BabyAI-GoToObjS6-v1"}

IDX_TO_OBJECT = {0: "unseen", 1: "empty", 2: "wall", 3: "floor", 4: "door", 5: "key", 6: "ball",
                 7: "box", 8: "goal", 9: "lava", 10: "agent"}
IDX_TO_STATE = {0: "open", 1: "closed", 2: "locked"}
IDX_TO_COLOR = {0: "red", 1: "green", 2: "blue", 3: "purple", 4: "yellow", 5: "grey"}
DIR_TO_VEC = [np.array((1, 0)), np.array((0, 1)), np.array((-1, 0)), np.array((0, -1))]
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)

#: difficulty -> the levels (1-based keys of ALL_LEVELS) that mean it, chosen by measurement
#: (benchmarks/env_engines.py --by-level): 1: one "go to"/"open" in one room, the target in
#: view or one door away (the oracle solved 12/12 seeds of each in 1-9 rounds); 2: a door to
#: open in order, an object to pick up by location or to put next to another, a key to fetch
#: (the oracle solves most within 30 rounds; a random policy rarely); 3: exploration of several
#: rooms, mazes, sequences, composite Synth/Boss missions, and KeyInBox (the key sits in a box
#: that no AgentGym action opens: unsolvable) -- the oracle often runs out of 30 rounds.
LEVELS_BY_DIFFICULTY = {
    1: (1, 2, 3, 4, 5, 9, 10, 11, 13, 14),
    2: (15, 16, 19, 20, 22, 25, 30, 31),
    3: (6, 7, 8, 12, 17, 18, 21, 23, 24, 26, 27, 28, 29, 32, 33, 34, 35, 36, 37, 38, 39, 40),
}



def _numbered(possible: dict, errors: dict, counts: dict, verb: str, n: str, path) -> None:
    """AgentGym's numbering of an object's actions (``<verb> <n> 1``, ``2``, ...): a reachable
    one becomes a possible action, an unreachable one an error message under that name."""
    if path is not None:
        counts[n] = counts[n] + 1 if f"{verb} {n} 1" in possible else 1
        possible[f"{verb} {n} {counts[n]}"] = path
    elif f"{verb} {n} 1" not in possible:
        errors[f"{verb} {n} 1"] = f"You cannot {verb} {n} 1, as there is no path leading to it."
    else:
        k = counts[n] + 1
        errors[f"{verb} {n} {k}"] = f"You cannot {verb} {n} {k}, as there is no path leading to it."


class IndexSet(Sequence):
    """The data_idx values below ``n`` whose level (``idx % 40 + 1``) is in ``levels``, in
    increasing order: a read-only sequence like ``range`` (len, indexing, ``in``, iteration).
    Not a single range, because the server cycles the level with every index."""

    def __init__(self, levels, n: int):
        self.levels = tuple(sorted(levels))
        self._idx = tuple(i for i in range(n) if i % N_LEVELS + 1 in self.levels)

    def __len__(self):
        return len(self._idx)

    def __getitem__(self, k):
        return self._idx[k]

    def __contains__(self, i):
        return isinstance(i, int) and i in self._idx

    def __repr__(self):
        return f"IndexSet(levels={self.levels}, n={len(self._idx)})"


def _cross(a, b):
    return a[0] * b[1] - a[1] * b[0]


def _action_space_text(actions) -> str:
    # BabyAIEnv.step/reset: "\nAvailable actions: [" + '"a", ' ... with the last ", " -> "]"
    text = "\nAvailable actions: ["
    for a in actions:
        text += "\"" + a + "\", "
    if text[-1] != "[":
        text = text[:-2]
        text += "]"
    return text


#: the Affine validators drew BabyAI task ids from 0-500; the server itself takes any
#: non-negative index (level idx % 40 + 1, seed idx // 40)
N_INDICES = 500
INDEX_RANGES = {d: IndexSet(levels, N_INDICES) for d, levels in LEVELS_BY_DIFFICULTY.items()}


class BabyAIEngine:
    """One AgentGym BabyAI server environment (id 0), reset by ``data_idx``."""

    NAME = NAME
    INSTRUCTION = (
        'You are an exploration master that wants to finish every goal you are given. Every round '
        'I will give you an observation, and you have to respond an action and your thought based '
        'on the observation to finish the given task. You are placed in a room and you need to '
        'accomplish the given goal with actions.\n\nYou can use the following actions: \n\n'
        '- turn right \n\n- turn left \n\n- move forward \n\n- go to <obj> <id> \n\n'
        '- pick up <obj> <id> \n\n- go through <door> <id>: <door> must be an open door. \n\n'
        '- toggle and go through <door> <id>: <door> can be a closed door or a locked door. If you '
        'want to open a locked door, you need to carry a key that is of the same color as the '
        'locked door. \n\n- toggle: there is a closed or locked door right in front of you and you '
        'can toggle it.\nYour response should use the following format:\nThought:\n<Your Thought>'
        '\n\nAction:\n<Your Action>'
    )
    ACK = "OK. I'll follow your instructions and try my best to solve the task."
    N_INDICES = N_INDICES
    INDEX_RANGES = INDEX_RANGES

    def __init__(self):
        try:
            import gymnasium
            import minigrid  # noqa: F401  (registers the BabyAI-* ids)
            from minigrid.utils.baby_ai_bot import BabyAIBot
        except ImportError as e:
            raise TunepipeError(f"the babyai engine needs minigrid: pip install minigrid==3.2.0 ({e})") from None
        self._gym, self._Bot = gymnasium, BabyAIBot
        self.env_id = 0
        self.env = None
        self._bot = None
        # the server's info[id] after /create (score, done, ...); None once closed
        self._info = {"deleted": False, "done": False}

    # --- the server's BabyAIEnv.reset / step ------------------------------------------------
    def reset(self, data_idx: int) -> dict:
        try:
            if self.env is not None:
                self.env.close()
            self.env = None
            self._info = {"deleted": False, "done": False}
            if not isinstance(data_idx, int) or isinstance(data_idx, bool):
                raise TypeError(f"data_idx must be an integer, got {data_idx!r}")
            self._make(ALL_LEVELS[data_idx % N_LEVELS + 1], data_idx // N_LEVELS)
            payload = {
                "observation": "Your goal: " + self.goal + "\n" + self.states[-1]
                + _action_space_text(self.action_space),
                "reward": self.reward,
                "score": self.reward,
                "deleted": False,
                "done": self.done,
            }
            self._info.update(payload)
            return payload
        except Exception as e:  # the server answers {"error": str(e)}
            if self.env is not None:
                self.env.close()
            self.env = None
            return {"error": str(e)}

    def step(self, action: str) -> dict:
        try:
            if self._info is None:
                raise ValueError(f"The id {self.env_id} is not valid.")
            if self._info["done"]:
                raise ValueError(f"The task with environment {self.env_id} has finished.")
            if self.env is None:  # created, never (successfully) reset: the server's KeyError
                raise KeyError(self.env_id)
            self._step(action if isinstance(action, str) else "")
            payload = {
                "observation": self.states[-1] + _action_space_text(self.action_space),
                "reward": self.reward,
                "score": self._info["score"] + self.reward,
                "done": self.done,
            }
            self._info.update(payload)
            return payload
        except Exception as e:
            return {"error": str(e)}

    def observation(self) -> str:
        if self._info is None or "observation" not in self._info:
            return ""
        return self._info["observation"]

    def close(self):
        if self.env is not None:
            self.env.close()
        self.env, self._info, self._bot = None, None, None

    @property
    def completed(self) -> bool:
        """The mission was accomplished at some low-level step (minigrid's success), whatever
        the reward AgentGym reported for the high-level action."""
        return bool(self.env is not None and self._success)

    @property
    def score(self) -> float:
        return 0 if self._info is None else self._info.get("score", 0)

    def valid_actions(self) -> list[str]:
        return list(self.action_space) if self.env is not None else []

    @property
    def level(self) -> str:
        return self.game_name

    # --- AgentGym's BabyAI wrapper ------------------------------------------------------------
    def _make(self, game_name: str, seed: int):
        self.game_name, self.seed = game_name, seed
        # minigrid 3 registers GoToObjS6 only as v1 (same GoToObj, room_size 6); gymnasium >= 1
        # refuses a v0 id when a v1 exists. minigrid prints its rejection sampling: keep it quiet.
        gym_id = game_name if game_name in self._gym.registry else GYM_ALIASES.get(game_name, game_name)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            self.env = self._gym.make(gym_id)
            obs, _ = self.env.reset(seed=seed)
        self.goal = self.env.unwrapped.mission
        if "then" in self.goal:
            self.goal = self.goal.replace("then", "and")
        if "after you" in self.goal:
            self.goal = self.goal.replace("after you", "and")
        description, self.action_space = self._postprocess_obs(obs)
        self.states = [description]
        self.steps = 0
        self.obs_2d = obs["image"]
        self.reward = 0
        self.done = False
        self._success = False
        self._bot = None
        self._bot_next = None

    def _step(self, action: str):
        action = action.lower().strip()
        if "check" in action:
            self._note("You can take the following actions: " + ", ".join(self.action_space))
            return
        if action == "":
            self._note("No change in state.")
            return
        if action not in self.action_space:
            self._note(self.error_message.get(action, "The action is not recognized. Please check valid actions."))
            return
        action_list = self.action_space[action]
        if action_list == []:
            self._note("No change in state.")
            return
        for a in action_list:
            obs, reward, done, _trunc, _ = self.env.step(a)
            if reward > 0:
                self._success = True
            self._bot_after(a)
            if not (obs["image"] != self.obs_2d).sum() > 0:
                break
            self.obs_2d = obs["image"]
        self._update(obs, reward, done)

    def _note(self, text: str):  # BabyAI.update_info: the last reward stays
        self.states.append(text)
        self.steps += 1

    def _update(self, obs, reward, done):  # BabyAI.update without obs_to_reward
        self.done = done
        new_obs, new_action_space = self._postprocess_obs(obs)
        if self.done:
            new_obs += "\n The task is completed."
        self.reward = reward
        if self.done and self.reward <= 0.5:
            self.done = False
        if self.reward == 1 and not self.done:
            self.done = True
            new_obs += "\n The task is completed."
        self.states.append(new_obs)
        self.action_space = new_action_space
        self.steps += 1
        self.obs_2d = obs["image"]

    @staticmethod
    def _next_pos(pos, action, d):
        if action == LEFT:
            d = (d - 1) % 4
        elif action == RIGHT:
            d = (d + 1) % 4
        elif action == FORWARD:
            pos = tuple(pos + DIR_TO_VEC[d])
        return pos, d

    def _find_path(self, init_pos, goal, all_objs, all_barriers, init_dir, xrange, yrange, arrive=False):
        # BabyAI.find_path, verbatim in behaviour (BFS over (pos, dir); a state may be queued
        # twice and its parent overwritten, as there)
        all_things = all_objs + all_barriers
        pos, d = init_pos, init_dir
        graph = {}
        queue = collections.deque([(pos, d)])
        state = set()
        pops = 0
        while queue:
            pops += 1
            if pops > BFS_LIMIT:  # the server's BFS re-expands duplicates and can run ~forever
                return None
            pos, d = queue.popleft()
            state.add((pos, d))
            if arrive:
                hit = pos[0] == goal[0] and pos[1] == goal[1]
            else:
                hit = goal[0] - pos[0] == DIR_TO_VEC[d][0] and goal[1] - pos[1] == DIR_TO_VEC[d][1]
            if hit:
                path = []
                while (pos, d) != (init_pos, init_dir):
                    (pos, d), act = graph[(pos, d)]
                    path.append(act)
                return path[::-1]
            for act in (FORWARD, LEFT, RIGHT):
                new_pos, new_dir = self._next_pos(pos, act, d)
                blocked = False
                for obj in all_things:
                    if new_pos[0] not in xrange or new_pos[1] not in yrange:
                        blocked = True
                        break
                    if (new_pos, new_dir) in state:
                        blocked = True
                        break
                    if obj["abs_pos"] == new_pos:
                        n = obj["name"]
                        if "wall" in n or "box" in n or "lava" in n or "ball" in n or "key" in n:
                            blocked = True
                            break
                if not blocked:
                    queue.append((new_pos, new_dir))
                    graph[(new_pos, new_dir)] = ((pos, d), act)
        return None

    def _postprocess_obs(self, obs):  # BabyAI.postprocess_obs
        u = self.env.unwrapped
        view_size = u.agent_view_size
        pos = u.agent_pos
        f_vec = u.dir_vec
        r_vec = u.right_vec
        top_left = pos + f_vec * (view_size - 1) - r_vec * (view_size // 2)
        boarders = top_left + view_size * (-f_vec + r_vec)
        xb, yb = boarders[0], boarders[1]
        xrange = range(xb, top_left[0] + 1) if xb < top_left[0] else range(top_left[0], xb)
        yrange = range(yb, top_left[1] + 1) if yb < top_left[1] else range(top_left[1], yb)

        grid = obs["image"]
        d = obs["direction"]
        all_objs, all_barriers = [], []
        for vis_j in range(view_size):
            for vis_i in range(view_size):
                abs_i, abs_j = top_left - (f_vec * vis_j) + (r_vec * vis_i)
                distance = abs(pos[0] - abs_i) + abs(pos[1] - abs_j)
                if abs_i < 0 or abs_j < 0:
                    continue
                if distance == 0:
                    continue
                obj_type = IDX_TO_OBJECT[grid[vis_i, vis_j, 0]]
                obj_color = IDX_TO_COLOR[grid[vis_i, vis_j, 1]]
                obj_state = IDX_TO_STATE[grid[vis_i, vis_j, 2]]
                if obj_type in ("door", "key", "ball", "box", "goal", "lava", "wall"):
                    if obj_type == "door":
                        obj_name = obj_color + " " + obj_state + " " + obj_type
                    else:
                        obj_name = obj_color + " " + obj_type
                    all_objs.append({"name": obj_name, "abs_pos": (abs_i, abs_j), "dis": distance})
                if obj_type in ("box", "wall"):
                    self_dir = DIR_TO_VEC[d]
                    rel = (abs_i - pos[0], abs_j - pos[1])
                    if _cross(self_dir, rel) == 0:
                        all_barriers.append({"name": obj_type, "abs_pos": (abs_i, abs_j),
                                             "dis": np.dot(self_dir, rel)})

        all_objs.sort(key=lambda x: x["dis"])
        if all_objs:
            cnt_observe = {}
            obj_description = "In front of you in this room, you can see several objects: "
            for o in all_objs:
                if "wall" in o["name"]:
                    continue
                rel = (o["abs_pos"][0] - pos[0], o["abs_pos"][1] - pos[1])
                front_dis = np.dot(DIR_TO_VEC[d], rel)
                right_dis = np.dot(DIR_TO_VEC[(d + 1) % 4], rel)
                if right_dis == 0:
                    where = "right in front of you " + str(int(front_dis)) + " steps away. "
                elif right_dis > 0:
                    where = str(int(front_dis)) + " steps in front of you and " + str(int(right_dis)) + " steps to your right. "
                else:
                    where = str(int(front_dis)) + " steps in front of you and " + str(int(-right_dis)) + " steps to your left. "
                cnt_observe[o["name"]] = cnt_observe.get(o["name"], 0) + 1
                obj_description += "There is a " + o["name"] + " " + str(cnt_observe[o["name"]]) + " " + where + " "
        else:
            obj_description = "You cannot see any objects within sight."

        barrier_description = "The room has walls around you. "
        if all_barriers:
            all_barriers.sort(key=lambda x: x["dis"])
            barrier_description += ("You are facing a " + all_barriers[0]["name"] + " "
                                    + str(all_barriers[0]["dis"]) + " steps away. ")
        carrying = u.carrying
        if carrying is not None:
            carry_description = "You are carrying a " + carrying.color + " " + carrying.type + "."
        else:
            carry_description = "You are not carrying anything."
        description = obj_description + barrier_description + carry_description

        possible = {"turn left": [LEFT], "turn right": [RIGHT]}
        errors = {}
        if not all_barriers or all_barriers[0]["dis"] > 1:
            possible["move forward"] = [FORWARD]
        else:
            errors["move forward"] = "There is a barrier in front of you, you can't move forward."

        if carrying is None and all_objs:
            cnt_object = {}
            for o in all_objs:
                n = o["name"]
                if "wall" in n or "door" in n or "goal" in n:
                    continue
                path = self._find_path(pos, o["abs_pos"], all_objs, all_barriers, d, xrange, yrange, arrive=False)
                if path is not None:
                    path.append(PICKUP)
                _numbered(possible, errors, cnt_object, "pickup", n, path)

        if carrying is not None:
            drop_pos = tuple(pos + DIR_TO_VEC[d])
            can_drop = True
            for o in all_objs:
                if o["abs_pos"] == drop_pos:
                    for t in ("wall", "box", "lava", "ball", "key"):
                        if t in o["name"]:
                            can_drop = False
                            break
            if can_drop:
                possible["drop"] = [DROP]
            else:
                errors["drop"] = "You cannot drop the object, as there is already an object in front of you."
        else:
            errors["drop"] = "You cannot drop the object, as you are not carrying anything."

        if all_objs:
            cnt_door = {}
            for o in all_objs:
                n = o["name"]
                if "door" in n:
                    cnt_door[n] = cnt_door.get(n, 0) + 1
                if "open door" in n:
                    path = self._find_path(pos, o["abs_pos"], all_objs, all_barriers, d, xrange, yrange, arrive=True)
                    key = "go through " + n + " " + str(cnt_door[n])
                    if path is not None:
                        possible[key] = path
                    else:
                        errors[key] = "You cannot go through " + n + " " + str(cnt_door[n]) + ", as there is no path leading to it."
                if "closed door" in n:
                    path = self._find_path(pos, o["abs_pos"], all_objs, all_barriers, d, xrange, yrange, arrive=False)
                    key = "toggle and go through " + n + " " + str(cnt_door[n])
                    if path is not None:
                        possible[key] = path + [TOGGLE, FORWARD]
                    else:  # AgentGym prints the whole counter dict here
                        errors[key] = "You cannot toggle and go through " + n + " " + str(cnt_door) + ", as there is no path leading to it."
                    if path == []:
                        possible["toggle"] = [TOGGLE]
                    errors["go through " + n + " " + str(cnt_door[n])] = (
                        "You cannot go through " + n + " " + str(cnt_door[n]) + ", as it is closed. You should toggle it first.")
                if "locked door" in n:
                    key = "toggle and go through " + n + " " + str(cnt_door[n])
                    if carrying is None or carrying.type != "key":
                        errors[key] = "You cannot toggle and go through " + n + " " + str(cnt_door[n]) + ", as you are not carrying a key."
                        continue
                    if carrying.color != n.split(" ")[0]:
                        errors[key] = ("You cannot toggle and go through " + n + " " + str(cnt_door[n])
                                       + ", as the color of the key you are carrying does not match the color of door.")
                        continue
                    path = self._find_path(pos, o["abs_pos"], all_objs, all_barriers, d, xrange, yrange, arrive=False)
                    if path is not None:
                        possible[key] = path + [TOGGLE, FORWARD]
                    else:
                        errors[key] = "You cannot toggle and go through " + n + " " + str(cnt_door) + ", as there is no path leading to it."
                    if path == []:
                        possible["toggle"] = [TOGGLE]

        if all_objs:
            for o in all_objs:
                if "goal" not in o["name"]:
                    continue
                path = self._find_path(pos, o["abs_pos"], all_objs, all_barriers, d, xrange, yrange, arrive=True)
                if path is not None:
                    possible["go to goal"] = path
                else:
                    errors["go to goal"] = "You cannot go to the goal, as there is no path leading to it."

        if all_objs:
            cnt_goto = {}
            for o in all_objs:
                n = o["name"]
                if "wall" in n or "goal" in n:
                    continue
                path = self._find_path(pos, o["abs_pos"], all_objs, all_barriers, d, xrange, yrange, arrive=False)
                _numbered(possible, errors, cnt_goto, "go to", n, path)

        possible["check available actions"] = []
        self.error_message = errors
        return description, possible

    # --- the oracle ---------------------------------------------------------------------------
    def _bot_after(self, a):
        """Tell the bot (once it exists) the low-level action just taken."""
        if self._bot is None:
            return
        try:
            self._bot_next = self._bot.replan(a)
        except Exception:  # the bot lost track (e.g. after the policy's detours): start afresh
            self._bot, self._bot_next = None, None

    def _ensure_bot(self):
        if self._bot is None:
            self._bot = self._Bot(self.env)
            self._bot_next = self._bot.replan()
        return self._bot_next

    def _bot_moves(self, limit: int = 20) -> list:
        """The poses (pos, dir) the bot walks through from here while it only turns and moves
        forward, simulated on a copy."""
        env, bot = copy.deepcopy((self.env, self._bot))
        nxt, poses = self._bot_next, []
        for _ in range(limit):
            if nxt not in (LEFT, RIGHT, FORWARD):
                break
            env.step(nxt)
            u = env.unwrapped
            poses.append((tuple(int(x) for x in u.agent_pos), int(u.agent_dir)))
            nxt = bot.replan(nxt)
        return poses

    def expert_action(self) -> str:
        """The oracle's next high-level action: minigrid's BabyAIBot, mapped onto AgentGym's
        action names; a pure-move macro ("go to ...", "go through ...") replaces the bot's
        turns and steps when it lands on the farthest pose of the bot's path. Falls back to a
        valid action ("turn left") where the bot has no mapped suggestion."""
        if self.env is None or self._info is None or self._info.get("done"):
            return "check available actions"
        try:
            a = self._ensure_bot()
        except Exception:
            self._bot = None
            return "turn left"
        space = self.action_space
        if a in (LEFT, RIGHT, FORWARD):
            try:
                poses = self._bot_moves()
            except Exception:
                poses = []
            u = self.env.unwrapped
            start = (tuple(int(x) for x in u.agent_pos), int(u.agent_dir))
            best, best_j = None, 1
            for name, acts in space.items():
                if FORWARD not in acts or any(x not in (LEFT, RIGHT, FORWARD) for x in acts):
                    continue
                p, dd = start
                for x in acts:
                    p, dd = self._next_pos(p, x, dd)
                end = (tuple(int(v) for v in p), dd)
                for j, pose in enumerate(poses, 1):
                    if pose == end and j > best_j:
                        best, best_j = name, j
            if best is not None:
                return best
            name = {LEFT: "turn left", RIGHT: "turn right", FORWARD: "move forward"}[a]
            return name if name in space else "turn left"
        if a == PICKUP:
            for name, acts in space.items():
                if name.startswith("pickup ") and acts == [PICKUP]:
                    return name
        if a == DROP and "drop" in space:
            return "drop"
        if a == TOGGLE and "toggle" in space:
            return "toggle"
        return "turn left"
