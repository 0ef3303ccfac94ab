"""An ALFWorld simulator behind the engine interface (:mod:`.agentgym`), speaking ALFWorld's
text (TextWorld) language as AgentGym's alfworld server shows it (agentenv-alfworld, AgentGym
commit 3ef9235d23e68e7c2920c5422ad957dc8ced5c6c): the first observation ``You are in the
middle of a room. Looking quickly around you, you see a cabinet 1, ...`` then ``Your task is
to: ...``; commands ``go to X``, ``open X``, ``close X``, ``take O from R``, ``put O in/on R``,
``clean O with sinkbasin 1``, ``heat O with microwave 1``, ``cool O with fridge 1``,
``examine X``, ``inventory``, ``look``; the admissible commands as ``available_actions``;
anything else ``Nothing happens.``; reward 1.0 and done when the task is won (0 before).
There are no offline ALFWorld games: rooms are generated per index. Difficulty
(``INDEX_RANGES``): 1 pick and place, 2 clean/heat/cool then place, 3 place two objects.
"""
from __future__ import annotations

import random

INSTRUCTION = 'Interact with a household to solve a task. Imagine you are an intelligent agent in a household environment and your target is to perform actions to complete the task goal. At the beginning of your interactions, you will be given the detailed description of the current environment and your goal to accomplish. For each of your turn, you will be given a list of actions which you can choose one to perform in this turn. You should choose from two actions: "THOUGHT" or "ACTION". If you choose "THOUGHT", you should first think about the current condition and plan for your future actions, and then output your action in this turn. Your output must strictly follow this format:"Thought:\nyour thoughts.\n\nAction:\nyour next action"; If you choose "ACTION", you should directly output the action in this turn. Your output must strictly follow this format:"Action:\nyour next action". After your each turn, the environment will give you immediate feedback based on which you plan your next few steps. if the envrionment output "Nothing happened", that means the previous action is invalid and you should try more options.\n Reminder: \n1. the action must be chosen from the given available actions. Any actions except provided available actions will be regarded as illegal. \n2. Think when necessary, try to act directly more in the process.'
ACK = "OK. I'll follow your instructions and try my best to solve the task."
_OBJECTS = ["apple", "mug", "book", "cellphone", "keychain", "pen", "potato", "tomato", "plate", "cup"]
_OPEN = ["cabinet", "drawer", "fridge", "microwave", "safe"]
_PLAIN = ["countertop", "diningtable", "shelf", "sidetable", "sinkbasin", "sofa", "desk"]
_TREAT = {"clean": ("clean", "sinkbasin 1"), "heat": ("hot", "microwave 1"), "cool": ("cool", "fridge 1")}


def _a(items) -> str:
    items = [f"a {x}" for x in items]
    if not items:
        return "nothing"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f", and {items[-1]}"


class ALFWorldEngine:
    NAME = "alfworld"
    INSTRUCTION = INSTRUCTION
    ACK = ACK
    INDEX_RANGES = {1: range(0, 1000), 2: range(1000, 2000), 3: range(2000, 3000)}
    N_INDICES = 3000

    def __init__(self):
        self.done, self._completed, self.obs = True, False, ""

    def reset(self, data_idx: int):
        idx = int(data_idx)
        if not 0 <= idx < self.N_INDICES:
            return {"error": f"game {idx} out of range(0, {self.N_INDICES})"}
        rng = random.Random(f"alfworld/{idx}")
        level = next(d for d, r in self.INDEX_RANGES.items() if idx in r)
        recs = ["countertop 1", "sinkbasin 1", "microwave 1", "fridge 1"]
        recs += [f"{k} {i}" for k in rng.sample(_OPEN[:2] + _PLAIN[1:3] + _PLAIN[5:], 4) for i in (1, 2)]
        self.recs = sorted(set(recs))
        self.opened = {r: False for r in self.recs if r.split()[0] in _OPEN}
        self.contents = {r: [] for r in self.recs}
        kinds = rng.sample(_OBJECTS, 5)
        self.kind = kinds[0]
        n_target = 2 if level == 3 else 1
        self.goal_rec = rng.choice([r for r in self.recs if r not in ("sinkbasin 1", "microwave 1")])
        self.goal_type = self.goal_rec.split()[0]
        for j, k in enumerate(kinds):
            for i in range(1, (n_target + 2 if j == 0 else 2)):   # the target kind: one spare
                spots = [r for r in self.recs if r != "microwave 1" and not (j == 0 and r.split()[0] == self.goal_type)]
                self.contents[rng.choice(spots)].append(f"{k} {i}")
        self.treat = rng.choice(sorted(_TREAT)) if level == 2 else None
        self.need = n_target
        self.treated: set = set()
        self.at, self.hand = None, None
        rel = "in" if self.goal_rec.split()[0] in _OPEN else "on"
        target = self.goal_rec.split()[0]
        if level == 1:
            self.task = f"put some {self.kind} {rel} {target}."
        elif level == 2:
            self.task = f"put a {_TREAT[self.treat][0]} {self.kind} {rel} {target}."
        else:
            self.task = f"put two {self.kind} {rel} {target}."
        self.obs = (f"You are in the middle of a room. Looking quickly around you, you see {_a(self.recs)}.\n"
                    f"Your task is to: {self.task}")
        self.done, self._completed = False, False
        return {"id": 0, "observation": self.obs, "available_actions": self.valid_actions(),
                "task_type": ["pick_and_place_simple", f"pick_{self.treat}_then_place_in_recep",
                              "pick_two_obj_and_place"][level - 1]}

    # --- state ---------------------------------------------------------------------------
    def _see(self, r) -> str:
        if r in self.opened and not self.opened[r]:
            return f"The {r} is closed."
        if r in self.opened:
            return f"The {r} is open. In it, you see {_a(self.contents[r])}."
        return f"On the {r}, you see {_a(self.contents[r])}."

    def _won(self) -> bool:
        placed = [o for r in self.recs if r.split()[0] == self.goal_type for o in self.contents[r]
                  if o.split()[0] == self.kind and (self.treat is None or o in self.treated)]
        return len(placed) >= self.need

    def valid_actions(self) -> list[str]:
        if self.done:
            return []
        acts = [f"go to {r}" for r in self.recs if r != self.at] + ["inventory", "look"]
        if self.at is not None:
            r = self.at
            acts.append(f"examine {r}")
            if r in self.opened:
                acts.append(f"close {r}" if self.opened[r] else f"open {r}")
            if (r not in self.opened or self.opened[r]) and self.hand is None:
                acts += [f"take {o} from {r}" for o in self.contents[r]]
            if self.hand is not None and (r not in self.opened or self.opened[r]):
                acts.append(f"put {self.hand} in/on {r}")
            for verb, (_adj, place) in _TREAT.items():
                if self.hand is not None and r == place:
                    acts.append(f"{verb} {self.hand} with {r}")
        return sorted(acts)

    def step(self, action: str) -> dict:
        if self.done:
            return {"error": "The episode is over."}
        act = " ".join(str(action).split())
        if act not in self.valid_actions():
            obs = "Nothing happens."
        elif act.startswith("go to "):
            self.at = act[6:]
            obs = f"You arrive at {self.at}. {self._see(self.at)}"
        elif act.startswith("open "):
            self.opened[self.at] = True
            obs = f"You open the {self.at}. {self._see(self.at)}"
        elif act.startswith("close "):
            self.opened[self.at] = False
            obs = f"You close the {self.at}."
        elif act.startswith("take "):
            self.hand = act[5:].split(" from ")[0]
            self.contents[self.at].remove(self.hand)
            obs = f"You pick up the {self.hand} from the {self.at}."
        elif act.startswith("put "):
            self.contents[self.at].append(self.hand)
            obs, self.hand = f"You put the {self.hand} in/on the {self.at}.", None
        elif act.split()[0] in _TREAT:
            self.treated.add(self.hand)
            obs = f"You {act.split()[0]} the {self.hand} using the {self.at}."
        elif act == "inventory":
            obs = f"You are carrying: a {self.hand}." if self.hand else "You are not carrying anything."
        elif act == "look":
            obs = (f"You are facing the {self.at}. Next to it, you see nothing." if self.at else
                   "You are in the middle of a room. Looking quickly around you, you see nothing.")
        else:   # examine
            obs = self._see(self.at)
        won = self._won()
        self.done = self._completed = won
        self.obs = obs
        return {"observation": obs, "reward": 1.0 if won else 0.0, "available_actions": self.valid_actions(),
                "done": won}

    def observation(self) -> str:
        return self.obs

    @property
    def completed(self) -> bool:
        return self._completed

    def expert_action(self) -> str:
        if self.hand is not None and self.hand.split()[0] == self.kind:
            if self.treat is not None and self.hand not in self.treated:
                place = _TREAT[self.treat][1]
                return f"{self.treat} {self.hand} with {place}" if self.at == place else f"go to {place}"
            if self.at != self.goal_rec:
                return f"go to {self.goal_rec}"
            if self.goal_rec in self.opened and not self.opened[self.goal_rec]:
                return f"open {self.goal_rec}"
            return f"put {self.hand} in/on {self.goal_rec}"
        src = next(r for r in self.recs if r.split()[0] != self.goal_type and any(o.split()[0] == self.kind for o in self.contents[r]))
        if self.at != src:
            return f"go to {src}"
        if src in self.opened and not self.opened[src]:
            return f"open {src}"
        return f"take {next(o for o in self.contents[src] if o.split()[0] == self.kind)} from {src}"

    def close(self) -> None:
        self.done = True
