"""The multi-turn text environments (src/tunepipe/tasks/envs) through the package's helpers:
every in-process engine of agentgym.ENGINES (sciworld: tests/test_engine_sciworld.py), the
oracle and random policies, episode limits, determinism, AgentGym's action parse (each engine's
text protocol: tests/test_engine_*.py; the episode adapter and server: tests/test_agentgym.py)."""
import random
import re

import pytest

from tunepipe import TunepipeError
from tunepipe.tasks.envs import (EnvConfig, EpisodeOver, format_turn, make, oracle_turn, parse_action,
                                 random_turn, run_episode)
from tunepipe.tasks.envs.agentgym import ENGINES, Episode

#: the engines cheap enough to play here (sciworld starts a JVM: its own test file)
NAMES = ("babyai", "textcraft", "webshop", "alfworld")


def sample(r, n):
    """``n`` evenly spaced indices of an index range."""
    return [r[(i * len(r)) // n] for i in range(min(n, len(r)))]


# --- parse_action ---------------------------------------------------------------------------
def test_parse_action_agentgym_rules():
    assert parse_action("Thought:\nhi\n\nAction:\nget 1 oak log") == "get 1 oak log"
    assert parse_action("Thought:\nx\n\nAction: craft 1 stick using 2 oak planks\nmore") == \
        "craft 1 stick using 2 oak planks"
    assert parse_action("Thought:\nx\n\nAction:\nget 1 log</s>") == "get 1 log"
    assert parse_action("Action:\n  go   to  red ball!!  ") == "go to red ball"
    assert parse_action("Action:\nsearch[red shirt]") == "searchred shirt"
    assert parse_action("Action:\nsearch[red shirt]", keep="A-Za-z0-9, \\[\\]") == "search[red shirt]"
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
def test_the_five_engines_are_registered_under_agentgyms_names():
    assert set(ENGINES) == {"babyai", "textcraft", "sciworld", "webshop", "alfworld"}
    for name in NAMES:
        assert make(name).NAME == name


@pytest.mark.parametrize("name", NAMES)
def test_oracle_solves_difficulty_1_and_random_rarely(name):
    eng = make(name)
    try:
        idx = sample(eng.INDEX_RANGES[1], 12)
        outs = [run_episode(eng, oracle_turn, i, max_rounds=30) for i in idx]
        assert all(o["success"] for o in outs) and max(o["rounds"] for o in outs) <= 10
        rnd = [run_episode(eng, random_turn(random.Random(i)), i, max_rounds=10)["success"] for i in idx]
        assert sum(rnd) < len(idx)   # below the oracle (BabyAI level 1 lists the goal "go to" action: 8/12)
    finally:
        eng.close()


@pytest.mark.parametrize("name", NAMES)
def test_round_limit_after_done_and_determinism(name):
    eng = make(name)
    i = eng.INDEX_RANGES[1][3]
    ep = Episode(eng, name, max_rounds=2)
    first = ep.reset(i)
    assert ep.turn(format_turn("x", "zzz"))[2] is False
    assert ep.turn(format_turn("x", "zzz"))[2] is True and not ep.completed   # the round limit
    with pytest.raises(EpisodeOver):
        ep.turn(format_turn("x", "zzz"))
    assert ep.reset(i) == first and make(name).reset(i) == eng.reset(i)      # the index alone decides
    a = run_episode(make(name), random_turn(random.Random(5)), i, 8)
    b = run_episode(make(name), random_turn(random.Random(5)), i, 8)
    assert a == b


def test_make_unknown_and_config_errors():
    with pytest.raises(TunepipeError, match="unknown engine 'craft'; known: babyai, textcraft"):
        make("craft")
    with pytest.raises(TunepipeError, match="difficulty must be"):
        EnvConfig(difficulty=[0, 4], max_steps=3, server=None, train_reward="success")
    with pytest.raises(TunepipeError, match="max_steps must be a positive integer"):
        EnvConfig(difficulty=[1, 1], max_steps=0, server=None, train_reward="success")
    with pytest.raises(TunepipeError, match="train_reward must be"):
        EnvConfig(difficulty=[1, 1], max_steps=3, server=None, train_reward="reward")
    with pytest.raises(TypeError):
        EnvConfig(difficulty=[1, 1], max_steps=3, server=None, train_reward="success", step_reward=0.1)
