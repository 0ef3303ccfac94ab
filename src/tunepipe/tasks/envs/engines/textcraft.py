"""TextCraft in-process, as AgentGym's ``agentenv-textcraft`` server presents it.

Ported from AgentGym (github WooooDyy/AgentGym, commit 3ef9235d23e68e7c2920c5422ad957dc8ced5c6c):
``agentenv-textcraft/agentenv_textcraft/{crafting_tree,environment,env_wrapper,utils}.py`` (the
server) and ``agentenv/agentenv/envs/textcraft.py`` (the client's instruction and acknowledgement).
The recipes are that server's own recipe files (:mod:`._textcraft_recipes`, Minecraft 1.16 data-pack
JSON with tags and groups); the crafting tree, goal choice, distractors, action regexes and every
observation and error string follow the server's code line by line.

Where the server itself is not deterministic, we fix one order (docs/tasks/env-textcraft.md):

* it loads recipe files in ``os.listdir`` order, which decides (a) the order of the goals of one
  crafting depth, i.e. which goal an index names, and (b) which of two mutually dependent recipes
  (iron ingot <-> nugget, gold ingot <-> nugget, honey block <-> bottle) is dropped as a cycle. We load
  them in sorted file-name order (the only machine-independent order; on ext4 the server's order
  is the directory hash order, seeded per file system).
* it keeps the recipe lines and the distractor pool in Python ``set``\\ s of str, whose iteration
  order changes with each server process (PYTHONHASHSEED); we use insertion order. The random
  calls (``random.seed(42)``, the same ``sample``/``shuffle`` sequence) are the server's.
"""
from __future__ import annotations

import math
import random
import re
from copy import deepcopy
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List

from tunepipe import TunepipeError

NAME = "textcraft"


# --- agentenv_textcraft/utils.py (names kept: the server prints a dataclass repr in one error) ---
@dataclass(frozen=True)
class ItemTag:
    tag: str = None
    item_id: str = None

    @property
    def name(self):
        return self.item_id or self.tag


@dataclass
class ItemTagWithCount:
    item_tag: ItemTag
    count: int


@dataclass(frozen=True)
class Recipe:
    input_items: List[ItemTagWithCount]
    output_item: ItemTagWithCount

    @property
    def recipe_str(self):
        out = "craft {} {} using ".format(self.output_item.count,
                                           item_id_to_str(self.output_item.item_tag.name))
        for itc in self.input_items:
            out += "{} {}, ".format(itc.count, item_id_to_str(itc.item_tag.name))
        return out[:-2]


class ActionFailed(Exception):
    pass


def item_id_to_str(item_id: str):
    return item_id.replace("minecraft:", "").replace("_", " ")


# --- agentenv_textcraft/crafting_tree.py ---
class CraftingTree:
    """The server's crafting tree over ``recipes``: (file stem, recipe JSON) in load order."""

    def __init__(self, recipes):
        self.tag_recipes: Dict[str, list] = {}
        self.itemid_recipes: Dict[str, list] = {}
        self.tag_set = set()
        self.itemid_set = set()
        self.item_id_to_tag = {}
        self.transitive_dependencies = {}
        self.min_depth = {}
        self._load_recipes(recipes)
        self.clean_up_recipes()

    def clean_up_recipes(self):
        new_items = set()
        for _item, recipes in self.itemid_recipes.items():
            for recipe in recipes:
                for input_item in recipe.input_items:
                    input_tag = input_item.item_tag.tag
                    if input_item.item_tag.item_id is None:
                        if not any(i in self.itemid_recipes for i in self.get_items_with_tags(input_tag)):
                            # a tag none of whose items can be crafted becomes an item
                            input_item.item_tag = ItemTag(item_id=input_tag)
                            new_items.add(input_tag)
        for item in new_items:
            self.itemid_set.add(item)
            self.tag_set.remove(item)

    def _load_recipes(self, recipes):
        for _stem, details in recipes:
            input_items = []
            if details["type"] == "minecraft:crafting_shaped":
                pattern = details["pattern"]
                for key, item in details["key"].items():
                    if isinstance(item, list):
                        item = item[0]
                    count = sum(line.count(key) for line in pattern)
                    if "item" in item:
                        input_item = ItemTag(item_id=item["item"])
                        self.itemid_set.add(item["item"])
                    elif "tag" in item:
                        input_item = ItemTag(tag=item["tag"])
                        self.tag_set.add(item["tag"])
                    else:
                        raise TunepipeError(f"textcraft recipe {_stem}: unknown ingredient {item!r}")
                    input_items.append(ItemTagWithCount(input_item, count))
            elif details["type"] == "minecraft:crafting_shapeless":
                item_name_idx = {}
                for ingredient in details["ingredients"]:
                    if isinstance(ingredient, list):
                        ingredient = ingredient[0]
                    if "item" in ingredient:
                        item_name = ingredient["item"]
                        input_item = ItemTag(item_id=item_name)
                        self.itemid_set.add(item_name)
                    elif "tag" in ingredient:
                        item_name = ingredient["tag"]
                        input_item = ItemTag(tag=item_name)
                        self.tag_set.add(item_name)
                    else:
                        raise TunepipeError(f"textcraft recipe {_stem}: unknown ingredient {ingredient!r}")
                    if item_name not in item_name_idx:
                        item_name_idx[item_name] = len(input_items)
                        input_items.append(ItemTagWithCount(input_item, 1))
                    else:
                        cur = input_items[item_name_idx[item_name]].count
                        input_items[item_name_idx[item_name]] = ItemTagWithCount(input_item, cur + 1)
            else:
                continue

            result = details["result"]
            if isinstance(result, str):
                output_item_id, output_item_count = result, 1
            elif "item" in result:
                output_item_id, output_item_count = result["item"], result.get("count") or 1
            else:
                raise TunepipeError(f"textcraft recipe {_stem}: unknown result {result!r}")
            self.itemid_set.add(output_item_id)
            # the server drops recipes whose only ingredient is a *_block (ingot from block, ...)
            if len(input_items) == 1 and input_items[0].item_tag.name.endswith("_block"):
                continue
            output_tag = None
            if "group" in details:
                output_tag = "minecraft:" + details["group"]
                if output_tag != output_item_id:
                    self.tag_set.add(output_tag)
                    self.item_id_to_tag[output_item_id] = output_tag
            output_item = ItemTagWithCount(ItemTag(tag=output_tag, item_id=output_item_id), output_item_count)
            recipe = Recipe(input_items, output_item)

            deps = self.transitive_dependencies.setdefault(output_item_id, set())
            skip_recipe = any(output_item_id in self.transitive_dependencies.get(i.item_tag.name, ())
                              for i in input_items)
            if not skip_recipe:
                self.itemid_recipes.setdefault(output_item.item_tag.item_id, []).append(recipe)
                for i in input_items:
                    deps.add(i.item_tag.name)
                    if i.item_tag.name in self.transitive_dependencies:
                        deps.update(self.transitive_dependencies[i.item_tag.name])
                if output_item.item_tag.tag is not None:
                    self.tag_recipes.setdefault(output_item.item_tag.tag, []).append(recipe)

    def craft(self, recipe: Recipe):
        if recipe.output_item.item_tag.item_id not in self.itemid_recipes:
            return None
        for target in self.itemid_recipes[recipe.output_item.item_tag.item_id]:
            success = True
            clone = deepcopy(recipe.input_items)
            for itc in target.input_items:
                match = self.find_matching_item(itc.item_tag, clone)
                if match is None or match.count != itc.count:
                    success = False
                    break
                clone.remove(match)
            if len(clone):
                success = False
            if success:
                return target.output_item
        return None

    def find_matching_item(self, itemtag: ItemTag, items: List[ItemTagWithCount]):
        for itc in items:
            if itemtag.item_id is not None:
                if itc.item_tag.item_id == itemtag.item_id:
                    return itc
            elif itemtag.tag is not None:
                if itc.item_tag.tag == itemtag.tag or self.item_id_to_tag.get(itc.item_tag.item_id) == itemtag.tag:
                    return itc
        return None

    def is_craftable(self, item: str):
        return item in self.itemid_recipes or item in self.tag_recipes

    def is_valid_item(self, item: str):
        return item in self.itemid_set

    def is_tag(self, name: str):
        return name in self.tag_set

    def get_items_with_tags(self, input_tag: str):
        for item_id, tag in self.item_id_to_tag.items():
            if input_tag == tag:
                yield item_id

    def recipes_of(self, name: str) -> list:
        return self.itemid_recipes.get(name) or self.tag_recipes.get(name) or []

    def traverse_recipe_tree(self, item_name: str, visited=None) -> List[Recipe]:
        visited = visited or set()
        if item_name in visited:
            return []
        current = self.recipes_of(item_name)
        new_visited = visited | {item_name}
        collected = list(current)
        for recipe in current:
            for input_item in recipe.input_items:
                collected.extend(self.traverse_recipe_tree(input_item.item_tag.name, new_visited.copy()))
        return collected

    def collect_item_uses(self):
        item_uses = {}
        for table in (self.itemid_recipes, self.tag_recipes):
            for recipes in table.values():
                for recipe in recipes:
                    for itc in recipe.input_items:
                        item_uses.setdefault(itc.item_tag.name, []).append(recipe)
        return item_uses

    def get_min_depth(self, name: str) -> int:
        if name not in self.min_depth:
            recipes = self.recipes_of(name)
            self.min_depth[name] = (min(max(self.get_min_depth(i.item_tag.name) + 1 for i in r.input_items)
                                        for r in recipes) if recipes else 0)
        return self.min_depth[name]

    def item_recipes_min_depth(self, min_depth: int):
        for item in self.itemid_recipes:
            depth = self.get_min_depth(item)
            if depth >= min_depth:
                yield item, depth

    def create_recipe_set(self, item_name: str, rng: random.Random):
        item_uses = self.collect_item_uses()
        recipes = self.traverse_recipe_tree(item_name, set())
        distractors = []
        for recipe in recipes:
            for item in recipe.input_items:
                uses = item_uses.get(item.item_tag.name)
                if uses:
                    distractors.extend(rng.sample(uses, min(len(uses), 10)))
        return recipes, distractors


@lru_cache(maxsize=1)
def crafting_tree() -> CraftingTree:
    """The server's tree (one per process, shared by every engine, as the server shares it)."""
    from ._textcraft_recipes import RECIPES
    return CraftingTree(RECIPES)


@lru_cache(maxsize=1)
def goals() -> tuple:
    """(item id, crafting depth) per index: items with a recipe, stably sorted by depth, as the
    server's reset orders them (data_idx % len picks one)."""
    tree = crafting_tree()
    return tuple(sorted(tree.item_recipes_min_depth(1), key=lambda x: x[1]))


def _first_obs(commands: str, goal: str) -> str:
    return "Crafting commands:\n{}\n\nGoal: craft {}.".format(commands, item_id_to_str(goal))


class TextCraftEngine:
    """One AgentGym textcraft environment (the server's TextCraftEnv behind its wrapper's
    /reset and /step bodies). Pure Python: no optional dependency."""

    NAME = NAME
    # agentenv/agentenv/envs/textcraft.py TextCraftEnvClient.conversation_start, verbatim
    INSTRUCTION = (
        'You are given few useful crafting recipes to craft items in Minecraft. Crafting commands are of the '
        'format "craft [target object] using [input ingredients]".\nEvery round I will give you an observation, '
        'you have to respond an action based on the state and instruction. You can "get" an object (ingredients) '
        'from the inventory or the environment, look-up the game inventory by "inventory", or "craft" (target) '
        'using any of the crafting commands.\nYour output must strictly follow this format:"Thought:\nyour '
        'thoughts.\n\nAction:\nyour next action"\n\nReminder: \n1. Always specify the quantity when using "get" '
        'and "craft" commands. - Example of get: get 1 lapis lazuli - Example1 of craft: craft 1 blue dye using 1 '
        'lapis lazuli - Example2 of craft: craft 1 golden carrot using 8 gold nugget, 1 carrot\n2. When using '
        '"get" command, do not specify whether the item comes from the inventory or the environment.\n3. You can '
        'use ONLY crafting commands provided, do not use your own crafting commands. However, if the crafting '
        'command uses a generic ingredient like "planks", you can use special types of the same ingredient e.g. '
        '"dark oak planks" in the command instead.\n\n')
    ACK = "OK. I'll follow your instructions and try my best to solve the task."
    #: the server's index space: data_idx % N_INDICES picks the goal (any int is accepted)
    N_INDICES = 544
    #: crafting depth 1 / 2 / 3-4 (the goals are sorted by depth: 125 / 291 / 117 + 11)
    INDEX_RANGES = {1: range(0, 125), 2: range(125, 416), 3: range(416, 544)}

    action_regexes = {"craft": r"craft (.*) using (.*)", "get": r"get ([0-9]+) (.*)", "inventory": r"inventory"}
    count_regex = r"([0-9]+) (.*)"

    def __init__(self, env_id: int = 0):
        self.tree = crafting_tree()
        self.env_id = env_id  # the "id" of the /reset body (the server's env id)
        self.inventory: dict[str, int] = {}
        self.goal: str | None = None
        self.commands: str | None = None
        self.data_idx: int | None = None
        self._obs: str | None = None
        self._completed = False
        self._closed = False

    # --- protocol ---
    def reset(self, data_idx: int) -> dict:
        """The /reset body for ``data_idx`` (environment.py TextCraftEnv.reset)."""
        if isinstance(data_idx, bool) or not isinstance(data_idx, int):
            raise TunepipeError(f"textcraft data_idx must be an int, got {data_idx!r}")
        tree = self.tree
        rng = random.Random(42)  # the server calls random.seed(42) on every reset
        self.inventory = {}
        self._completed = False
        self._closed = False
        self.data_idx = data_idx
        self.goal = goals()[data_idx % len(goals())][0]
        recipes, distractors = tree.create_recipe_set(self.goal, rng)
        recipes_set = dict.fromkeys(r.recipe_str for r in recipes)  # the server: set() (hash order)
        distractor_set = dict.fromkeys(d.recipe_str for d in distractors if d.recipe_str not in recipes_set)
        pool = list(distractor_set)
        lines = list(recipes_set) + rng.sample(pool, min(len(pool), 10))
        rng.shuffle(lines)
        self.commands = "\n".join(lines)
        self._obs = _first_obs(self.commands, self.goal)
        return {"id": self.env_id, "observation": self._obs, "done": False, "reward": 0}

    def step(self, action: str) -> dict:
        """The /step body: {observation, reward, done}; where the server's wrapper catches an
        exception other than its own ActionFailed it answers {"error": str(e)} (and so do we)."""
        self._check()
        try:
            obs, reward, done = self._step(action)
        except Exception as e:  # env_wrapper.py step: payload = {"error": f"{e}"}
            return {"error": f"{e}"}
        self._obs = obs
        if reward == 1:
            self._completed = True
        return {"observation": obs, "reward": reward, "done": done}

    def observation(self) -> str:
        self._check()
        return self._obs

    def close(self):
        self._closed = True
        self.inventory = {}

    @property
    def completed(self) -> bool:
        """The goal item was obtained (reward 1) in this episode."""
        return self._completed

    def valid_actions(self) -> list[str]:
        return []  # textcraft lists no actions

    def _check(self):
        if self._closed or self.goal is None:
            raise TunepipeError("textcraft engine: call reset(data_idx) first (closed or never reset)")

    # --- environment.py TextCraftEnv.step ---
    def _step(self, action: str):
        observation, reward, terminated = None, 0, False
        if not isinstance(action, str):
            action = str(action)
        try:
            for action_type, regex in self.action_regexes.items():
                match = re.match(regex, action)
                if not match:
                    continue
                if action_type == "craft":
                    recipe = self._extract_recipe(match.group(1), match.group(2))
                    if not self._has_items(recipe.input_items):
                        raise ActionFailed("Could not find enough items to craft {}".format(
                            recipe.output_item.item_tag.item_id))
                    out = self.tree.craft(recipe)
                    if out is None:
                        raise ActionFailed("Could not find a valid recipe for {}".format(recipe.output_item))
                    self._remove_items(recipe.input_items)
                    self._add_item(out.item_tag, out.count)
                    observation = "Crafted {} {}".format(out.count, out.item_tag.item_id)
                    if out.item_tag.item_id == self.goal:
                        reward, terminated = 1, True
                elif action_type == "get":
                    item, amt = match.group(2), int(match.group(1))
                    obj = self._item_str_to_obj(item)
                    if (self.tree.is_craftable(obj.name) or self.tree.is_tag(obj.item_id) or obj.item_id is None
                            or not self.tree.is_valid_item(obj.item_id)):
                        raise ActionFailed("Could not find {}".format(item))
                    self._add_item(obj, amt)
                    observation = "Got {} {}".format(amt, item)
                    if obj.item_id == self.goal:
                        reward, terminated = 1, True
                else:  # inventory
                    observation = "Inventory: "
                    if not self.inventory:
                        observation += "You are not carrying anything."
                    for item, amt in self.inventory.items():
                        observation += "[{}] ({}) ".format(item_id_to_str(item), amt)
            if observation is None:
                raise ActionFailed("Could not execute {}".format(action))
        except ActionFailed as e:
            observation, reward = "{}".format(e.args[0]), 0
        return observation, reward, terminated

    def _has_items(self, items):
        return all(i.item_tag.item_id in self.inventory and self.inventory[i.item_tag.item_id] >= i.count
                   for i in items)

    def _add_item(self, item_tag: ItemTag, amt: int):
        self.inventory[item_tag.item_id] = self.inventory.get(item_tag.item_id, 0) + amt

    def _remove_items(self, items):
        for i in items:
            self.inventory[i.item_tag.item_id] -= i.count
            if self.inventory[i.item_tag.item_id] == 0:
                del self.inventory[i.item_tag.item_id]

    def _extract_recipe(self, output_str, inputs_str) -> Recipe:
        m = re.match("([0-9]+) (.*)", output_str)
        if m:
            out, out_count = self._item_str_to_obj(m.group(2)), int(m.group(1))
        else:
            out, out_count = self._item_str_to_obj(output_str), 1
        input_items = []
        for part in inputs_str.split(","):
            match = re.match(self.count_regex, part.strip())
            if not match:
                raise ActionFailed("Wrong item format: {}".format(part.strip()))
            input_items.append(ItemTagWithCount(self._item_str_to_obj(match.group(2)), int(match.group(1))))
        return Recipe(input_items=input_items, output_item=ItemTagWithCount(out, out_count))

    def _item_str_to_obj(self, item):
        item_id = "minecraft:" + item.replace(" ", "_")
        return ItemTag(tag=item_id) if self.tree.is_tag(item_id) else ItemTag(item_id=item_id)

    # --- oracle ---
    def expert_action(self) -> str:
        """The oracle's next action: the first action of a bottom-up plan from the current
        inventory (get the base items, craft intermediates, craft the goal). ``inventory`` once
        the goal was obtained."""
        self._check()
        if self._completed:
            return "inventory"
        actions = self.plan()
        return actions[0] if actions else "inventory"

    def plan(self) -> list[str]:
        """The oracle's remaining actions from the current inventory: for each item the recipe
        (and, for a generic ingredient such as planks, the concrete item) whose sub-plan is
        shortest, every ``get`` of one item merged into one at the front (gets only add items,
        so moving them first never breaks a craft)."""
        self._check()
        inv = {k: v for k, v in self.inventory.items() if v > 0}
        actions: list = []
        self._obtain(self.goal, 1, inv, actions, 0, frozenset())
        return _merge_gets(actions)

    def _obtain(self, item: str, n: int, inv: dict, actions: list, depth: int, got: frozenset):
        """Append the actions that bring ``inv[item]`` to at least ``n`` (simulating them in
        ``inv``); a get is ("get", item, amount), a craft its command string; ``got``: the items
        the plan already fetches (fetching more of them costs no step once gets are merged)."""
        if depth > 32:
            raise TunepipeError(f"textcraft oracle: recipe tree of {item} deeper than 32")
        short = n - inv.get(item, 0)
        if short <= 0:
            return
        tree = self.tree
        if item not in tree.itemid_recipes:
            actions.append(("get", item, short))
            inv[item] = inv.get(item, 0) + short
            return
        best = None
        for recipe in tree.itemid_recipes[item]:
            trial_inv, trial = dict(inv), []
            if self._apply(item, recipe, short, trial_inv, trial, depth, got):
                if best is None or _cost(trial, got) < _cost(best[1], got):
                    best = (trial_inv, trial)
        if best is None:
            raise TunepipeError(f"textcraft oracle: no recipe of {item} can be built")
        inv.clear()
        inv.update(best[0])
        actions.extend(best[1])

    def _apply(self, item, recipe, short, inv, actions, depth, got) -> bool:
        tree = self.tree
        crafts = math.ceil(short / recipe.output_item.count)
        reserved = {}
        # specific items first, so that a generic one (planks) can follow the specific choice
        order = sorted(range(len(recipe.input_items)), key=lambda k: tree.is_tag(recipe.input_items[k].item_tag.name))
        for k in order:
            itc = recipe.input_items[k]
            need = itc.count * crafts
            name = itc.item_tag.name
            options = list(tree.get_items_with_tags(name)) if tree.is_tag(name) else [name]
            best = None
            for concrete in options:
                trial_inv, trial = dict(inv), []
                try:
                    self._obtain(concrete, need, trial_inv, trial, depth + 1, got)
                except TunepipeError:
                    continue
                if best is None or _cost(trial, got) < _cost(best[2], got):
                    best = (concrete, trial_inv, trial)
            if best is None:
                return False
            concrete, new_inv, sub = best
            inv.clear()
            inv.update(new_inv)
            actions.extend(sub)
            got = got | {a[1] for a in sub if not isinstance(a, str)}
            inv[concrete] -= need  # set aside so that sibling sub-trees do not consume it
            reserved[k] = (concrete, itc.count)
        reserved = [reserved[k] for k in range(len(recipe.input_items))]
        uses = ", ".join(f"{c} {item_id_to_str(name)}" for name, c in reserved)
        for name, c in reserved:
            inv[name] += c * crafts
        for _ in range(crafts):
            actions.append(f"craft {recipe.output_item.count} {item_id_to_str(item)} using {uses}")
            for name, c in reserved:
                inv[name] -= c
            inv[item] = inv.get(item, 0) + recipe.output_item.count
        return True


def _cost(actions, got=frozenset()) -> int:
    """Steps a sub-plan adds once gets are merged: crafts plus items fetched not in ``got``."""
    return sum(isinstance(a, str) for a in actions) + len({a[1] for a in actions if not isinstance(a, str)} - got)


def _merge_gets(actions) -> list:
    gets: dict = {}
    for a in actions:
        if not isinstance(a, str):
            gets[a[1]] = gets.get(a[1], 0) + a[2]
    return [f"get {n} {item_id_to_str(i)}" for i, n in gets.items()] + [a for a in actions if isinstance(a, str)]


def random_action(engine: TextCraftEngine, rng: random.Random) -> str:
    """A uniformly random action among the ones the first observation suggests: each crafting
    command as written (distractors and generic ingredients included), ``get`` of each
    ingredient in the amount a command names, and ``inventory``."""
    lines = engine.commands.split("\n")
    gets = []
    for line in lines:
        _, _, inputs = line.partition(" using ")
        gets.extend(f"get {part.strip()}" for part in inputs.split(",") if part.strip())
    return rng.choice(lines + sorted(set(gets)) + ["inventory"])


def success_rate(indices, policy: str = "oracle", max_steps: int = 30, seed: int = 0) -> float:
    """Share of ``indices`` whose goal is obtained within ``max_steps`` actions by the oracle
    (``policy="oracle"``) or by :func:`random_action` (``"random"``, one rng seeded ``seed``)."""
    if policy not in ("oracle", "random"):
        raise TunepipeError(f"textcraft policy must be 'oracle' or 'random', got {policy!r}")
    engine, rng, won = TextCraftEngine(), random.Random(seed), 0
    indices = list(indices)
    for idx in indices:
        engine.reset(idx)
        for _ in range(max_steps):
            engine.step(engine.expert_action() if policy == "oracle" else random_action(engine, rng))
            if engine.completed:
                won += 1
                break
    return won / max(len(indices), 1)
