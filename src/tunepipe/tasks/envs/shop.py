"""WebShop-like shopping (AgentGym agentenv-webshop; WebShop's web_agent_site/engine/goal.py
reward): a generated catalogue, ``search[query]`` lists the best word matches, ``click[id]``
opens an item, ``click[option]`` selects an option, ``click[buy now]`` ends the episode with
reward = type match x (attributes + options + price) fraction, scaled by ``success_reward``.
Difficulty: catalogue size, number of attributes/options, near-miss items."""
from __future__ import annotations

import re

from .base import TextEnv

TYPES = ["shirt", "shoes", "mug", "lamp", "backpack", "jacket", "socks", "hat", "towel", "bottle"]
ATTRS = ["cotton", "wool", "leather", "waterproof", "organic", "lightweight", "vintage",
         "wireless", "handmade", "slim"]
COLORS = ["red", "blue", "black", "white", "green", "grey"]
SIZES = ["small", "medium", "large"]
INVALID = "Invalid Action."


class ShopEnv(TextEnv):
    name = "shop"
    keep = "A-Za-z0-9, \\[\\]"
    instruction = ('Buy the item the instruction asks for. Reply "Thought:\\n<reasoning>\\n\\nAction:\\n<action>". '
                   'Actions: search[keywords], click[<item id>], click[<option>], click[buy now], '
                   'click[back to search]. Pick every requested option before buying.')
    error_observation = INVALID

    def _reset(self, rng, difficulty):
        n_items, n_attrs, self.n_results = [(6, 1, 3), (10, 2, 3), (16, 2, 4)][difficulty - 1]
        for _ in range(1000):
            if self._generate(rng, difficulty, n_items, n_attrs):
                break
        self.page, self.results, self.item, self.chosen = "search", [], None, {}
        self.bought = None
        self.seen_target = self.opened_target = False
        return self._home()

    def _generate(self, rng, difficulty, n_items, n_attrs) -> bool:
        ids = rng.sample(range(100, 1000), n_items)
        t = rng.choice(TYPES)
        attrs = rng.sample(ATTRS, n_attrs)
        opts = {"color": rng.sample(COLORS, 2 + difficulty // 2)}
        if difficulty >= 2:
            opts["size"] = rng.sample(SIZES, 2)
        limit = rng.choice([20, 30, 40, 50])
        self.items = {}
        target = {"type": t, "attrs": attrs, "options": opts, "price": limit - rng.randint(1, 9)}
        self.want = {k: rng.choice(v) for k, v in opts.items()}
        self.limit = limit
        pool = [target]
        for j in range(1, n_items):
            near = j <= difficulty * 2 - 1  # near misses: same type, one thing wrong
            item = {"type": t if near else rng.choice([x for x in TYPES if x != t]),
                    "attrs": list(attrs) if near else rng.sample(ATTRS, n_attrs),
                    "options": {k: rng.sample(v, len(v)) for k, v in opts.items()},
                    "price": rng.randint(5, limit - 1)}
            if near:
                flaw = rng.choice(["attr", "price", "option"])
                if flaw == "attr":
                    item["attrs"][rng.randrange(n_attrs)] = rng.choice([a for a in ATTRS if a not in attrs])
                elif flaw == "price":
                    item["price"] = limit + rng.randint(5, 40)
                else:
                    k = rng.choice(sorted(opts))
                    pool_k = COLORS if k == "color" else SIZES
                    item["options"][k] = [v for v in pool_k if v != self.want[k]][: len(opts[k])]
            pool.append(item)
        for i, item in zip(ids, pool):
            item["id"] = f"b0{i}"
            item["name"] = " ".join(item["attrs"] + [item["type"]])
            self.items[item["id"]] = item
        self.target = target["id"]
        if any(self._score(x) >= 1.0 for x in pool[1:]):
            return False
        words = [self.want["color"]] + attrs + [t]
        if "size" in self.want:
            words.insert(1, self.want["size"])
        self.goal_text = f"i need {' '.join(words)}, price lower than {limit}.00 dollars"
        return self.target in self._search(" ".join(attrs + [t]))

    def _score(self, item, chosen=None) -> float:
        chosen = chosen if chosen is not None else {k: v for k, v in self.want.items() if v in item["options"][k]}
        tgt = self.items[self.target] if hasattr(self, "target") and self.target in self.items else None
        attrs = tgt["attrs"] if tgt else item["attrs"]
        r_type = 1.0 if item["type"] == (tgt or item)["type"] else 0.1
        hits = sum(a in item["attrs"] for a in attrs)
        hits += sum(chosen.get(k) == v for k, v in self.want.items())
        hits += item["price"] < self.limit
        return r_type * hits / (len(attrs) + len(self.want) + 1)

    def _search(self, query: str) -> list[str]:
        q = set(query.split())
        ranked = sorted(self.items.values(),
                        key=lambda it: (-len(q & set(it["name"].split())), it["id"]))
        return [it["id"] for it in ranked[: self.n_results] if q & set(it["name"].split())]

    def _home(self) -> str:
        return f"WebShop [SEP] Instruction: [SEP] {self.goal_text} [SEP] Search"

    def _item_page(self) -> str:
        it = self.items[self.item]
        opts = " [SEP] ".join(f"{k} [SEP] " + " [SEP] ".join(v) for k, v in it["options"].items())
        return f"{it['name']} [SEP] Price: ${it['price']}.00 [SEP] {opts} [SEP] Buy Now"

    def _step(self, a):
        if a in ("buy", "buy now"):
            a = "click[buy now]"
        m = re.fullmatch(r"(search|click)\[(.*)\]", a)
        if not m:
            return INVALID, False
        verb, arg = m.group(1), m.group(2).strip()
        if verb == "search":
            if self.page != "search" or not arg:
                return INVALID, False
            self.results, self.page = self._search(arg), "results"
            self.seen_target |= self.target in self.results
            if not self.results:
                return "[SEP] Back to Search [SEP] No results.", True
            return "[SEP] Back to Search [SEP] " + " [SEP] ".join(
                f"{i} [SEP] {self.items[i]['name']} [SEP] ${self.items[i]['price']}.00"
                for i in self.results), True
        if arg == "back to search" and self.page != "search":
            self.page, self.item, self.chosen = "search", None, {}
            return self._home(), True
        if self.page == "results" and arg in self.results:
            self.page, self.item, self.chosen = "item", arg, {}
            self.opened_target |= arg == self.target
            return self._item_page(), True
        if self.page == "item":
            it = self.items[self.item]
            if arg == "buy now":
                self.bought = (self.item, dict(self.chosen))
                return f"Thank you for shopping with us! [SEP] Your score (min 0.0, max 1.0) [SEP] {self._score(it, self.chosen):.2f}", True
            for k, vals in it["options"].items():
                if arg in vals:
                    self.chosen[k] = arg
                    return f"You have clicked {arg}.", True
        return INVALID, False

    def _subgoals(self):
        s = set()
        if self.seen_target:
            s.add("found")
        if self.opened_target:
            s.add("opened")
        if self.item == self.target:
            s |= {f"option {k}" for k, v in self.want.items() if self.chosen.get(k) == v}
        return s

    def _status(self):
        if self.bought is None:
            return False, False, 0.0
        item, chosen = self.bought
        score = self._score(self.items[item], chosen)
        return True, item == self.target and score >= 1.0, self.cfg.success_reward * score

    def valid_actions(self):
        if self.page == "search":
            t = self.items[self.target]
            qs = sorted({it["type"] for it in self.items.values()}) + [" ".join(t["attrs"] + [t["type"]])]
            return [f"search[{q}]" for q in qs]
        acts = ["click[back to search]"]
        if self.page == "results":
            return acts + [f"click[{i}]" for i in self.results]
        it = self.items[self.item]
        return acts + [f"click[{v}]" for vals in it["options"].values() for v in vals] + ["click[buy now]"]

    def expert(self):
        t = self.items[self.target]
        if self.page == "search":
            return "I search for the requested item.", f"search[{' '.join(t['attrs'] + [t['type']])}]"
        if self.page == "results":
            if self.target in self.results:
                return "This item matches the attributes and price.", f"click[{self.target}]"
            return "No matching item here.", "click[back to search]"
        if self.item != self.target:
            return "This is not the right item.", "click[back to search]"
        for k, v in self.want.items():
            if self.chosen.get(k) != v:
                return f"I select the {k}.", f"click[{v}]"
        return "All options are selected.", "click[buy now]"
