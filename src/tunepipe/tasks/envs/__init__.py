"""Small deterministic text environments of AgentGym's five kinds (TextCraft, BabyAI,
WebShop, ALFWorld, ScienceWorld) speaking AgentGym's ``Thought:/Action:`` protocol (the
stand-ins), AgentGym's episode semantics over any engine or server (:mod:`.agentgym`), the
WebShop and ALFWorld simulators (:mod:`.webshop`, :mod:`.alfworld`) and a compatible server
(:mod:`.server`)."""
from __future__ import annotations

import random
from typing import Callable

from .base import DEFAULT_KEEP, EnvConfig, EpisodeOver, TextEnv, format_turn, instance, parse_action
from .craft import CraftEnv
from .grid import GridEnv
from .household import HouseholdEnv
from .lab import LabEnv
from .shop import ShopEnv

ENVS: dict[str, type[TextEnv]] = {"craft": CraftEnv, "grid": GridEnv, "shop": ShopEnv,
                                  "household": HouseholdEnv, "lab": LabEnv}

__all__ = ["DEFAULT_KEEP", "ENVS", "EnvConfig", "EpisodeOver", "TextEnv", "format_turn",
           "instance", "make", "oracle_policy", "parse_action", "random_policy", "run_episode"]


def make(name: str, cfg: EnvConfig) -> TextEnv:
    """The stand-in simulator ``name`` (a server's instances are played through
    :class:`.agentgym.HttpEngine`: :func:`.family.episode`)."""
    if name not in ENVS:
        from tunepipe import TunepipeError
        raise TunepipeError(f"unknown environment {name!r}; known: {', '.join(ENVS)}")
    return ENVS[name](cfg)


Policy = Callable[[list], str]


def run_episode(env: TextEnv, policy: Policy, seed: int, difficulty: int) -> dict:
    """Play one episode. ``policy(history) -> turn text`` where ``history`` alternates
    observations and the policy's own turns: ``[obs0, turn1, obs1, ...]``."""
    history = [env.reset(seed, difficulty)]
    turns = []
    while not env.done:
        turn = policy(history)
        action = parse_action(turn, env.keep)
        obs, reward, _ = env.step(action)
        turns.append((turn, action, obs, reward))
        history += [turn, obs]
    return {"success": env.success, "reward": env.total_reward, "steps": env.steps, "turns": turns}


def oracle_policy(env: TextEnv) -> Policy:
    """Turns from ``env.expert()`` (the env's current state)."""
    return lambda history: format_turn(*env.expert())


def random_policy(env: TextEnv, rng: random.Random) -> Policy:
    """A uniformly random valid command per turn: the env's list, else the actions its first
    observation implies (TextCraft lists none: :func:`.agentgym.implied_actions`)."""
    from .agentgym import implied_actions

    def policy(history):
        acts = env.valid_actions() or implied_actions(history[0]) or implied_actions(history[-1])
        return format_turn("I try something.", rng.choice(acts) if acts else rng.choice(["inventory", "wait"]))
    return policy
