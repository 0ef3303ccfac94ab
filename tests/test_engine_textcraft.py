"""The textcraft engine speaks AgentGym's agentenv-textcraft server text exactly (its first
observation, step observations, error strings, rewards and done), maps indices to goals by
crafting depth as the server does, and has an oracle that solves every difficulty-1 index."""
import random

import pytest

from tunepipe import TunepipeError
from tunepipe.tasks.envs.base import parse_action
from tunepipe.tasks.envs.engines import textcraft as tc
from tunepipe.tasks.envs.engines.textcraft import TextCraftEngine

IDX_FENCE = 200  # goal: dark oak fence (depth 2)


@pytest.fixture
def env():
    e = TextCraftEngine()
    e.reset(IDX_FENCE)
    return e


def test_constants_and_index_ranges():
    E = TextCraftEngine
    assert E.NAME == tc.NAME == "textcraft"
    assert E.INSTRUCTION.startswith("You are given few useful crafting recipes to craft items in Minecraft. ")
    assert E.INSTRUCTION.endswith('e.g. "dark oak planks" in the command instead.\n\n')
    assert 'Your output must strictly follow this format:"Thought:\nyour thoughts.\n\nAction:\nyour next action"' \
        in E.INSTRUCTION
    assert E.ACK == "OK. I'll follow your instructions and try my best to solve the task."
    goals = tc.goals()
    assert E.N_INDICES == len(goals) == 544
    assert [d for _, d in goals] == sorted(d for _, d in goals)  # sorted by crafting depth
    covered = [i for r in E.INDEX_RANGES.values() for i in r]
    assert covered == list(range(E.N_INDICES))
    assert {goals[i][1] for i in E.INDEX_RANGES[1]} == {1}
    assert {goals[i][1] for i in E.INDEX_RANGES[2]} == {2}
    assert {goals[i][1] for i in E.INDEX_RANGES[3]} == {3, 4}
    assert E().valid_actions() == []


def test_recipe_data_is_agentgyms():
    from tunepipe.tasks.envs.engines._textcraft_recipes import RECIPES
    assert len(RECIPES) == 635
    assert [s for s, _ in RECIPES] == sorted(s for s, _ in RECIPES)
    tree = tc.crafting_tree()
    assert len(tree.itemid_recipes) == 544 and len(tree.tag_recipes) == 39
    # cycles dropped in sorted load order: nuggets from ingots; blocks never un-crafted
    assert "minecraft:iron_nugget" not in tree.itemid_recipes
    assert "minecraft:iron_ingot" in tree.itemid_recipes
    assert all(r.input_items[0].item_tag.name != "minecraft:iron_block"
               for r in tree.itemid_recipes["minecraft:iron_ingot"])


def test_goals_exist_in_minecraft_data():
    minecraft_data = pytest.importorskip("minecraft_data")
    mc = minecraft_data("1.16.5")
    names = {i["name"] for i in mc.items_list}
    craftable = {mc.items[int(k)]["name"] for k in mc.recipes}
    for item, _ in tc.goals():
        assert item.removeprefix("minecraft:") in names and item.removeprefix("minecraft:") in craftable


def test_first_observation_and_reset_body():
    e = TextCraftEngine()
    assert e.reset(0) == {"id": 0, "observation": "Crafting commands:\ncraft 4 acacia planks using 1 acacia logs"
                          "\n\nGoal: craft acacia planks.", "done": False, "reward": 0}
    body = e.reset(125)
    assert body["observation"] == (
        "Crafting commands:\ncraft 3 acacia fence using 2 stick, 4 acacia planks\n"
        "craft 4 acacia planks using 1 acacia logs\ncraft 1 acacia boat using 5 acacia planks\n"
        "craft 4 acacia stairs using 6 acacia planks\ncraft 3 acacia door using 6 acacia planks\n"
        "craft 6 acacia slab using 3 acacia planks\ncraft 3 acacia sign using 6 acacia planks, 1 stick\n"
        "craft 1 acacia button using 1 acacia planks\n\nGoal: craft acacia boat.")
    assert e.observation() == body["observation"]
    obs = e.reset(IDX_FENCE)["observation"]
    lines = obs.split("\n")
    assert lines[0] == "Crafting commands:" and lines[-1] == "Goal: craft dark oak fence." and lines[-2] == ""
    # the goal's whole tree (generic "planks" included) plus at most 10 distractors
    tree_lines = {"craft 3 dark oak fence using 2 stick, 4 dark oak planks", "craft 4 stick using 2 planks",
                  "craft 1 stick using 2 bamboo", "craft 4 dark oak planks using 1 dark oak logs",
                  "craft 4 oak planks using 1 oak logs"}
    assert tree_lines <= set(lines)
    assert len(lines) - 3 - 15 <= 10  # 15 recipes in the fence's tree (every planks recipe)


def test_determinism_and_index_wrap():
    a, b = TextCraftEngine(), TextCraftEngine()
    for idx in (0, 7, 130, 300, 450, 543):
        assert a.reset(idx) == b.reset(idx)
    assert a.reset(544 + 7) == b.reset(7)
    assert a.reset(-1) == b.reset(543)
    with pytest.raises(TunepipeError):
        a.reset("3")


def test_step_texts(env):
    s = env.step
    assert s("craft 3 dark oak fence using 2 stick, 4 dark oak planks") == {
        "observation": "Could not find enough items to craft minecraft:dark_oak_fence", "reward": 0, "done": False}
    assert s("inventory")["observation"] == "Inventory: You are not carrying anything."
    assert s("get 1 dark oak logs") == {"observation": "Got 1 dark oak logs", "reward": 0, "done": False}
    assert s("get 2 planks")["observation"] == "Could not find planks"          # a tag
    assert s("get 1 stick")["observation"] == "Could not find stick"            # craftable
    assert s("get 1 unicorn horn")["observation"] == "Could not find unicorn horn"  # unknown
    assert s("craft 4 dark oak planks using 1 dark oak logs")["observation"] == "Crafted 4 minecraft:dark_oak_planks"
    # a generic ingredient must be named by a concrete item
    assert s("craft 4 stick using 2 planks")["observation"] == "Could not find enough items to craft minecraft:stick"
    # the output count written in the command is ignored: the recipe's count is crafted
    assert s("craft 1 stick using 2 dark oak planks")["observation"] == "Crafted 4 minecraft:stick"
    assert s("inventory")["observation"] == "Inventory: [dark oak planks] (2) [stick] (4) "
    assert s("inventory please")["observation"] == "Inventory: [dark oak planks] (2) [stick] (4) "  # re.match prefix
    assert s("craft 4 dark oak planks using planks")["observation"] == "Wrong item format: planks"
    assert s("craft 4 dark oak planks using 1 dark oak planks")["observation"] == (
        "Could not find a valid recipe for ItemTagWithCount(item_tag=ItemTag(tag=None, "
        "item_id='minecraft:dark_oak_planks'), count=4)")
    assert s("jump")["observation"] == "Could not execute jump"
    assert s("")["observation"] == "Could not execute "
    assert s("get 0 bamboo")["observation"] == "Got 0 bamboo"
    assert env.inventory["minecraft:bamboo"] == 0
    assert not env.completed


def test_goal_reward_done_and_after(env):
    for a in ("get 2 dark oak logs", "craft 4 dark oak planks using 1 dark oak logs",
              "craft 4 dark oak planks using 1 dark oak logs", "craft 4 stick using 2 dark oak planks"):
        assert env.step(a)["reward"] == 0
    assert not env.completed
    out = env.step("craft 3 dark oak fence using 4 dark oak planks, 2 stick")  # ingredient order is free
    assert out == {"observation": "Crafted 3 minecraft:dark_oak_fence", "reward": 1, "done": True}
    assert env.completed and env.observation() == out["observation"]
    # the server does not end the episode: later actions still answer, reward 0
    assert env.step("inventory") == {"observation": "Inventory: [dark oak planks] (2) [stick] (2) "
                                                    "[dark oak fence] (3) ",
                                     "reward": 0, "done": False}
    assert env.completed
    env.reset(IDX_FENCE)
    assert not env.completed and env.inventory == {}


def test_parsed_client_actions(env):
    act = parse_action("Thought:\nI need logs.\n\nAction:\nget 1 dark-oak logs!")
    assert act == "get 1 darkoak logs"
    assert env.step(act)["observation"] == "Could not find darkoak logs"


def test_never_crashes_on_junk(env):
    rng = random.Random(1)
    alphabet = "abcdefgijklnoprstuy 0123456789,"
    for _ in range(300):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        for prefix in ("", "craft ", "get ", "craft 1 stick using "):
            out = env.step(prefix + a)
            assert set(out) in ({"observation", "reward", "done"}, {"error"})


def test_wrapper_error_body(env):
    out = env.step("get " + "1" * 5000 + " oak logs")  # Python's int() digit limit, uncaught by the env
    assert set(out) == {"error"} and "4300 digits" in out["error"]
    assert env.observation().startswith("Crafting commands:")  # the wrapper keeps the last observation


def test_closed_or_unreset_engine_is_an_error():
    e = TextCraftEngine()
    with pytest.raises(TunepipeError):
        e.step("inventory")
    e.reset(3)
    e.close()
    with pytest.raises(TunepipeError):
        e.expert_action()


def test_oracle_solves_difficulty_one_and_samples():
    E = TextCraftEngine
    assert tc.success_rate(E.INDEX_RANGES[1], "oracle") == 1.0
    assert tc.success_rate(E.INDEX_RANGES[2][::5], "oracle") == 1.0
    assert tc.success_rate(E.INDEX_RANGES[3][::4], "oracle", max_steps=60) == 1.0
    e = E()
    e.reset(IDX_FENCE)
    plan = e.plan()
    assert plan[-1] == "craft 3 dark oak fence using 2 stick, 4 dark oak planks" and len(plan) <= 6
    for a in plan:
        assert a == e.expert_action()
        e.step(a)
    assert e.completed and e.expert_action() == "inventory"


def test_random_policy_rate():
    E = TextCraftEngine
    r1 = tc.success_rate(E.INDEX_RANGES[1][::3], "random", seed=0)
    r3 = tc.success_rate(E.INDEX_RANGES[3][::8], "random", seed=0)
    assert 0.3 < r1 <= 1.0 and r3 < r1
    with pytest.raises(TunepipeError):
        tc.success_rate([0], "greedy")
