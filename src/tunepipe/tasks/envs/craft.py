"""TextCraft-like crafting (AgentGym agentenv-textcraft/agentenv_textcraft/environment.py):
a generated recipe tree of depth = difficulty plus distractor recipes; base items are
gettable, crafted items are not; the goal item in the inventory wins."""
from __future__ import annotations

import math
import re

from .base import TextEnv

BASES = ["oak log", "cobblestone", "iron ingot", "gold ingot", "string", "feather", "flint",
         "sand", "coal", "redstone", "lapis lazuli", "wool", "leather", "sugar cane",
         "clay ball", "bone", "wheat", "slime ball", "quartz", "copper ingot"]
CRAFTED = ["oak planks", "stick", "torch", "glass", "paper", "book", "bow", "arrow",
           "bucket", "compass", "lantern", "chest", "ladder", "bowl", "shears", "hopper",
           "rail", "lead", "bookshelf", "fishing rod", "bread", "blue dye", "iron bars",
           "clock", "piston", "barrel", "brick", "bone meal", "candle", "sign"]


def _item_id(item: str) -> str:
    return "minecraft:" + item.replace(" ", "_")


class CraftEnv(TextEnv):
    name = "craft"
    instruction = ('Craft the goal item. Reply "Thought:\\n<reasoning>\\n\\nAction:\\n<command>". '
                   'Commands: "get N item" (base items only), "craft N item using N a, N b" '
                   '(only the given recipes), "inventory".')
    error_observation = "Could not execute the action."

    def _reset(self, rng, difficulty):
        bases = rng.sample(BASES, len(BASES))
        crafted = rng.sample(CRAFTED, len(CRAFTED))
        self.recipes: dict[str, tuple[int, list[tuple[str, int]]]] = {}
        self.bases: set[str] = set()
        tree: list[str] = []

        def make(depth: int) -> str:
            item = crafted.pop()
            if depth == 1:
                inputs = [bases.pop() for _ in range(2)]
            else:
                inputs = [make(depth - 1)] + ([bases.pop()] if rng.random() < 0.7 else [])
            self.recipes[item] = (rng.choice([1, 1, 2, 4]),
                                  [(i, rng.choice([1, 1, 2, 3])) for i in inputs])
            tree.append(item)
            return item

        self.goal = make(difficulty)
        self.tree_items = set(tree) | {i for it in tree for i, _ in self.recipes[it][1]}
        self.tree_items.discard(self.goal)
        self.bases = {i for i in self.tree_items if i not in self.recipes}
        lines = [self.line(it) for it in tree]
        for _ in range(difficulty):  # distractors: other items from fresh and shared bases
            item = crafted.pop()
            inputs = [bases.pop(), rng.choice(sorted(self.bases | {bases[-1]}))]
            inputs = list(dict.fromkeys(inputs))
            self.recipes[item] = (rng.choice([1, 2]), [(i, rng.choice([1, 2])) for i in inputs])
            self.bases |= set(inputs)
            lines.append(self.line(item))
        rng.shuffle(lines)
        self.inventory: dict[str, int] = {}
        return f"Crafting commands:\n" + "\n".join(lines) + f"\n\nGoal: craft {self.goal}."

    def line(self, item: str, k: int = 1) -> str:
        out, inputs = self.recipes[item]
        ins = ", ".join(f"{k * n} {i}" for i, n in inputs)
        return f"craft {k * out} {item} using {ins}"

    # --- dynamics (wording and check order of AgentGym's TextCraftEnv.step) -------------
    def _step(self, action):
        m = re.match(r"craft (.*) using (.*)", action)
        if m:
            return self._craft(action, m.group(1), m.group(2))
        m = re.match(r"get ([0-9]+) (.*)", action)
        if m:
            n, item = int(m.group(1)), m.group(2).strip()
            if item not in self.bases or not 0 < n <= 64:
                return f"Could not find {item}", False
            self.inventory[item] = self.inventory.get(item, 0) + n
            return f"Got {n} {item}", True
        if action == "inventory":
            if not self.inventory:
                return "Inventory: You are not carrying anything.", True
            return "Inventory: " + " ".join(f"[{i}] ({n})" for i, n in self.inventory.items()), True
        return f"Could not execute {action}", False

    def _craft(self, action, out_str, in_str):
        m = re.match(r"([0-9]+) (.*)", out_str)
        count, item = (int(m.group(1)), m.group(2).strip()) if m else (1, out_str.strip())
        inputs = []
        for part in in_str.split(","):
            mm = re.match(r"([0-9]+) (.*)", part.strip())
            if not mm:
                return f"Wrong item format: {part.strip()}", False
            inputs.append((mm.group(2).strip(), int(mm.group(1))))
        if any(self.inventory.get(i, 0) < n for i, n in inputs):
            return f"Could not find enough items to craft {_item_id(item)}", False
        recipe = self.recipes.get(item)
        if recipe is not None:
            out, need = recipe
            k = count // out if count % out == 0 else 0
            if k >= 1 and sorted(inputs) == sorted((i, k * n) for i, n in need):
                for i, n in inputs:
                    self.inventory[i] -= n
                    if not self.inventory[i]:
                        del self.inventory[i]
                self.inventory[item] = self.inventory.get(item, 0) + count
                return f"Crafted {count} {_item_id(item)}", True
        return f"Could not find a valid recipe for {item}", False

    def _subgoals(self):
        return {i for i in self.tree_items if self.inventory.get(i, 0) > 0}

    def _status(self):
        won = self.inventory.get(self.goal, 0) > 0
        return won, won, self.cfg.success_reward if won else 0.0

    def valid_actions(self):
        return (["inventory"] + [f"get 1 {b}" for b in sorted(self.bases)]
                + [self.line(i) for i in sorted(self.recipes)])

    def expert(self):
        """The next command of a depth-first plan. Its thought restates the goal as the first
        observation words it (``Goal: craft X.``), then the recipe it works on as listed
        (``<item> using <inputs>``), then the command's item: every name in the action is then a
        copy of text already read (docs/tasks/environments.md)."""
        inv = dict(self.inventory)

        def nxt(item: str, n: int) -> tuple[str, str] | None:
            have = inv.get(item, 0)
            if have >= n:
                inv[item] = have - n
                return None
            missing, inv[item] = n - have, 0
            if item not in self.recipes:
                return f"get {missing} {item}", ""
            out, need = self.recipes[item]
            k = math.ceil(missing / out)
            for i, c in need:
                got = nxt(i, k * c)
                if got:
                    cmd, parent = got
                    return cmd, parent or item
            return self.line(item, k), item

        got = nxt(self.goal, 1)
        if got is None:
            return "I check my inventory.", "inventory"
        cmd, item = got
        recipe = self.line(item).split(" ", 2)[2]   # "<item> using <inputs>"
        goal = f"Goal: craft {self.goal}."
        if cmd.startswith("get "):
            return f"{goal} {recipe}. So I {cmd}.", cmd
        return f"{goal} {recipe}. I have them, so I craft it.", cmd
