"""AgentGym's episode semantics (src/tunepipe/tasks/envs/agentgym.py): the client's turn parse
and local error, the reported reward and the validators' score, non-farmable training rewards,
difficulty -> index ranges, valid/implied actions, the HTTP engine against the loopback server
over any engine (AgentGym's bodies, 422, {"error"}), and every environment closed."""
import json
import random
import threading
import urllib.error
import urllib.request

import pytest

from tunepipe import TunepipeError, tasks
from tunepipe.tasks import BuildRequest
from tunepipe.tasks.envs import agentgym
from tunepipe.tasks.envs.agentgym import LOCAL_ERROR, Episode, HttpEngine, implied_actions, random_turn, train_reward
from tunepipe.tasks.envs.base import EnvConfig
from tunepipe.tasks.envs.server import serve

UNKNOWN = "The action is not recognized. Please check valid actions."


class FakeBabyAI:
    """BabyAI as measured: score = running sum of reward; after an unrecognised action the
    last reward repeats; a slow success says "The task is completed." with done False."""
    NAME, INSTRUCTION, ACK = "babyai", "Go.", agentgym.ACK
    INDEX_RANGES = {1: range(0, 10), 2: range(10, 20), 3: range(20, 30)}
    N_INDICES = 30

    def __init__(self):
        self.steps, self.closed = [], False

    def reset(self, data_idx):
        self.idx, self.reward, self.score, self.done_goal = data_idx, 0.0, 0.0, False
        return {"observation": f"Room {data_idx}. Available actions: [\"go to red ball 1\", \"turn left\"]",
                "reward": 0, "score": 0, "deleted": False, "done": False}

    def step(self, action):
        self.steps.append(action)
        if action == "go to red ball 1" and not self.done_goal:
            self.reward, self.done_goal, obs = 0.4, True, "The task is completed."
        elif action in ("go to red ball 1", "turn left"):
            self.reward, obs = 0.0, "You turn."
        else:
            obs = UNKNOWN   # the last reward repeats
        self.score += self.reward
        return {"observation": obs, "reward": self.reward, "score": self.score, "done": False}

    def observation(self):
        return "obs"

    @property
    def completed(self):
        return self.done_goal

    def valid_actions(self):
        return ["go to red ball 1", "turn left"]

    def expert_action(self):
        return "go to red ball 1"

    def close(self):
        self.closed = True


class FakeTextCraft(FakeBabyAI):
    NAME = "textcraft"

    def reset(self, data_idx):
        super().reset(data_idx)
        return {"id": 0, "observation": "Crafting commands:\ncraft 1 stick using 2 oak planks\n\nGoal: craft stick.",
                "done": False, "reward": 0}

    def step(self, action):
        self.steps.append(action)
        ok = action == "get 2 oak planks"
        self.done_goal |= ok
        return {"observation": "Got 2 oak planks" if ok else f"Could not execute {action}", "reward": float(ok),
                "done": ok}

    def valid_actions(self):
        return []


def turn(action):
    return f"Thought:\nok\n\nAction:\n{action}"


# --- 1. the client's parse and local error; the reported reward; the validators' score ---------
def test_several_action_lines_are_answered_locally_and_the_engine_is_not_stepped():
    eng = FakeBabyAI()
    ep = Episode(eng, "babyai", max_rounds=30)
    ep.reset(3)
    obs, reward, done = ep.turn("Action: go to red ball 1\nAction: turn left")
    assert (obs, reward, done) == (LOCAL_ERROR, 0.0, False) and eng.steps == []
    ep.turn("Thought:\nno action here")
    assert eng.steps == [""]                       # no Action: the client sends ""
    ep.turn("Thought:\nx\n\nAction:\nGo to RED ball-1!")
    assert eng.steps[-1] == "Go to RED ball1"      # [A-Za-z0-9, ] kept, spaces collapsed


def test_react_clients_take_the_last_action_and_strip_with_their_off_by_one():
    assert agentgym.client_action("Action: a\nAction: click[buy now]", "webshop") == "click[buy now]"
    assert agentgym.client_action("click[b01]", "webshop") == "click[b01]"
    assert agentgym.client_action("no action", "alfworld") == ""
    assert agentgym.client_action("Action:\ngo to desk 1</s>", "alfworld") == "go to desk"   # "1" cut too
    assert agentgym.client_action("Action: a\nAction: b", "textcraft") is None


def test_babyai_validator_score_is_the_last_reported_score_and_training_rewards_cannot_be_farmed():
    ep = Episode(FakeBabyAI(), "babyai", max_rounds=30)
    ep.reset(0)
    ep.turn(turn("go to red ball 1"))            # a slow success: done stays False
    assert ep.completed and not ep.done and ep.final == pytest.approx(0.4)
    for _ in range(3):                           # unrecognised actions repeat the reward: the score grows
        ep.turn(turn("dance"))
    assert ep.final == pytest.approx(1.6)        # what the validators read: above 1
    assert train_reward("score", ep) == pytest.approx(1.6)
    assert train_reward("success", ep) == 1.0
    assert train_reward("score_dedup", ep) == pytest.approx(0.8)   # the repeated error counts once
    ep2 = Episode(FakeBabyAI(), "babyai", max_rounds=30)
    ep2.reset(0)
    for _ in range(5):
        ep2.turn(turn("dance"))
    assert train_reward("success", ep2) == 0.0 and ep2.final == 0.0
    with pytest.raises(TunepipeError, match="train_reward"):
        train_reward("sum", ep2)


def test_max_rounds_and_episode_over():
    ep = Episode(FakeBabyAI(), "babyai", max_rounds=2)
    ep.reset(0)
    ep.turn(turn("turn left"))
    assert ep.turn(turn("turn left"))[2] is True
    with pytest.raises(Exception, match="over"):
        ep.turn(turn("turn left"))


# --- 5. valid actions; textcraft's implied ones ---------------------------------------------
def test_random_policy_uses_valid_or_implied_actions_never_a_constant_look():
    obs = "Crafting commands:\ncraft 1 stick using 2 oak planks\ncraft 4 oak planks using 1 oak log\n\nGoal: craft stick."
    acts = implied_actions(obs)
    assert {"craft 1 stick using 2 oak planks", "get 2 oak planks", "get 1 oak log", "inventory"} <= set(acts)
    ep = Episode(FakeTextCraft(), "textcraft", max_rounds=30)
    first = ep.reset(0)
    rng = random.Random(0)
    sent = {agentgym.client_action(random_turn(ep, rng, first), "textcraft") for _ in range(30)}
    assert "look" not in sent and sent <= set(implied_actions(first))
    ep = Episode(FakeBabyAI(), "babyai", max_rounds=30)
    ep.reset(0)
    assert {agentgym.client_action(random_turn(ep, rng), "babyai") for _ in range(20)} <= {"go to red ball 1", "turn left"}


# --- the loopback server over any engine ------------------------------------------------------
@pytest.fixture
def server_for(monkeypatch):
    monkeypatch.setitem(agentgym.ENGINES, "fakebaby", "test_agentgym:FakeBabyAI")
    monkeypatch.setitem(agentgym.ENGINES, "fakecraft", "test_agentgym:FakeTextCraft")
    started = []

    def start(name):
        srv = serve(name)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}", srv.service

    yield start
    for srv in started:
        srv.shutdown()
        srv.server_close()


def post(url, path, body):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{url}/{path}", data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, None


def test_server_reproduces_agentgym_bodies_errors_and_422(server_for):
    url, service = server_for("fakebaby")
    assert post(url, "create", None) == (200, {"id": 0})
    assert post(url, "reset", {"id": 0})[0] == 422                     # babyai requires data_idx
    assert post(url, "step", {"id": 0, "action": 3})[0] == 422
    status, body = post(url, "reset", {"id": 0, "data_idx": 4, "difficulty": 3})   # difficulty is dropped
    assert status == 200 and body["observation"].startswith("Room 4.") and set(body) == {
        "observation", "reward", "score", "deleted", "done"}
    assert post(url, "step", {"id": 0, "action": "go to red ball 1"})[1] == {
        "observation": "The task is completed.", "reward": 0.4, "score": 0.4, "done": False}
    assert post(url, "step", {"id": 7, "action": "x"}) == (200, {"error": "'The id 7 is not valid.'"})
    assert service.open_ids() == [0]
    assert post(url, "close", {"id": 0}) == (200, True) and service.open_ids() == []
    url, service = server_for("fakecraft")
    status, body = post(url, "create", {})
    assert status == 200 and set(body) == {"id", "observation", "done", "reward"} and body["id"] == 0


def test_http_engine_plays_as_in_process_and_closes(server_for):
    url, service = server_for("fakebaby")
    local = Episode(FakeBabyAI(), "babyai", max_rounds=30)
    remote = Episode(HttpEngine(url, "babyai", INSTRUCTION="Go."), "babyai", max_rounds=30)
    with remote:
        assert local.reset(5) == remote.reset(5)
        assert remote.valid_actions() == ["go to red ball 1", "turn left"]
        for t in [turn("turn left"), "Action: a\nAction: b", turn("go to red ball 1"), turn("dance"), "nothing"]:
            assert local.turn(t) == remote.turn(t)
        assert remote.completed and remote.final == local.final
    assert service.open_ids() == []


def test_http_engine_errors_are_one_line():
    with pytest.raises(TunepipeError, match="unreachable"):
        HttpEngine("http://127.0.0.1:9", "babyai", timeout=2)


# --- 2./3. collect and scoring against a server: difficulty picks the index, nothing leaks ---
def cfg(**kw):
    base = dict(difficulty=[1, 3], max_steps=30, server=None, train_reward="success")
    return EnvConfig(**{**base, **kw})


def test_collect_and_score_against_a_server_close_every_environment_and_honour_difficulty(server_for):
    from tunepipe.tasks.envs.engines.babyai import LEVELS_BY_DIFFICULTY, BabyAIEngine
    url, service = server_for("babyai")
    family = tasks.get("babyai")
    rows = family.build(6, random.Random(0), cfg(server=url), BuildRequest(split="test", seed=0))
    assert service.open_ids() == []
    for r in rows:
        s = r["spec"]
        assert s["seed"] in BabyAIEngine.INDEX_RANGES[s["difficulty"]]
        assert s["seed"] % 40 + 1 in LEVELS_BY_DIFFICULTY[s["difficulty"]]     # the server plays such a level
        assert r["turns"] is None
        assert family.score(turn("go forward"), s) == 0.0
    assert service.open_ids() == []


@pytest.mark.parametrize("name", ["webshop", "alfworld"])
def test_simulators_rows_by_difficulty_and_expert_solves(name):
    family = tasks.get(name)
    cls = agentgym.engine_class(name)
    for d in (1, 2, 3):
        rows = family.build(4, random.Random(d), cfg(difficulty=[d, d]), BuildRequest(split="train", seed=0))
        for r in rows:
            assert r["spec"]["seed"] in cls.INDEX_RANGES[d]
            transcript = "\n\n".join([r["answer"], *(t["answer"] for t in r["turns"])])
            assert family.score(transcript, r["spec"]) == 1.0
            assert [m["role"] for m in r["agentgym_prompt"]] == ["user", "assistant", "user"]
            assert r["agentgym_prompt"][0]["content"] == cls.INSTRUCTION


def test_simulators_speak_their_action_languages():
    from tunepipe.tasks.envs.alfworld import ALFWorldEngine
    from tunepipe.tasks.envs.webshop import WebShopEngine
    w = WebShopEngine()
    first = w.reset(0)[0]
    assert first.startswith("WebShop [SEP] Instruction: [SEP] i need a ") and first.endswith("[SEP] Search")
    assert w.step("click[buy now]") == {"state": first, "reward": 0.0, "done": False, "info": None}
    assert "[SEP] Page 1 (Total results: " in w.step(w.expert_action())["state"]
    a = ALFWorldEngine()
    body = a.reset(0)
    assert body["observation"].startswith("You are in the middle of a room. Looking quickly around you, you see a ")
    assert "\nYour task is to: put " in body["observation"] and "look" in body["available_actions"]
    assert a.step("fly away")["observation"] == "Nothing happens."
    assert a.step(a.expert_action())["observation"].startswith("You arrive at ")


def test_server_serves_the_simulators(server_for):
    url, service = server_for("webshop")
    ep = Episode(HttpEngine(url, "webshop"), "webshop", max_rounds=30)
    local = Episode(agentgym.engine_class("webshop")(), "webshop", max_rounds=30)
    with ep:
        assert ep.reset(2001) == local.reset(2001)
        while not local.done:
            t = turn(local.engine.expert_action())
            assert ep.turn(t) == local.turn(t)
        assert ep.completed and local.completed and ep.final == 1.0
    assert service.open_ids() == []
