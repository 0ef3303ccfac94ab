"""The sciworld engine against the text of AgentGym's agentenv-sciworld server: one JVM for the
module, few resets (a reset is ~0.1-3 s; test-conductivity ones are the slow ones)."""
from __future__ import annotations

import random

import pytest

from tunepipe import TunepipeError
from tunepipe.tasks import envs
from tunepipe.tasks.envs.engines import sciworld as sw

pytest.importorskip("scienceworld")
if not sw._java_available():
    pytest.skip("no Java runtime", allow_module_level=True)

HALLWAY = ("This room is called the hallway. In it, you see: \n\tthe agent\n\ta substance called air\n"
           "\ta picture\nYou also see:\n\tA door to the art studio (that is closed)\n\tA door to the "
           "bedroom (that is closed)\n\tA door to the greenhouse (that is closed)\n\tA door to the "
           "kitchen (that is closed)\n\tA door to the living room (that is closed)\n\tA door to the "
           "workshop (that is closed)")
LIFESPAN = ("Your task is to find the animal with the longest life span.  The animals are in the "
            "'outside' location.  Focus on the animal with the longest life span.")


@pytest.fixture(scope="module")
def eng():
    e = sw.SciWorldEngine()
    yield e
    e.close()


def test_constants_and_index_table(eng):
    assert eng.NAME == sw.NAME == "sciworld"
    assert eng.INSTRUCTION.startswith("You are an agent for science world. Every round I will give you")
    assert '{"action": "focus on OBJ", "description": "signal intent on a task object"}' in eng.INSTRUCTION
    assert eng.INSTRUCTION.endswith("Your response should use the following format:\nThought:\n"
                                    "your thoughts.\n\nAction:\nyour next action")
    assert eng.ACK == "OK. I'll follow your instructions and try my best to solve the task."
    assert len(eng.games) == eng.N_INDICES == 4639
    assert eng.games[0] == {"taskName": "boil", "variationIdx": 0}
    assert eng.games[-1] == {"taskName": "identify-life-stages-2", "variationIdx": 9}
    names = {g["taskName"] for g in eng.games}
    assert "inclined-plane-determine-angle" not in names and "grow-plant" not in names  # 9-1, 5-1 left out
    table = {1: {"lifespan-longest-lived", "lifespan-shortest-lived", "lifespan-longest-lived-then-shortest-lived"},
             2: {"find-living-thing", "find-non-living-thing", "find-plant", "find-animal"},
             3: {"test-conductivity", "test-conductivity-of-unknown-substances"}}
    for level, r in eng.INDEX_RANGES.items():
        assert 0 <= r.start < r.stop <= eng.N_INDICES
        assert {eng.games[i]["taskName"] for i in r} == table[level]
    assert eng.INDEX_RANGES[3] == range(2000, 2500)  # the validators' sciworld task ids


def test_client_parse_and_reward():
    assert sw.client_action("Thought:\nopen it\n\nAction:\nopen door to kitchen") == "open door to kitchen"
    # the LAST Action: wins, nothing filtered, later lines kept
    assert sw.client_action("Action: a\nAction:\n pour blue-green paint into cup\nmore ") == \
        "pour blue-green paint into cup\nmore"
    assert sw.client_action("no action here") == ""
    assert sw.client_action("Action:\nlook around</s>") == "look aroun"  # the client's [:-5] off-by-one
    assert sw.client_reward({"observation": "", "reward": 17, "score": 42, "done": False}) == 42


def test_before_reset_and_bad_index(eng):
    e = eng
    saved = e._info
    e._info = None
    try:
        assert e.step("look around") == {"error": "The id 0 is not valid."}
        assert e.valid_actions() == []
    finally:
        e._info = saved
    assert e.reset(4639) == {"error": "list index out of range"}


def test_reset_text_and_actions(eng):
    body = eng.reset(4240)
    assert body == {"task_name": "lifespan-longest-lived", "var_num": 0, "task_description": LIFESPAN,
                    "observation": HALLWAY, "reward": 0, "score": 0, "deleted": False, "done": False}
    assert eng.observation() == LIFESPAN + "\n" + HALLWAY       # what the client shows first
    assert eng.server_observation() == HALLWAY                  # GET /observation
    assert not eng.completed
    # the gold path walks to the outside through the kitchen or the greenhouse (it varies)
    assert eng.expert_action() in ("open door to kitchen", "open door to greenhouse")
    valid = eng.valid_actions()
    assert "open door to kitchen" in valid and "look around" in valid and len(valid) > 100
    steps = [("inventory", "In your inventory, you see:\n\tan orange", 0, 0),
             ("open door to kitchen", "The door is now open.", 0, 0),
             ("go to kitchen", "You move to the kitchen.", 25, 25),
             ("foo bar", sw.UNKNOWN_ACTION, 0, 25),
             ("look at unicorn", sw.UNKNOWN_ACTION, 0, 25),
             ("", sw.UNKNOWN_ACTION, 0, 25),
             ("task", "Task description:\n" + LIFESPAN, 0, 25),
             ("look at substance", "Ambiguous request: Please enter the number for the action you "
              "intended (or blank to cancel):\n0:\tlook at air (in kitchen)\n1:\tlook at soap (in kitchen)\n", 0, 25),
             ("pick up substance", "Unknown action.  Type 'help' for a list of actions, and 'objects' "
              "for a list of possible object referents. ", 0, 25),
             ("open door to outside", "The door is now open.", 0, 25),
             ("go to outside", "You move to the outside.", 25, 50)]
    for action, obs, reward, score in steps:
        out = eng.step(action)
        assert out == {"observation": obs, "reward": reward, "score": score, "done": False}, action
        assert eng.observation() == eng.server_observation() == obs
    assert eng.score == 50 and not eng.completed


def test_oracle_advances_only_on_its_own_action(eng):
    eng.reset(4240)
    first = eng.expert_action()
    eng.step("foo bar")
    assert eng.expert_action() == first and eng._gold_pos == 0
    eng.step(first)
    assert eng._gold_pos == 1


def test_wrong_focus_fails_and_done_is_final(eng):
    eng.reset(4240)
    eng.step("open door to kitchen")
    out = eng.step("focus on picture")
    assert out == {"observation": "You focus on the picture.", "reward": -100, "score": -100, "done": True}
    assert not eng.completed and sw.client_reward(out) == -100
    assert eng.step("look around") == {"error": "The task with environment 0 has finished."}


def test_step_limit_ends_the_episode(eng):
    eng.reset(4240)
    outs = [eng.step("wait") for _ in range(10)]   # 1 + 11 moves each; done once moves > 100
    assert [o["done"] for o in outs] == [False] * 9 + [True]
    assert outs[0]["observation"] == "You decide to wait for 10 iterations."
    assert outs[-1]["score"] == 0 and not eng.completed


def test_deterministic_per_index_and_fast_step_matches_library(eng):
    def trajectory():
        body = eng.reset(4300)
        out = [body]
        rng = random.Random(1)
        for _ in range(6):
            out.append(eng.step(rng.choice(sorted(eng.valid_actions()))))
            if out[-1].get("done"):
                break
        return out
    first = trajectory()
    eng.reset(3000)
    eng.step("look around")
    assert trajectory() == first
    # ScienceWorldEnv.step (which also computes look, inventory, valid actions) gives the same text
    eng.reset(4300)
    lib = eng._env
    rng = random.Random(1)
    for i in range(6):
        a = rng.choice(sorted(lib.get_valid_action_object_combinations()))
        ob, reward, done, info = lib.step(a)
        assert (ob, reward, info["score"], done) == tuple(first[i + 1][k] for k in ("observation", "reward", "score", "done"))
        if done:
            break


@pytest.mark.parametrize("level,indices", [(1, (4240, 4302, 4400, 4552, 4614)), (2, (2936, 3386, 4135)),
                                           (3, (2000,))])
def test_expert_succeeds(eng, level, indices):
    for idx in indices:
        assert idx in eng.INDEX_RANGES[level]
        out = envs.run_episode(eng, envs.oracle_turn, idx, max_rounds=60)
        assert out["success"] and out["score"] == 100, (idx, out)
        if level < 3:
            assert out["rounds"] <= 30


def test_random_policy_rarely_succeeds(eng):
    rng = random.Random(0)
    outs = [envs.run_episode(eng, envs.random_turn(rng), idx, max_rounds=15) for idx in (4240, 3000)]
    assert all(o["rounds"] >= 1 for o in outs)
    assert sum(o["success"] for o in outs) <= 1


def test_missing_java_is_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(TunepipeError) as e:
        sw.SciWorldEngine()
    msg = str(e.value)
    assert "\n" not in msg and "default-jre-headless" in msg and "Java" in msg
