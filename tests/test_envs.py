"""The multi-turn text environments (src/tunepipe/tasks/envs): oracle solvability, random
baseline, step semantics, AgentGym action parsing (the HTTP side: tests/test_agentgym.py)."""
import random
import re

import pytest

from tunepipe import TunepipeError
from tunepipe.tasks.envs import (ENVS, EnvConfig, EpisodeOver, format_turn, make, oracle_policy,
                                 parse_action, random_policy, run_episode)

NAMES = sorted(ENVS)
LEVELS = (1, 2, 3)
SEEDS = 200


def cfg(**kw):
    base = dict(difficulty=[1, 3], max_steps=20, success_reward=1.0, step_reward=0.0,
                invalid_reward=-0.1, server=None, train_reward="success")
    base.update(kw)
    return EnvConfig(**base)


# --- parse_action ---------------------------------------------------------------------------
def test_parse_action_agentgym_rules():
    assert parse_action("Thought:\nhi\n\nAction:\nget 1 oak log") == "get 1 oak log"
    assert parse_action("Thought:\nx\n\nAction: craft 1 stick using 2 oak planks\nmore") == \
        "craft 1 stick using 2 oak planks"
    assert parse_action("Thought:\nx\n\nAction:\nget 1 log</s>") == "get 1 log"
    assert parse_action("Action:\n  go   to  red ball!!  ") == "go to red ball"
    assert parse_action("Action:\nsearch[red shirt]") == "searchred shirt"
    assert parse_action("Action:\nsearch[red shirt]", keep=ENVS["shop"].keep) == "search[red shirt]"
    assert parse_action("Action:\nput mug 1 in/on desk 1", keep=ENVS["household"].keep) == \
        "put mug 1 in/on desk 1"
    assert parse_action("Action:\n") == ""
    for bad in ["", "no action here", "Action: a\nAction: b", None, 3, b"Action: x", ["Action: x"]]:
        assert parse_action(bad) is None
    assert parse_action("Action: x", keep="\\") is None  # a broken class never raises


def test_parse_action_fuzz_never_raises():
    rng = random.Random(0)
    alphabet = "Action:Thought \n\t[]</s>,.!é漢\x00"
    for _ in range(2000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        out = parse_action(s)
        assert out is None or isinstance(out, str)


def test_format_turn_roundtrip():
    assert format_turn("t", "inventory") == "Thought:\nt\n\nAction:\ninventory"
    assert parse_action(format_turn("t", "inventory")) == "inventory"


# --- oracle / random ------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_oracle_solves_every_instance(name):
    env = ENVS[name](cfg(max_steps=30, step_reward=0.1))
    for d in LEVELS:
        steps = []
        for seed in range(SEEDS):
            out = run_episode(env, oracle_policy(env), seed, d)
            assert out["success"], (name, d, seed, out["turns"])
            assert all(r >= 0 for *_, r in out["turns"]), (name, d, seed)  # no invalid oracle step
            steps.append(out["steps"])
        assert max(steps) <= 12, (name, d, max(steps))
        if d == 1:
            assert sum(steps) / len(steps) <= 5.5, (name, steps)


@pytest.mark.parametrize("name", NAMES)
def test_random_policy_rarely_succeeds(name, capsys):
    env = ENVS[name](cfg(max_steps=15))
    rates = {}
    for d in LEVELS:
        rng = random.Random(d)
        wins = sum(run_episode(env, random_policy(env, rng), s, d)["success"] for s in range(SEEDS))
        rates[d] = wins / SEEDS
    with capsys.disabled():
        print(f"\nrandom success {name}: " + ", ".join(f"d{d}={r:.2f}" for d, r in rates.items()))
    assert rates[3] <= 0.25 and max(rates.values()) <= 0.6, rates


# --- step semantics -------------------------------------------------------------------------
ERRORS = {"craft": "Could not execute", "grid": "The action is not recognized. Please check valid actions.",
          "shop": "Invalid Action.", "household": "Nothing happens.",
          "lab": "No known action matches that input."}


@pytest.mark.parametrize("name", NAMES)
def test_invalid_actions_and_fuzz(name):
    env = ENVS[name](cfg(max_steps=1000))
    first = env.reset(3, 2)
    assert "goal" in first.lower() or "task" in first.lower() or "instruction" in first.lower()
    for action in [None, "", "xyzzy plugh"]:
        obs, r, done = env.step(action)
        assert obs.startswith(ERRORS[name]) and r == pytest.approx(-0.1) and not done
    assert env.steps == 3
    rng = random.Random(1)
    alphabet = "abcdefghijklmnopqrstuvwxyz 0123456789,[]/"
    for _ in range(300):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randrange(30)))
        obs, r, done = env.step(s)
        assert isinstance(obs, str) and obs and isinstance(r, float)
        if done:
            break


def test_craft_error_wording():
    env = ENVS["craft"](cfg())
    env.reset(0, 1)
    assert env.step("get 1 diamond")[0] == "Could not find diamond"
    assert env.step("craft 1 torch using x")[0] == "Wrong item format: x"
    goal = env.goal
    out, need = env.recipes[goal]
    assert env.step(env.line(goal))[0] == f"Could not find enough items to craft minecraft:{goal.replace(' ', '_')}"
    assert env.step("inventory")[0] == "Inventory: You are not carrying anything."
    base, n = need[0]
    assert env.step(f"get {n} {base}")[0] == f"Got {n} {base}"
    assert env.step("inventory")[0] == f"Inventory: [{base}] ({n})"


@pytest.mark.parametrize("name", NAMES)
def test_step_limit_and_after_done(name):
    env = ENVS[name](cfg(max_steps=4))
    env.reset(0, 1)
    dones = [env.step("inventory" if name != "shop" else "click[nothing]")[2] for _ in range(4)]
    assert dones == [False, False, False, True] and not env.success and env.steps == 4
    with pytest.raises(EpisodeOver):
        env.step("look")
    env.reset(0, 1)
    assert not env.done and env.steps == 0 and env.total_reward == 0


@pytest.mark.parametrize("name", NAMES)
def test_determinism(name):
    a, b = ENVS[name](cfg()), ENVS[name](cfg())
    for d in LEVELS:
        ta = run_episode(a, random_policy(a, random.Random(5)), 7, d)
        tb = run_episode(b, random_policy(b, random.Random(5)), 7, d)
        assert ta == tb
        assert a.reset(7, d) == b.reset(7, d)
        firsts = {a.reset(s, d) for s in range(20)}
        assert len(firsts) >= 15, (name, d, len(firsts))


@pytest.mark.parametrize("name", NAMES)
def test_shaped_rewards_each_subgoal_once(name):
    c = cfg(step_reward=0.1, invalid_reward=0.0, max_steps=40)
    env = ENVS[name](c)
    for d in LEVELS:
        for seed in range(30):
            out = run_episode(env, oracle_policy(env), seed, d)
            n_sub = len(env.rewarded_subgoals)
            assert out["reward"] == pytest.approx(c.success_reward + c.step_reward * n_sub)
    # undo-and-redo earns no second reward: random play never exceeds the number of subgoals
    for seed in range(30):
        out = run_episode(env, random_policy(env, random.Random(seed)), seed, 3)
        shaped = sum(r for *_, r in out["turns"][:-1])  # the last turn may add the goal reward
        assert shaped <= c.step_reward * len(env.rewarded_subgoals) + 1e-9


def test_make_and_unknown():
    assert isinstance(make("craft", cfg()), ENVS["craft"])
    with pytest.raises(TunepipeError):
        make("nope", cfg())
    with pytest.raises(ValueError):
        ENVS["craft"](cfg()).reset(0, 4)
    for bad in [dict(difficulty=[0, 2]), dict(difficulty=[3, 1]), dict(difficulty=2), dict(max_steps=0)]:
        with pytest.raises(TunepipeError):
            cfg(**bad)


@pytest.mark.parametrize("name", ["craft", "grid"])
def test_expert_thoughts_restate_the_goal_so_names_are_copied_not_recalled(name):
    """The oracle's thought starts with the goal as the first observation words it, and (craft)
    restates the recipe it works on as listed, so every item of its action is in text the model
    has already read (measured: craft success .07 -> .37 after craft-only SFT, README)."""
    env = ENVS[name](cfg())
    for seed in range(100):
        first = env.reset(seed, 1)
        goal = first.splitlines()[-1] if name == "craft" else first.splitlines()[0]   # "Goal: craft X." / "Your goal: ..."
        while not env.done:
            thought, action = env.expert()
            assert thought.startswith(goal.rstrip(".") + "."), (seed, thought, goal)
            if name == "craft" and action != "inventory":
                recipe = thought[len(goal) + 1:].split(". ")[0]         # "<item> using <inputs>"
                assert f" {recipe}\n" in first + "\n", (seed, recipe)
                names = re.findall(r"[0-9]+ ([a-z ]+?)(?:,|$| using)", action)
                assert names and all(n in thought for n in names), (seed, action, thought)
            env.step(action)
        assert env.success


def test_first_observations_short():
    for name in NAMES:
        env = ENVS[name](cfg())
        words = [len(env.reset(s, 1).split()) for s in range(50)]
        assert max(words) <= 60, (name, max(words))
        assert len(env.instruction.split()) <= 60, name
