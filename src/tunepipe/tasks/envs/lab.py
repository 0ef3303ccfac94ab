"""ScienceWorld-like lab procedures (AgentGym agentenv-sciworld; ScienceWorld's wording):
difficulty 1: melt a solid on the stove or freeze a liquid in the freezer; 2: make a
mixture in a given empty container; 3: measure a melting point and focus on the answer box.
As in ScienceWorld, focusing on the wrong thing ends the episode unsuccessfully."""
from __future__ import annotations

import re

from .base import TextEnv

SOLIDS = {"chocolate": 30, "butter": 35, "lard": 45, "wax": 62, "tallow": 55, "gallium": 30}
LIQUIDS = ["water", "milk", "juice", "oil"]
MIXES = {("salt", "water"): "salt water", ("sugar", "water"): "sugar water",
         ("blue paint", "yellow paint"): "green paint", ("blue paint", "red paint"): "purple paint",
         ("soap", "water"): "soapy water"}
CONTAINERS = ["beaker", "cup", "jar", "bowl", "flask", "pot"]
PLACES = ["table", "stove", "freezer"]
UNKNOWN = "No known action matches that input."


class LabEnv(TextEnv):
    name = "lab"
    instruction = ('Do the science task. Reply "Thought:\\n<reasoning>\\n\\nAction:\\n<action>". '
                   'Actions: look around, inventory, pick up <thing>, move <thing> to <place or '
                   'container>, activate/deactivate stove, mix <container>, wait, use thermometer '
                   'on <thing>, focus on <thing>. Focusing on a wrong thing fails the task.')
    error_observation = UNKNOWN

    def _reset(self, rng, difficulty):
        cons = rng.sample(CONTAINERS, 4)
        self.where: dict[str, str] = {}  # container -> place or "inventory"
        self.contents: dict[str, list[str]] = {}
        self.phase: dict[str, str] = {}
        self.stove_on, self.measured, self.failed, self.won = False, False, False, False
        self.focused: list[str] = []
        self.tools = []
        self.kind = difficulty
        if difficulty == 1:
            self.sub = rng.choice(sorted(SOLIDS) + LIQUIDS)
            self.melt = self.sub in SOLIDS
            other = rng.choice([s for s in sorted(SOLIDS) + LIQUIDS if s != self.sub])
            self._fill(cons[0], self.sub)
            self._fill(cons[1], other)
            verb = "melt" if self.melt else "freeze"
            self.task = f"Your task is to {verb} the {self.sub}. First, focus on the {self.sub}."
            self.plan = [self.sub]
        elif difficulty == 2:
            (a, b), self.sub = rng.choice(sorted(MIXES.items()))
            self.pair = (a, b)
            extra = rng.choice([s for s in ["salt", "sugar", "water", "oil", "red paint", "milk"]
                                if s not in (a, b)])
            for c, s in zip(cons, [a, b, extra]):
                self._fill(c, s)
            self.mixer = cons[3]
            self.where[self.mixer], self.contents[self.mixer] = "table", []
            self.task = (f"Your task is to make {self.sub} in the {self.mixer}. When done, focus "
                         f"on the {self.sub}.")
            self.plan = [self.sub]
        else:
            self.sub = rng.choice(sorted(SOLIDS))
            self.melt = True
            other = rng.choice([s for s in sorted(SOLIDS) if s != self.sub])
            self._fill(cons[0], self.sub)
            self._fill(cons[1], other)
            self.tools = ["thermometer", "red box", "blue box"]
            self.tool_at = {"thermometer": "table"}
            self.threshold = rng.choice([40, 50])
            self.answer = "red box" if SOLIDS[self.sub] > self.threshold else "blue box"
            self.task = (f"Your task is to measure the melting point of {self.sub}. First, focus on "
                         f"the {self.sub}. If it is above {self.threshold} degrees celsius, focus "
                         f"on the red box, otherwise on the blue box.")
            self.plan = [self.sub, self.answer]
        self.task_description = self.task
        return f"{self.task}\n{self._look()}"

    def _fill(self, container, substance):
        self.where[container] = "table"
        self.contents[container] = [substance]
        self.phase[substance] = "solid" if substance in SOLIDS or substance in ("salt", "sugar") else "liquid"

    def _look(self) -> str:
        parts = ["a table", f"a stove ({'on' if self.stove_on else 'off'})", "a freezer"]
        parts += [t for t in self.tools if t == "thermometer" and self.tool_at.get(t) == "table"]
        parts += [t for t in self.tools if t.endswith("box")]
        for c in sorted(self.contents):
            if self.where[c] == "inventory":
                continue
            what = " and ".join(f"{s} ({self.phase[s]})" for s in self.contents[c])
            at = {"table": "", "stove": " on the stove", "freezer": " in the freezer"}[self.where[c]]
            parts.append(f"a {c} of {what}{at}" if what else f"an empty {c}{at}")
        return "You see: " + ", ".join(p if p.startswith(("a ", "an ")) else f"a {p}" for p in parts) + "."

    def _container_of(self, thing) -> str | None:
        if thing in self.contents:
            return thing
        return next((c for c, s in self.contents.items() if thing in s), None)

    def _substances(self) -> list[str]:
        return [s for c in sorted(self.contents) for s in self.contents[c]]

    def _step(self, a):
        if a in ("look around", "look"):
            return self._look(), True
        if a == "inventory":
            held = [c for c, w in self.where.items() if w == "inventory"]
            held += [t for t in self.tools if self.tool_at.get(t) == "inventory"] if self.tools else []
            return f"In your inventory, you see: {', '.join(held) or 'nothing'}.", True
        if a in ("wait", "wait1"):
            return self._tick(), True
        m = re.fullmatch(r"(activate|deactivate) stove", a)
        if m:
            on = m.group(1) == "activate"
            if self.stove_on == on:
                return f"The stove is already {'activated' if on else 'deactivated'}.", False
            self.stove_on = on
            return f"The stove is now {'activated' if on else 'deactivated'}.", True
        m = re.fullmatch(r"pick up (.+)", a)
        if m:
            t = m.group(1)
            if self.tools and t == "thermometer" and self.tool_at["thermometer"] != "inventory":
                self.tool_at["thermometer"] = "inventory"
                return "You move the thermometer to the inventory.", True
            c = self._container_of(t)
            if c is None or self.where[c] == "inventory":
                return UNKNOWN, False
            self.where[c] = "inventory"
            return f"You move the {c} to the inventory.", True
        m = re.fullmatch(r"move (.+) to (.+)", a)
        if m:
            return self._move(m.group(1), m.group(2))
        m = re.fullmatch(r"mix (.+)", a)
        if m:
            c = self._container_of(m.group(1))
            key = tuple(sorted(self.contents.get(c, [])))
            if c is None or key not in MIXES:
                return "Nothing happens.", False
            new = MIXES[key]
            self.contents[c] = [new]
            self.phase[new] = "liquid"
            return f"The {key[0]} and {key[1]} mix into {new}.", True
        m = re.fullmatch(r"use thermometer on (.+)", a)
        if m:
            s = m.group(1)
            if not self.tools or self.tool_at["thermometer"] != "inventory" or s not in self._substances():
                return UNKNOWN, False
            c = self._container_of(s)
            hot = self.where[c] == "stove" and self.stove_on and self.phase[s] == "liquid"
            temp = SOLIDS.get(s, 20) if hot else 20
            if hot and s == self.sub:
                self.measured = True
            return f"The thermometer measures a temperature of {temp} degrees celsius.", True
        m = re.fullmatch(r"focus on (.+)", a)
        if m:
            t = m.group(1)
            if t not in self._substances() + self.tools:
                return UNKNOWN, False
            nxt = self.plan[len(self.focused)] if len(self.focused) < len(self.plan) else None
            early = (self.kind == 3 and not self.measured) or (
                self.kind == 2 and self._container_of(t) != self.mixer)
            if t != nxt or (t == self.plan[-1] and early):
                self.failed = True
                return f"You focus on the {t}. That is not the task; the task has failed.", False
            self.focused.append(t)
            return f"You focus on the {t}.", True
        return UNKNOWN, False

    def _move(self, thing, dest):
        c = self._container_of(thing)
        if c is None:
            return UNKNOWN, False
        if dest in PLACES:
            if self.where[c] == dest:
                return f"The {c} is already there.", False
            self.where[c] = dest
            return f"You move the {c} to the {dest}.", True
        if dest in self.contents and thing not in self.contents and dest != c:
            self.contents[c].remove(thing)
            self.contents[dest].append(thing)
            return f"You move the {thing} to the {dest}.", True
        return UNKNOWN, False

    def _tick(self) -> str:
        changes = []
        for c, place in self.where.items():
            for s in self.contents[c]:
                if place == "stove" and self.stove_on and self.phase[s] == "solid" and s in SOLIDS:
                    self.phase[s] = "liquid"
                    changes.append(f"The {s} melts.")
                elif place == "freezer" and self.phase[s] == "liquid":
                    self.phase[s] = "solid"
                    changes.append(f"The {s} freezes.")
        return " ".join(changes) or "You wait. Nothing changes."

    def _subgoals(self):
        s = {f"focus {t}" for t in self.focused if self.kind == 1 or t != self.plan[-1]}
        if self.kind == 2:
            s |= {f"in {x}" for x in self.pair if x in self.contents[self.mixer]}
            if self.sub in self._substances():
                s.add("mixed")
            return s
        c = self._container_of(self.sub)
        device = "stove" if self.melt else "freezer"
        if c and self.where[c] == device:
            s.add("at device")
        if self.melt and self.stove_on:
            s.add("stove on")
        if self.phase[self.sub] == ("liquid" if self.melt else "solid"):
            s.add("changed")
        if self.kind == 3:
            if self.tool_at["thermometer"] == "inventory":
                s.add("thermometer")
            if self.measured:
                s.add("measured")
        return s

    def _status(self):
        if self.failed:
            return True, False, 0.0
        if self.kind == 1:
            won = bool(self.focused) and self.phase[self.sub] == ("liquid" if self.melt else "solid")
        else:
            won = len(self.focused) == len(self.plan)
        return won, won, self.cfg.success_reward if won else 0.0

    def valid_actions(self):
        acts = ["look around", "inventory", "wait", "deactivate stove" if self.stove_on else "activate stove"]
        for c in sorted(self.contents):
            if self.where[c] != "inventory":
                acts.append(f"pick up {c}")
            acts += [f"move {c} to {p}" for p in PLACES if p != self.where[c]]
            if len(self.contents[c]) == 2:
                acts.append(f"mix {c}")
        subs = self._substances()
        if self.kind == 2:
            acts += [f"move {s} to {c}" for s in subs for c in sorted(self.contents) if s not in self.contents[c]]
        if self.tools:
            acts.append("use thermometer on " + self.sub if self.tool_at["thermometer"] == "inventory"
                        else "pick up thermometer")
        return acts + [f"focus on {t}" for t in subs + [t for t in self.tools if t.endswith("box")]]

    def expert(self):
        s = self.sub
        if self.kind == 2:
            m = self.mixer
            if s in self._substances():
                if self._container_of(s) != m:
                    return f"The {s} belongs in the {m}.", f"move {s} to {m}"
                return f"The {s} is made.", f"focus on {s}"
            for x in self.pair:
                if self._container_of(x) != m:
                    return f"The {x} goes into the {m}.", f"move {x} to {m}"
            return "Both ingredients are in it.", f"mix {m}"
        if self.kind == 3 and self.tool_at["thermometer"] != "inventory":
            return "I need the thermometer.", "pick up thermometer"
        if not self.focused:
            return f"First I focus on the {s}.", f"focus on {s}"
        c = self._container_of(s)
        device = "stove" if self.melt else "freezer"
        target = "liquid" if self.melt else "solid"
        if self.phase[s] == target and (self.kind == 1 or self.where[c] == "stove" and self.stove_on):
            if self.kind == 3 and not self.measured:
                return "It has melted, so I measure it.", f"use thermometer on {s}"
            if self.kind == 3:
                return f"The melting point is {SOLIDS[s]} degrees.", f"focus on {self.answer}"
        if self.where[c] != device:
            return f"The {s} must go to the {device}.", f"move {c} to {device}"
        if self.melt and not self.stove_on:
            return "The stove is off.", "activate stove"
        return "I wait for it to change.", "wait"
