"""BabyAI-text-like grid world (AgentGym agentenv-babyai/agentenv_babyai/environment.py):
one walled room, objects in view (not behind the agent) described by relative steps,
macro ``go to``; difficulty 1: pick up an object (3x3, one distractor), 2: the same among
near-miss distractors (4x4), 3: open a locked door with the key of its colour, another key as near miss (5x5)."""
from __future__ import annotations

from collections import deque

from .base import TextEnv

COLORS = ["red", "green", "blue", "purple", "yellow", "grey"]
TYPES = ["ball", "box", "key"]
DIRS = [(1, 0), (0, 1), (-1, 0), (0, -1)]  # east, south, west, north (minigrid's DIR_TO_VEC)
UNKNOWN = "The action is not recognized. Please check valid actions."


def _steps(n: int, what: str) -> str:
    return f"{n} step {what}" if n == 1 else f"{n} steps {what}"


class GridEnv(TextEnv):
    name = "grid"
    instruction = ('Reach the goal in a grid room. Reply "Thought:\\n<reasoning>\\n\\nAction:\\n<action>". '
                   'Actions: turn left, turn right, move forward, go to <object>, pickup <object>, '
                   'drop, toggle (open the door in front), check available actions. '
                   'Objects behind you are not seen.')
    error_observation = UNKNOWN

    def _reset(self, rng, difficulty):
        size = difficulty + 2
        self.W = self.H = size
        for _ in range(1000):
            if self._generate(rng, difficulty):
                break
        else:  # pragma: no cover - generation always finds a layout quickly
            raise RuntimeError("grid: no solvable layout")
        return f"Your goal: {self.mission}\n{self._view()}"

    def _generate(self, rng, difficulty) -> bool:
        cells = [(x, y) for x in range(1, self.W + 1) for y in range(1, self.H + 1)]
        picks = rng.sample(cells, 3 if difficulty == 1 else 5 if difficulty == 2 else 4)
        self.agent, self.dir = picks[0], rng.randrange(4)
        self.carrying: str | None = None
        self.objects: dict[str, tuple[int, int]] = {}
        self.door = None
        kinds = rng.sample([(c, t) for c in COLORS for t in TYPES], 8)
        if difficulty == 3:
            color = rng.choice(COLORS)
            other = rng.choice([c for c in COLORS if c != color])
            names = [f"{color} key", f"{other} key", next(f"{c} {t}" for c, t in kinds if t != "key")]
            side = rng.randrange(4)
            k = rng.randrange(1, self.W + 1)
            self.door = {"name": f"{color} door", "state": "locked",
                         "pos": [(k, 0), (self.W + 1, k), (k, self.H + 1), (0, k)][side],
                         "inner": [(k, 1), (self.W, k), (k, self.H), (1, k)][side]}
            self.target, self.mission = self.door["name"], f"open the {color} door"
        else:
            names = [f"{c} {t}" for c, t in kinds[: len(picks) - 1]]
            if difficulty == 2:  # near misses: same colour, other type; same type, other colour
                c, t = kinds[0]
                names[1] = f"{c} {rng.choice([x for x in TYPES if x != t])}"
                names[2] = f"{rng.choice([x for x in COLORS if x != c])} {t}"
                names = list(dict.fromkeys(names))
            self.target = names[0]
            self.mission = f"pick up the {self.target}"
        for n, p in zip(names, picks[1:]):
            self.objects[n] = p
        reach = self._reachable(self.agent)
        targets = list(self.objects) + ([self.door["name"]] if self.door else [])
        if self.door and self.door["inner"] in self.objects.values():
            return False
        if self._front() == self._pos(self.target):  # not solved or half-solved at the start
            return False
        return all(self._approach(t, reach) is not None for t in targets)

    # --- geometry -----------------------------------------------------------------------
    def _free(self, p) -> bool:
        return 1 <= p[0] <= self.W and 1 <= p[1] <= self.H and p not in self.objects.values()

    def _reachable(self, start) -> dict:
        dist, q = {start: 0}, deque([start])
        while q:
            p = q.popleft()
            for dx, dy in DIRS:
                n = (p[0] + dx, p[1] + dy)
                if n not in dist and self._free(n):
                    dist[n] = dist[p] + 1
                    q.append(n)
        return dist

    def _pos(self, name):
        if self.door and name == self.door["name"]:
            return self.door["pos"]
        return self.objects.get(name)

    def _approach(self, name, reach=None):
        """(cell, dir) next to ``name`` facing it, nearest to the agent; None if unreachable."""
        reach = reach if reach is not None else self._reachable(self.agent)
        tp = self._pos(name)
        best = None
        for d, (dx, dy) in enumerate(DIRS):
            cell = (tp[0] - dx, tp[1] - dy)
            if cell in reach and (best is None or reach[cell] < reach[best[0]]):
                best = (cell, d)
        return best

    def _rel(self, p):
        dx, dy = p[0] - self.agent[0], p[1] - self.agent[1]
        fx, fy = DIRS[self.dir]
        rx, ry = DIRS[(self.dir + 1) % 4]
        return dx * fx + dy * fy, dx * rx + dy * ry

    def _front(self):
        dx, dy = DIRS[self.dir]
        return self.agent[0] + dx, self.agent[1] + dy

    def _visible(self) -> list[str]:
        names = list(self.objects) + ([self.door["name"]] if self.door else [])
        seen = [n for n in names if self._rel(self._pos(n))[0] >= 0]
        return sorted(seen, key=lambda n: (sum(map(abs, self._rel(self._pos(n)))), n))

    def _label(self, name):
        return f"{self.door['state']} {name}" if self.door and name == self.door["name"] else name

    def _view(self) -> str:
        parts = []
        for n in self._visible():
            f, r = self._rel(self._pos(n))
            where = [_steps(f, "forward")] if f else []
            if r:
                where.append(_steps(abs(r), "right" if r > 0 else "left"))
            parts.append(f"There is a {self._label(n)} {' and '.join(where)}.")
        if not parts:
            parts.append("You see no objects.")
        if self.carrying:
            parts.append(f"You carry a {self.carrying}.")
        return " ".join(parts)

    # --- dynamics -----------------------------------------------------------------------
    def _name(self, words: str) -> str | None:
        words = words.removeprefix("the ").removesuffix(" 1").strip()
        for state in ("locked ", "closed ", "open "):
            words = words.replace(state, "")
        known = list(self.objects) + ([self.door["name"]] if self.door else [])
        return words if words in known else None

    def _step(self, a):
        if a == "turn left" or a == "turn right":
            self.dir = (self.dir + (1 if a == "turn right" else -1)) % 4
            return self._view(), True
        if a == "move forward":
            if not self._free(self._front()):
                return "There is a barrier in front of you, you can't move forward.", False
            self.agent = self._front()
            return self._view(), True
        if a.startswith("check"):
            return "You can take the following actions: " + ", ".join(self.valid_actions()), True
        if a.startswith("go to "):
            n = self._name(a[6:])
            if n is None:
                return UNKNOWN, False
            if n not in self._visible():
                return f"You cannot go to {n}, as you cannot see it.", False
            ap = self._approach(n)
            if ap is None:
                return f"You cannot go to {n}, as there is no path leading to it.", False
            self.agent, self.dir = ap
            return self._view(), True
        if a in ("pickup", "pick up") or a.startswith(("pickup ", "pick up ")):
            rest = a.removeprefix("pickup").removeprefix("pick up").strip()
            n = self._name(rest) if rest else None
            if rest and n is None:
                return UNKNOWN, False
            here = next((k for k, p in self.objects.items() if p == self._front()), None)
            if here is None or (n is not None and n != here):
                return f"You cannot pick up {n or 'anything'}, it is not in front of you.", False
            if self.carrying:
                return f"You cannot pick up {here}, you already carry a {self.carrying}.", False
            del self.objects[here]
            self.carrying = here
            return f"You pick up the {here}.", True
        if a == "drop":
            if not self.carrying:
                return "You cannot drop the object, as you are not carrying anything.", False
            if not self._free(self._front()):
                return "You cannot drop the object, as there is already an object in front of you.", False
            self.objects[self.carrying] = self._front()
            msg, self.carrying = f"You drop the {self.carrying}.", None
            return msg, True
        if a == "toggle":
            if not self.door or self._front() != self.door["pos"]:
                return "There is nothing to toggle in front of you.", False
            color = self.door["name"].split()[0]
            if self.door["state"] == "locked" and self.carrying != f"{color} key":
                return f"You cannot open the {self.door['name']}, you need the {color} key.", False
            self.door["state"] = "closed" if self.door["state"] == "open" else "open"
            return f"The {self.door['name']} is now {self.door['state']}.", True
        return UNKNOWN, False

    def _won(self) -> bool:
        if self.door:
            return self.door["state"] == "open"
        return self.carrying == self.target

    def _subgoals(self):
        s = set()
        if self.target in self._visible():
            s.add("see target")
        if self.door:
            color = self.door["name"].split()[0]
            if self.carrying == f"{color} key":
                s.add("key")
                if self._front() == self.door["pos"]:
                    s.add("at door")
        elif self._front() == self.objects.get(self.target):
            s.add("at target")
        return s

    def _status(self):
        won = self._won()
        return won, won, self.cfg.success_reward if won else 0.0

    def valid_actions(self):
        acts = ["turn left", "turn right"]
        if self._free(self._front()):
            acts.append("move forward")
        reach = self._reachable(self.agent)
        acts += [f"go to {n}" for n in self._visible() if self._approach(n, reach)]
        here = next((k for k, p in self.objects.items() if p == self._front()), None)
        if here and not self.carrying:
            acts.append(f"pickup {here}")
        if self.carrying and self._free(self._front()):
            acts.append("drop")
        if self.door and self._front() == self.door["pos"]:
            acts.append("toggle")
        return acts + ["check available actions"]

    def expert(self):
        """The next action, with a thought that first restates the goal as the observation
        words it (``Your goal: ...``): the model's copy of the object's name, into its action."""
        thought, action = self._expert()
        return f"Your goal: {self.mission}. {thought}", action

    def _expert(self):
        key = f"{self.door['name'].split()[0]} key" if self.door else None
        want = key if self.door else self.target
        if self.carrying and self.carrying != want:
            if self._free(self._front()):
                return f"I do not need the {self.carrying}.", "drop"
            return "I need a free cell to drop this.", "turn left"
        goal = self.door["name"] if self.door and self.carrying == key else want
        if self._front() == self._pos(goal):
            if self.door and goal == self.door["name"]:
                return "The key opens the door in front of me.", "toggle"
            return f"The {goal} is in front of me.", f"pickup {goal}"
        if goal in self._visible():
            return f"I can see the {goal}.", f"go to {goal}"
        f, r = self._rel(self._pos(goal))
        return f"The {goal} is not in view.", "turn right" if r > 0 else "turn left"
