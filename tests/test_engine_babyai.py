"""The BabyAI engine speaks AgentGym's babyai server text exactly (agentenv-babyai)."""
import random
import sys

import pytest

pytest.importorskip("minigrid")

from tunepipe import TunepipeError  # noqa: E402
from tunepipe.tasks.envs.engines.babyai import (  # noqa: E402
    ALL_LEVELS, INDEX_RANGES, LEVELS_BY_DIFFICULTY, N_INDICES, BabyAIEngine)

RED_BALL = 1  # data_idx 1: BabyAI-GoToRedBall-v0, seed 0
TAIL = '"go to red ball 1", "go to green key 1", "go to grey ball 1", "check available actions"]'


@pytest.fixture
def eng():
    e = BabyAIEngine()
    yield e
    e.close()


def random_success(engine, indices, rounds=30, seed=0) -> float:
    """Share of ``indices`` a uniformly random valid-action policy completes in ``rounds``."""
    rng, ok = random.Random(seed), 0
    for i in indices:
        engine.reset(i)
        for _ in range(rounds):
            out = engine.step(rng.choice(engine.valid_actions()))
            if "error" in out or out["done"]:
                break
        ok += engine.completed
    return ok / max(len(indices), 1)


def expert_success(engine, indices, rounds=30) -> float:
    ok = 0
    for i in indices:
        engine.reset(i)
        for _ in range(rounds):
            a = engine.expert_action()
            assert a in engine.valid_actions()
            out = engine.step(a)
            if out["done"]:
                break
        ok += engine.completed
    return ok / max(len(indices), 1)


def test_client_texts():
    assert BabyAIEngine.NAME == "babyai"
    assert BabyAIEngine.INSTRUCTION.startswith("You are an exploration master that wants to finish every goal")
    assert "- toggle: there is a closed or locked door right in front of you and you can toggle it.\n" in BabyAIEngine.INSTRUCTION
    assert BabyAIEngine.INSTRUCTION.endswith("Thought:\n<Your Thought>\n\nAction:\n<Your Action>")
    assert BabyAIEngine.ACK == "OK. I'll follow your instructions and try my best to solve the task."


def test_index_mapping_and_ranges(eng):
    assert len(ALL_LEVELS) == 40 and ALL_LEVELS[39] == "BabyAI-BossLevel-v0"
    eng.reset(0)
    assert (eng.level, eng.seed) == ("BabyAI-GoToRedBallGrey-v0", 0)
    eng.reset(41)
    assert (eng.level, eng.seed) == ("BabyAI-GoToRedBall-v0", 1)
    assert "error" not in eng.reset(3)  # GoToObjS6-v0 (minigrid 3 registers it as v1)
    sets = [set(INDEX_RANGES[d]) for d in (1, 2, 3)]
    assert set().union(*sets) == set(range(N_INDICES)) and sum(map(len, sets)) == N_INDICES
    for d in (1, 2, 3):
        assert all(i % 40 + 1 in LEVELS_BY_DIFFICULTY[d] for i in INDEX_RANGES[d])
        assert INDEX_RANGES[d][0] in INDEX_RANGES[d] and -1 not in INDEX_RANGES[d]


def test_first_observation(eng):
    r = eng.reset(RED_BALL)
    assert set(r) == {"observation", "reward", "score", "deleted", "done"}
    assert (r["reward"], r["score"], r["deleted"], r["done"]) == (0, 0, False, False)
    obs = r["observation"]
    assert obs.startswith("Your goal: go to the red ball\nIn front of you in this room, you can see several "
                          "objects: There is a yellow key 1 1 steps in front of you and 1 steps to your left.  ")
    assert "There is a grey ball 2 5 steps in front of you and 1 steps to your right.  " in obs
    assert ("There is a red ball 1 4 steps in front of you and 3 steps to your right.  The room has walls "
            "around you. You are facing a wall 6 steps away. You are not carrying anything.\n"
            'Available actions: ["turn left", "turn right", "move forward", "pickup yellow key 1", ') in obs
    assert obs.endswith('"go to red ball 1", "check available actions"]')
    assert eng.observation() == obs
    assert "go to red ball 1" in eng.valid_actions() and "pickup grey ball 2" in eng.valid_actions()


def test_success_done_and_after(eng):
    eng.reset(RED_BALL)
    r = eng.step("Go To Red Ball 1")  # the server lowercases
    assert set(r) == {"observation", "reward", "score", "done"}
    assert r["reward"] == pytest.approx(1 - 0.9 * 8 / 64) and r["score"] == r["reward"] and r["done"] is True
    assert r["observation"].startswith("In front of you in this room, you can see several objects: "
                                       "There is a red ball 1 right in front of you 1 steps away.  ")
    assert "You are not carrying anything.\n The task is completed.\nAvailable actions: [" in r["observation"]
    assert r["observation"].endswith(TAIL) and eng.completed
    assert eng.step("turn left") == {"error": "The task with environment 0 has finished."}


def test_slow_success_and_score_quirk(eng):
    eng.reset(RED_BALL)
    for _ in range(36):  # burn steps: a success after 36 of 64 steps is rewarded <= .5
        r = eng.step("turn left")
        assert r["reward"] == 0 and r["score"] == 0
    r = eng.step("go to red ball 1")
    assert r["reward"] == pytest.approx(0.38125) and r["done"] is False and eng.completed
    assert "\n The task is completed.\nAvailable actions" in r["observation"]
    score = r["score"]
    for act, text in [("foo", "The action is not recognized. Please check valid actions."),
                      ("", "No change in state."),
                      ("drop", "You cannot drop the object, as you are not carrying anything."),
                      ("go to purple ball 1", "The action is not recognized. Please check valid actions.")]:
        r = eng.step(act)
        assert r["observation"].startswith(text + "\nAvailable actions: [") and r["observation"].endswith(TAIL)
        assert r["reward"] == pytest.approx(0.38125) and r["done"] is False
        assert r["score"] == pytest.approx(score + 0.38125)  # the last reward is added again
        score = r["score"]
    r = eng.step("check available actions")
    assert r["observation"].startswith("You can take the following actions: turn left, turn right, move forward, "
                                       "pickup red ball 1, ")
    r = eng.step("turn left")  # a valid step resets reward to minigrid's 0
    assert r["reward"] == 0 and r["score"] == pytest.approx(score + 0.38125)


def test_barrier_pickup_and_drop(eng):
    eng.reset(RED_BALL)
    for _ in range(5):
        r = eng.step("move forward")
    assert "You are facing a wall 1 steps away." in r["observation"]
    r = eng.step("move forward")
    assert r["observation"].startswith("There is a barrier in front of you, you can't move forward.\n")
    eng.reset(21)  # BabyAI-PutNextLocalS6N4-v0: put the yellow ball next to the yellow key
    r = eng.step("pickup yellow ball 1")
    assert "You are carrying a yellow ball.\nAvailable actions: [" in r["observation"]
    assert '"move forward", "drop", "go to blue key 1"' in r["observation"]
    assert not any(a.startswith("pickup") for a in eng.valid_actions())
    r = eng.step("drop")
    assert "There is a yellow ball 1 right in front of you 1 steps away." in r["observation"]
    assert "You are not carrying anything." in r["observation"] and r["reward"] == 0


def test_doors_toggle_quirk(eng):
    eng.reset(12)  # BabyAI-OpenRedDoor-v0: toggle and go through moves on, the toggle's reward is lost
    assert "toggle and go through red closed door 1" in eng.valid_actions()
    r = eng.step("toggle and go through red closed door 1")
    assert r["reward"] == 0 and r["done"] is False and eng.completed
    assert r["observation"].startswith("In front of you in this room, you can see several objects: The room has walls")
    eng.reset(12)
    eng.step("go to red closed door 1")
    assert "toggle" in eng.valid_actions()
    r = eng.step("toggle")
    assert r["reward"] > 0.5 and r["done"] is True
    assert "There is a red open door 1 right in front of you 1 steps away." in r["observation"]
    assert '"go through red open door 1"' in r["observation"]


def test_errors_never_crash(eng):
    assert eng.step("turn left") == {"error": "0"}  # created, not reset: the server's KeyError
    assert eng.reset(-1) == {"error": "Seed must be greater or equal to zero, actual value: -1"}
    assert eng.step("turn left") == {"error": "0"}
    assert "error" in eng.reset("x")
    eng.reset(RED_BALL)
    for junk in [None, "check", "go to", "pickup", "toggle", "a" * 5000, "1 2 3"]:
        r = eng.step(junk)
        assert r["observation"].endswith('"go to red ball 1", "check available actions"]')
    eng.close()
    assert eng.step("turn left") == {"error": "The id 0 is not valid."}


def test_determinism():
    a, b = BabyAIEngine(), BabyAIEngine()
    for i in (0, 77, 161, 38):
        assert a.reset(i) == b.reset(i)
        for act in ("move forward", "turn left", "move forward"):
            assert a.step(act) == b.step(act)


def test_missing_minigrid(monkeypatch):
    monkeypatch.setitem(sys.modules, "minigrid", None)
    with pytest.raises(TunepipeError, match="pip install minigrid"):
        BabyAIEngine()


def test_expert_difficulty_1(eng):
    sample = list(INDEX_RANGES[1])[:20]
    assert expert_success(eng, sample) == 1.0


def test_expert_harder_and_random(eng):
    # difficulty 2: the oracle solves most (OpenRedBlueDoors, PickupLoc, PutNextLocal, ...)
    assert expert_success(eng, list(INDEX_RANGES[2])[:8]) >= 0.6
    r1 = random_success(eng, list(INDEX_RANGES[1])[:10])
    r2 = random_success(eng, list(INDEX_RANGES[2])[:8])
    assert 0 <= r2 < 1 and 0 < r1 <= 1
    eng.reset(INDEX_RANGES[3][0])
    assert eng.expert_action() in eng.valid_actions()
