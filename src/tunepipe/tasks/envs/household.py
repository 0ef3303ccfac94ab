"""ALFWorld-like household (AgentGym agentenv-alfworld; ALFWorld's TextWorld wording):
receptacles, some closed, objects on/in them; the goal puts an object, possibly cleaned /
heated / cooled first, in a receptacle. Difficulty 1: object in plain sight, no transform;
2: a transform; 3: a transform and the object inside a closed receptacle among more."""
from __future__ import annotations

import re

from .base import TextEnv

OPENABLE = ["cabinet", "drawer", "safe"]
SURFACES = ["countertop", "shelf", "diningtable", "desk", "sidetable"]
OBJECTS = ["mug", "apple", "cup", "plate", "bowl", "potato", "egg", "tomato", "bread", "lettuce"]
TRANSFORMS = {"clean": "sinkbasin 1", "heat": "microwave 1", "cool": "fridge 1"}
ADJ = {"clean": "clean", "heat": "hot", "cool": "cool"}
NOTHING = "Nothing happens."


def _list(things) -> str:
    things = [f"a {t}" for t in things]
    if not things:
        return "nothing"
    return things[0] if len(things) == 1 else ", ".join(things[:-1]) + ", and " + things[-1]


class HouseholdEnv(TextEnv):
    name = "household"
    keep = "A-Za-z0-9, /"
    instruction = ('Do the household task. Reply "Thought:\\n<reasoning>\\n\\nAction:\\n<action>". '
                   'Actions: go to <recep>, open/close <recep>, take <obj> from <recep>, '
                   'put <obj> in/on <recep>, clean/heat/cool <obj> with sinkbasin 1/microwave 1/'
                   'fridge 1, examine <obj>, look, inventory.')
    error_observation = NOTHING

    def _reset(self, rng, difficulty):
        n_open, n_surf = [(1, 2), (1, 2), (3, 2)][difficulty - 1]
        opens = [f"{k} {i}" for k in rng.sample(OPENABLE, 2) for i in (1, 2)][:n_open + 1]
        surfs = [f"{s} 1" for s in rng.sample(SURFACES, n_surf)]
        self.transform = rng.choice(sorted(TRANSFORMS)) if difficulty >= 2 else None
        devices = [TRANSFORMS[self.transform]] if self.transform else []
        if difficulty == 3:
            devices = sorted(TRANSFORMS.values())
        self.receps = sorted(set(opens + surfs + devices))
        self.openable = set(opens) | ({"microwave 1", "fridge 1"} & set(devices))
        self.is_open = {r: False for r in self.openable}
        self.contents: dict[str, list[str]] = {r: [] for r in self.receps}
        objs = [f"{o} 1" for o in rng.sample(OBJECTS, 2 + difficulty)]
        self.obj = objs[0]
        start = rng.choice([r for r in opens if r != opens[0]] if difficulty == 3 else surfs)
        self.goal_recep = rng.choice([r for r in opens + surfs if r != start])
        self.contents[start].append(self.obj)
        for o in objs[1:]:
            self.contents[rng.choice([r for r in opens + surfs])].append(o)
        self.state: dict[str, set] = {o: set() for o in objs}
        self.at, self.holding = None, None
        kind = self.obj.split()[0]
        if self.transform:
            self.goal_text = f"put a {ADJ[self.transform]} {kind} in {self.goal_recep}"
        else:
            self.goal_text = f"put some {kind} on {self.goal_recep}"
        return (f"You are in the middle of a room. Looking quickly around you, you see "
                f"{_list(self.receps)}.\nYour task is to: {self.goal_text}.")

    def _visible(self, r) -> list[str]:
        return self.contents[r] if not (r in self.openable and not self.is_open[r]) else []

    def _describe(self, r) -> str:
        if r in self.openable and not self.is_open[r]:
            return f"The {r} is closed."
        prep = "In" if r in self.openable else "On"
        return f"{prep} the {r}, you see {_list(self.contents[r])}."

    def _step(self, a):
        if a == "look":
            where = f"facing the {self.at}" if self.at else "in the middle of a room"
            return f"You are {where}. Next to it, you see nothing.", True
        if a == "inventory":
            return (f"You are carrying: a {self.holding}." if self.holding
                    else "You are not carrying anything."), True
        if a.startswith("go to "):
            r = a[6:]
            if r not in self.receps or r == self.at:
                return NOTHING, False
            self.at = r
            return f"You arrive at {r}. {self._describe(r)}", True
        m = re.fullmatch(r"(open|close) (.+)", a)
        if m:
            r, opening = m.group(2), m.group(1) == "open"
            if r != self.at or r not in self.openable or self.is_open[r] == opening:
                return NOTHING, False
            self.is_open[r] = opening
            if not opening:
                return f"You close the {r}.", True
            return f"You open the {r}. The {r} is open. In it, you see {_list(self.contents[r])}.", True
        m = re.fullmatch(r"take (.+) from (.+)", a)
        if m:
            o, r = m.group(1), m.group(2)
            if r != self.at or self.holding or o not in self._visible(r):
                return NOTHING, False
            self.contents[r].remove(o)
            self.holding = o
            return f"You pick up the {o} from the {r}.", True
        m = re.fullmatch(r"put (.+) (?:in/on|in|on) (.+)", a)
        if m:
            o, r = m.group(1), m.group(2)
            if r != self.at or o != self.holding or (r in self.openable and not self.is_open[r]):
                return NOTHING, False
            self.contents[r].append(o)
            self.holding = None
            return f"You put the {o} in/on the {r}.", True
        m = re.fullmatch(r"(clean|heat|cool) (.+) with (.+)", a)
        if m:
            verb, o, r = m.groups()
            if TRANSFORMS[verb] != r or r != self.at or o != self.holding:
                return NOTHING, False
            self.state[o].add(verb)
            return f"You {verb} the {o} using the {r}.", True
        if a.startswith("examine "):
            t = a[8:]
            if t in self.receps and t == self.at:
                return self._describe(t), True
            if t == self.holding or (self.at and t in self._visible(self.at)):
                adj = " ".join(ADJ[v] for v in sorted(self.state[t]))
                return f"This is a {adj + ' ' if adj else ''}{t}.", True
        return NOTHING, False

    def _subgoals(self):
        s = set()
        if self.holding == self.obj:
            s.add("holding")
        if self.transform and self.transform in self.state[self.obj]:
            s.add("transformed")
        return s

    def _status(self):
        won = self.obj in self.contents[self.goal_recep] and (
            self.transform is None or self.transform in self.state[self.obj])
        return won, won, self.cfg.success_reward if won else 0.0

    def valid_actions(self):
        acts = [f"go to {r}" for r in self.receps if r != self.at] + ["look", "inventory"]
        r = self.at
        if r is None:
            return acts
        if r in self.openable:
            acts.append(f"{'close' if self.is_open[r] else 'open'} {r}")
        if self.holding:
            if not (r in self.openable and not self.is_open[r]):
                acts.append(f"put {self.holding} in/on {r}")
            for verb, dev in TRANSFORMS.items():
                if dev == r:
                    acts.append(f"{verb} {self.holding} with {r}")
            acts.append(f"examine {self.holding}")
        else:
            acts += [f"take {o} from {r}" for o in self._visible(r)]
        return acts + [f"examine {r}"]

    def _where(self, o) -> str | None:
        return next((r for r, c in self.contents.items() if o in c), None)

    def _reach(self, r) -> tuple[str, str] | None:
        if self.at != r:
            return f"I should go to the {r}.", f"go to {r}"
        if r in self.openable and not self.is_open[r]:
            return f"The {r} is closed.", f"open {r}"
        return None

    def expert(self):
        o = self.obj
        if self.holding and self.holding != o:
            return "I do not need this.", f"put {self.holding} in/on {self.at}" if not (
                self.at in self.openable and not self.is_open[self.at]) else f"open {self.at}"
        if self.holding == o:
            if self.transform and self.transform not in self.state[o]:
                dev = TRANSFORMS[self.transform]
                if self.at != dev:
                    return f"I need to {self.transform} the {o.split()[0]}.", f"go to {dev}"
                return f"I {self.transform} it here.", f"{self.transform} {o} with {dev}"
            step = self._reach(self.goal_recep)
            return step or ("Now I put it there.", f"put {o} in/on {self.goal_recep}")
        r = self._where(o)
        step = self._reach(r)
        return step or (f"The {o} is here.", f"take {o} from {r}")
