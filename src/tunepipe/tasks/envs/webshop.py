"""A WebShop simulator behind the engine interface (:mod:`.agentgym`), speaking WebShop's
text mode as AgentGym's webshop server shows it (agentenv-webshop, AgentGym commit
3ef9235d23e68e7c2920c5422ad957dc8ced5c6c): ``[SEP]``-joined pages, actions ``search[keywords]``
and ``click[value]`` (a clickable of the page: ``back to search``, ``next >``, ``< prev``, a
product's ASIN, an option value, ``buy now``), an invalid action leaving the page as it was
with reward 0, and ``buy now`` ending the episode with WebShop's attribute-match reward in
[0, 1] (1.0: the requested product with every requested option within the price). There is no
offline WebShop catalogue: products are generated per index. Difficulty (``INDEX_RANGES``):
1 one option to choose, 2 two options, 3 two options among more look-alike products.
"""
from __future__ import annotations

import random

INSTRUCTION = 'You are web shopping.\nI will give you instructions about what to do.\nYou have to follow the instructions.\nEvery round I will give you an observation and a list of available actions, you have to respond an action based on the state and instruction.\nYou can use search action if search is available.\nYou can click one of the buttons in clickables.\nAn action should be of the following structure:\nsearch[keywords]\nclick[value]\nIf the action is not valid, perform nothing.\nKeywords in search are up to you, but the value in click must be a value in the list of available actions.\nRemember that your keywords in search should be carefully designed.\nYour response should use the following format:\n\nThought:\nI think ... \n\nAction: \nclick[something]'
ACK = "Ok."
_KINDS = {"t-shirt": ("color", "size"), "sneakers": ("color", "size"), "backpack": ("color", "capacity"),
          "mug": ("color", "capacity"), "headphones": ("color", "style"), "pillow": ("color", "size")}
_VALUES = {"color": ["black", "white", "navy blue", "red", "grey", "green"],
           "size": ["small", "medium", "large", "x-large"], "capacity": ["12 oz", "20 liters", "30 liters", "16 oz"],
           "style": ["wireless", "wired", "over-ear", "in-ear"]}
_ADJ = ["classic", "premium", "lightweight", "durable", "soft", "modern", "everyday", "portable"]


class WebShopEngine:
    NAME = "webshop"
    INSTRUCTION = INSTRUCTION
    ACK = ACK
    INDEX_RANGES = {1: range(0, 2000), 2: range(2000, 4000), 3: range(4000, 6000)}
    N_INDICES = 6000

    def __init__(self):
        self.page, self.done, self._completed = "home", True, False

    # --- instance ---------------------------------------------------------------------
    def reset(self, data_idx: int):
        idx = int(data_idx)
        if not 0 <= idx < self.N_INDICES:
            return {"error": f"session_id {idx} out of range(0, {self.N_INDICES})"}
        rng = random.Random(f"webshop/{idx}")
        level = next(d for d, r in self.INDEX_RANGES.items() if idx in r)
        kind = rng.choice(sorted(_KINDS))
        self.products = []
        for j in range(6 if level < 3 else 10):
            k = kind if j < (3 if level < 3 else 7) else rng.choice(sorted(_KINDS))
            opts = {a: rng.sample(_VALUES[a], 3) for a in _KINDS[k]}
            asin = "B0" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(8))
            self.products.append({"asin": asin, "kind": k, "title": f"{rng.choice(_ADJ).title()} {k.title()} by Brand{j}",
                                  "price": round(rng.uniform(8, 90), 2), "options": opts})
        self.target = self.products[0]
        wanted = _KINDS[kind][: 1 if level == 1 else 2]
        self.goal = {a: self.target["options"][a][rng.randrange(3)] for a in wanted}
        self.price_limit = float(int(self.target["price"]) + rng.choice([5, 10, 20]))
        for p in self.products[1:]:   # look-alikes: cheaper ones miss an option, all others cost more
            if p["kind"] == kind and all(self.goal[a] in p["options"][a] for a in wanted) and p["price"] <= self.price_limit:
                p["price"] = round(self.price_limit + rng.uniform(1, 30), 2)
        rng.shuffle(self.products)
        self.instruction = (f"i need a {kind} with " + " and ".join(f"{v} {a}" for a, v in self.goal.items())
                            + f", and price lower than {self.price_limit:.2f} dollars")
        self.page, self.item, self.chosen, self.results = "home", None, {}, []
        self.done, self._completed = False, False
        return [self.observation(), None]

    # --- pages --------------------------------------------------------------------------
    def observation(self) -> str:
        if self.page == "home":
            return f"WebShop [SEP] Instruction: [SEP] {self.instruction} [SEP] Search"
        head = f"Instruction: [SEP] {self.instruction} [SEP] "
        if self.page == "results":
            parts = ["Back to Search", f"Page 1 (Total results: {len(self.results)})", "Next >"]
            for p in self.results:
                parts += [p["asin"], p["title"], f"${p['price']:.2f}"]
            return head + " [SEP] ".join(parts)
        if self.page == "item":
            p, parts = self.item, ["Back to Search", "< Prev"]
            for a, vals in p["options"].items():
                parts += [a] + vals
            parts += [p["title"], f"Price: ${p['price']:.2f}", "Rating: N.A.", "Description", "Features", "Reviews",
                      "Buy Now"]
            return head + " [SEP] ".join(parts)
        return ("Thank you for shopping with us! [SEP] Your code: [SEP] None [SEP] (Paste it in your MTurk "
                f"interface.) [SEP] Purchased [SEP] asin [SEP] {self.item['asin']} [SEP] options [SEP] "
                f"{self.chosen} [SEP] Reward [SEP] Your score (min 0.0, max 1.0) [SEP] {self.reward:.2f}")

    def clickables(self) -> list[str]:
        if self.page == "results":
            return ["back to search", "next >"] + [p["asin"].lower() for p in self.results]
        if self.page == "item":
            return (["back to search", "< prev"] + [v for vals in self.item["options"].values() for v in vals]
                    + ["description", "features", "reviews", "buy now"])
        return []

    def valid_actions(self) -> list[str]:
        if self.done:
            return []
        if self.page == "home":   # the search bar: the instruction's words are the obvious query
            return [f"search[{self.instruction.split(', and price')[0].removeprefix('i need a ')}]"]
        return [f"click[{c}]" for c in self.clickables()]

    def _score(self, p) -> float:
        parts = [p["kind"] == self.target["kind"], p["price"] <= self.price_limit]
        parts += [self.chosen.get(a) == v for a, v in self.goal.items()]
        return sum(parts) / len(parts)

    def step(self, action: str) -> dict:
        if self.done:
            return {"error": "The episode is over."}
        act = str(action).strip()
        low = act.lower()
        reward = 0.0
        if low.startswith("search[") and low.endswith("]") and self.page == "home":
            words = set(low[7:-1].replace(",", " ").split())
            score = lambda p: -len(words & set(f"{p['kind']} {p['title']}".lower().split()))  # noqa: E731
            self.results, self.page = sorted(self.products, key=score), "results"
        elif low.startswith("click[") and low.endswith("]") and low[6:-1].strip() in self.clickables():
            c = low[6:-1].strip()
            if c == "back to search":
                self.page, self.item, self.chosen = "home", None, {}
            elif c == "< prev":
                self.page, self.item, self.chosen = "results", None, {}
            elif self.page == "results" and c != "next >":
                self.item, self.page, self.chosen = next(p for p in self.results if p["asin"].lower() == c), "item", {}
            elif self.page == "item" and c == "buy now":
                self.reward = reward = self._score(self.item)
                self.page, self.done, self._completed = "done", True, reward >= 1.0
            elif self.page == "item":
                for a, vals in self.item["options"].items():
                    if c in vals:
                        self.chosen[a] = c
        return {"state": self.observation(), "reward": reward, "done": self.done, "info": None}

    @property
    def completed(self) -> bool:
        return self._completed

    def expert_action(self) -> str:
        if self.page == "home":
            return self.valid_actions()[0]
        if self.page == "results":
            return f"click[{self.target['asin'].lower()}]"
        if self.item is not self.target:
            return "click[< prev]"
        for a, v in self.goal.items():
            if self.chosen.get(a) != v:
                return f"click[{v}]"
        return "click[buy now]"

    def close(self) -> None:
        self.done = True
